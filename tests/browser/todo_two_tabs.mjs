#!/usr/bin/env node
// Browser check for examples/todo: two tabs (two separate browser contexts)
// of the same owner. One creates a list and adds an item; the other sees
// them without a reload. The other ticks the item; the first sees it. The
// first renames the list; the other shows the new title from a `merge` push
// and sends no `fetch` for the `list` context after it. The first deletes
// the list; the other closes it. See README.md in this directory.
//
// Usage: node todo_two_tabs.mjs URL [SCREENSHOT_DIR]   (default ./artifacts)
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
  console.error("usage: node todo_two_tabs.mjs http://127.0.0.1:PORT/ [SCREENSHOT_DIR]");
  process.exit(1);
}
const { chromium } = loadPlaywright();
mkdirSync(shotDir, { recursive: true });

// ---------------------------------------------------------------- logging
const t0 = Date.now();
const log = [];
const note = (who, what) => log.push(`[+${String(Date.now() - t0).padStart(5)}ms] ${who.padEnd(5)} ${what}`);
// who -> [{seq, dir: "in" | "out", msg}]: every parsed WebSocket frame, in
// the order the browser reported them (seq is global across both tabs).
const frames = {};
let seq = 0;
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
    const record = (dir, payload) => {
      note(who, `ws ${dir === "in" ? "<-" : "->"} ${payload}`);
      try { (frames[who] ??= []).push({ seq: ++seq, dir, msg: JSON.parse(payload) }); } catch { /* not JSON */ }
    };
    ws.on("framesent", (f) => record("out", f.payload));
    ws.on("framereceived", (f) => record("in", f.payload));
    ws.on("socketerror", (e) => note(who, `ws error ${e}`));
    ws.on("close", () => note(who, "ws closed"));
  });
}

// ---------------------------------------------------------------- page helpers
let shotNo = 0;
async function shots(tabs, label) {
  shotNo += 1;
  for (const t of tabs) {
    const file = path.join(shotDir, `${String(shotNo).padStart(2, "0")}-${label}-${t.name}.png`);
    try { await t.page.screenshot({ path: file, fullPage: true, timeout: WAIT }); }
    catch (e) { note(t.name, `screenshot failed: ${e.message}`); }
  }
}

async function snapshot(t) {
  try {
    return await t.page.evaluate(() => ({
      status: document.querySelector("#status")?.textContent,
      info: document.querySelector("#info")?.textContent,
      owner: document.querySelector("#owner")?.value,
      lists: [...document.querySelectorAll("#lists .list")].map((l) =>
        `${l.dataset.id}: ${l.querySelector(".title")?.textContent} (${l.querySelector(".counts")?.textContent})`),
      listTitle: document.querySelector("#list-view")?.hidden ? null : document.querySelector("#list-title")?.textContent,
      noList: document.querySelector("#no-list")?.hidden ? null : document.querySelector("#no-list")?.textContent,
      items: [...document.querySelectorAll("#items .item")].map((i) =>
        `${i.dataset.id}: ${i.querySelector("input")?.checked ? "[x]" : "[ ]"} ${i.querySelector(".text")?.textContent}`),
      log: [...document.querySelectorAll("#log li")].slice(0, 5).map((li) => li.textContent),
    }));
  } catch (e) {
    return { error: e.message };
  }
}

// Waits until `fn(arg)` is truthy in the page, or fails with `what`.
async function waitIn(t, what, fn, arg, timeout = WAIT) {
  try {
    await t.page.waitForFunction(fn, arg, { timeout, polling: 50 });
  } catch (e) {
    fail(`${t.name}: timed out after ${timeout} ms waiting for ${what}\n` +
      `  page state: ${JSON.stringify(await snapshot(t))}`);
  }
}

async function connect(t) {
  await t.page.goto(url, { waitUntil: "load", timeout: WAIT });
  await waitIn(t, '#status to be exactly "connected"',
    () => document.querySelector("#status")?.textContent === "connected");
}

