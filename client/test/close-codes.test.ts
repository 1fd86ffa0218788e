// Close codes the fixture cannot be made to send on demand (4001, 1012,
// 4008, 1008, 1009) and the expiry push, from a stub server that speaks just
// enough of the protocol.

import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket as ServerSocket } from "ws";
import type { MizanError } from "../src/index.js";
import { closeClients, newClient, sleep, waitFor } from "./helpers.js";

interface Stub {
  url: string;
  connections: number;
  protocols: string[];
  auths: string[];
  /** What to do with each new connection (by its index). */
  onConnect: (socket: ServerSocket, index: number) => void;
  close(): Promise<void>;
}

const stubs: Stub[] = [];
afterEach(async () => {
  closeClients();
  for (const s of stubs.splice(0)) await s.close();
});

async function stub(onConnect: Stub["onConnect"] = () => undefined): Promise<Stub> {
  const wss = new WebSocketServer({
    port: 0,
    host: "127.0.0.1",
    handleProtocols: (protocols) => (protocols.has("mizan.v1") ? "mizan.v1" : false),
  });
  await new Promise<void>((r) => wss.once("listening", () => r()));
  const address = wss.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  const s: Stub = {
    url: `ws://127.0.0.1:${port}/api/mizan/ws`,
    connections: 0,
    protocols: [],
    auths: [],
    onConnect,
    close: () => new Promise<void>((r) => {
      for (const c of wss.clients) c.terminate();
      wss.close(() => r());
    }),
  };
  wss.on("connection", (socket) => {
    const index = s.connections++;
    s.protocols.push(socket.protocol);
    socket.send(JSON.stringify({ type: "hello", protocol: 1, node: "stub", session: `stub-${index}`, user: null }));
    socket.on("message", (raw) => {
      const f = JSON.parse(String(raw)) as { type: string; id: number; token?: string; fn?: string };
      if (f.type === "auth") {
        s.auths.push(f.token ?? "");
        socket.send(JSON.stringify({ type: "ok", id: f.id, user: { id: f.token, staff: false, superuser: false } }));
      } else if (f.type === "call") {
        socket.send(JSON.stringify({ type: "result", id: f.id, result: { fn: f.fn }, invalidate: [], merge: [] }));
      }
    });
    s.onConnect(socket, index);
  });
  stubs.push(s);
  return s;
}

function tokens(): { next: () => string; calls: () => number } {
  let n = 0;
  return { next: () => `t${++n}`, calls: () => n };
}

