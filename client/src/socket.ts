/**
 * The socket kernel: one WebSocket, request ids and timeouts, reconnect with
 * backoff, and the token provider. Everything else (calls, the context
 * cache, channels) sends requests through it and listens to its pushes.
 */

import { backoffDelay, type BackoffOptions } from "./backoff.js";
import { closePlan } from "./close-codes.js";
import { MizanError } from "./errors.js";
import type { ClientRequest, ReplyFrame, ServerFrame, UserInfo } from "./frames.js";
import type { ConnectionStatus } from "./status.js";
import { Listeners, ValueStore, type Store } from "./store.js";
import { resolveToken, type TokenSource } from "./token.js";

/** The subprotocol of protocol version 1. */
export const SUBPROTOCOL = "mizan.v1";

/** A snapshot of the connection. */
export interface ConnectionState {
  /** Where the connection is (see `ConnectionStatus`). */
  status: ConnectionStatus;
  /** The user the socket acts as (from `hello` and `auth`). */
  user: UserInfo | null;
  /** The session id of the current socket. */
  session: string | null;
  /** Consecutive failed attempts; 0 once a connection has stayed up. */
  attempt: number;
  /** The last connection-level error, if any. */
  error: MizanError | null;
}

/** The part of the WebSocket API the kernel uses (browsers' and the `ws` package's). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

/** A WebSocket constructor. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** Options of the socket kernel. */
export interface SocketOptions {
  /** The WebSocket URL (`ws://host/api/mizan/ws`). */
  url: string;
  /** Where the token comes from; read on every (re)connect. */
  token?: () => TokenSource;
  /** The WebSocket implementation; defaults to the global one. */
  WebSocket?: WebSocketConstructor;
  /** Default time a request may wait for its reply, in ms (default 15 000). */
  requestTimeoutMs?: number;
  /** Time from opening the socket to `hello`, in ms (default 10 000). */
  connectTimeoutMs?: number;
  /** Reconnect delays. */
  backoff?: BackoffOptions;
  /** A connection that stays up this long resets the backoff, in ms (default 5 000). */
  stableAfterMs?: number;
  /** Frames larger than this are refused locally (the server would close with 1009); default 64 KiB. */
  maxFrameBytes?: number;
  /** Sees every frame sent and received (for logging, devtools and tests). */
  onFrame?: (direction: "in" | "out", frame: Record<string, unknown>) => void;
}

/** Per-request options. */
export interface RequestOptions {
  /** How long to wait for the reply, in ms. */
  timeoutMs?: number;
}

/** What `onOpen` listeners learn. */
export interface OpenEvent {
  /** False for the first connection, true after a reconnect. */
  reconnected: boolean;
}

interface Pending {
  type: string;
  text: string;
  sent: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
  resolve: (frame: ReplyFrame) => void;
  reject: (error: MizanError) => void;
}

const encoder = new TextEncoder();

/** One WebSocket connection to a Mizan server, kept up until `close()`. */
export class SocketKernel {
  /** Server pushes: `message`, `invalidate`, `merge`, `unsubscribed`, `unwatched`, … */
  readonly onPush = new Listeners<[ServerFrame]>();
  /** A connection became ready (after `hello` and `auth`). */
  readonly onOpen = new Listeners<[OpenEvent]>();
  /**
   * The server accepted an `auth` frame (on connect or on the open socket):
   * what it refused `unauthenticated` before may be granted now.
   */
  readonly onAuthenticated = new Listeners<[UserInfo | null]>();
  /** Errors that answer no request: refused tokens, error pushes, close codes. */
  readonly onError = new Listeners<[MizanError]>();

