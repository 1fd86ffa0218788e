// The React bindings in a mounted tree, where effects run (react.test.ts
// renders on a server, where they do not). React runs a child's effects
// before its parent's: a per-user hook mounted in the same render as a new
// `token` must still reach the server after the provider's `auth`. A bundle
// the server refuses after a reconnect shows as refused, not as the old data.

import { mount } from "./react-root.js";
import { createElement, type ReactElement } from "react";
import { afterEach, describe, expect, it } from "vitest";
import type { MizanClient } from "../src/index.js";
import { MizanProvider, useChannel, useMizanContext } from "../src/react/index.js";
import { closeClients, newClient, waitFor } from "./helpers.js";
import { closeStubs, stub } from "./stub-server.js";

afterEach(async () => {
  closeClients();
  await closeStubs();
});

/** What the widgets last rendered. */
interface Seen {
  ballot?: string;
  inbox?: string;
  poll?: string;
}

function Widgets(props: { seen: Seen }): null {
  const ballot = useMizanContext<{ n: number }>("ballot");
  const inbox = useChannel("inbox");
  props.seen.ballot = `${ballot.status}:${ballot.data?.n ?? "-"}:${ballot.error?.code ?? "-"}`;
  props.seen.inbox = `${inbox.status}:${inbox.error?.code ?? "-"}`;
  return null;
}

function Poll(props: { seen: Seen }): null {
  const poll = useMizanContext<{ n: number }>("poll", { poll_id: 1 });
  props.seen.poll = `${poll.status}:${poll.data?.n ?? "-"}:${poll.error?.code ?? "-"}`;
  return null;
}

function page(client: MizanClient, token: string | null, seen: Seen | undefined): ReactElement {
  return createElement(MizanProvider, { client, token }, seen === undefined ? null : createElement(Widgets, { seen }));
}

describe("React bindings (mounted)", () => {
  it("sends the `auth` of a new token before the watch and join of hooks mounted in the same render", async () => {
    const s = await stub();
    s.perUser.add("ballot");
    s.perUser.add("inbox");
    const { client, log } = newClient(s.url);
    await client.call("echo"); // open and anonymous
    const tree = await mount(page(client, null, undefined));
    const mark = log.mark();

    const seen: Seen = {};
    await tree.render(page(client, "erin", seen));
    await waitFor(() => seen.ballot?.startsWith("success") && seen.inbox?.startsWith("joined"), 2_000, "per-user data");
    expect(seen).toEqual({ ballot: "success:1:-", inbox: "joined:-" });
    const sent = log.frames.slice(mark).filter((f) => f.dir === "out").map((f) => f.frame.type);
    expect(sent[0]).toBe("auth");
    expect(sent.slice(1).sort()).toEqual(["subscribe", "watch"]);
    expect(log.of("in", "error", mark)).toEqual([]); // nothing was refused
    await tree.unmount();
  });
});

describe("React bindings (mounted): a refused bundle", () => {
  it("shows a context refused `not_found` after a reconnect as an error without data", async () => {
    const s = await stub();
    const { client } = newClient(s.url);
    const seen: Seen = {};
    const tree = await mount(createElement(MizanProvider, { client }, createElement(Poll, { seen })));
    await waitFor(() => seen.poll === "success:1:-", 2_000, "the poll");
    s.refuse.set("poll", "not_found");
    s.sockets[0]!.terminate();
    await waitFor(() => seen.poll?.startsWith("error"), 5_000, "the refusal");
    expect(seen.poll).toBe("error:-:not_found");
    await tree.unmount();
  });
});

describe("React bindings (mounted): channel history and the gap", () => {
  it("asks `history`, shows what is replayed, and turns `gap` on when a reconnect cannot recover", async () => {
    const s = await stub();
    s.subscribed = (_f, connection) =>
      connection === 0 ? { epoch: "E1", offset: 2 } : { epoch: "E2", offset: 0, recovered: false };
    const { client } = newClient(s.url, { backoff: { initialMs: 20, maxMs: 50 } });
    const seen: { text?: string; gaps: number } = { gaps: 0 };
    function Room(): null {
      const room = useChannel<unknown, { n: number }>("room", {}, { history: 2, onGap: () => seen.gaps++ });
      seen.text = `${room.status}:${room.gap}:${room.messages.map((m) => m.n).join(",")}`;
      return null;
    }
    const tree = await mount(createElement(MizanProvider, { client }, createElement(Room)));
    await waitFor(() => seen.text?.startsWith("joined"), 2_000, "joined");
    expect(s.received[0]!.find((f) => f.type === "subscribe")).toMatchObject({ history: 2 });
    const topic = "room:{}";
    for (const n of [1, 2]) s.sockets[0]!.send(JSON.stringify({ type: "message", topic, offset: n, data: { n } }));
    await waitFor(() => seen.text === "joined:false:1,2", 2_000, "the history");
    s.sockets[0]!.terminate();
    await waitFor(() => seen.text?.startsWith("joined:true"), 5_000, "the gap");
    expect(s.received[1]!.find((f) => f.type === "subscribe")).toMatchObject({ since: { epoch: "E1", offset: 2 } });
    expect(seen).toEqual({ text: "joined:true:1,2", gaps: 1 });
    // The new epoch's offsets start again: its messages still show.
    s.sockets[1]!.send(JSON.stringify({ type: "message", topic, offset: 1, data: { n: 9 } }));
    await waitFor(() => seen.text === "joined:true:1,2,9", 2_000, "a message of the new epoch");
    await tree.unmount();
  });
});
