// A stub server that speaks just enough of the protocol for what the
// fixture cannot be made to do on demand: per-user contexts and channels
// (refused `unauthenticated` to an anonymous socket), `unwatched` pushes,
// errors answered for a key that used to exist, replies held back.
//
// The stub accepts any token: the token is the user's id.

import { WebSocketServer, type WebSocket as ServerSocket } from "ws";

/** A request as the stub received it. */
export interface Received {
  type: string;
  id: number;
  token?: string;
  context?: string;
  channel?: string;
  topic?: string;
  params?: Record<string, unknown>;
  data?: unknown;
}

/** A running stub. */
export interface Stub {
  /** The socket URL, for `newClient`. */
  url: string;
  /** The server side of each connection, in order. */
  sockets: ServerSocket[];
  /** Requests received, by connection. */
  received: Received[][];
  /** Contexts and channels that need a user (refused `unauthenticated` without one). */
  perUser: Set<string>;
  /** Contexts whose `watch` and `fetch` are answered with this error code (e.g. a deleted poll: `not_found`). */
  refuse: Map<string, string>;
  /** Delays the reply to every `fetch` until its function in `held` is called. */
  holdFetches: boolean;
  held: (() => void)[];
  /** Sends refusals only after the reply to the next `auth` (a server that answers out of order). */
  refuseAfterAuth: boolean;
  /** Delays the reply to every `subscribe` until its function in `held` is called. */
  holdSubscribes: boolean;
  /** The topic a `subscribe` joins (default `<channel>:<params as JSON>`): a group that several param sets share. */
  topicOf?: (request: Received) => string;
  /** Extra fields of each `subscribed` reply (a position, `recovered`), by connection index (0-based). */
  subscribed?: (request: Received, connection: number) => Record<string, unknown>;
  close(): Promise<void>;
}

const stubs: Stub[] = [];

/**
 * Starts a stub. `watch` and `fetch` are answered with `{n: <bundles so
 * far>}`, `call` with `{}`, `subscribe` with the topic `<channel>:<params as JSON>`, `send`,
 * `unwatch` and `unsubscribe` with `ok`. Closed by `closeStubs`.
 */
export async function stub(): Promise<Stub> {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise<void>((r) => wss.once("listening", () => r()));
  const address = wss.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  let bundles = 0;
  const s: Stub = {
    url: `ws://127.0.0.1:${port}/api/mizan/ws`,
    sockets: [],
    received: [],
    perUser: new Set(),
    refuse: new Map(),
    holdFetches: false,
    holdSubscribes: false,
    held: [],
    refuseAfterAuth: false,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  };
  wss.on("connection", (socket) => {
    const got: Received[] = [];
    let user: string | null = null;
    let afterAuth: string[] = [];
    s.sockets.push(socket);
    s.received.push(got);
    const send = (frame: Record<string, unknown>): void => socket.send(JSON.stringify(frame));
    const error = (id: number, code: string): void => {
      const text = JSON.stringify({ type: "error", id, code, message: `stub: ${code}` });
      if (s.refuseAfterAuth) afterAuth.push(text);
      else socket.send(text);
    };
    send({ type: "hello", protocol: 1, node: "stub", session: `s${s.sockets.length}`, user: null });
    socket.on("message", (raw) => {
      const f = JSON.parse(String(raw)) as Received;
      got.push(f);
      const name = f.context ?? f.channel ?? "";
      if (f.type === "auth") {
        user = f.token ?? null;
        send({ type: "ok", id: f.id, user: { id: user, staff: false, superuser: false } });
        for (const text of afterAuth) socket.send(text);
        afterAuth = [];
      } else if ((f.type === "watch" || f.type === "fetch" || f.type === "subscribe") && s.perUser.has(name) && user === null) {
        error(f.id, "unauthenticated");
      } else if ((f.type === "watch" || f.type === "fetch") && s.refuse.has(name)) {
        error(f.id, s.refuse.get(name)!);
      } else if (f.type === "watch" || f.type === "fetch") {
        const reply = (): void => send({ type: "bundle", id: f.id, context: f.context, params: f.params, data: { n: ++bundles } });
        if (f.type === "fetch" && s.holdFetches) s.held.push(reply);
        else reply();
      } else if (f.type === "call") {
        send({ type: "result", id: f.id, result: {}, invalidate: [], merge: [] });
      } else if (f.type === "subscribe") {
        const extra = s.subscribed?.(f, s.received.indexOf(got)) ?? {};
        const topic = s.topicOf?.(f) ?? `${f.channel}:${JSON.stringify(f.params)}`;
        const reply = (): void => send({ type: "subscribed", id: f.id, topic, ...extra });
        if (s.holdSubscribes) s.held.push(reply);
        else reply();
      } else {
        send({ type: "ok", id: f.id });
      }
    });
  });
  stubs.push(s);
  return s;
}

/** Closes every stub made by `stub`. */
export async function closeStubs(): Promise<void> {
  for (const s of stubs.splice(0)) await s.close();
}

/** Sends a push on a connection of the stub. */
export function push(socket: ServerSocket | undefined, frame: Record<string, unknown>): void {
  socket!.send(JSON.stringify(frame));
}