describe("close codes", () => {
  it("asks for the mizan.v1 subprotocol", async () => {
    const s = await stub();
    const { client } = newClient(s.url);
    await client.call("x");
    expect(s.protocols).toEqual(["mizan.v1"]);
  });

  it("4001: gets a new token and reconnects at once", async () => {
    const s = await stub((socket, i) => {
      if (i === 0) setTimeout(() => socket.close(4001, "token expired"), 50);
    });
    const t = tokens();
    const { client } = newClient(s.url, { token: t.next, backoff: { initialMs: 5_000, maxMs: 5_000 } });
    client.connect();
    await waitFor(() => s.connections === 2, 2_000, "second connection"); // not after the 5 s backoff
    await waitFor(() => client.connection.getSnapshot().status === "open");
    expect(s.auths).toEqual(["t1", "t2"]);
    expect(client.connection.getSnapshot().user).toMatchObject({ id: "t2" });
  });

  it("renews the token in place when the server says it expired", async () => {
    const s = await stub((socket, i) => {
      if (i === 0) {
        setTimeout(() => socket.send(JSON.stringify({ type: "error", code: "unauthenticated", message: "token expired" })), 50);
      }
    });
    const t = tokens();
    const { client } = newClient(s.url, { token: t.next });
    const errors: MizanError[] = [];
    client.onError((e) => errors.push(e));
    client.connect();
    await waitFor(() => s.auths.length === 2, 2_000, "renewal");
    expect(s.connections).toBe(1);
    expect(errors.map((e) => e.code)).toEqual(["unauthenticated"]);
    expect(client.connection.getSnapshot().user).toMatchObject({ id: "t2" });
  });

  it("1012: reconnects (the node is restarting)", async () => {
    const s = await stub((socket, i) => {
      if (i === 0) setTimeout(() => socket.close(1012, "restart"), 30);
    });
    const { client } = newClient(s.url);
    client.connect();
    await waitFor(() => s.connections === 2, 3_000, "reconnect");
    await expect(client.call("still")).resolves.toEqual({ fn: "still" });
  });

  it("4008: reconnects with backoff", async () => {
    const s = await stub((socket, i) => {
      if (i === 0) setTimeout(() => socket.close(4008, "too slow"), 30);
    });
    const { client } = newClient(s.url, { backoff: { initialMs: 100, maxMs: 5_000, jitter: 0 } });
    const errors: MizanError[] = [];
    client.onError((e) => errors.push(e));
    client.connect();
    await waitFor(() => s.connections === 1);
    await waitFor(() => errors.length === 1);
    const closedAt = Date.now();
    await waitFor(() => s.connections === 2, 3_000, "reconnect");
    expect(Date.now() - closedAt).toBeGreaterThanOrEqual(350); // at least the third step: 100·2²
    expect(errors[0]?.code).toBe("limit");
  });

  it("1008 and 4029: surface the error and reconnect after a long backoff", async () => {
    const s = await stub((socket, i) => {
      socket.removeAllListeners("message"); // leave requests unanswered
      if (i === 0) setTimeout(() => socket.close(1008, "sign in to stay connected"), 30);
      if (i === 1) setTimeout(() => socket.close(4029, "rate limit exceeded for too long"), 30);
    });
    const { client } = newClient(s.url, { backoff: { initialMs: 50, maxMs: 5_000, jitter: 0 } });
    const errors: MizanError[] = [];
    client.onError((e) => errors.push(e));
    const pending = client.call("never");
    await expect(pending).rejects.toMatchObject({ code: "disconnected" });
    await waitFor(() => errors.length === 1);
    const closedAt = Date.now();
    await waitFor(() => s.connections === 2, 3_000, "reconnect");
    expect(Date.now() - closedAt).toBeGreaterThanOrEqual(350); // at least the fourth step: 50·2³
    await waitFor(() => errors.length === 2, 3_000);
    expect(errors.map((e) => e.code)).toEqual(["policy", "limit"]);
    await waitFor(() => s.connections === 3, 5_000, "reconnect again");
  });

  it("1009 and 1003: surface the error and reconnect", async () => {
    const s = await stub((socket, i) => {
      if (i === 0) setTimeout(() => socket.close(1009, "too big"), 30);
      if (i === 1) setTimeout(() => socket.close(1003, "binary"), 30);
    });
    const { client } = newClient(s.url);
    const errors: MizanError[] = [];
    client.onError((e) => errors.push(e));
    client.connect();
    await waitFor(() => s.connections === 3, 3_000, "two reconnects");
    expect(errors.map((e) => e.code)).toEqual(["too_large", "unsupported"]);
  });

  it("fails requests in flight with `disconnected` and sends queued ones after the reconnect", async () => {
    let first: ServerSocket | undefined;
    const s = await stub((socket, i) => {
      if (i === 0) first = socket;
    });
    const { client } = newClient(s.url);
    await client.call("warm");
    // Swallow calls on the first socket: they stay in flight.
    first!.removeAllListeners("message");
    const inFlight = client.call("lost");
    await sleep(30);
    first!.terminate();
    await expect(inFlight).rejects.toMatchObject({ code: "disconnected" });
    await expect(client.call("later")).resolves.toEqual({ fn: "later" });
    expect(s.connections).toBe(2);
  });
});
