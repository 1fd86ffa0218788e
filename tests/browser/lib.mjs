// The harness of the browser tests: Debian's Chromium through playwright-core
// (never a downloaded browser), a recorder of every page's console, errors,
// HTTP failures and WebSocket frames, screenshots, waits that say what they
// waited for, and the loop that runs a scenario's tests in order.
//
// A scenario module (chat_two_tabs.mjs, todo_two_tabs.mjs) exports `name`,
// `example` (the example binary it drives) and `tests()`, a list of
// `{ name, needsServer?, run(ctx) }` sharing state through a closure. `ctx`:
// `{ browser, url, rec, server }`; `server` (restart, stop) is null when a
// scenario runs standalone against a URL, and tests that need it are skipped.

import { createRequire } from "node:module";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
export const WAIT = 10_000;        // every wait for something that should happen
export const ABSENT_WAIT = 1_000;  // how long something that should NOT happen is watched for
export const TEST_TIMEOUT = 60_000; // watchdog for one test

// Without the background-networking flags Chromium keeps trying to reach
// Google's hosts, which this machine's closed network refuses.
export const LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** playwright-core from this package's node_modules, or the current directory's. */
export function loadPlaywright() {
  const errors = [];
  for (const base of [import.meta.url, path.join(process.cwd(), "/")]) {
    try {
      return createRequire(base)("playwright-core");
    } catch (e) {
      errors.push(`${base}: ${e.message.split("\n")[0]}`);
    }
  }
  console.error("FAIL: cannot load playwright-core. Run `npm ci` in tests/browser.\n  " + errors.join("\n  "));
  process.exit(1);
}

/** Debian's Chromium, headless. */
export async function launchChromium() {
  const { chromium } = loadPlaywright();
  return chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: 30_000, args: LAUNCH_ARGS });
}

export class CheckFailed extends Error {}
export function fail(msg) {
  throw new CheckFailed(msg);
}

/**
 * What one scenario saw: a timeline (`log.txt`), every WebSocket frame per
 * user (parsed, numbered across users, with the socket it came on), page
 * errors, failed same-origin responses, navigations; and its screenshots.
 */
export class Recorder {
  constructor(dir) {
    this.dir = dir;
    this.t0 = Date.now();
    this.log = [];
    this.frames = {};      // who -> [{ seq, dir: "in" | "out", socket, msg }]
    this.sockets = {};     // who -> sockets opened so far
    this.pageErrors = [];  // "who: message"
    this.badResponses = []; // "who: status url"
    this.navigations = {}; // who -> main-frame navigations
    this.seq = 0;
    this.shotNo = 0;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  }

  note(who, what) {
    this.log.push(`[+${String(Date.now() - this.t0).padStart(6)}ms] ${who.padEnd(6)} ${what}`);
  }

  step(what) {
    this.note("step", what);
    console.log(`    - ${what}`);
  }

  /** Records everything `page` does, as `who`. */
  attach(page, who) {
    page.on("console", (m) => this.note(who, `console.${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => {
      this.note(who, `pageerror: ${e.message}`);
      this.pageErrors.push(`${who}: ${e.message}`);
    });
    page.on("requestfailed", (r) => this.note(who, `requestfailed: ${r.url()} ${r.failure()?.errorText ?? ""}`));
    page.on("response", (r) => {
      if (r.status() < 400) return;
      this.note(who, `http ${r.status()} ${r.url()}`);
      this.badResponses.push(`${who}: ${r.status()} ${r.url()}`);
    });
    page.on("framenavigated", (f) => {
      if (f === page.mainFrame()) this.navigations[who] = (this.navigations[who] ?? 0) + 1;
    });
    page.on("websocket", (ws) => {
      const socket = (this.sockets[who] = (this.sockets[who] ?? 0) + 1);
      this.note(who, `ws #${socket} open ${ws.url()}`);
      const record = (dir, payload) => {
        this.note(who, `ws #${socket} ${dir === "in" ? "<-" : "->"} ${payload}`);
        try {
          (this.frames[who] ??= []).push({ seq: ++this.seq, dir, socket, msg: JSON.parse(payload) });
        } catch { /* not JSON */ }
      };
      ws.on("framesent", (f) => record("out", f.payload));
      ws.on("framereceived", (f) => record("in", f.payload));
      ws.on("socketerror", (e) => this.note(who, `ws #${socket} error ${e}`));
      ws.on("close", () => this.note(who, `ws #${socket} closed`));
    });
  }

  /** The frames of `who` after `since` (a `seq`), optionally filtered. */
  framesOf(who, since = 0, filter = () => true) {
    return (this.frames[who] ?? []).filter((f) => f.seq > since && filter(f));
  }

  /** A full-page screenshot of each user, `NN-label-who.png`. */
  async shots(users, label) {
    this.shotNo += 1;
    for (const u of users) {
      const file = path.join(this.dir, `${String(this.shotNo).padStart(2, "0")}-${label}-${u.name}.png`);
      try {
        await u.page.screenshot({ path: file, fullPage: true, timeout: WAIT });
      } catch (e) {
        this.note(u.name, `screenshot failed: ${e.message}`);
      }
    }
  }

  write() {
    writeFileSync(path.join(this.dir, "log.txt"), this.log.join("\n") + "\n");
  }
}

