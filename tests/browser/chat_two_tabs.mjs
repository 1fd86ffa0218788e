#!/usr/bin/env node
// Browser check for examples/chat: two users (two separate browser contexts)
// chat in room "lobby", then bob moves to room "garden" and must stop seeing
// lobby messages. See README.md in this directory for how to run it.
//
// Usage: node chat_two_tabs.mjs URL [SCREENSHOT_DIR]   (default ./artifacts)
// Exit code 0 on success, 1 on failure (with a message, page console output
// and WebSocket frames printed to stderr).
//
// playwright-core is resolved from the *current working directory's*
// node_modules (run from a scratch dir with `npm install playwright-core`),
// falling back to a copy next to this script.

import { createRequire } from "node:module";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const WAIT = 10_000;        // every wait for something that should happen
const ABSENT_WAIT = 1_000;  // how long something that should NOT happen is watched for
const OVERALL = 90_000;     // watchdog for the whole run

function loadPlaywright() {
  const errors = [];
  for (const base of [path.join(process.cwd(), "/"), import.meta.url]) {
    try {
      return createRequire(base)("playwright-core");
    } catch (e) {
      errors.push(`${base}: ${e.message.split("\n")[0]}`);
    }
  }
  console.error("FAIL: cannot load playwright-core. Run `npm install playwright-core` in the " +
    "directory you run this script from.\n  " + errors.join("\n  "));
  process.exit(1);
}

const url = process.argv[2];
const shotDir = path.resolve(process.argv[3] || "./artifacts");
if (!url || !/^https?:\/\//.test(url)) {
  console.error("usage: node chat_two_tabs.mjs http://127.0.0.1:PORT/ [SCREENSHOT_DIR]");
  process.exit(1);
}
const { chromium } = loadPlaywright();
mkdirSync(shotDir, { recursive: true });

// ---------------------------------------------------------------- logging
const t0 = Date.now();
const log = [];
const note = (who, what) => log.push(`[+${String(Date.now() - t0).padStart(5)}ms] ${who.padEnd(5)} ${what}`);
const received = {}; // who -> [{at, msg}] parsed WebSocket frames from the server
const step = (what) => { note("step", what); console.log(`- ${what}`); };

class CheckFailed extends Error {}
function fail(msg) { throw new CheckFailed(msg); }

