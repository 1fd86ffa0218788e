// Channel positions (PROTOCOL.md section 9): resubscribing with `since`
// after a reconnect (the missed messages, once, in order), the gap when the
// server cannot recover them, `history` on join, and dropping duplicates.

import { afterEach, describe, expect, it } from "vitest";
import { startFixture, startFixtureForRestart, type Fixture } from "./fixture.js";
import { closeClients, fixtureUrl, freshUserId, gated, newClient, waitFor } from "./helpers.js";
import { closeStubs, push, stub } from "./stub-server.js";

let fixture: Fixture | undefined;
afterEach(async () => {
  closeClients();
  await closeStubs();
  await fixture?.stop();
  fixture = undefined;
});

type Said = { text: string; user: string | null };

describe("channel positions", () => {
  it("gets every message sent while its socket was cut, once, in order", async () => {
    const room = `s${freshUserId()}`;
    const gate = gated();
    const { client, log } = newClient(fixtureUrl(), { WebSocket: gate.WebSocket, backoff: { initialMs: 50, maxMs: 200 } });
    const other = newClient(fixtureUrl()).client;
    const mine = client.channel<{ text: string }, Said>("chat", { room });
    const theirs = other.channel<{ text: string }, Said>("chat", { room });
    const got: string[] = [];
    mine.onMessage((m) => got.push(m.text));
    const seenByOther: string[] = [];
    theirs.onMessage((m) => seenByOther.push(m.text));
    await mine.joined();
    await theirs.send({ text: "before" });
    await waitFor(() => got.length === 1, 5_000, "the first message");

    gate.cut();
    await waitFor(() => client.connection.getSnapshot().status === "reconnecting", 5_000, "reconnecting");
    for (const text of ["one", "two", "three"]) await theirs.send({ text });
    await waitFor(() => seenByOther.length === 4, 5_000, "the other's own messages");
    const mark = log.mark();
    gate.online();
    await waitFor(() => got.length >= 4, 10_000, "the missed messages");
    await theirs.send({ text: "after" });
    await waitFor(() => got.includes("after"), 5_000, "a live message");

    expect(got).toEqual(["before", "one", "two", "three", "after"]);
    const [again] = log.of("out", "subscribe", mark);
    expect(again).toMatchObject({ since: { epoch: expect.any(String), offset: expect.any(Number) } });
    expect(again).not.toHaveProperty("history");
    expect(log.of("in", "subscribed", mark)).toEqual([expect.objectContaining({ recovered: true })]);
    expect(mine.state.getSnapshot()).toMatchObject({ status: "joined", gap: false });
  });

  it("reports a gap when the restarted server cannot recover the missed messages", async () => {
    fixture = await startFixtureForRestart();
    const { port, url } = fixture;
    const { client, log } = newClient(url, { backoff: { initialMs: 50, maxMs: 400 } });
    const chat = client.channel<{ text: string }, Said>("chat", { room: "gap" });
    const got: string[] = [];
    let gaps = 0;
    chat.onMessage((m) => got.push(m.text));
    chat.onGap(() => gaps++);
    await chat.send({ text: "first" });
    await waitFor(() => got.length === 1, 5_000, "the first message");
    expect(chat.state.getSnapshot().gap).toBe(false);

    await fixture.stop("SIGKILL");
    await waitFor(() => client.connection.getSnapshot().status === "reconnecting", 5_000, "reconnecting");
    const mark = log.mark();
    fixture = await startFixture(port);
    await waitFor(() => chat.state.getSnapshot().gap, 10_000, "the gap");

    expect(gaps).toBe(1);
    expect(log.of("out", "subscribe", mark)[0]).toMatchObject({ since: { offset: 1 } });
    expect(log.of("in", "subscribed", mark)).toEqual([expect.objectContaining({ recovered: false })]);
    expect(chat.state.getSnapshot()).toMatchObject({ status: "joined", gap: true });
    // The new epoch's messages still arrive (its offsets start again at 1).
    await chat.send({ text: "second" });
    await waitFor(() => got.length === 2, 5_000, "a message of the new epoch");
    expect(got).toEqual(["first", "second"]);
  });

  it("shows the last `history` messages on join", async () => {
    const room = `h${freshUserId()}`;
    const sender = newClient(fixtureUrl()).client.channel<{ text: string }, Said>("chat", { room });
    const echoed: string[] = [];
    sender.onMessage((m) => echoed.push(m.text));
    for (const text of ["a", "b", "c", "d", "e"]) await sender.send({ text });
    await waitFor(() => echoed.length === 5, 5_000, "the sender's own messages");

    const { client, log } = newClient(fixtureUrl());
    const late = client.channel<{ text: string }, Said>("chat", { room }, { history: 3 });
    const got: string[] = [];
    late.onMessage((m) => got.push(m.text));
    await late.joined();
    await waitFor(() => got.length === 3, 5_000, "the history");
    await sender.send({ text: "f" });
    await waitFor(() => got.length === 4, 5_000, "a live message");
    expect(got).toEqual(["c", "d", "e", "f"]);
    expect(log.of("out", "subscribe")[0]).toMatchObject({ history: 3 });

    // A later user of the same join asking history gets what the join kept.
    const second = client.channel<{ text: string }, Said>("chat", { room }, { history: 2 });
    const got2: string[] = [];
    second.onMessage((m) => got2.push(m.text));
    expect(got2).toEqual(["e", "f"]);
    expect(log.of("out", "subscribe")).toHaveLength(1);
  });

  it("drops a message whose offset it has seen, and resubscribes from the last one", async () => {
    const s = await stub();
    s.subscribed = (_f, connection) => (connection === 0 ? { epoch: "E", offset: 10 } : { epoch: "E", offset: 13, recovered: true });
    const { client } = newClient(s.url, { backoff: { initialMs: 20, maxMs: 50 } });
    const chat = client.channel<unknown, { n: number }>("room", {});
    const got: number[] = [];
    chat.onMessage((m) => got.push(m.n));
    const topic = await chat.joined();
    const msg = (offset: number): Record<string, unknown> => ({ type: "message", topic, offset, data: { n: offset } });
    for (const o of [9, 10, 11, 12, 11, 12]) push(s.sockets[0], msg(o));
    await waitFor(() => got.length === 2);
    s.sockets[0]!.terminate();
    await waitFor(() => s.received[1]?.some((f) => f.type === "subscribe"), 5_000, "the resubscribe");
    expect(s.received[1]!.find((f) => f.type === "subscribe")).toMatchObject({ since: { epoch: "E", offset: 12 } });
    await waitFor(() => chat.state.getSnapshot().status === "joined" && s.sockets.length === 2);
    // The replay (12 again, then 13), then a live one.
    for (const o of [12, 13, 14]) push(s.sockets[1], msg(o));
    await waitFor(() => got.length === 4);
    expect(got).toEqual([11, 12, 13, 14]);
    expect(chat.state.getSnapshot().gap).toBe(false);
  });

  it("reports a gap pushed while joined, and counts from its position", async () => {
    const s = await stub();
    s.subscribed = (_f, connection) => (connection === 0 ? { epoch: "E", offset: 5 } : { epoch: "F", offset: 2, recovered: true });
    const { client } = newClient(s.url, { backoff: { initialMs: 20, maxMs: 50 } });
    const chat = client.channel<unknown, { n: number }>("room", {});
    const got: number[] = [];
    let gaps = 0;
    chat.onMessage((m) => got.push(m.n));
    chat.onGap(() => gaps++);
    const topic = await chat.joined();
    push(s.sockets[0], { type: "message", topic, offset: 6, data: { n: 6 } });
    // The store lost its data: a new epoch whose offsets start again.
    push(s.sockets[0], { type: "gap", topic, epoch: "F", offset: 0 });
    for (const o of [1, 2]) push(s.sockets[0], { type: "message", topic, offset: o, data: { n: o } });
    await waitFor(() => got.length === 3);
    expect(got).toEqual([6, 1, 2]);
    expect(gaps).toBe(1);
    expect(chat.state.getSnapshot()).toMatchObject({ status: "joined", gap: true });
    s.sockets[0]!.terminate();
    await waitFor(() => s.received[1]?.some((f) => f.type === "subscribe"), 5_000, "the resubscribe");
    expect(s.received[1]!.find((f) => f.type === "subscribe")).toMatchObject({ since: { epoch: "F", offset: 2 } });
  });
});
