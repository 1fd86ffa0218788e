// Context positions (PROTOCOL.md section 9): each cache entry keeps the
// position of the data it holds (the bundle's, advanced by applied merges,
// replaced by the refetch after an invalidation) and re-watches with
// `since` after a reconnect; `unchanged` keeps the data, a `bundle`
// replaces it.

import { afterEach, describe, expect, it } from "vitest";
import { startFixture, startFixtureForRestart, type Fixture } from "./fixture.js";
import { closeClients, fixtureUrl, freshUserId, gated, newClient, sleep, waitFor } from "./helpers.js";

let fixture: Fixture | undefined;
afterEach(async () => {
  closeClients();
  await fixture?.stop();
  fixture = undefined;
});

type UserData = { user_profile: { user_id: number; name: string }; user_orders: { id: number; item: string }[] };

const position = { epoch: expect.any(String), offset: expect.any(Number) };

/**
 * Watches user `a` through a socket that can be cut; before the cut, one
 * invalidation (refetched) and one merge reach the watch, so the position it
 * re-watches with must be the refetched bundle's, advanced by the merge.
 */
async function watchedThenCut(url: string, a: number) {
  const gate = gated();
  const { client, log } = newClient(url, { WebSocket: gate.WebSocket, backoff: { initialMs: 50, maxMs: 200 } });
  const other = newClient(url).client;
  const lease = client.cache.acquire<UserData>("user", { user_id: a });
  await waitFor(() => lease.getSnapshot().status === "success", 5_000, "bundle");
  expect(log.of("in", "bundle")).toEqual([expect.objectContaining({ context: "user", ...position })]);
  await other.call("update_profile", { user_id: a, name: "refetched" });
  await waitFor(() => lease.getSnapshot().data?.user_profile.name === "refetched" && !lease.getSnapshot().stale, 5_000, "refetch");
  await other.call("rename_user", { user_id: a, name: "merged" });
  await waitFor(() => lease.getSnapshot().data?.user_profile.name === "merged", 5_000, "merge");
  const [merge] = log.of("in", "merge");
  const [, refetched] = log.of("in", "bundle");
  expect((merge as { offset: number }).offset).toBeGreaterThan((refetched as { offset: number }).offset);
  await sleep(20);
  gate.cut();
  await waitFor(() => client.connection.getSnapshot().status === "reconnecting", 5_000, "reconnecting");
  return {
    client,
    log,
    other,
    lease,
    gate,
    held: { epoch: (refetched as { epoch: string }).epoch, offset: (merge as { offset: number }).offset },
  };
}

describe("context positions", () => {
  it("re-watches with since and keeps its data when nothing it watches changed", async () => {
    const [a, b] = [freshUserId(), freshUserId()];
    const { client, log, other, lease, gate, held } = await watchedThenCut(fixtureUrl(), a);
    const before = lease.getSnapshot();
    await other.call("update_profile", { user_id: b, name: "elsewhere" }); // the same context, another key
    const mark = log.mark();
    gate.online();
    await waitFor(() => log.of("in", "unchanged", mark).length === 1, 10_000, "unchanged");
    expect(log.of("out", "watch", mark)).toEqual([
      { type: "watch", id: expect.any(Number), context: "user", params: { user_id: a }, since: held },
    ]);
    const [unchanged] = log.of("in", "unchanged", mark);
    expect(unchanged).toMatchObject({ context: "user", params: { user_id: a }, epoch: held.epoch });
    expect((unchanged as { offset: number }).offset).toBeGreaterThan(held.offset); // b's entry came after
    expect(log.of("in", "bundle", mark)).toEqual([]);
    expect(log.of("out", "fetch", mark)).toEqual([]);
    expect(lease.getSnapshot().data).toBe(before.data); // the same object: kept, not refetched
    expect(lease.getSnapshot()).toMatchObject({ status: "success", stale: false });
    expect(client.connection.getSnapshot().status).toBe("open");

    // The new position is the unchanged reply's: a second cut re-watches with it.
    await other.call("update_profile", { user_id: b, name: "elsewhere again" });
    const mark2 = log.mark();
    gate.cut();
    await waitFor(() => client.connection.getSnapshot().status === "reconnecting", 5_000, "reconnecting again");
    gate.online();
    await waitFor(() => log.of("in", "unchanged", mark2).length === 1, 10_000, "unchanged again");
    expect(log.of("out", "watch", mark2)).toEqual([
      expect.objectContaining({ since: { epoch: held.epoch, offset: (unchanged as { offset: number }).offset } }),
    ]);
    // And the watch is live.
    await other.call("rename_user", { user_id: a, name: "live" });
    await waitFor(() => lease.getSnapshot().data?.user_profile.name === "live", 5_000, "live merge");
    lease.release();
  });

  it("gets a bundle with the new data when its own key changed meanwhile", async () => {
    const a = freshUserId();
    const { log, other, lease, gate, held } = await watchedThenCut(fixtureUrl(), a);
    await other.call("update_profile", { user_id: a, name: "while away" });
    const mark = log.mark();
    gate.online();
    await waitFor(() => lease.getSnapshot().data?.user_profile.name === "while away", 10_000, "the new name");
    expect(log.of("out", "watch", mark)).toEqual([
      { type: "watch", id: expect.any(Number), context: "user", params: { user_id: a }, since: held },
    ]);
    expect(log.of("in", "unchanged", mark)).toEqual([]);
    expect(log.of("in", "bundle", mark)).toEqual([expect.objectContaining({ context: "user", epoch: held.epoch })]);
    expect(lease.getSnapshot()).toMatchObject({ status: "success", stale: false });
    lease.release();
  });

  it("gets a bundle after the server restarted (a new epoch)", async () => {
    fixture = await startFixtureForRestart();
    const { port, url } = fixture;
    const a = freshUserId();
    const { client, log } = newClient(url, { backoff: { initialMs: 50, maxMs: 400 } });
    const other = newClient(url).client;
    const lease = client.cache.acquire<UserData>("user", { user_id: a });
    await waitFor(() => lease.getSnapshot().status === "success", 5_000, "bundle");
    await other.call("rename_user", { user_id: a, name: "before" });
    await waitFor(() => lease.getSnapshot().data?.user_profile.name === "before", 5_000, "merge");
    const [first] = log.of("in", "bundle");
    const [merge] = log.of("in", "merge");

    await fixture.stop("SIGKILL");
    await waitFor(() => client.connection.getSnapshot().status === "reconnecting", 5_000, "reconnecting");
    const mark = log.mark();
    fixture = await startFixture(port);
    // The restarted node lost its memory: the bundle shows its data.
    await waitFor(() => lease.getSnapshot().data?.user_profile.name === `user${a}`, 10_000, "the restarted server's data");
    expect(log.of("out", "watch", mark)).toEqual([
      {
        type: "watch",
        id: expect.any(Number),
        context: "user",
        params: { user_id: a },
        since: { epoch: (first as { epoch: string }).epoch, offset: (merge as { offset: number }).offset },
      },
    ]);
    expect(log.of("in", "unchanged", mark)).toEqual([]);
    const [again] = log.of("in", "bundle", mark);
    expect(again).toMatchObject(position);
    expect((again as { epoch: string }).epoch).not.toBe((first as { epoch: string }).epoch);
    expect(lease.getSnapshot()).toMatchObject({ status: "success", stale: false });
    lease.release();
  });
});