function watch(page, who) {
  page.on("console", (m) => note(who, `console.${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => note(who, `pageerror: ${e.message}`));
  page.on("requestfailed", (r) => note(who, `requestfailed: ${r.url()} ${r.failure()?.errorText ?? ""}`));
  page.on("response", (r) => { if (r.status() >= 400) note(who, `http ${r.status()} ${r.url()}`); });
  page.on("websocket", (ws) => {
    note(who, `ws open ${ws.url()}`);
    ws.on("framesent", (f) => note(who, `ws -> ${f.payload}`));
    ws.on("framereceived", (f) => {
      note(who, `ws <- ${f.payload}`);
      try { (received[who] ??= []).push({ at: Date.now(), msg: JSON.parse(f.payload) }); } catch { /* not JSON */ }
    });
    ws.on("socketerror", (e) => note(who, `ws error ${e}`));
    ws.on("close", () => note(who, "ws closed"));
  });
}

// ---------------------------------------------------------------- page helpers
let shotNo = 0;
async function shots(users, label) {
  shotNo += 1;
  for (const u of users) {
    const file = path.join(shotDir, `${String(shotNo).padStart(2, "0")}-${label}-${u.name}.png`);
    try { await u.page.screenshot({ path: file, fullPage: true, timeout: WAIT }); }
    catch (e) { note(u.name, `screenshot failed: ${e.message}`); }
  }
}

async function snapshot(u) {
  try {
    return await u.page.evaluate(() => ({
      status: document.querySelector("#status")?.textContent,
      info: document.querySelector("#info")?.textContent,
      room: document.querySelector("#room")?.value,
      name: document.querySelector("#name")?.value,
      sendDisabled: document.querySelector("#send")?.disabled,
      messages: [...document.querySelectorAll("#messages .msg")].map((m) =>
        `${m.querySelector(".name")?.textContent}: ${m.querySelector(".text")?.textContent}`),
    }));
  } catch (e) {
    return { error: e.message };
  }
}

// Waits until `fn(arg)` is truthy in the page, or fails with `what`.
async function waitIn(u, what, fn, arg, timeout = WAIT) {
  try {
    await u.page.waitForFunction(fn, arg, { timeout, polling: 50 });
  } catch (e) {
    fail(`${u.name}: timed out after ${timeout} ms waiting for ${what}\n` +
      `  page state: ${JSON.stringify(await snapshot(u))}`);
  }
}

const hasMessage = ({ name, text }) =>
  [...document.querySelectorAll("#messages .msg")].some((m) =>
    m.querySelector(".text")?.textContent === text && m.querySelector(".name")?.textContent === name);

async function waitForMessage(u, name, text) {
  await waitIn(u, `message from ${name} "${text}" in #messages`, hasMessage, { name, text });
}

async function expectNoMessage(u, name, text, ms = ABSENT_WAIT) {
  let appeared = true;
  try {
    await u.page.waitForFunction(hasMessage, { name, text }, { timeout: ms, polling: 50 });
  } catch {
    appeared = false;
  }
  if (appeared) fail(`${u.name}: message from ${name} "${text}" appeared but must not (wrong room)`);
}

async function connect(u) {
  await u.page.goto(url, { waitUntil: "load", timeout: WAIT });
  await waitIn(u, '#status to be exactly "connected"',
    () => document.querySelector("#status")?.textContent === "connected");
}

async function setName(u) {
  await u.page.locator("#name").fill(u.name, { timeout: WAIT });
  await u.page.locator("#name").blur({ timeout: WAIT }); // the page stores the name on "change"
}

// The page joins the room in #room (default "lobby") by itself once connected;
// joining is done when #info says so and the send controls are enabled.
async function waitInRoom(u, room) {
  await waitIn(u, `#info "in room “${room}”" and #send enabled`,
    (r) => document.querySelector("#info")?.textContent === `in room “${r}”` &&
      !document.querySelector("#send").disabled && !document.querySelector("#text").disabled,
    room);
}

async function joinRoom(u, room) {
  await u.page.locator("#room").fill(room, { timeout: WAIT });
  await u.page.locator("#join").click({ timeout: WAIT });
  await waitInRoom(u, room);
}

async function say(u, text) {
  await u.page.locator("#text").fill(text, { timeout: WAIT });
  await u.page.locator("#send").click({ timeout: WAIT });
  await waitIn(u, "#text to be cleared after sending",
    () => document.querySelector("#text").value === "");
}

// ---------------------------------------------------------------- the check
async function run(browser) {
  const alice = { name: "alice" }, bob = { name: "bob" };
  const users = [alice, bob];
  for (const u of users) {
    // A separate context per user: separate localStorage, cookies, sockets.
    u.context = await browser.newContext({ viewport: { width: 800, height: 600 } });
    u.page = await u.context.newPage();
    watch(u.page, u.name);
  }
  const tag = Date.now().toString(36);

  step(`both users open ${url} and wait for #status "connected"`);
  await Promise.all(users.map(connect));
  await shots(users, "connected");

  step('both set their name and end up in room "lobby"');
  for (const u of users) await setName(u);
  await Promise.all(users.map((u) => waitInRoom(u, "lobby")));
  for (const u of users) {
    const room = await u.page.locator("#room").inputValue({ timeout: WAIT });
    if (room !== "lobby") fail(`${u.name}: #room is "${room}", expected default "lobby"`);
  }
  await shots(users, "in-lobby");

  const hi = `hi bob, alice here (${tag})`;
  step(`alice sends "${hi}"; bob (and alice herself) must see it`);
  await say(alice, hi);
  await waitForMessage(bob, "alice", hi);
  await waitForMessage(alice, "alice", hi);
  await shots(users, "alice-said-hi");

  const reply = `hello alice, bob here (${tag})`;
  step(`bob replies "${reply}"; alice must see it`);
  await say(bob, reply);
  await waitForMessage(alice, "bob", reply);
  await waitForMessage(bob, "bob", reply);
  await shots(users, "bob-replied");

  step('bob switches to room "garden"');
  await joinRoom(bob, "garden");
  await waitIn(bob, "#messages to be emptied after switching rooms",
    () => document.querySelectorAll("#messages .msg").length === 0);
  await shots(users, "bob-in-garden");

  const lobbyOnly = `lobby only, bob should not see this (${tag})`;
  step(`alice sends "${lobbyOnly}" in lobby; bob must NOT see it within ${ABSENT_WAIT} ms`);
  await say(alice, lobbyOnly);
  await waitForMessage(alice, "alice", lobbyOnly); // proves it was really sent
  await expectNoMessage(bob, "alice", lobbyOnly);
  // The page drops frames for other topics, so also check the wire: after
  // leaving, bob's socket must not receive lobby messages at all.
  const leaked = (received.bob ?? []).filter(({ msg }) =>
    msg.type === "message" && msg.topic === "chat:lobby" && msg.data?.text === lobbyOnly);
  if (leaked.length) fail(`bob: server still delivered a lobby message after he left: ${JSON.stringify(leaked[0].msg)}`);
  await shots(users, "lobby-only-message");

  const gardenOnly = `garden only (${tag})`;
  step(`bob sends "${gardenOnly}" in garden; alice must NOT see it within ${ABSENT_WAIT} ms`);
  await say(bob, gardenOnly);
  await waitForMessage(bob, "bob", gardenOnly);
  await expectNoMessage(alice, "bob", gardenOnly);
  await shots(users, "garden-only-message");

  for (const u of users) {
    const errs = log.filter((l) => l.includes(` ${u.name.padEnd(5)} pageerror`));
    if (errs.length) fail(`${u.name}: uncaught page errors:\n  ${errs.join("\n  ")}`);
  }
  return users;
}

let browser;
let users = [];
let code = 1;
let watchdog;
try {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const runP = run(browser);
  runP.catch(() => {}); // handled below; avoid an unhandled rejection after the watchdog fires
  await Promise.race([
    runP.then((u) => { users = u; }),
    new Promise((_, reject) => {
      watchdog = setTimeout(() => reject(new CheckFailed(`whole run exceeded ${OVERALL} ms`)), OVERALL);
    }),
  ]);
  code = 0;
  console.log(`PASS: chat works for two users in a real browser; screenshots in ${shotDir}`);
} catch (e) {
  console.error(`FAIL: ${e instanceof CheckFailed ? e.message : e.stack || e}`);
  if (browser) {
    for (const ctx of browser.contexts()) {
      for (const [i, page] of ctx.pages().entries()) {
        const file = path.join(shotDir, `failure-context${browser.contexts().indexOf(ctx)}-${i}.png`);
        await page.screenshot({ path: file, fullPage: true, timeout: 5_000 }).catch(() => {});
      }
    }
  }
  console.error("\n--- page console, errors and WebSocket frames ---\n" + log.join("\n"));
} finally {
  clearTimeout(watchdog);
  writeFileSync(path.join(shotDir, "log.txt"), log.join("\n") + "\n");
  if (browser) await browser.close().catch(() => {});
}
process.exit(code);
