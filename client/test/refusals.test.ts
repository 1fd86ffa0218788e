// A key that was shown and is then refused: after a reconnect or an
// invalidation the server answers an error for it (a deleted poll:
// `not_found`; a lost right: `forbidden`). The entry must say so, not go on
// showing the old bundle as current.
//
// The fixture cannot make a watched key answer an error later (its
// contexts are public, and a missing order is `null`, not `not_found`:
// reconnect.test.ts covers that), so the refusals come from a stub server.

import { afterEach, describe, expect, it } from "vitest";
import { closeClients, newClient, sleep, waitFor } from "./helpers.js";
import { closeStubs, push, stub } from "./stub-server.js";

afterEach(async () => {
  closeClients();
  await closeStubs();
});

describe("refused after it was shown (stub server)", () => {
  it("a watch refused `not_found` after a reconnect drops the old data", async () => {
    const s = await stub();
    const { client } = newClient(s.url);
    const poll = client.cache.acquire<{ n: number }>("poll", { poll_id: 1 });
    await waitFor(() => poll.getSnapshot().status === "success", 2_000, "bundle");

    s.refuse.set("poll", "not_found"); // deleted while the socket was down
    s.sockets[0]!.terminate();
    await waitFor(() => poll.getSnapshot().status === "error", 5_000, "refused re-watch");
    expect(poll.getSnapshot()).toMatchObject({ status: "error", data: undefined, stale: false });
    expect(poll.getSnapshot().error?.code).toBe("not_found");

    // The server dropped the failed watch: `refetch()` (or the next reconnect) asks again.
    s.refuse.delete("poll");
    client.cache.refetch("poll");
    await waitFor(() => poll.getSnapshot().status === "success", 2_000, "watched again");
    expect(s.received[1]!.map((f) => f.type)).toEqual(["watch", "watch"]);
    poll.release();
  });

  it("a refetch refused `forbidden` after an invalidation drops the old data", async () => {
    const s = await stub();
    const { client } = newClient(s.url);
    const poll = client.cache.acquire<{ n: number }>("poll", { poll_id: 2 });
    await waitFor(() => poll.getSnapshot().status === "success", 2_000, "bundle");
    s.refuse.set("poll", "forbidden");
    push(s.sockets[0], { type: "invalidate", context: "poll" });
    await waitFor(() => poll.getSnapshot().status === "error", 2_000, "refused refetch");
    expect(poll.getSnapshot()).toMatchObject({ data: undefined, stale: false });
    expect(poll.getSnapshot().error?.code).toBe("forbidden");
    expect(s.received[0]!.map((f) => f.type)).toEqual(["watch", "fetch"]);
    poll.release();
  });

  it("a refetch that fails for another reason (`internal`) keeps the data, marked stale", async () => {
    const s = await stub();
    const { client } = newClient(s.url);
    const poll = client.cache.acquire<{ n: number }>("poll", { poll_id: 3 });
    await waitFor(() => poll.getSnapshot().status === "success", 2_000, "bundle");
    const data = poll.getSnapshot().data;
    s.refuse.set("poll", "internal");
    push(s.sockets[0], { type: "invalidate", context: "poll" });
    await waitFor(() => poll.getSnapshot().status === "error", 2_000, "failed refetch");
    expect(poll.getSnapshot()).toMatchObject({ data, stale: true });
    expect(poll.getSnapshot().error?.code).toBe("internal");

    // The next invalidation refetches (the watch stayed) and clears the error.
    s.refuse.delete("poll");
    push(s.sockets[0], { type: "invalidate", context: "poll" });
    await waitFor(() => poll.getSnapshot().status === "success", 2_000, "refetched");
    await sleep(20);
    expect(poll.getSnapshot()).toMatchObject({ error: undefined, stale: false });
    expect(s.received[0]!.map((f) => f.type)).toEqual(["watch", "fetch", "fetch"]);
    poll.release();
  });
});
