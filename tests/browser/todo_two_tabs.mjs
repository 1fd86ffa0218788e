#!/usr/bin/env node
// Browser tests of examples/todo (the React page in examples/todo/web): two
// tabs (two browser contexts, two sockets) of the same owner. One creates a
// list and adds an item; the other sees them without a reload (invalidation).
// The other ticks the item; the first sees it. The first renames the list;
// the other shows the new title from a `merge` push and sends no `fetch` or
// `watch` of `list` after it. The first deletes the list; both close it. The
// server is killed and started again; both tabs reconnect and show what the
// new server holds. See README.md in this directory.
//
// Run by `npm test` (run.mjs), or alone against a running example (the
// restart test is then skipped):
//   node todo_two_tabs.mjs http://127.0.0.1:PORT/ [ARTIFACT_DIR]

import { ABSENT_WAIT, WAIT, fail, openAll, runStandalone, waitForStatus, waitIn, waitUntil } from "./lib.mjs";

export const name = "todo";
export const example = "todo";

function snapshot() {
  return {
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
  };
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

async function waitForClosed(t, id) {
  await waitIn(t, '#no-list "That list no longer exists.", the row gone and #lists-empty shown',
    (x) => !document.querySelector("#no-list").hidden &&
      document.querySelector("#no-list").textContent === "That list no longer exists." &&
      document.querySelector("#list-view").hidden &&
      !document.querySelector(`#lists .list[data-id="${x}"]`) && !document.querySelector("#lists-empty").hidden,
    id);
}

/** Creates a list in `t` (which opens it) and returns its id. */
async function createList(t, title) {
  await t.page.locator("#new-list-title").fill(title, { timeout: WAIT });
  await t.page.locator("#create-list").click({ timeout: WAIT });
  await waitForOpenList(t, title);
  await waitIn(t, `the new list "${title}" selected in #lists`, (x) =>
    document.querySelector("#lists .list.selected .title")?.textContent === x, title);
  return t.page.evaluate(() => document.querySelector("#lists .list.selected")?.dataset.id);
}

async function openList(t, id, title) {
  await t.page.locator(`#lists .list[data-id="${id}"] button`).click({ timeout: WAIT });
  await waitForOpenList(t, title);
}

const isLoad = (context) => ({ dir, msg }) => dir === "out" && (msg.type === "fetch" || msg.type === "watch") && msg.context === context;

export function tests() {
  const one = { name: "tab1" };
  const two = { name: "tab2" };
  const tabs = [one, two];
  const tag = Date.now().toString(36);
  const owner = `alice-${tag}`;
  const title = `Groceries ${tag}`;
  const renamed = `Weekend shop ${tag}`;
  const item = `milk <b>&amp; "eggs"</b>`; // must show as text, never as markup
  let id;

  return [
    {
      name: "two tabs of one owner connect and watch the owner's lists",
      async run({ browser, url, rec }) {
        await openAll(browser, rec, tabs, url, { width: 960, height: 760 }, snapshot);
        rec.step(`both tabs use the owner "${owner}" (Enter) and show its empty lists`);
        await Promise.all(tabs.map(async (t) => {
          await t.page.locator("#owner").fill(owner, { timeout: WAIT });
          await t.page.locator("#owner").press("Enter", { timeout: WAIT });
          await waitIn(t, `#owner "${owner}" and its empty lists shown`,
            (o) => document.querySelector("#owner").value === o && !document.querySelector("#lists-empty").hidden, owner);
          const watched = rec.framesOf(t.name, 0, ({ dir, msg }) =>
            dir === "out" && msg.type === "watch" && msg.context === "lists" && msg.params?.owner === owner);
          if (!watched.length) fail(`${t.name}: sent no watch for lists{owner: ${owner}}`);
        }));
        await rec.shots(tabs, "owner-set");
      },
    },
    {
      name: "a list created in one tab appears in the other without a reload (invalidate)",
      async run({ rec }) {
        rec.step(`tab1 creates the list "${title}" (and opens it); tab2 sees it in #lists`);
        id = await createList(one, title);
        if (!id) fail(`tab1: the new list is not selected in #lists: ${JSON.stringify(await one.snapshot())}`);
        await waitForListRow(two, id, title, "0 open · 0 done");
        const pushed = rec.framesOf(two.name, 0, ({ dir, msg }) =>
          dir === "in" && msg.type === "invalidate" && msg.context === "lists" && msg.params?.owner === owner);
        if (!pushed.length) fail("tab2: no invalidate of lists{owner} arrived");
        rec.step("tab2 opens the list");
        await openList(two, id, title);
        await waitIn(two, "#items-empty shown", () => !document.querySelector("#items-empty").hidden);
        await rec.shots(tabs, "list-created");
      },
    },
    {
      name: "an item added in one tab shows in the other, as text, with new counts",
      async run({ rec }) {
        rec.step(`tab1 adds the item ${JSON.stringify(item)}; tab2 sees it (as text) and the row's counts change`);
        await one.page.locator("#new-item").fill(item, { timeout: WAIT });
        await one.page.locator("#add-item").click({ timeout: WAIT });
        await waitForItem(two, item, false);
        await waitForListRow(two, id, title, "1 open · 0 done");
        const markup = await two.page.evaluate(() => document.querySelectorAll("#items b, #lists b").length);
        if (markup) fail("tab2: user text was rendered as HTML");
        await rec.shots(tabs, "item-added");
      },
    },
    {
      name: "an item ticked in one tab is done in the other",
      async run({ rec }) {
        rec.step("tab2 ticks the item; tab1 sees it done and the counts change");
        await two.page.locator("#items .item input[type=checkbox]").first().check({ timeout: WAIT });
        await waitForItem(one, item, true);
        await waitForListRow(one, id, title, "0 open · 1 done");
        await waitForItem(two, item, true);
        await rec.shots(tabs, "item-done");
      },
    },
    {
      name: "a rename (merge-declared) updates the other tab with no fetch of `list` on its socket",
      async run({ rec }) {
        rec.step(`tab1 renames the list to "${renamed}"; tab2 shows it from a merge push`);
        const start = rec.seq;
        await one.page.locator("#rename").click({ timeout: WAIT });
        await one.page.locator("#rename-title").fill(renamed, { timeout: WAIT });
        await one.page.locator("#rename-save").click({ timeout: WAIT });
        await waitForOpenList(two, renamed);
        await waitForListRow(two, id, renamed, "0 open · 1 done");
        await waitForOpenList(one, renamed);
        await waitIn(one, "#rename-form closed after saving", () => document.querySelector("#rename-form").hidden);
        // Let any stray refetch happen before looking at the wire.
        await two.page.waitForTimeout(ABSENT_WAIT);
        const merge = rec.framesOf(two.name, start, ({ dir, msg }) => dir === "in" && msg.type === "merge" &&
          msg.context === "list" && msg.slot === "list" && String(msg.params?.list_id) === id && msg.value?.title === renamed)[0];
        if (!merge) fail(`tab2: no merge frame for list{list_id: ${id}} with the new title reached the socket`);
        const loads = rec.framesOf(two.name, start, isLoad("list"));
        if (loads.length) fail(`tab2: sent ${JSON.stringify(loads[0].msg)} during the rename; the merge needs no request`);
        rec.step("the broad invalidate of lists (no owner arg) did make tab2 refetch its lists");
        const broad = rec.framesOf(two.name, start, ({ dir, msg }) =>
          dir === "in" && msg.type === "invalidate" && msg.context === "lists" && !("params" in msg))[0];
        if (!broad) fail('tab2: no broad {"type":"invalidate","context":"lists"} push arrived with the rename');
        const refetch = rec.framesOf(two.name, broad.seq, ({ dir, msg }) =>
          dir === "out" && msg.type === "fetch" && msg.context === "lists" && msg.params?.owner === owner);
        if (!refetch.length) fail("tab2: did not refetch lists after the broad invalidation");
        const logged = await two.page.evaluate(() => [...document.querySelectorAll("#log li")].map((li) =>
          [...li.children].map((s) => s.textContent)));
        const row = logged.find((cells) => cells[1] === "merge" && cells[2] === "list.list" &&
          cells[3] === JSON.stringify({ list_id: Number(id) }));
        if (!row) fail(`tab2: #log shows no merge row for list.list: ${JSON.stringify(logged.slice(0, 4))}`);
        await rec.shots(tabs, "renamed");
      },
    },
    {
      name: "a list deleted in one tab closes in both",
      async run({ rec }) {
        rec.step("tab1 deletes the list (accepting the confirm); both tabs close it and drop its row");
        one.page.once("dialog", (d) => d.accept());
        await one.page.locator("#delete-list").click({ timeout: WAIT });
        for (const t of tabs) await waitForClosed(t, id);
        await rec.shots(tabs, "deleted");
      },
    },
    {
      name: "the server killed (SIGKILL) and started again on the same port: both tabs reconnect and show the current data",
      needsServer: true,
      async run({ rec, server }) {
        const before = `Before the restart ${tag}`;
        rec.step(`tab1 creates "${before}" and adds an item; tab2 opens it`);
        const oldId = await createList(one, before);
        await one.page.locator("#new-item").fill("bread", { timeout: WAIT });
        await one.page.locator("#add-item").click({ timeout: WAIT });
        await waitForListRow(two, oldId, before, "1 open · 0 done");
        await openList(two, oldId, before);
        await waitForItem(two, "bread", false);
        await rec.shots(tabs, "before-restart");

        rec.step("the server is killed; both tabs show they are reconnecting");
        const mark = rec.seq;
        await server.stop("SIGKILL");
        await Promise.all(tabs.map((t) => waitIn(t, '#status "reconnecting" and #create-list disabled',
          () => document.querySelector("#status")?.textContent === "reconnecting" &&
            document.querySelector("#create-list").disabled)));
        await rec.shots(tabs, "server-down");

        rec.step("the server starts again (empty: it keeps lists in memory); both tabs reconnect, watch again, " +
          "and show that: no lists, the open list gone");
        await server.start();
        for (const t of tabs) {
          await waitForStatus(t, "connected");
          await waitForClosed(t, oldId);
          await waitUntil(`${t.name} to watch lists{owner} and list{list_id: ${oldId}} again`, () => {
            const again = rec.framesOf(t.name, mark, ({ dir, msg }) => dir === "out" && msg.type === "watch");
            return again.some(({ msg }) => msg.context === "lists" && msg.params?.owner === owner) &&
              again.some(({ msg }) => msg.context === "list" && String(msg.params?.list_id) === oldId);
          });
          if (rec.sockets[t.name] < 2) fail(`${t.name}: no new WebSocket was opened`);
          if (rec.navigations[t.name] !== 1) fail(`${t.name}: the page was reloaded (${rec.navigations[t.name]} navigations)`);
        }
        await waitIn(two, "a `reconnected` note in #log", () =>
          [...document.querySelectorAll("#log li")].some((li) => li.textContent.includes("reconnected")));
        await rec.shots(tabs, "reconnected");

        const after = `After the restart ${tag}`;
        rec.step(`tab1 creates "${after}"; tab2 sees it without a reload`);
        const newId = await createList(one, after);
        await waitForListRow(two, newId, after, "0 open · 0 done");
        await openList(two, newId, after);
        await rec.shots(tabs, "after-restart");
      },
    },
  ];
}

await runStandalone({ name, example, tests }, import.meta.url);
