// Revocation (PROTOCOL.md section 3): when a socket's identity changes or
// its token expires, the server leaves the topics and drops the watches it
// may no longer hold (`unsubscribed`, `unwatched`). The client must forget
// them (no restore after a reconnect) and tell the app.
//
// `unsubscribed` is driven through the fixture (its `staff-*` chat rooms
// need staff). Every fixture context is public, so no identity change makes
// the fixture drop a watch: `unwatched` is fed by a stub server, the way
// close-codes.test.ts does for close codes.

import { afterEach, describe, expect, it } from "vitest";
import type { MizanError } from "../src/index.js";
import { mintToken } from "./fixture.js";
import { closeClients, fixtureUrl, freshUserId, newClient, sleep, waitFor } from "./helpers.js";
import { closeStubs, push, stub } from "./stub-server.js";

type Said = { text: string; user: string | null };
type UserData = { user_profile: { user_id: number; name: string } };

afterEach(async () => {
  closeClients();
  await closeStubs();
});

describe("revoked subscriptions (fixture)", () => {
  it("a staff room is revoked when the user loses staff; the public room and the watch are untouched", async () => {
    const id = `staffer${freshUserId()}`;
    const staff = newClient(fixtureUrl(), { token: mintToken(id, { staff: true }) });
    const other = newClient(fixtureUrl(), { token: mintToken(`other${freshUserId()}`, { staff: true }) }).client;
    const ops = staff.client.channel<{ text: string }, Said>("chat", { room: "staff-ops" });
    const lobby = staff.client.channel<{ text: string }, Said>("chat", { room: "lobby" });
    const gotOps: string[] = [];
    const gotLobby: string[] = [];
    const revoked: MizanError[] = [];
    ops.onMessage((m) => gotOps.push(m.text));
    lobby.onMessage((m) => gotLobby.push(m.text));
    ops.onRevoked((e) => revoked.push(e));
    await expect(ops.joined()).resolves.toBe("chat:chat_staff-ops");
    await lobby.joined();
    const user_id = freshUserId();
    const lease = staff.client.cache.acquire<UserData>("user", { user_id });
    await waitFor(() => lease.getSnapshot().status === "success", 5_000, "bundle");
    const otherOps = other.channel<{ text: string }, Said>("chat", { room: "staff-ops" });
    await otherOps.joined();

    // Same user, no staff flag any more.
    const mark = staff.log.mark();
    await staff.client.setToken(mintToken(id, { staff: false }));
    await waitFor(() => ops.state.getSnapshot().status === "revoked", 5_000, "revocation");
    expect(staff.log.of("in", "unsubscribed", mark)).toEqual([
      { type: "unsubscribed", topic: "chat:chat_staff-ops", code: "forbidden" },
    ]);
    const state = ops.state.getSnapshot();
    expect(state).toMatchObject({ status: "revoked", topic: "chat:chat_staff-ops" });
    expect(state.error?.code).toBe("forbidden");
    expect(revoked.map((e) => e.code)).toEqual(["forbidden"]);
    expect(staff.client.connection.getSnapshot().user).toMatchObject({ id, staff: false });

    // Sending on the revoked join fails at once rather than hanging.
    await expect(ops.send({ text: "still here?" })).rejects.toMatchObject({ code: "forbidden" });
    await expect(ops.joined()).rejects.toMatchObject({ code: "forbidden" });
    // A listener added later hears about it at once.
    const late: string[] = [];
    ops.onRevoked((e) => late.push(e.code));
    expect(late).toEqual(["forbidden"]);

    // Staff messages no longer reach it; the lobby still does.
    const secret = `secret-${freshUserId()}`;
    const hello = `hello-${freshUserId()}`;
    await otherOps.send({ text: secret });
    await other.channel<{ text: string }, Said>("chat", { room: "lobby" }).send({ text: hello });
    await waitFor(() => gotLobby.includes(hello), 5_000, "lobby message");
    await sleep(100);
    expect(gotOps).not.toContain(secret);
    expect(staff.log.of("in", "message", mark).filter((f) => f.topic === "chat:chat_staff-ops")).toEqual([]);
    expect(lobby.state.getSnapshot()).toMatchObject({ status: "joined", topic: "chat:chat_lobby" });
    await lobby.send({ text: `mine-${hello}` });
    await waitFor(() => gotLobby.includes(`mine-${hello}`), 5_000, "own lobby message");

    // The public context's watch was kept and stays live.
    expect(staff.log.of("in", "unwatched", mark)).toEqual([]);
    await other.call("update_profile", { user_id, name: "still-live" });
    await waitFor(() => lease.getSnapshot().data?.user_profile.name === "still-live", 5_000, "live watch");
    expect(lease.getSnapshot()).toMatchObject({ status: "success", stale: false });

    // After a reconnect the revoked room is not subscribed again; the lobby is.
    const beforeReconnect = staff.log.mark();
    staff.client.reconnect();
    await waitFor(() => staff.log.of("out", "subscribe", beforeReconnect).length >= 1, 5_000, "resubscribe");
    await waitFor(() => staff.log.of("in", "subscribed", beforeReconnect).length >= 1, 5_000, "resubscribed");
    await sleep(100);
    expect(staff.log.of("out", "subscribe", beforeReconnect).map((f) => f.params)).toEqual([{ room: "lobby" }]);
    expect(ops.state.getSnapshot().status).toBe("revoked");

    // Joining again is a fresh subscribe: refused now, accepted once staff again.
    await expect(staff.client.channel("chat", { room: "staff-ops" }).joined()).rejects.toMatchObject({ code: "forbidden" });
    await staff.client.setToken(mintToken(id, { staff: true }));
    await expect(staff.client.channel("chat", { room: "staff-ops" }).joined()).resolves.toBe("chat:chat_staff-ops");
    expect(ops.state.getSnapshot().status).toBe("revoked"); // the old handle stays revoked
    lease.release();
  });

  it("a staff room is revoked with `unauthenticated` when the token expires", async () => {
    const id = `expiring${freshUserId()}`;
    let calls = 0;
    const { client, log } = newClient(fixtureUrl(), {
      // First a staff token about to expire; then, renewed, a plain one.
      token: () => (++calls === 1 ? mintToken(id, { staff: true, expInSeconds: 2 }) : mintToken(id)),
    });
    const ops = client.channel<{ text: string }, Said>("chat", { room: "staff-ops" });
    const lobby = client.channel<{ text: string }, Said>("chat", { room: "lobby" });
    await ops.joined();
    await lobby.joined();
    await waitFor(() => ops.state.getSnapshot().status === "revoked", 8_000, "revocation on expiry");
    expect(ops.state.getSnapshot().error?.code).toBe("unauthenticated");
    expect(log.of("in", "unsubscribed")).toEqual([{ type: "unsubscribed", topic: "chat:chat_staff-ops", code: "unauthenticated" }]);
    expect(lobby.state.getSnapshot().status).toBe("joined");
    await expect(ops.send({ text: "x" })).rejects.toMatchObject({ code: "unauthenticated" });
  });
});