// Sets the owner and waits for that owner's (empty) lists to be on screen.
async function setOwner(t, owner) {
  await t.page.locator("#owner").fill(owner, { timeout: WAIT });
  await t.page.locator("#owner").press("Enter", { timeout: WAIT });
  await waitIn(t, `#owner "${owner}" and its empty lists shown`,
    (o) => document.querySelector("#owner").value === o && !document.querySelector("#lists-empty").hidden, owner);
  const watched = (frames[t.name] ?? []).some(({ dir, msg }) =>
    dir === "out" && msg.type === "watch" && msg.context === "lists" && msg.params?.owner === owner);
  if (!watched) fail(`${t.name}: sent no watch for lists{owner: ${owner}}`);
}

async function waitForListRow(t, id, title, counts) {
  await waitIn(t, `#lists .list[data-id=${id}] titled "${title}" with "${counts}"`,
    (a) => {
      const row = document.querySelector(`#lists .list[data-id="${a.id}"]`);
      return row && row.querySelector(".title")?.textContent === a.title &&
        row.querySelector(".counts")?.textContent === a.counts;
    }, { id, title, counts });
}

async function waitForOpenList(t, title) {
  await waitIn(t, `#list-title "${title}"`,
    (x) => !document.querySelector("#list-view").hidden && document.querySelector("#list-title").textContent === x,
    title);
}

async function waitForItem(t, text, done) {
  await waitIn(t, `item "${text}" ${done ? "done" : "open"} in #items`,
    (a) => [...document.querySelectorAll("#items .item")].some((i) =>
      i.querySelector(".text")?.textContent === a.text && i.querySelector("input[type=checkbox]")?.checked === a.done &&
      i.classList.contains("done") === a.done),
    { text, done });
}

