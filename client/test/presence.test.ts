// Presence against the live fixture (its `chat` tracks presence, `alerts`
// does not): the list from the answer and the diffs, leaves on leave and on
// close, a burst of joins and leaves that ends where the server is, stats,
// refusals, revocation, a reconnect that asks again, and the React hook.

import "./react-root.js";
import { createElement } from "react";
import { afterEach, describe, expect, it, onTestFinished } from "vitest";
import type { MizanClient, PresenceMember, PresenceState } from "../src/index.js";
import { MizanProvider, usePresence, type PresenceResult } from "../src/react/index.js";
import { mintToken } from "./fixture.js";
import { closeClients, fixtureUrl, freshUserId, gated, newClient, sleep, waitFor } from "./helpers.js";
import { mount } from "./react-root.js";

afterEach(closeClients);

const sessionOf = (c: MizanClient): string => c.connection.getSnapshot().session!;
const sorted = (members: readonly PresenceMember[]): string[] => members.map((m) => m.session).sort();
const has = (s: PresenceState, ...sessions: string[]): boolean =>
  s.status === "success" && JSON.stringify(sorted(s.members)) === JSON.stringify([...sessions].sort());

describe("presence", () => {
  it("lists every member, this socket included, and follows joins and leaves", async () => {
    const room = `p${freshUserId()}`;
    const alice = newClient(fixtureUrl(), { token: mintToken("alice"), channels: { lingerMs: 0 } });
    const bob = newClient(fixtureUrl(), { channels: { lingerMs: 0 } });
    const a = alice.client.channel("chat", { room });
    const who = a.presence();
    await waitFor(() => who.state.getSnapshot().status === "success", 5_000, "alice's list");
    const aliceSession = sessionOf(alice.client);
    expect(who.state.getSnapshot()).toMatchObject({ topic: `chat:chat_${room}`, count: 1, users: 1, stale: false });
    expect(who.state.getSnapshot().members).toEqual([{ session: aliceSession, user: "alice" }]); // no `info`: none attached

    const b = bob.client.channel("chat", { room });
    const bobs = b.presence();
    await waitFor(() => has(bobs.state.getSnapshot(), aliceSession, sessionOf(bob.client)), 5_000, "bob's list");
    await waitFor(() => has(who.state.getSnapshot(), aliceSession, sessionOf(bob.client)), 5_000, "bob in alice's list");
    expect(who.state.getSnapshot()).toMatchObject({ count: 2, users: 1 });
    // Bob was told nothing of his own join: his list is the answer alone.
    expect(bob.log.of("in", "presence_diff")).toHaveLength(0);
    expect(alice.log.of("out", "presence")).toHaveLength(1);

    b.leave();
    await waitFor(() => has(who.state.getSnapshot(), aliceSession), 5_000, "bob's leave");
    // Leaving on close, too.
    const carol = newClient(fixtureUrl());
    carol.client.channel("chat", { room });
    await waitFor(() => who.state.getSnapshot().count === 2, 5_000, "carol's join");
    carol.client.close();
    await waitFor(() => has(who.state.getSnapshot(), aliceSession), 5_000, "carol's leave on close");
    a.leave();
  });

  it("ends where the server is after a burst of joins and leaves around the answer", async () => {
    const room = `p${freshUserId()}`;
    const watcher = newClient(fixtureUrl(), { channels: { lingerMs: 0 } });
    const others = Array.from({ length: 12 }, () => newClient(fixtureUrl(), { channels: { lingerMs: 0 } }));
    const subs = others.slice(0, 6).map((o) => o.client.channel("chat", { room }));
    await Promise.all(subs.map((s) => s.joined()));
    // The watcher joins and asks while the others keep coming and going.
    const w = watcher.client.channel("chat", { room });
    const list = w.presence();
    const churn = (async () => {
      for (let i = 0; i < 6; i++) {
        others[6 + i]!.client.channel("chat", { room });
        if (i % 2 === 0) subs[i]!.leave();
        await sleep(40);
      }
    })();
    await churn;
    await w.joined();
    // The server's view, asked afresh on another socket of the topic.
    const checker = newClient(fixtureUrl());
    const probe = checker.client.channel("chat", { room });
    await probe.joined();
    const topic = `chat:chat_${room}`;
    await sleep(300); // every batch flushed
    const truth = await checker.client.kernel.request({ type: "presence", topic });
    if (truth.type !== "presence") throw new Error("no presence answer");
    const expected = truth.members.map((m) => m.session).sort();
    expect(expected).toHaveLength(1 + 3 + 6 + 1);
    await waitFor(() => JSON.stringify(sorted(list.state.getSnapshot().members)) === JSON.stringify(expected), 5_000, "the same list");
    const applied = watcher.log.of("in", "presence_diff").length;
    expect(applied).toBeGreaterThan(0);
    // Stats agree: sessions, and no signed-in user.
    await expect(w.presenceStats()).resolves.toEqual({ sessions: expected.length, users: 0 });
  });

  it("counts users in stats and refuses a channel without presence", async () => {
    const room = `p${freshUserId()}`;
    const ann1 = newClient(fixtureUrl(), { token: mintToken("ann") });
    const ann2 = newClient(fixtureUrl(), { token: mintToken("ann") });
    const guest = newClient(fixtureUrl());
    const subs = [ann1, ann2, guest].map((c) => c.client.channel("chat", { room }));
    await Promise.all(subs.map((s) => s.joined()));
    await expect(subs[2]!.presenceStats()).resolves.toEqual({ sessions: 3, users: 1 });
    const list = subs[0]!.presence();
    await waitFor(() => list.state.getSnapshot().count === 3, 5_000, "three members");
    expect(list.state.getSnapshot().users).toBe(1);

    const alerts = guest.client.channel("alerts");
    const none = alerts.presence();
    await waitFor(() => none.state.getSnapshot().status === "error", 5_000, "a refusal");
    expect(none.state.getSnapshot().error?.code).toBe("not_found");
    await expect(alerts.presenceStats()).rejects.toMatchObject({ code: "not_found" });
    // A join the server refused: the list says why.
    const staff = guest.client.channel("chat", { room: "staff-only" });
    const refused = staff.presence();
    await waitFor(() => refused.state.getSnapshot().status === "error", 5_000, "the join's refusal");
    expect(refused.state.getSnapshot().error?.code).toBe("forbidden");
    // Asking the server directly for a topic this socket did not join.
    await expect(guest.client.kernel.request({ type: "presence", topic: "chat:chat_elsewhere" })).rejects.toMatchObject({ code: "not_subscribed" });
  });

  it("shares one list between the handles of a join, and stops asking once none uses it", async () => {
    const room = `p${freshUserId()}`;
    const { client, log } = newClient(fixtureUrl());
    const one = client.channel("chat", { room });
    const two = client.channel("chat", { room });
    const p1 = one.presence();
    const p2 = two.presence();
    expect(p1.state).toBe(p2.state);
    await waitFor(() => p1.state.getSnapshot().status === "success");
    expect(log.of("out", "presence")).toHaveLength(1);
    p1.refresh();
    await waitFor(() => log.of("in", "presence").length === 2);
    one.leave(); // stops p1 too
    two.leave();
    const p3 = client.channel("chat", { room }).presence();
    expect(p3.state).not.toBe(p1.state);
  });

  it("follows a member's sign-in: the same session, now with its user", async () => {
    const room = `p${freshUserId()}`;
    const watcher = newClient(fixtureUrl());
    const guest = newClient(fixtureUrl());
    const list = watcher.client.channel("chat", { room }).presence();
    await guest.client.channel("chat", { room }).joined();
    const session = sessionOf(guest.client);
    await waitFor(() => list.state.getSnapshot().members.some((m) => m.session === session), 5_000, "the guest");
    const place = list.state.getSnapshot().members.findIndex((m) => m.session === session);
    await guest.client.setToken(mintToken("zed"));
    await waitFor(() => list.state.getSnapshot().members.some((m) => m.session === session && m.user === "zed"), 5_000, "the guest as zed");
    expect(list.state.getSnapshot()).toMatchObject({ count: 2, users: 1 });
    expect(list.state.getSnapshot().members.findIndex((m) => m.session === session)).toBe(place);
  });

  it("turns revoked with the join", async () => {
    const room = `staff-p${freshUserId()}`;
    const { client } = newClient(fixtureUrl(), { token: mintToken("sam", { staff: true }) });
    const sub = client.channel("chat", { room });
    const list = sub.presence();
    await waitFor(() => list.state.getSnapshot().status === "success");
    await client.setToken(mintToken("sam", { staff: false }));
    await waitFor(() => list.state.getSnapshot().status === "revoked", 5_000, "revoked");
    expect(list.state.getSnapshot()).toMatchObject({ members: [], count: 0, error: { code: "forbidden" } });
  });

  it("is stale while the socket is down, asks again after the rejoin, and shows the new session", async () => {
    const room = `p${freshUserId()}`;
    const net = gated();
    const mover = newClient(fixtureUrl(), { WebSocket: net.WebSocket });
    const stayer = newClient(fixtureUrl());
    const m = mover.client.channel("chat", { room });
    const list = m.presence();
    const s = stayer.client.channel("chat", { room });
    const theirs = s.presence();
    await Promise.all([m.joined(), s.joined()]);
    const before = sessionOf(mover.client);
    await waitFor(() => has(list.state.getSnapshot(), before, sessionOf(stayer.client)), 5_000, "both");
    net.cut();
    await waitFor(() => list.state.getSnapshot().stale, 5_000, "stale");
    expect(list.state.getSnapshot().count).toBe(2); // the last list, meanwhile
    await waitFor(() => has(theirs.state.getSnapshot(), sessionOf(stayer.client)), 5_000, "the old socket's leave");
    net.online();
    await waitFor(() => mover.client.connection.getSnapshot().status === "open" && sessionOf(mover.client) !== before, 5_000, "reconnect");
    const after = sessionOf(mover.client);
    await waitFor(() => has(list.state.getSnapshot(), after, sessionOf(stayer.client)) && !list.state.getSnapshot().stale, 5_000, "the new list");
    expect(mover.log.of("out", "presence")).toHaveLength(2);
    await waitFor(() => has(theirs.state.getSnapshot(), after, sessionOf(stayer.client)), 5_000, "the new socket's join");
  });

  it("usePresence keeps a component's list (typed info), shared with the join", async () => {
    const room = `p${freshUserId()}`;
    const { client } = newClient(fixtureUrl(), { token: mintToken("dora") });
    const other = newClient(fixtureUrl(), { token: mintToken("eli"), channels: { lingerMs: 0 } });
    let seen: PresenceResult<undefined> | undefined;
    function Who(): null {
      seen = usePresence<undefined>("chat", { room });
      return null;
    }
    const tree = await mount(createElement(MizanProvider, { client }, createElement(Who)));
    // From here the list changes with server pushes, outside `act`, as in a browser.
    const g = globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean };
    g.IS_REACT_ACT_ENVIRONMENT = false;
    onTestFinished(() => {
      g.IS_REACT_ACT_ENVIRONMENT = true;
    });
    await waitFor(() => seen?.status === "success", 5_000, "the hook's list");
    expect(seen!.members.map((x) => x.user)).toEqual(["dora"]);
    const info: undefined = seen!.members[0]!.info;
    expect(info).toBeUndefined();
    const e = other.client.channel("chat", { room });
    await e.joined();
    await waitFor(() => seen?.count === 2, 5_000, "eli in the hook's list");
    expect(seen!.users).toBe(2);
    await expect(seen!.stats()).resolves.toEqual({ sessions: 2, users: 2 });
    e.leave();
    await waitFor(() => seen?.count === 1, 5_000, "eli's leave");
    g.IS_REACT_ACT_ENVIRONMENT = true;
    await tree.unmount();
  });
});