/** A user: its own browser context (storage, cookies, socket) and page. */
export async function newUser(browser, rec, name, viewport, snapshot) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  rec.attach(page, name);
  const u = { name, context, page };
  u.snapshot = async () => {
    try {
      return await page.evaluate(snapshot);
    } catch (e) {
      return { error: e.message };
    }
  };
  return u;
}

/** Waits until `fn(arg)` is truthy in `u`'s page, or fails saying what it waited for. */
export async function waitIn(u, what, fn, arg, timeout = WAIT) {
  try {
    await u.page.waitForFunction(fn, arg, { timeout, polling: 50 });
  } catch {
    fail(`${u.name}: timed out after ${timeout} ms waiting for ${what}\n` +
      `      page state: ${JSON.stringify(await u.snapshot())}`);
  }
}

/** Waits until `pred()` (on recorded frames, say) is truthy, or fails. */
/** Waits until `#status` on `u`'s page reads exactly `status`. */
export async function waitForStatus(u, status) {
  await waitIn(u, `#status to be exactly "${status}"`, (s) => document.querySelector("#status")?.textContent === s, status);
}

/**
 * Opens a browser context per user (see `newUser`), loads `url` in each and
 * waits until every page shows `#status` "connected".
 */
export async function openAll(browser, rec, users, url, viewport, snapshot) {
  for (const u of users) Object.assign(u, await newUser(browser, rec, u.name, viewport, snapshot));
  rec.step(`${users.map((u) => u.name).join(" and ")} open ${url} and wait for #status "connected"`);
  await Promise.all(users.map(async (u) => {
    await u.page.goto(url, { waitUntil: "load", timeout: WAIT });
    await waitForStatus(u, "connected");
  }));
}

export async function waitUntil(what, pred, timeout = WAIT) {
  const end = Date.now() + timeout;
  for (;;) {
    const value = pred();
    if (value) return value;
    if (Date.now() > end) fail(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Fails on uncaught page errors and on failed same-origin responses. */
export function expectCleanPages(rec, url) {
  if (rec.pageErrors.length) fail(`uncaught page errors:\n      ${rec.pageErrors.join("\n      ")}`);
  const origin = new URL(url).origin;
  const bad = rec.badResponses.filter((r) => r.includes(origin));
  if (bad.length) fail(`failed responses from the example:\n      ${bad.join("\n      ")}`);
}

const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;

/**
 * Runs `scenario`'s tests in order against `url` with screenshots and the
 * log in `dir`. A failed test skips the rest (they build on it).
 * Returns `{ passed, failed, skipped }`.
 */
export async function runScenario({ scenario, browser, url, dir, server = null }) {
  const rec = new Recorder(dir);
  const ctx = { browser, url, rec, server };
  const result = { passed: 0, failed: 0, skipped: 0 };
  let broken = false;
  console.log(`${scenario.name} (${url}; artifacts in ${dir})`);
  for (const test of scenario.tests()) {
    if (broken || (test.needsServer && server === null)) {
      result.skipped += 1;
      console.log(`  skip ${test.name}${broken ? "" : " (needs the runner to control the server)"}`);
      continue;
    }
    rec.note("test", test.name);
    const start = Date.now();
    let timer;
    try {
      const run = test.run(ctx);
      run.catch(() => {}); // reported below, even after the watchdog fired
      await Promise.race([run, new Promise((_, reject) => {
        timer = setTimeout(() => reject(new CheckFailed(`exceeded ${TEST_TIMEOUT} ms`)), TEST_TIMEOUT);
      })]);
      expectCleanPages(rec, url);
      result.passed += 1;
      console.log(`  ok   ${test.name} (${secs(Date.now() - start)})`);
    } catch (e) {
      result.failed += 1;
      broken = true;
      console.log(`  FAIL ${test.name} (${secs(Date.now() - start)})`);
      console.error(`       ${e instanceof CheckFailed ? e.message : e.stack || e}`);
      for (const [i, c] of browser.contexts().entries()) {
        for (const [j, page] of c.pages().entries()) {
          const file = path.join(dir, `failure-context${i}-${j}.png`);
          await page.screenshot({ path: file, fullPage: true, timeout: 5_000 }).catch(() => {});
        }
      }
      console.error(`       --- last 60 lines of ${path.join(dir, "log.txt")} ---`);
      console.error(rec.log.slice(-60).map((l) => `       ${l}`).join("\n"));
    } finally {
      clearTimeout(timer);
    }
  }
  rec.write();
  for (const c of browser.contexts()) await c.close().catch(() => {});
  return result;
}

/** `node <scenario>.mjs URL [DIR]`: runs a scenario against a server someone else started. */
export async function runStandalone(scenario, importMetaUrl) {
  if (importMetaUrl !== pathToFileURL(process.argv[1] ?? "").href) return;
  const url = process.argv[2];
  if (!url || !/^https?:\/\//.test(url)) {
    console.error(`usage: node ${path.basename(process.argv[1])} http://127.0.0.1:PORT/ [ARTIFACT_DIR]`);
    process.exit(1);
  }
  const dir = path.resolve(process.argv[3] || "./artifacts");
  const browser = await launchChromium();
  let r;
  try {
    r = await runScenario({ scenario, browser, url, dir });
  } finally {
    await browser.close().catch(() => {});
  }
  console.log(`${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`);
  process.exit(r.failed ? 1 : 0);
}
