#!/usr/bin/env node
// Browser tests of examples/chat (the React page in examples/chat/web): two
// users in two browser contexts chat in room "lobby"; two more see each
// other in a room's member list (presence) and one sees the other leave when
// its page closes; bob moves to "garden" and stops getting lobby messages, on
// screen and on the wire; the server restarts and both pages reconnect,
// rejoin, list each other again and chat again. See README.md.
//
// Run by `npm test` (run.mjs), or alone against a running example (the
// restart test is then skipped):
//   node chat_two_tabs.mjs http://127.0.0.1:PORT/ [ARTIFACT_DIR]

import { ABSENT_WAIT, WAIT, fail, newUser, openAll, runStandalone, waitForStatus, waitIn, waitUntil } from "./lib.mjs";

export const name = "chat";
export const example = "chat";

function snapshot() {
  return {
    status: document.querySelector("#status")?.textContent,
    info: document.querySelector("#info")?.textContent,
    room: document.querySelector("#room")?.value,
    name: document.querySelector("#name")?.value,
    sendDisabled: document.querySelector("#send")?.disabled,
    gap: document.querySelector("#gap")?.textContent,
    members: [...document.querySelectorAll("#members .member")].map((m) => m.textContent),
    memberCount: document.querySelector("#member-count")?.textContent,
    messages: [...document.querySelectorAll("#messages .msg")].map((m) =>
      `${m.querySelector(".name")?.textContent}: ${m.querySelector(".text")?.textContent}`),
  };
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
  await waitIn(u, "#text to be cleared after sending", () => document.querySelector("#text").value === "");
}

/** Waits until `u` has sent `unsubscribe` for `topic` after `since` and got its reply. */
async function waitForLeave(rec, u, topic, since) {
  await waitUntil(`${u.name} to leave ${topic} (an acknowledged unsubscribe on its socket)`, () => {
    const out = rec.framesOf(u.name, since, (f) => f.dir === "out" && f.msg.type === "unsubscribe" && f.msg.topic === topic);
    return out.some((o) => rec.framesOf(u.name, o.seq, (f) => f.dir === "in" && f.msg.id === o.msg.id).length > 0);
  });
}

/** Waits until `u`'s member list (#members) is exactly `names` (any order; "(you)" marks its own tab) and #member-count agrees. */
async function waitForMembers(u, names, timeout = WAIT) {
  const want = [...names].sort();
  await waitIn(u, `#members to list exactly ${JSON.stringify(want)}`, (want) => {
    const got = [...document.querySelectorAll("#members .member")].map((m) => m.textContent).sort();
    return JSON.stringify(got) === JSON.stringify(want) &&
      document.querySelector("#member-count")?.textContent === String(want.length);
  }, want, timeout);
}

/** The texts of `u`'s #messages, in order. */
async function texts(u) {
  return u.page.evaluate(() => [...document.querySelectorAll("#messages .msg .text")].map((t) => t.textContent));
}

