#!/usr/bin/env node
// Browser tests of examples/guestbook (the React page in
// examples/guestbook/web, and the server-rendered page at /guestbook) on a
// SQLite file of its own: the `sign` form shows a client-side (Zod) error
// with no frame sent on the socket, a server-only error from
// `sign.validate` as a field is left, and success; a second tab's live list
// and count update;
// the server-rendered page's form refreshes its list from the
// X-Mizan-Invalidate header and the React tabs hear of it; the entries
// outlive a restart. See README.md in this directory.
//
// Run by `npm test` (run.mjs), or alone against a running example (the
// restart test is then skipped):
//   node guestbook_form.mjs http://127.0.0.1:PORT/ [ARTIFACT_DIR]

import { rmSync } from "node:fs";
import path from "node:path";
import { ABSENT_WAIT, WAIT, fail, newUser, openAll, runStandalone, waitForStatus, waitIn } from "./lib.mjs";

export const name = "guestbook";
export const example = "guestbook";

/** The example's environment under run.mjs: a fresh database in the artifacts. */
export function env(artifacts) {
  const file = path.join(artifacts, "guestbook.db");
  for (const suffix of ["", "-wal", "-shm"]) rmSync(file + suffix, { force: true });
  return { DATABASE_URL: `sqlite:${file}` };
}

const ALREADY = "This name has signed the guestbook today already.";

function snapshot() {
  const text = (sel) => document.querySelector(sel)?.textContent ?? null;
  return {
    status: text("#status"),
    count: text("#count"),
    nameError: text("#name-error"),
    messageError: text("#message-error"),
    result: text("#sign-result"),
    entries: [...document.querySelectorAll("#entries .entry")].map((e) =>
      `${e.dataset.id}: ${e.querySelector(".name")?.textContent}: ${e.querySelector(".message")?.textContent}`),
  };
}

async function waitForEntry(u, who, message) {
  await waitIn(u, `an entry by "${who}" saying "${message}" in #entries`, (a) =>
    [...document.querySelectorAll("#entries .entry")].some((e) =>
      e.querySelector(".name")?.textContent === a.who && e.querySelector(".message")?.textContent === a.message),
  { who, message });
}

async function waitForCount(u, count) {
  await waitIn(u, `#count "${count}"`, (c) => document.querySelector("#count")?.textContent === c, count);
}

async function fill(u, name, message) {
  await u.page.locator("#name").fill(name, { timeout: WAIT });
  await u.page.locator("#message").fill(message, { timeout: WAIT });
  await u.page.locator("#sign").click({ timeout: WAIT });
}

const calls = (fn) => ({ dir, msg }) => dir === "out" && msg.type === "call" && msg.fn === fn;

