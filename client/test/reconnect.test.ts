// Restarts a fixture of its own on the same port: the client must come
// back, ask the token provider again, restore its watches and joins, and
// refetch every watched context, showing what the restarted server holds.

import { afterEach, describe, expect, it } from "vitest";
import { mintToken, startFixture, startFixtureForRestart, type Fixture } from "./fixture.js";
import { closeClients, newClient, waitFor } from "./helpers.js";

let fixture: Fixture | undefined;
afterEach(async () => {
  closeClients();
  await fixture?.stop();
  fixture = undefined;
});

type UserData = { user_profile: { user_id: number; name: string } };
type OrderData = { order_detail: { id: number; item: string } | null };

describe("reconnect", () => {
  it("restores watches and subscriptions and refetches after the server restarts", async () => {
    fixture = await startFixtureForRestart();
    const { port, url } = fixture;
    let tokenCalls = 0;
    const { client, log } = newClient(url, {
      token: async () => {
        tokenCalls++;
        return mintToken("rita");
      },
      backoff: { initialMs: 50, maxMs: 400 },
    });
    const other = newClient(url).client;
    const user_id = 42;

    const lease = client.cache.acquire<UserData>("user", { user_id });
    const chat = client.channel<{ text: string }, { text: string; user: string | null }>("chat", { room: "again" });
    const got: string[] = [];
    chat.onMessage((m) => got.push(m.text));
    await chat.joined();
    await waitFor(() => lease.getSnapshot().status === "success");
    await other.call("update_profile", { user_id, name: "before" });
    await waitFor(() => lease.getSnapshot().data?.user_profile.name === "before", 5_000, "name before");
    expect(tokenCalls).toBe(1);
    const statuses: string[] = [];
    client.connection.subscribe(() => statuses.push(client.connection.getSnapshot().status));

    await fixture.stop("SIGKILL");
    await waitFor(() => client.connection.getSnapshot().status === "reconnecting", 5_000, "reconnecting");
    const mark = log.mark();
    fixture = await startFixture(port);

    await waitFor(() => client.connection.getSnapshot().status === "open", 10_000, "open again");
    // Asked again (once per attempt: more if the restart took a few).
    expect(tokenCalls).toBeGreaterThanOrEqual(2);
    expect(client.connection.getSnapshot().user).toMatchObject({ id: "rita" });
    // The new node lost its memory: the refetch shows the current data.
    await waitFor(() => lease.getSnapshot().data?.user_profile.name === `user${user_id}`, 5_000, "refetched data");
    // With the position of the data it held; the new node's epoch differs, so a bundle comes back.
    expect(log.of("out", "watch", mark)).toEqual([
      {
        type: "watch",
        id: expect.any(Number),
        context: "user",
        params: { user_id },
        since: { epoch: expect.any(String), offset: expect.any(Number) },
      },
    ]);
    expect(log.of("out", "subscribe", mark)).toHaveLength(1);
    expect(statuses).toContain("reconnecting");

    // The watch is live again...
    await other.call("update_profile", { user_id, name: "after" });
    await waitFor(() => lease.getSnapshot().data?.user_profile.name === "after", 5_000, "name after");
    // ...and so is the subscription.
    await waitFor(() => chat.state.getSnapshot().status === "joined");
    await other.channel("chat", { room: "again" }).send({ text: "welcome back" });
    await waitFor(() => got.includes("welcome back"), 5_000, "message after restart");
    lease.release();
    chat.leave();
  });

  it("shows a record gone after the restart as gone, not as the old data", async () => {
    fixture = await startFixtureForRestart();
    const { port, url } = fixture;
    const { client } = newClient(url, { backoff: { initialMs: 50, maxMs: 400 } });
    const order = await client.call<{ id: number; item: string }>("add_order", { user_id: 7, item: "tea" });
    const lease = client.cache.acquire<OrderData>("order", { user_id: 7, order_id: order.id });
    await waitFor(() => lease.getSnapshot().data?.order_detail !== undefined, 5_000, "order");
    expect(lease.getSnapshot().data).toEqual({ order_detail: order });

    // The fixture keeps its data in memory: after a restart the order is gone.
    await fixture.stop("SIGKILL");
    await waitFor(() => client.connection.getSnapshot().status === "reconnecting", 5_000, "reconnecting");
    fixture = await startFixture(port);
    await waitFor(() => lease.getSnapshot().data?.order_detail === null, 10_000, "the order gone");
    expect(lease.getSnapshot()).toMatchObject({ status: "success", data: { order_detail: null }, stale: false });
    lease.release();
  });
});
