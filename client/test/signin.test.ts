// Signing in on a socket that is already open (`setToken`): requests made
// while the `auth` is in flight wait for its reply, and watches and joins
// the server refused `unauthenticated` are tried again once an `auth` is
// accepted.
//
// Every fixture context is public, so the fixture never refuses a watch
// `unauthenticated`: the ordering is checked on the fixture (a user-level
// call, a watch), the refusals on a stub server with per-user contexts.

import { afterEach, describe, expect, it } from "vitest";
import { mintToken } from "./fixture.js";
import { closeClients, fixtureUrl, freshUserId, newClient, sleep, waitFor, type FrameLog } from "./helpers.js";
import { closeStubs, push, stub } from "./stub-server.js";

afterEach(async () => {
  closeClients();
  await closeStubs();
});

/** `dir type id` of every frame from `from` on, e.g. `out auth 3`. */
function trace(log: FrameLog, from: number): string[] {
  return log.frames.slice(from).map(({ dir, frame }) => `${dir} ${String(frame.type)} ${String(frame.id ?? "")}`.trim());
}

describe("signing in on an open socket (fixture)", () => {
  it("holds requests made while the `auth` is in flight until its reply", async () => {
    const { client, log } = newClient(fixtureUrl());
    await client.call("echo", { text: "anonymous" });
    const mark = log.mark();
    const signedIn = client.setToken(mintToken("erin"));
    // In the same tick: a user-level call and a watch.
    const who = client.call("whoami");
    const notes = client.cache.acquire<{ notifications: string[] }>("notifications", {});
    await expect(who).resolves.toEqual({ id: "erin", staff: false });
    await signedIn;
    await waitFor(() => notes.getSnapshot().status === "success", 5_000, "bundle");
    const frames = trace(log, mark);
    const auth = log.of("out", "auth", mark)[0]!.id;
    const okAt = frames.indexOf(`in ok ${String(auth)}`);
    expect(frames.indexOf(`out auth ${String(auth)}`)).toBe(0);
    expect(frames.findIndex((f) => f.startsWith("out call"))).toBeGreaterThan(okAt);
    expect(frames.findIndex((f) => f.startsWith("out watch"))).toBeGreaterThan(okAt);
    expect(log.of("in", "error", mark)).toEqual([]);

    // The watch is live.
    const note = `note-${freshUserId()}`;
    await newClient(fixtureUrl()).client.call("post_note", { text: note });
    await waitFor(() => notes.getSnapshot().data?.notifications.includes(note), 5_000, "invalidated bundle");
    notes.release();
  });

  it("sends a token set while connecting, once the socket opens", async () => {
    const { client, log } = newClient(fixtureUrl());
    client.connect();
    expect(client.connection.getSnapshot().status).toBe("connecting");
    void client.setToken(mintToken("early"));
    await expect(client.call("whoami")).resolves.toEqual({ id: "early", staff: false });
    expect(log.of("out", "auth")).toHaveLength(1);
    expect(client.connection.getSnapshot().user).toMatchObject({ id: "early" });
  });
});

describe("refused `unauthenticated`, then signed in (stub server)", () => {
  it("watches again a per-user context refused just before the `auth` (the issue's ordering)", async () => {
    const s = await stub();
    s.perUser.add("ballot");
    const { client, log } = newClient(s.url);
    await client.call("echo");
    const mark = log.mark();
    // The watch goes out on the anonymous socket, then the token changes.
    const ballot = client.cache.acquire<{ n: number }>("ballot", {});
    await client.setToken("erin");
    await waitFor(() => ballot.getSnapshot().status === "success", 2_000, "ballot bundle");
    const [first, second] = log.of("out", "watch", mark).map((f) => f.id);
    const auth = log.of("out", "auth", mark)[0]!.id;
    expect(trace(log, mark)).toEqual([
      `out watch ${String(first)}`,
      `out auth ${String(auth)}`,
      `in error ${String(first)}`,
      `in ok ${String(auth)}`,
      `out watch ${String(second)}`,
      `in bundle ${String(second)}`,
    ]);
    expect(log.of("in", "error", mark)[0]).toMatchObject({ code: "unauthenticated" });
    expect(ballot.getSnapshot()).toMatchObject({ status: "success", error: undefined, stale: false });

    // And it stays live: an invalidation refetches it.
    const before = ballot.getSnapshot().data!.n;
    push(s.sockets[0], { type: "invalidate", context: "ballot" });
    await waitFor(() => (ballot.getSnapshot().data?.n ?? 0) > before, 2_000, "refetched ballot");
    ballot.release();
  });

  it("watches again when the refusal lands after the `auth` reply", async () => {
    const s = await stub();
    s.perUser.add("ballot");
    s.refuseAfterAuth = true;
    const { client, log } = newClient(s.url);
    await client.call("echo");
    const ballot = client.cache.acquire<{ n: number }>("ballot", {});
    await client.setToken("erin");
    await waitFor(() => ballot.getSnapshot().status === "success", 2_000, "ballot bundle");
    expect(log.of("out", "watch")).toHaveLength(2);
    ballot.release();
  });

  it("watches and joins again what was refused to an anonymous socket, on a later sign-in", async () => {
    const s = await stub();
    s.perUser.add("ballot");
    s.perUser.add("inbox");
    const { client, log } = newClient(s.url);
    const ballot = client.cache.acquire<{ n: number }>("ballot", {});
    const inbox = client.channel<{ text: string }, { text: string }>("inbox", {});
    await waitFor(() => ballot.getSnapshot().status === "error", 2_000, "refused watch");
    await expect(inbox.joined()).rejects.toMatchObject({ code: "unauthenticated" });
    expect(ballot.getSnapshot()).toMatchObject({ status: "error", data: undefined });
    expect(ballot.getSnapshot().error?.code).toBe("unauthenticated");
    expect(inbox.state.getSnapshot()).toMatchObject({ status: "error" });
    await sleep(50); // nothing is retried meanwhile
    expect(log.of("out", "watch")).toHaveLength(1);
    expect(log.of("out", "subscribe")).toHaveLength(1);

    await client.setToken("erin");
    await waitFor(() => ballot.getSnapshot().status === "success", 2_000, "ballot bundle");
    await expect(inbox.joined()).resolves.toBe("inbox:{}");
    await inbox.send({ text: "hi" });
    expect(log.of("out", "watch")).toHaveLength(2);
    expect(log.of("out", "subscribe")).toHaveLength(2);
    ballot.release();
    inbox.leave();
  });
});
