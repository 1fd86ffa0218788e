import { afterEach, describe, expect, it } from "vitest";
import { mintToken } from "./fixture.js";
import { closeClients, fixtureUrl, freshUserId, newClient, sleep, waitFor } from "./helpers.js";

afterEach(closeClients);

type Said = { text: string; user: string | null };

describe("channels", () => {
  it("joins, sends, receives, and leaves", async () => {
    const room = `r${freshUserId()}`;
    const alice = newClient(fixtureUrl(), { token: mintToken("alice"), channels: { lingerMs: 20 } });
    const bob = newClient(fixtureUrl());
    const a = alice.client.channel<{ text: string }, Said>("chat", { room });
    const b = bob.client.channel<{ text: string }, Said>("chat", { room });
    const gotA: Said[] = [];
    const gotB: Said[] = [];
    a.onMessage((m) => gotA.push(m));
    b.onMessage((m) => gotB.push(m));
    await expect(a.joined()).resolves.toBe(`chat:chat_${room}`);
    await b.joined();
    expect(a.state.getSnapshot()).toMatchObject({ status: "joined", topic: `chat:chat_${room}` });
    await a.send({ text: "hello" });
    await waitFor(() => gotB.length === 1, 5_000, "bob's message");
    expect(gotB).toEqual([{ text: "hello", user: "alice" }]);
    expect(gotA).toEqual([{ text: "hello", user: "alice" }]); // the sender gets its own broadcast
    await b.send({ text: "hi" });
    await waitFor(() => gotA.length === 2);
    expect(gotA[1]).toEqual({ text: "hi", user: null });
    a.leave();
    await waitFor(() => alice.log.of("out", "unsubscribe").length === 1, 2_000, "unsubscribe");
    expect(a.state.getSnapshot().status).toBe("left");
    await b.send({ text: "after" });
    await sleep(100);
    expect(gotA).toHaveLength(2);
  });

  it("shares one subscribe between users of the same key", async () => {
    const room = `r${freshUserId()}`;
    const { client, log } = newClient(fixtureUrl(), { channels: { lingerMs: 20 } });
    const one = client.channel<{ text: string }, Said>("chat", { room });
    const two = client.channel<{ text: string }, Said>("chat", { room });
    const got: string[] = [];
    one.onMessage((m) => got.push(`one:${m.text}`));
    two.onMessage((m) => got.push(`two:${m.text}`));
    await one.send({ text: "x" });
    await waitFor(() => got.length === 2);
    expect(got.sort()).toEqual(["one:x", "two:x"]);
    expect(log.of("out", "subscribe")).toHaveLength(1);
    one.leave();
    await sleep(60);
    expect(log.of("out", "unsubscribe")).toHaveLength(0);
    two.leave();
    await waitFor(() => log.of("out", "unsubscribe").length === 1);
  });

  it("surfaces a refused join", async () => {
    const { client } = newClient(fixtureUrl());
    const sub = client.channel("chat", { room: "staff-only" });
    await expect(sub.joined()).rejects.toMatchObject({ code: "forbidden" });
    expect(sub.state.getSnapshot()).toMatchObject({ status: "error" });
    await expect(sub.send({ text: "no" })).rejects.toMatchObject({ code: "forbidden" });
    const staff = newClient(fixtureUrl(), { token: mintToken("sam", { staff: true }) }).client;
    await expect(staff.channel("chat", { room: "staff-only" }).joined()).resolves.toBe("chat:chat_staff-only");
  });
});
