// Two param sets of one channel that the server puts in one group share a
// topic: leaving it for one must never leave it for the other, even while
// the other's subscribe is still in flight (an `unsubscribe` sent then
// reaches the server after that subscribe and leaves the topic for both).
// A stub server holds the subscribe's reply to make that moment last.

import { afterEach, describe, expect, it } from "vitest";
import { closeClients, newClient, sleep, waitFor } from "./helpers.js";
import { closeStubs, stub } from "./stub-server.js";

afterEach(async () => {
  await closeClients();
  await closeStubs();
});

describe("a topic two param sets share", () => {
  it("is kept for a join whose subscribe is in flight when the other leaves", async () => {
    const s = await stub();
    // The stub's group: the room, whatever else the params say.
    s.topicOf = (f) => `chat:${String(f.params?.room)}`;
    const { client } = newClient(s.url, { channels: { lingerMs: 0 } });
    const first = client.channel("chat", { room: "lobby" });
    await first.joined();
    s.holdSubscribes = true;
    const second = client.channel("chat", { room: "lobby", name: "b" });
    first.leave();
    await sleep(30); // the first's linger is over; the second's reply is held
    const unsubscribes = () => s.received[0]!.filter((f) => f.type === "unsubscribe");
    expect(unsubscribes()).toHaveLength(0);
    for (const release of s.held.splice(0)) release();
    await expect(second.joined()).resolves.toBe("chat:lobby");
    await sleep(30);
    expect(unsubscribes()).toHaveLength(0);
    // Left once nobody uses it.
    s.holdSubscribes = false;
    second.leave();
    await waitFor(() => unsubscribes().length === 1, 2_000, "the unsubscribe");
  });

  it("is left once the join in flight lands elsewhere", async () => {
    const s = await stub();
    s.topicOf = (f) => `chat:${String(f.params?.room)}`;
    const { client } = newClient(s.url, { channels: { lingerMs: 0 } });
    const first = client.channel("chat", { room: "lobby" });
    await first.joined();
    s.holdSubscribes = true;
    const second = client.channel("chat", { room: "kitchen" });
    first.leave();
    await sleep(30);
    const unsubscribes = () => s.received[0]!.filter((f) => f.type === "unsubscribe");
    expect(unsubscribes()).toHaveLength(0);
    for (const release of s.held.splice(0)) release();
    await expect(second.joined()).resolves.toBe("chat:kitchen");
    await waitFor(() => unsubscribes().length === 1, 2_000, "lobby left");
    expect(unsubscribes()[0]!.topic).toBe("chat:lobby");
  });
});
