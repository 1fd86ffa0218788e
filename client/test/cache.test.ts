import { afterEach, describe, expect, it } from "vitest";
import { fetchContextHttp, type ContextState } from "../src/index.js";
import { closeClients, fixtureUrl, freshUserId, newClient, sleep, waitFor } from "./helpers.js";

afterEach(closeClients);

type UserData = { user_profile: { user_id: number; name: string }; user_orders: { id: number; item: string }[] };

function nameOf(s: ContextState<UserData>): string | undefined {
  return s.data?.user_profile.name;
}

describe("the context cache", () => {
  it("watches on first use, shares the entry, and unwatches after the last release", async () => {
    const { client, log } = newClient(fixtureUrl(), { cache: { lingerMs: 50 } });
    const user_id = freshUserId();
    const a = client.cache.acquire<UserData>("user", { user_id });
    const b = client.cache.acquire<UserData>("user", { user_id }); // same key, other object
    expect(a.getSnapshot().status).toBe("pending");
    await waitFor(() => a.getSnapshot().status === "success", 5_000, "bundle");
    expect(b.getSnapshot()).toBe(a.getSnapshot());
    expect(nameOf(a.getSnapshot())).toBe(`user${user_id}`);
    expect(log.of("out", "watch")).toEqual([{ type: "watch", id: expect.any(Number), context: "user", params: { user_id } }]);
    a.release();
    await sleep(100);
    expect(log.of("out", "unwatch")).toHaveLength(0); // b still uses it
    b.release();
    b.release(); // idempotent
    await waitFor(() => log.of("out", "unwatch").length === 1, 2_000, "unwatch");
    expect(client.cache.size).toBe(0);
  });

  it("shares one watch between equal params objects", async () => {
    const { client, log } = newClient(fixtureUrl());
    const user_id = freshUserId();
    const a = client.cache.acquire("user", { user_id });
    const b = client.cache.acquire("user", { ...{ user_id } });
    await waitFor(() => a.getSnapshot().status === "success");
    expect(b.getSnapshot()).toBe(a.getSnapshot());
    expect(log.of("out", "watch")).toHaveLength(1);
  });

  it("refetches after an invalidation from another client", async () => {
    const { client, log } = newClient(fixtureUrl());
    const other = newClient(fixtureUrl()).client;
    const user_id = freshUserId();
    const states: ContextState<UserData>[] = [];
    const stop = client.watch<UserData>("user", { user_id }, (s) => states.push(s));
    await waitFor(() => nameOf(states.at(-1)!) === `user${user_id}`);
    const mark = log.mark();
    await other.call("update_profile", { user_id, name: "ann" });
    await waitFor(() => nameOf(states.at(-1)!) === "ann", 5_000, "refetched name");
    expect(log.of("in", "invalidate", mark)).toEqual([{ type: "invalidate", context: "user", params: { user_id }, offset: expect.any(Number) }]);
    expect(log.of("out", "fetch", mark)).toHaveLength(1);
    expect(states.some((s) => s.stale)).toBe(true); // marked stale until the refetch landed
    expect(states.at(-1)!.stale).toBe(false);
    stop();
  });

  it("coalesces a burst of invalidations: 5 mutations, at most 2 fetches", async () => {
    const { client, log } = newClient(fixtureUrl());
    const other = newClient(fixtureUrl()).client;
    const user_id = freshUserId();
    const lease = client.cache.acquire<UserData>("user", { user_id });
    await waitFor(() => lease.getSnapshot().status === "success");
    const mark = log.mark();
    await Promise.all([1, 2, 3, 4, 5].map((i) => other.call("update_profile", { user_id, name: `n${i}` })));
    const finalName = ((await other.fetch<UserData>("user", { user_id })).user_profile).name;
    // The server may coalesce identical invalidations still queued for this
    // socket (docs/operations.md), so 1 to 5 arrive; at least one after the
    // last change.
    await waitFor(() => log.of("in", "invalidate", mark).length >= 1, 5_000, "an invalidation");
    expect(log.of("in", "invalidate", mark).length).toBeLessThanOrEqual(5);
    await waitFor(() => nameOf(lease.getSnapshot()) === finalName && !lease.getSnapshot().stale, 5_000, "final name");
    await sleep(100);
    const fetches = log.of("out", "fetch", mark).length;
    expect(fetches).toBeGreaterThanOrEqual(1);
    expect(fetches).toBeLessThanOrEqual(2);
    lease.release();
  });

  it("applies its own mutations' pushes (the caller watches too)", async () => {
    const { client, log } = newClient(fixtureUrl());
    const user_id = freshUserId();
    const lease = client.cache.acquire<UserData>("user", { user_id });
    await waitFor(() => lease.getSnapshot().status === "success");
    const mark = log.mark();
    const order = await client.call<{ id: number; item: string }>("add_order", { user_id, item: "tea" });
    await waitFor(() => lease.getSnapshot().data?.user_orders.length === 1, 5_000, "order");
    expect(lease.getSnapshot().data?.user_orders).toEqual([order]);
    expect(log.of("out", "fetch", mark)).toHaveLength(1);
    lease.release();
  });

  it("refetches for a function-level invalidation", async () => {
    const { client, log } = newClient(fixtureUrl());
    const other = newClient(fixtureUrl()).client;
    const user_id = freshUserId();
    const lease = client.cache.acquire<UserData>("user", { user_id });
    await waitFor(() => lease.getSnapshot().status === "success");
    const mark = log.mark();
    await other.call("update_name", { user_id, name: "fn-level" });
    await waitFor(() => nameOf(lease.getSnapshot()) === "fn-level", 5_000, "name");
    expect(log.of("in", "invalidate", mark)).toEqual([
      { type: "invalidate", context: "user", fn: "user_profile", params: { user_id }, offset: expect.any(Number) },
    ]);
    lease.release();
  });

  it("matches scoped entries only to watchers with equal params", async () => {
    const { client, log } = newClient(fixtureUrl());
    const other = newClient(fixtureUrl()).client;
    const [u1, u2] = [freshUserId(), freshUserId()];
    const l1 = client.cache.acquire<UserData>("user", { user_id: u1 });
    const l2 = client.cache.acquire<UserData>("user", { user_id: u2 });
    await waitFor(() => l1.getSnapshot().status === "success" && l2.getSnapshot().status === "success");
    const mark = log.mark();
    await other.call("update_profile", { user_id: u1, name: "only-u1" });
    await waitFor(() => nameOf(l1.getSnapshot()) === "only-u1");
    await sleep(50);
    expect(log.of("out", "fetch", mark).map((f) => f.params)).toEqual([{ user_id: u1 }]);
    expect(nameOf(l2.getSnapshot())).toBe(`user${u2}`);
    l1.release();
    l2.release();
  });

  it("refetches every watcher of a context for a broad entry", async () => {
    const { client, log } = newClient(fixtureUrl());
    const other = newClient(fixtureUrl()).client;
    const lease = client.cache.acquire<{ notifications: string[] }>("notifications", {});
    await waitFor(() => lease.getSnapshot().status === "success");
    const mark = log.mark();
    const note = `note-${freshUserId()}`;
    await other.call("post_note", { text: note });
    await waitFor(() => lease.getSnapshot().data?.notifications.includes(note), 5_000, "note");
    expect(log.of("in", "invalidate", mark)).toContainEqual({ type: "invalidate", context: "notifications", offset: expect.any(Number) });
    lease.release();
  });

  it("splices a merge into the slot without any request", async () => {
    const { client, log } = newClient(fixtureUrl());
    const other = newClient(fixtureUrl()).client;
    const user_id = freshUserId();
    const lease = client.cache.acquire<UserData>("user", { user_id });
    await waitFor(() => lease.getSnapshot().status === "success");
    const before = lease.getSnapshot().data!;
    const mark = log.mark();
    await other.call("rename_user", { user_id, name: "merged" });
    await waitFor(() => nameOf(lease.getSnapshot()) === "merged", 5_000, "merged name");
    expect(log.of("in", "merge", mark)).toEqual([
      {
        type: "merge",
        context: "user",
        slot: "user_profile",
        params: { user_id },
        value: { user_id, name: "merged" },
        offset: expect.any(Number),
      },
    ]);
    await sleep(150);
    expect(log.frames.slice(mark).filter((f) => f.dir === "out")).toEqual([]); // no fetch, no watch: nothing sent
    expect(lease.getSnapshot().data!.user_orders).toBe(before.user_orders); // the other slot is untouched
    lease.release();
  });

  it("surfaces a failed watch as an error state", async () => {
    const { client } = newClient(fixtureUrl());
    const lease = client.cache.acquire("no_such_context", {});
    await waitFor(() => lease.getSnapshot().status === "error");
    expect(lease.getSnapshot().error?.code).toBe("not_found");
    lease.release();
  });

  it("hydrates from an HTTP bundle and watches without a pending state or a change", async () => {
    const user_id = freshUserId();
    const bundle = await fetchContextHttp<UserData>(fixtureUrl(), "user", { user_id });
    const { client, log } = newClient(fixtureUrl(), { hydrate: [bundle] });
    const store = client.context<UserData>("user", { user_id });
    const first = store.getSnapshot();
    expect(first.status).toBe("success");
    expect(first.data).toBe(bundle.data);
    let changes = 0;
    const off = store.subscribe(() => changes++);
    await waitFor(() => log.of("in", "bundle").length === 1, 5_000, "watch reply");
    await sleep(20);
    expect(store.getSnapshot()).toBe(first); // same content: same object, no re-render
    expect(changes).toBe(0);
    // And it is live.
    await newClient(fixtureUrl()).client.call("update_profile", { user_id, name: "live" });
    await waitFor(() => nameOf(store.getSnapshot()) === "live");
    off();
  });
});