// Loaded before the page's own scripts: every WebSocket the page opens is
// kept in `__sockets`, and while `__offline` is set a new one goes to a port
// nobody listens on (so it fails, and the client backs off), as when the
// network drops.
function gateWebSockets() {
  const Native = window.WebSocket;
  window.__offline = false;
  window.__sockets = [];
  window.WebSocket = class extends Native {
    constructor(url, protocols) {
      super(window.__offline ? String(url).replace(/\/\/[^/]+\//, "//127.0.0.1:1/") : url, protocols);
      window.__sockets.push(this);
    }
  };
}

/** Waits until `u` joined `topic` on a socket opened after `since` (a `subscribed` reply). */
async function waitForRejoin(rec, u, topic, since) {
  await waitUntil(`${u.name} to subscribe to ${topic} again on its new socket`, () =>
    rec.framesOf(u.name, since, (f) => f.dir === "in" && f.msg.type === "subscribed" && f.msg.topic === topic).length > 0);
}

export function tests() {
  const alice = { name: "alice" };
  const bob = { name: "bob" };
  const users = [alice, bob];
  const tag = Date.now().toString(36);

  return [
    {
      name: "two users open the page, connect and join the default room",
      async run({ browser, url, rec }) {
        await openAll(browser, rec, users, url, { width: 800, height: 600 }, snapshot);
        await rec.shots(users, "connected");
        rec.step('both set their name (kept on blur) and end up in room "lobby"');
        for (const u of users) {
          await u.page.locator("#name").fill(u.name, { timeout: WAIT });
          await u.page.locator("#name").blur({ timeout: WAIT });
        }
        await Promise.all(users.map((u) => waitInRoom(u, "lobby")));
        for (const u of users) {
          const room = await u.page.locator("#room").inputValue({ timeout: WAIT });
          if (room !== "lobby") fail(`${u.name}: #room is "${room}", expected default "lobby"`);
        }
        await rec.shots(users, "in-lobby");
      },
    },
    {
      name: "a message typed in one browser appears in the other",
      async run({ rec }) {
        const hi = `hi bob, alice here (${tag})`;
        rec.step(`alice sends "${hi}"; bob (and alice herself) see it`);
        await say(alice, hi);
        await waitForMessage(bob, "alice", hi);
        await waitForMessage(alice, "alice", hi);
        await rec.shots(users, "alice-said-hi");
        const reply = `hello alice, bob here (${tag})`;
        rec.step(`bob replies "${reply}"; alice sees it`);
        await say(bob, reply);
        await waitForMessage(alice, "bob", reply);
        await waitForMessage(bob, "bob", reply);
        await rec.shots(users, "bob-replied");
      },
    },
    {
      name: "a tab opened later shows the room's recent messages; one whose socket is cut gets what was sent meanwhile, once, in order",
      async run({ browser, url, rec }) {
        const carol = await newUser(browser, rec, "carol", { width: 800, height: 600 }, snapshot);
        try {
          await carol.context.addInitScript(gateWebSockets);
          rec.step("carol opens the page: lobby's earlier messages show (history: 50)");
          await carol.page.goto(url, { waitUntil: "load", timeout: WAIT });
          await waitForStatus(carol, "connected");
          await waitInRoom(carol, "lobby");
          await waitForMessage(carol, "alice", `hi bob, alice here (${tag})`);
          await waitForMessage(carol, "bob", `hello alice, bob here (${tag})`);
          const joinedWith = rec.framesOf(carol.name, 0, (f) => f.dir === "out" && f.msg.type === "subscribe");
          if (joinedWith[0]?.msg.history !== 50) fail(`carol: the first subscribe asked no history: ${JSON.stringify(joinedWith[0]?.msg)}`);
          const shown = (await texts(carol)).length;
          await rec.shots([alice, carol], "carol-opened");

          rec.step("carol's socket is cut and she stays offline; alice sends 3 messages meanwhile");
          const mark = rec.seq;
          await carol.page.evaluate(() => {
            window.__offline = true;
            for (const s of window.__sockets) s.close();
          });
          await waitForStatus(carol, "reconnecting");
          const missed = [1, 2, 3].map((n) => `while carol was away ${n} (${tag})`);
          for (const text of missed) {
            await say(alice, text);
            await waitForMessage(alice, "alice", text);
          }
          await rec.shots([alice, carol], "carol-offline");

          rec.step("carol is back online: she reconnects, resubscribes with since, and shows each missed message once, in order");
          await carol.page.evaluate(() => {
            window.__offline = false;
          });
          await waitForStatus(carol, "connected");
          await waitInRoom(carol, "lobby");
          for (const text of missed) await waitForMessage(carol, "alice", text);
          const after = await texts(carol);
          if (JSON.stringify(after.slice(shown)) !== JSON.stringify(missed)) {
            fail(`carol: after the reconnect #messages gained ${JSON.stringify(after.slice(shown))}, expected ${JSON.stringify(missed)}`);
          }
          const again = rec.framesOf(carol.name, mark, (f) => f.dir === "out" && f.msg.type === "subscribe");
          if (again.length !== 1 || again[0].msg.since === undefined) fail(`carol: expected one subscribe with since, got ${JSON.stringify(again.map((f) => f.msg))}`);
          const reply = rec.framesOf(carol.name, mark, (f) => f.dir === "in" && f.msg.type === "subscribed");
          if (reply[0]?.msg.recovered !== true) fail(`carol: the resubscribe was not recovered: ${JSON.stringify(reply[0]?.msg)}`);
          if (await carol.page.locator("#gap").count()) fail("carol: the page shows a gap although everything was recovered");
          await rec.shots([alice, carol], "carol-recovered");
        } finally {
          await carol.context.close();
        }
      },
    },
    {
      name: "two users in a room see each other in its member list; when one closes the page the other sees it leave",
      async run({ browser, url, rec }) {
        const dave = await newUser(browser, rec, "dave", { width: 800, height: 600 }, snapshot);
        const erin = await newUser(browser, rec, "erin", { width: 800, height: 600 }, snapshot);
        const pair = [dave, erin];
        const room = `who-${tag}`;
        try {
          rec.step(`dave and erin open the page, set their names and join room "${room}"`);
          for (const u of pair) {
            await u.page.goto(url, { waitUntil: "load", timeout: WAIT });
            await waitForStatus(u, "connected");
            await u.page.locator("#name").fill(u.name, { timeout: WAIT });
            await u.page.locator("#name").blur({ timeout: WAIT });
            await joinRoom(u, room);
          }
          rec.step("each sees both names in #members, its own marked (you)");
          await waitForMembers(dave, ["dave (you)", "erin"]);
          await waitForMembers(erin, ["dave", "erin (you)"]);
          await rec.shots(pair, "members");
          // On the wire: each asked `presence` once it joined; dave learned of erin from a diff.
          for (const u of pair) {
            const asked = rec.framesOf(u.name, 0, (f) => f.dir === "out" && f.msg.type === "presence" && f.msg.topic === `chat:${room}`);
            if (asked.length !== 1) fail(`${u.name}: expected one presence request for chat:${room}, got ${asked.length}`);
          }
          const joined = rec.framesOf(dave.name, 0, (f) => f.dir === "in" && f.msg.type === "presence_diff" &&
            f.msg.topic === `chat:${room}` && f.msg.joins.some((m) => m.info?.name === "erin"));
          if (joined.length !== 1) fail(`dave: expected one presence_diff with erin's join, got ${joined.length}`);
          const own = rec.framesOf(erin.name, 0, (f) => f.dir === "in" && f.msg.type === "presence_diff" &&
            f.msg.topic === `chat:${room}` && f.msg.joins.some((m) => m.info?.name === "erin"));
          if (own.length) fail(`erin: the server sent her her own join: ${JSON.stringify(own[0].msg)}`);

          rec.step("erin closes her page; within 2.5 s dave's list shows only himself");
          const closedAt = Date.now();
          await erin.context.close();
          await waitForMembers(dave, ["dave (you)"], 2_500);
          rec.note("dave", `erin's leave shown after ${Date.now() - closedAt} ms`);
          await rec.shots([dave], "erin-left");
        } finally {
          for (const u of pair) await u.context.close().catch(() => {});
        }
      },
    },
    {
      name: "a user who switches rooms gets nothing more from the old one, on screen or on the wire",
      async run({ rec }) {
        rec.step('bob switches to room "garden" (his messages empty; the page leaves "lobby")');
        const before = rec.seq;
        await joinRoom(bob, "garden");
        await waitIn(bob, "#messages to be emptied after switching rooms",
          () => document.querySelectorAll("#messages .msg").length === 0);
        await waitForLeave(rec, bob, "chat:lobby", before);
        await rec.shots(users, "bob-in-garden");

        const lobbyOnly = `lobby only, bob should not see this (${tag})`;
        rec.step(`alice sends "${lobbyOnly}" in lobby; bob must NOT see it within ${ABSENT_WAIT} ms, nor receive it`);
        await say(alice, lobbyOnly);
        await waitForMessage(alice, "alice", lobbyOnly); // proves it was really sent
        await expectNoMessage(bob, "alice", lobbyOnly);
        const leaked = rec.framesOf(bob.name, 0, ({ dir, msg }) => dir === "in" && msg.type === "message" &&
          msg.topic === "chat:lobby" && msg.data?.text === lobbyOnly);
        if (leaked.length) fail(`bob: the server still delivered a lobby message after he left: ${JSON.stringify(leaked[0].msg)}`);
        await rec.shots(users, "lobby-only-message");

        const gardenOnly = `garden only (${tag})`;
        rec.step(`bob sends "${gardenOnly}" in garden; alice must NOT see it within ${ABSENT_WAIT} ms`);
        await say(bob, gardenOnly);
        await waitForMessage(bob, "bob", gardenOnly);
        await expectNoMessage(alice, "bob", gardenOnly);
        await rec.shots(users, "garden-only-message");
      },
    },
    {
      name: "the server restarts (SIGTERM, then started again on the same port): both pages reconnect, rejoin and chat",
      needsServer: true,
      async run({ rec, server }) {
        rec.step('bob goes back to "lobby"');
        await joinRoom(bob, "lobby");
        const kept = `before the restart (${tag})`;
        await say(alice, kept);
        await waitForMessage(bob, "alice", kept);

        rec.step("the server is stopped (SIGTERM: it closes the sockets with 1012 and exits); both pages show it");
        const mark = rec.seq;
        await server.stop("SIGTERM");
        await Promise.all(users.map((u) => waitIn(u, '#status "reconnecting" and #send disabled',
          () => document.querySelector("#status")?.textContent === "reconnecting" && document.querySelector("#send").disabled)));
        await rec.shots(users, "server-down");

        rec.step("the server starts again on the same port; both pages reconnect and rejoin lobby by themselves");
        await server.start();
        await Promise.all(users.map(async (u) => {
          await waitForStatus(u, "connected");
          await waitForRejoin(rec, u, "chat:lobby", mark);
          await waitInRoom(u, "lobby");
        }));
        for (const u of users) {
          if (rec.sockets[u.name] < 2) fail(`${u.name}: no new WebSocket was opened`);
          if (rec.navigations[u.name] !== 1) fail(`${u.name}: the page was reloaded (${rec.navigations[u.name]} navigations)`);
        }
        await waitForMessage(bob, "alice", kept); // what was on screen stays
        // Each page asked for the room's members again on its new socket: both are listed once.
        await Promise.all(users.map((u) => waitIn(u, "#members to list two members again, not stale",
          () => document.querySelectorAll("#members .member").length === 2 &&
            document.querySelector("#member-count")?.textContent === "2" &&
            !document.querySelector("#members").classList.contains("stale"))));
        for (const u of users) {
          const asked = rec.framesOf(u.name, mark, (f) => f.dir === "out" && f.msg.type === "presence" && f.msg.topic === "chat:lobby");
          if (asked.length !== 1) fail(`${u.name}: expected one presence request after the restart, got ${asked.length}`);
        }
        // The restarted node lost the room's history (a new epoch): the page says so.
        await Promise.all(users.map((u) => waitIn(u, '#gap "some messages may be missing"',
          () => document.querySelector("#gap")?.textContent === "some messages may be missing")));
        await rec.shots(users, "reconnected");

        const after = `after the restart (${tag})`;
        rec.step(`alice sends "${after}"; bob sees it, and his reply reaches alice`);
        await say(alice, after);
        await waitForMessage(bob, "alice", after);
        const back = `welcome back (${tag})`;
        await say(bob, back);
        await waitForMessage(alice, "bob", back);
        await rec.shots(users, "chat-after-restart");
      },
    },
  ];
}

await runStandalone({ name, example, tests }, import.meta.url);