// ---------------------------------------------------------------- the check
async function run(browser) {
  const one = { name: "tab1" }, two = { name: "tab2" };
  const tabs = [one, two];
  for (const t of tabs) {
    // A separate context per tab: separate localStorage and sockets.
    t.context = await browser.newContext({ viewport: { width: 960, height: 760 } });
    t.page = await t.context.newPage();
    watch(t.page, t.name);
  }
  const tag = Date.now().toString(36);
  const owner = `alice-${tag}`;
  const title = `Groceries ${tag}`;
  const renamed = `Weekend shop ${tag}`;
  const item = `milk <b>&amp; "eggs"</b>`; // must show as text, never as markup

  step(`both tabs open ${url} and wait for #status "connected"`);
  await Promise.all(tabs.map(connect));

  step(`both tabs use the owner "${owner}"`);
  await Promise.all(tabs.map((t) => setOwner(t, owner)));
  await shots(tabs, "owner-set");

  step(`tab1 creates the list "${title}" (and opens it); tab2 sees it in #lists`);
  await one.page.locator("#new-list-title").fill(title, { timeout: WAIT });
  await one.page.locator("#create-list").click({ timeout: WAIT });
  await waitForOpenList(one, title);
  const id = await one.page.evaluate(() => document.querySelector("#lists .list.selected")?.dataset.id);
  if (!id) fail(`tab1: the new list is not selected in #lists: ${JSON.stringify(await snapshot(one))}`);
  await waitForListRow(two, id, title, "0 open · 0 done");

  step("tab2 opens the list");
  await two.page.locator(`#lists .list[data-id="${id}"] button`).click({ timeout: WAIT });
  await waitForOpenList(two, title);
  await waitIn(two, "#items-empty shown", () => !document.querySelector("#items-empty").hidden);
  await shots(tabs, "list-created");

  step(`tab1 adds the item ${JSON.stringify(item)}; tab2 sees it (as text) and the counts change`);
  await one.page.locator("#new-item").fill(item, { timeout: WAIT });
  await one.page.locator("#add-item").click({ timeout: WAIT });
  await waitForItem(two, item, false);
  await waitForListRow(two, id, title, "1 open · 0 done");
  const markup = await two.page.evaluate(() => document.querySelectorAll("#items b, #lists b").length);
  if (markup) fail("tab2: user text was rendered as HTML");
  await shots(tabs, "item-added");

  step("tab2 ticks the item; tab1 sees it done");
  await two.page.locator("#items .item input[type=checkbox]").first().check({ timeout: WAIT });
  await waitForItem(one, item, true);
  await waitForListRow(one, id, title, "0 open · 1 done");
  await waitForItem(two, item, true);
  await shots(tabs, "item-done");

  step(`tab1 renames the list to "${renamed}"; tab2 shows it, from a merge push, with no fetch of "list"`);
  const renameStart = seq;
  await one.page.locator("#rename").click({ timeout: WAIT });
  await one.page.locator("#rename-title").fill(renamed, { timeout: WAIT });
  await one.page.locator("#rename-save").click({ timeout: WAIT });
  await waitForOpenList(two, renamed);
  await waitForListRow(two, id, renamed, "0 open · 1 done");
  await waitForOpenList(one, renamed);
  // Let any stray refetch happen before looking at the wire.
  await two.page.waitForTimeout(ABSENT_WAIT);
  const wire = frames[two.name] ?? [];
  const merge = wire.find(({ seq: s, dir, msg }) => s > renameStart && dir === "in" && msg.type === "merge" && msg.context === "list" &&
    msg.slot === "list" && String(msg.params?.list_id) === id && msg.value?.title === renamed);
  if (!merge) fail(`tab2: no merge frame for list{list_id: ${id}} with the new title reached the socket`);
  const listLoads = wire.filter(({ seq: s, dir, msg }) => s > merge.seq && dir === "out" &&
    (msg.type === "fetch" || msg.type === "watch") && msg.context === "list");
  if (listLoads.length) fail(`tab2: sent ${JSON.stringify(listLoads[0].msg)} after the merge; the merge needs no request`);
  // The broad `lists` entry, by contrast, does make the lists screen refetch.
  const broad = wire.find(({ seq: s, dir, msg }) => s > renameStart && dir === "in" &&
    msg.type === "invalidate" && msg.context === "lists" && !("params" in msg));
  if (!broad) fail('tab2: no broad {"type":"invalidate","context":"lists"} push arrived with the rename');
  const listsFetch = wire.find(({ seq: s, dir, msg }) => s > broad.seq && dir === "out" && msg.type === "fetch" &&
    msg.context === "lists" && msg.params?.owner === owner);
  if (!listsFetch) fail("tab2: did not refetch lists after the broad invalidation");
  const logged = await two.page.evaluate(() => [...document.querySelectorAll("#log li")].map((li) =>
    [...li.children].map((s) => s.textContent)));
  const mergeRow = logged.find((cells) => cells[1] === "merge" && cells[2] === "list.list" &&
    cells[3] === JSON.stringify({ list_id: Number(id) }));
  if (!mergeRow) fail(`tab2: #log shows no merge row for list.list: ${JSON.stringify(logged.slice(0, 4))}`);
  await shots(tabs, "renamed");

  step("tab1 deletes the list; tab2 closes it and drops it from #lists");
  one.page.once("dialog", (d) => d.accept());
  await one.page.locator("#delete-list").click({ timeout: WAIT });
  for (const t of tabs) {
    await waitIn(t, '#no-list "That list no longer exists." and the row gone',
      (x) => !document.querySelector("#no-list").hidden &&
        document.querySelector("#no-list").textContent === "That list no longer exists." &&
        !document.querySelector(`#lists .list[data-id="${x}"]`) && !document.querySelector("#lists-empty").hidden,
      id);
  }
  await shots(tabs, "deleted");

  for (const t of tabs) {
    const errs = log.filter((l) => l.includes(` ${t.name.padEnd(5)} pageerror`));
    if (errs.length) fail(`${t.name}: uncaught page errors:\n  ${errs.join("\n  ")}`);
    const status = await t.page.locator("#status").textContent({ timeout: WAIT });
    if (status !== "connected") fail(`${t.name}: #status is "${status}" at the end`);
  }
  return tabs;
}

let browser;
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
    runP,
    new Promise((_, reject) => {
      watchdog = setTimeout(() => reject(new CheckFailed(`whole run exceeded ${OVERALL} ms`)), OVERALL);
    }),
  ]);
  code = 0;
  console.log(`PASS: the todo page stays live across two tabs in a real browser; screenshots in ${shotDir}`);
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