  private readonly options: SocketOptions;
  private readonly stateStore: ValueStore<ConnectionState>;
  private ws: WebSocketLike | null = null;
  private generation = 0;
  private ready = false;
  private everOpened = false;
  private stopped = true;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private queue: number[] = [];
  /** Re-authentications under way on the open socket: requests wait for their replies. */
  private readonly reauths = new Set<object>();
  /** The token changed while connecting: authenticate again once open. */
  private tokenChanged = false;
  private accepted = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private stableTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: SocketOptions) {
    this.options = options;
    this.stateStore = new ValueStore<ConnectionState>({
      status: "idle",
      user: null,
      session: null,
      attempt: 0,
      error: null,
    });
  }

  /** The connection state, as a store. */
  get state(): Store<ConnectionState> {
    return this.stateStore;
  }

  /**
   * Whether the socket is open and authenticated: requests made now go out
   * on it (at once, or after a re-authentication in flight).
   */
  get isOpen(): boolean {
    return this.ready;
  }

  /**
   * How many `auth` frames the server has accepted. A request refused
   * `unauthenticated` while this changed was judged for an identity the
   * socket no longer has:
   *
   * ```ts
   * const before = kernel.authentications;
   * kernel.request(watch).catch((e) => {
   *   if (isMizanError(e, "unauthenticated") && kernel.authentications !== before) retry();
   * });
   * ```
   */
  get authentications(): number {
    return this.accepted;
  }

  /** Starts connecting, if not already connected or connecting. */
  connect(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.startAttempt();
  }

  /** Drops the current socket (if any) and connects again at once. */
  reconnect(): void {
    this.stopped = false;
    this.patch({ attempt: 0, error: null });
    this.dropSocket(1000, "reconnect");
    this.startAttempt();
  }

  /** Closes the socket for good; pending requests fail with `closed`. */
  close(): void {
    this.stopped = true;
    this.generation++;
    clearTimeout(this.retryTimer);
    this.dropSocket(1000, "client closed");
    this.failAll(new MizanError("closed", "the client was closed"));
    this.patch({ status: "closed" });
  }

  /**
   * Sends a request and resolves with its reply (rejects with the server's
   * error, or `timeout`, `disconnected`, `closed`). A request made while the
   * socket is not open, or while an `auth` is in flight on it, waits for
   * the socket and the `auth` reply (its timeout runs meanwhile).
   */
  request(request: ClientRequest, options: RequestOptions = {}): Promise<ReplyFrame> {
    const state = this.stateStore.getSnapshot();
    if (state.status === "failed") {
      return Promise.reject(state.error ?? new MizanError("closed", "the connection failed"));
    }
    if (state.status === "closed") return Promise.reject(new MizanError("closed", "the client was closed"));
    const id = this.nextId++;
    const { type, ...rest } = request;
    const text = JSON.stringify({ type, id, ...rest });
    const max = this.options.maxFrameBytes ?? 64 * 1024;
    if (encoder.encode(text).length > max) {
      return Promise.reject(new MizanError("limit", `the \`${request.type}\` frame is larger than ${max} bytes`));
    }
    return new Promise<ReplyFrame>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs ?? 15_000;
      const p: Pending = { type: request.type, text, sent: false, timer: undefined, resolve, reject };
      if (Number.isFinite(timeoutMs) && timeoutMs > 0) {
        p.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new MizanError("timeout", `no reply to \`${request.type}\` within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.pending.set(id, p);
      if (this.ready && this.reauths.size === 0) this.transmit(id, p);
      else {
        this.queue.push(id);
        this.connect(); // lazy: the first request opens the socket
      }
    });
  }

  /**
   * Asks the token provider again and sends the token in an `auth` frame
   * (renewal without reconnecting). From this call until the reply, new
   * requests wait, so they run as the new identity. When there is no token
   * any more but the socket acts as a user, reconnects to become anonymous.
   * While connecting, it runs once the socket is open.
   */
  async reauthenticate(): Promise<void> {
    if (!this.ready) {
      this.tokenChanged = true;
      return;
    }
    const gen = this.generation;
    const hold = {};
    this.reauths.add(hold);
    try {
      const token = await this.readToken();
      if (gen !== this.generation) return; // the socket dropped: the next one reads the token
      if (token === undefined) {
        if (this.stateStore.getSnapshot().user !== null) this.reconnect();
        return;
      }
      await this.authenticate(token);
    } finally {
      if (this.reauths.delete(hold)) this.flush();
    }
  }

  // ---- connection lifecycle ------------------------------------------------

  private startAttempt(): void {
    clearTimeout(this.retryTimer);
    const gen = ++this.generation;
    this.patch({ status: this.everOpened || this.stateStore.getSnapshot().attempt > 0 ? "reconnecting" : "connecting" });
    void this.open(gen);
  }

  private async open(gen: number): Promise<void> {
    let token: string | undefined;
    this.tokenChanged = false;
    try {
      token = await this.readToken();
    } catch (e) {
      if (gen !== this.generation) return;
      this.surface(new MizanError("unauthenticated", `the token provider failed: ${String(e)}`));
      this.scheduleRetry(this.nextDelay());
      return;
    }
    if (gen !== this.generation) return;
    const Ctor = this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (Ctor === undefined) {
      this.fail(new MizanError("unsupported", "no WebSocket implementation: pass `WebSocket` in the client options (e.g. from the `ws` package)"));
      return;
    }
    let ws: WebSocketLike;
    try {
      ws = new Ctor(this.options.url, [SUBPROTOCOL]);
    } catch (e) {
      this.surface(new MizanError("network", `cannot open ${this.options.url}: ${String(e)}`));
      this.scheduleRetry(this.nextDelay());
      return;
    }
    this.ws = ws;
    let helloSeen = false;
    this.connectTimer = setTimeout(() => {
      if (gen === this.generation && !helloSeen) ws.close(4000, "no hello");
    }, this.options.connectTimeoutMs ?? 10_000);
    ws.onmessage = (ev) => {
      if (gen !== this.generation) return;
      const frame = decode(ev.data);
      if (frame === undefined) return;
      this.options.onFrame?.("in", frame as unknown as Record<string, unknown>);
      if (frame.type === "hello") {
        helloSeen = true;
        clearTimeout(this.connectTimer);
        void this.onHello(gen, frame, token);
      } else this.onFrame(frame);
    };
    ws.onclose = (ev) => {
      if (gen !== this.generation) return;
      this.onClose(ev.code, ev.reason);
    };
    ws.onerror = () => {
      // A close event always follows; it decides what happens.
    };
  }

  private async onHello(gen: number, hello: Extract<ServerFrame, { type: "hello" }>, token: string | undefined): Promise<void> {
    this.patch({ user: hello.user, session: hello.session });
    if (token !== undefined) await this.authenticate(token);
    if (gen !== this.generation) return;
    const reconnected = this.everOpened;
    this.ready = true;
    this.everOpened = true;
    this.patch({ status: "open", error: null });
    clearTimeout(this.stableTimer);
    this.stableTimer = setTimeout(() => this.patch({ attempt: 0 }), this.options.stableAfterMs ?? 5_000);
    if (this.tokenChanged) {
      // `setToken` while connecting, after `open` read the token: send the
      // new one before anything else (the queue waits for its reply).
      this.tokenChanged = false;
      void this.reauthenticate().catch(() => undefined);
    }
    this.flush();
    this.onOpen.emit({ reconnected });
  }

  /** Sends the queued requests, unless the socket is down or an `auth` is in flight. */
  private flush(): void {
    if (!this.ready || this.reauths.size > 0) return;
    const queued = this.queue;
    this.queue = [];
    for (const id of queued) {
      const p = this.pending.get(id);
      if (p !== undefined) this.transmit(id, p);
    }
  }

  /** Sends an `auth` frame ahead of any queued request; a refusal is surfaced, not thrown. */
  private async authenticate(token: string): Promise<void> {
    const id = this.nextId++;
    const text = JSON.stringify({ type: "auth", id, token });
    const reply = new Promise<ReplyFrame>((resolve, reject) => {
      const timeoutMs = this.options.requestTimeoutMs ?? 15_000;
      const p: Pending = { type: "auth", text, sent: false, timer: undefined, resolve, reject };
      p.timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new MizanError("timeout", `no reply to \`auth\` within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, p);
      this.transmit(id, p);
    });
    try {
      const ok = await reply;
      if (ok.type !== "ok") return;
      this.patch({ user: ok.user ?? null });
      this.accepted++;
      this.onAuthenticated.emit(ok.user ?? null);
    } catch (e) {
      if (e instanceof MizanError && (e.code === "disconnected" || e.code === "closed")) return;
      this.surface(e instanceof MizanError ? e : new MizanError("unauthenticated", String(e)));
    }
  }

  private onFrame(frame: ServerFrame): void {
    if ("id" in frame && typeof frame.id === "number") {
      const p = this.pending.get(frame.id);
      if (p === undefined) return; // a late reply to a request that timed out
      this.pending.delete(frame.id);
      clearTimeout(p.timer);
      if (frame.type === "error") p.reject(new MizanError(frame.code, frame.message, frame.details));
      else p.resolve(frame);
      return;
    }
    if (frame.type === "error") {
      const error = new MizanError(frame.code, frame.message, frame.details);
      this.surface(error);
      // The token expired on the open socket: renew it before the grace period ends.
      if (frame.code === "unauthenticated") void this.reauthenticate().catch(() => undefined);
      return;
    }
    this.onPush.emit(frame);
  }

  private onClose(code: number, reason: string): void {
    this.ws = null;
    this.down();
    // Requests on the wire may or may not have run: their callers decide.
    for (const [id, p] of [...this.pending]) {
      if (!p.sent) continue;
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new MizanError("disconnected", `the socket closed (${code}) before the reply to \`${p.type}\``));
    }
    if (this.stopped) return;
    const plan = closePlan(code, reason);
    if (plan.error !== undefined) this.surface(plan.error);
    switch (plan.retry.kind) {
      case "backoff":
        this.scheduleRetry(this.nextDelay(plan.retry.minAttempts));
        return;
      case "renew":
        this.scheduleRetry(this.stateStore.getSnapshot().attempt === 0 ? 0 : this.nextDelay(), 1);
        return;
      case "soon":
        this.scheduleRetry(backoffDelay(0, this.options.backoff), 0);
        return;
    }
  }

  /** The delay for the next retry, counting a failed attempt (at least `min` attempts). */
  private nextDelay(min = 0): number {
    const attempt = Math.max(min, this.stateStore.getSnapshot().attempt);
    this.patch({ attempt: attempt + 1 });
    return backoffDelay(attempt, this.options.backoff);
  }

  private scheduleRetry(delayMs: number, countAttempt = 0): void {
    if (countAttempt > 0) this.patch({ attempt: this.stateStore.getSnapshot().attempt + countAttempt });
    this.patch({ status: "reconnecting" });
    clearTimeout(this.retryTimer);
    const gen = ++this.generation;
    this.retryTimer = setTimeout(() => {
      if (gen === this.generation && !this.stopped) this.startAttempt();
    }, delayMs);
  }

  private fail(error: MizanError): void {
    this.stopped = true;
    this.generation++;
    this.failAll(error);
    this.patch({ status: "failed", error });
    this.onError.emit(error);
  }

  private surface(error: MizanError): void {
    this.patch({ error });
    this.onError.emit(error);
  }

  private failAll(error: MizanError): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(error);
    }
    this.pending.clear();
    this.queue = [];
  }

  private dropSocket(code: number, reason: string): void {
    const ws = this.ws;
    this.ws = null;
    this.down();
    if (ws !== null) {
      ws.onmessage = null;
      ws.onclose = null;
      try {
        ws.close(code, reason);
      } catch {
        // already closed
      }
      for (const [id, p] of [...this.pending]) {
        if (!p.sent) continue;
        this.pending.delete(id);
        clearTimeout(p.timer);
        p.reject(new MizanError("disconnected", `the socket was closed before the reply to \`${p.type}\``));
      }
    }
  }

  /** The socket is gone: requests queue for the next one, which authenticates afresh. */
  private down(): void {
    this.ready = false;
    this.reauths.clear();
    clearTimeout(this.connectTimer);
    clearTimeout(this.stableTimer);
  }

  private transmit(id: number, p: Pending): void {
    const ws = this.ws;
    if (ws === null) {
      this.queue.push(id);
      return;
    }
    try {
      ws.send(p.text);
      p.sent = true;
      if (this.options.onFrame !== undefined) this.options.onFrame("out", JSON.parse(p.text) as Record<string, unknown>);
    } catch {
      this.queue.push(id); // the close event follows; it is sent after the reconnect
    }
  }

  private async readToken(): Promise<string | undefined> {
    return resolveToken(this.options.token?.());
  }

  private patch(change: Partial<ConnectionState>): void {
    const cur = this.stateStore.getSnapshot();
    let changed = false;
    for (const k of Object.keys(change) as (keyof ConnectionState)[]) {
      if (!Object.is(cur[k], change[k])) changed = true;
    }
    if (changed) this.stateStore.set({ ...cur, ...change });
  }
}

function decode(data: unknown): ServerFrame | undefined {
  const text = typeof data === "string" ? data : data instanceof ArrayBuffer ? new TextDecoder().decode(data) : String(data);
  try {
    const v = JSON.parse(text) as unknown;
    if (v !== null && typeof v === "object" && typeof (v as { type?: unknown }).type === "string") return v as ServerFrame;
  } catch {
    // not JSON: ignore, the server never sends that
  }
  return undefined;
}