export function tests() {
  const alice = { name: "alice" };
  const bob = { name: "bob" };
  const tabs = [alice, bob];
  const tag = Date.now().toString(36);
  const who = `Ann ${tag}`;
  const hello = `Hello <b>from</b> ${tag} & co`; // must show as text
  const other = `Zed ${tag}`;
  let entries = 0;

  return [
    {
      name: "two tabs connect and watch the entries and the count",
      async run({ browser, url, rec }) {
        await openAll(browser, rec, tabs, url, { width: 720, height: 820 }, snapshot);
        for (const t of tabs) {
          await waitIn(t, "#count shown", () => /entr(y|ies) · \d+ today$/.test(document.querySelector("#count")?.textContent ?? ""));
          const watched = rec.framesOf(t.name, 0, ({ dir, msg }) => dir === "out" && msg.type === "watch").map((f) => f.msg.context);
          for (const context of ["entries", "entry_count"]) {
            if (!watched.includes(context)) fail(`${t.name}: sent no watch of ${context} (sent ${watched})`);
          }
        }
        entries = await alice.page.evaluate(() => Number(document.querySelector("#count").textContent.split(" ")[0]));
        await rec.shots(tabs, "connected");
      },
    },
    {
      name: "a client-side (Zod) error shows with no frame sent on the socket",
      async run({ rec }) {
        rec.step("alice signs with an empty message and a 41-character name: both field errors, nothing sent");
        const start = rec.seq;
        await fill(alice, "x".repeat(41), "");
        await waitIn(alice, "#name-error and #message-error shown",
          () => Boolean(document.querySelector("#name-error")?.textContent && document.querySelector("#message-error")?.textContent));
        await alice.page.waitForTimeout(ABSENT_WAIT);
        const sent = rec.framesOf(alice.name, start, ({ dir }) => dir === "out");
        if (sent.length) fail(`alice: the socket carried ${JSON.stringify(sent.map((f) => f.msg))}; Zod should have stopped it`);
        await rec.shots([alice], "client-error");
      },
    },
    {
      name: "a valid submit shows success, and the other tab's list and count update live",
      async run({ rec }) {
        rec.step(`alice signs as "${who}"; she sees the thanks; bob sees the entry (as text) and the new count`);
        const start = rec.seq;
        await fill(alice, who, hello);
        await waitIn(alice, "#sign-result thanking her", (w) => document.querySelector("#sign-result")?.textContent.startsWith(`Thank you, ${w}`), who);
        await waitIn(alice, "no field errors", () => !document.querySelector("#name-error") && !document.querySelector("#message-error"));
        entries += 1;
        for (const t of tabs) {
          await waitForEntry(t, who, hello);
          await waitForCount(t, `${entries} ${entries === 1 ? "entry" : "entries"} · ${entries} today`);
        }
        if (!rec.framesOf(alice.name, start, calls("sign.submit")).length) fail("alice: no sign.submit was sent");
        const pushed = rec.framesOf(bob.name, start, ({ dir, msg }) => dir === "in" && msg.type === "invalidate").map((f) => f.msg.context);
        if (!pushed.includes("entries") || !pushed.includes("entry_count")) fail(`bob: invalidations received: ${pushed}`);
        if (await bob.page.evaluate(() => document.querySelectorAll("#entries b").length)) fail("bob: the message was rendered as HTML");
        await rec.shots(tabs, "signed");
      },
    },
    {
      name: "a server-only error (this name signed today) shows from sign.validate",
      async run({ rec }) {
        rec.step(`bob types "${who.toUpperCase()}" as his name and leaves the field: Zod passes it, the server's check refuses it`);
        const start = rec.seq;
        await bob.page.locator("#name").fill(who.toUpperCase(), { timeout: WAIT });
        await bob.page.locator("#name").press("Tab", { timeout: WAIT });
        await waitIn(bob, `#name-error "${ALREADY}"`, (m) => document.querySelector("#name-error")?.textContent === m, ALREADY);
        if (!rec.framesOf(bob.name, start, calls("sign.validate")).length) fail("bob: no sign.validate was sent");
        const submits = rec.framesOf(bob.name, start, calls("sign.submit"));
        if (submits.length) fail("bob: sign.submit was sent although validate refused the name");
        await rec.shots([bob], "server-error");
      },
    },
    {
      name: "the server-rendered page posts its form, refreshes its list from X-Mizan-Invalidate, and the React tabs hear of it",
      async run({ browser, url, rec }) {
        const carol = await newUser(browser, rec, "carol", { width: 720, height: 700 }, () => ({
          result: document.querySelector("#result")?.textContent,
          entries: [...document.querySelectorAll("#entries .entry")].map((e) => e.textContent),
        }));
        const page = new URL("/guestbook", url).href;
        rec.step(`carol opens ${page}, signs as "${other}"; her list refreshes in place; alice's and bob's too`);
        await carol.page.goto(page, { waitUntil: "load", timeout: WAIT });
        const answers = [];
        carol.page.on("response", (r) => answers.push({ url: r.url(), invalidate: r.headers()["x-mizan-invalidate"] }));
        await carol.page.locator("#name").fill(other, { timeout: WAIT });
        await carol.page.locator("#message").fill("no React here", { timeout: WAIT });
        await carol.page.locator("#sign").click({ timeout: WAIT });
        await waitIn(carol, "#result thanking her", (w) => document.querySelector("#result")?.textContent.startsWith(`Thank you, ${w}`), other);
        await waitIn(carol, "her entry in the refreshed list", (w) =>
          [...document.querySelectorAll("#entries .entry .name")].some((n) => n.textContent === w), other);
        const signed = answers.find((a) => a.url.endsWith("/guestbook/sign"));
        if (signed?.invalidate !== "entries, entry_count") fail(`the sign answer's X-Mizan-Invalidate: ${signed?.invalidate}`);
        if (!answers.some((a) => a.url.endsWith("/guestbook/entries"))) fail("carol's page did not fetch the list fragment");
        if (rec.navigations.carol !== 1) fail("carol's page navigated: the script should post with fetch");
        entries += 1;
        for (const t of tabs) {
          await waitForEntry(t, other, "no React here");
          await waitForCount(t, `${entries} entries · ${entries} today`);
        }
        await rec.shots([carol, alice], "server-rendered");
        await carol.context.close();
      },
    },
    {
      name: "the server restarted: the tabs reconnect and the entries are still there (SQLite)",
      needsServer: true,
      async run({ rec, server }) {
        rec.step("the server is stopped (SIGTERM) and started again on the same file");
        await server.stop("SIGTERM");
        await server.start();
        for (const t of tabs) {
          await waitForStatus(t, "connected");
          await t.page.reload({ waitUntil: "load", timeout: WAIT });
          await waitForStatus(t, "connected");
          await waitForEntry(t, who, hello);
          await waitForEntry(t, other, "no React here");
          await waitForCount(t, `${entries} entries · ${entries} today`);
        }
        await rec.shots(tabs, "restarted");
      },
    },
  ];
}

await runStandalone({ name, example, tests }, import.meta.url);