describe("dropped watches (stub server)", () => {
  it("turns `revoked`, drops the data it may no longer show, and does not watch it again after a reconnect", async () => {
    const s = await stub();
    const { client } = newClient(s.url);
    const secret = client.cache.acquire<{ n: number }>("staff_dashboard", { team: 7 });
    const open = client.cache.acquire<{ n: number }>("notifications", {});
    await waitFor(() => secret.getSnapshot().status === "success" && open.getSnapshot().status === "success");

    push(s.sockets[0], { type: "unwatched", context: "staff_dashboard", params: { team: 7 }, code: "forbidden" });
    await waitFor(() => secret.getSnapshot().status === "revoked", 2_000, "revoked state");
    const state = secret.getSnapshot();
    expect(state.error?.code).toBe("forbidden");
    expect(state).toMatchObject({ data: undefined, stale: false }); // the server refused it: not shown any more
    expect(open.getSnapshot()).toMatchObject({ status: "success", stale: false });

    // Invalidations no longer refetch it (it is not watched).
    push(s.sockets[0], { type: "invalidate", context: "staff_dashboard" });
    await sleep(60);
    expect(s.received[0]!.filter((f) => f.context === "staff_dashboard").map((f) => f.type)).toEqual(["watch"]);

    // A reconnect watches the other context again, not the dropped one.
    s.sockets[0]!.terminate();
    await waitFor(() => s.received[1]?.some((f) => f.type === "watch"), 5_000, "re-watch after reconnect");
    await sleep(60);
    expect(s.received[1]!.map((f) => [f.type, f.context])).toEqual([["watch", "notifications"]]);
    expect(secret.getSnapshot().status).toBe("revoked");

    // `refetch()` tries again (the app may have signed the user back in).
    client.cache.refetch("staff_dashboard", { team: 7 });
    await waitFor(() => secret.getSnapshot().status === "success", 2_000, "watched again");
    expect(s.received[1]!.filter((f) => f.context === "staff_dashboard").map((f) => f.type)).toEqual(["watch"]);
    expect(secret.getSnapshot()).toMatchObject({ error: undefined, stale: false });
    secret.release();
    open.release();
  });

  it("ignores a refetch that lands after the watch was dropped; keeps the data, stale, for a reason other than a refusal", async () => {
    const s = await stub();
    const { client } = newClient(s.url);
    const lease = client.cache.acquire<{ n: number }>("staff_dashboard", { team: 1 });
    await waitFor(() => lease.getSnapshot().status === "success");
    const data = lease.getSnapshot().data;
    s.holdFetches = true;
    push(s.sockets[0], { type: "invalidate", context: "staff_dashboard", params: { team: 1 } });
    await waitFor(() => s.held.length === 1, 2_000, "refetch in flight");
    push(s.sockets[0], { type: "unwatched", context: "staff_dashboard", params: { team: 1 }, code: "internal" });
    await waitFor(() => lease.getSnapshot().status === "revoked");
    s.held[0]!();
    await sleep(60);
    expect(lease.getSnapshot()).toMatchObject({ status: "revoked", data, stale: true });
    expect(lease.getSnapshot().error?.code).toBe("internal");
    lease.release();
  });

  it("forgets a dropped entry nobody uses, and a new user watches afresh", async () => {
    const s = await stub();
    const { client } = newClient(s.url, { cache: { lingerMs: 5_000 } });
    const lease = client.cache.acquire<{ n: number }>("staff_dashboard", { team: 2 });
    await waitFor(() => lease.getSnapshot().status === "success");
    lease.release(); // lingering, still watched
    push(s.sockets[0], { type: "unwatched", context: "staff_dashboard", params: { team: 2 }, code: "forbidden" });
    await waitFor(() => client.cache.size === 0, 2_000, "forgotten");
    await sleep(30);
    expect(s.received[0]!.map((f) => f.type)).toEqual(["watch"]); // no `unwatch`: the server already dropped it
    const again = client.cache.acquire<{ n: number }>("staff_dashboard", { team: 2 });
    expect(again.getSnapshot().status).toBe("pending");
    await waitFor(() => again.getSnapshot().status === "success");
    again.release();
  });
});
