/**
 * Channels: typed pub/sub topics (PROTOCOL.md section 2). Joins are shared
 * per channel and canonical params, restored after a reconnect, and left
 * after the last user leaves (with the cache's short linger). A join the
 * server revokes (`unsubscribed`, PROTOCOL.md section 3) is forgotten: it is
 * not restored after a reconnect, and its handles say why. A join refused
 * `unauthenticated` is tried again once an `auth` is accepted.
 */

import { MizanError } from "./errors.js";
import type { JsonObject, Unsubscribed } from "./frames.js";
import { canonicalParams, keyOf } from "./params.js";
import type { RequestOptions, SocketKernel } from "./socket.js";
import type { ChannelStatus } from "./status.js";
import { Listeners, type Store } from "./store.js";

/** A snapshot of a join. */
export interface ChannelState {
  /** Where the join is (see `ChannelStatus`). */
  status: ChannelStatus;
  /** The topic, `"<channel>:<group>"`, once joined (and the topic left, once revoked). */
  topic: string | undefined;
  /** Why the last subscribe failed, or why the server revoked the join. */
  error: MizanError | undefined;
}

/** Options of the channel registry. */
export interface ChannelOptions {
  /** How long a join nobody uses stays, in ms (default 1 500). */
  lingerMs?: number;
}

/** One user's handle on a channel join. */
export interface ChannelSubscription<C = unknown, S = unknown> {
  /** The join's state, as a store. */
  readonly state: Store<ChannelState>;
  /** Resolves with the topic once joined (rejects if the subscribe is refused). */
  joined(): Promise<string>;
  /**
   * Sends a client message; resolves once the channel's `receive` has run.
   * Waits for the join first (no timeout runs while it waits). Rejects with
   * the join's error when it was refused or revoked, `not_subscribed` once
   * left, or the request's error (`invalid_args`, `timeout`, `disconnected`, …).
   */
  send(data: C, options?: RequestOptions): Promise<void>;
  /** Calls `listener` with every message of the topic; returns its remover. */
  onMessage(listener: (message: S) => void): () => void;
  /**
   * Calls `listener` once if the server revokes the join (status `revoked`),
   * with the reason (`error.code`: `forbidden`, `unauthenticated`, …); at
   * once when it already is. Returns its remover.
   */
  onRevoked(listener: (error: MizanError) => void): () => void;
  /** Stops using the join (the last user's leave unsubscribes after the linger). */
  leave(): void;
}

const PENDING: ChannelState = Object.freeze({ status: "pending", topic: undefined, error: undefined }) as ChannelState;

class Join {
  refs = 0;
  state: ChannelState = PENDING;
  readonly stateListeners = new Listeners();
  readonly messages = new Listeners<[unknown]>();
  readonly revoked = new Listeners<[MizanError]>();
  /** A subscribe was sent on the current connection. */
  sent = false;
  lingerTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly key: string,
    readonly channel: string,
    readonly params: JsonObject,
  ) {}
}

/** The channel joins of one client. */
export class Channels {
  private readonly joins = new Map<string, Join>();
  private readonly kernel: SocketKernel;
  private readonly options: ChannelOptions;

  constructor(kernel: SocketKernel, options: ChannelOptions = {}) {
    this.kernel = kernel;
    this.options = options;
    kernel.onOpen.add(({ reconnected }) => this.onOpen(reconnected));
    kernel.onAuthenticated.add(() => this.onAuthenticated());
    kernel.onPush.add((frame) => {
      if (frame.type === "message") {
        for (const j of this.joins.values()) {
          if (j.state.topic === frame.topic) j.messages.emit(frame.data);
        }
      } else if (frame.type === "unsubscribed") this.revoke(frame);
    });
  }

  /** Joins `channel` with `params` (shared with every other user of the same key). */
  join<C = unknown, S = unknown>(channel: string, params: JsonObject = {}): ChannelSubscription<C, S> {
    const key = keyOf(channel, params);
    let join = this.joins.get(key);
    if (join === undefined) {
      join = new Join(key, channel, canonicalParams(params));
      this.joins.set(key, join);
    }
    const j = join;
    clearTimeout(j.lingerTimer);
    j.lingerTimer = undefined;
    j.refs++;
    if (!j.sent) this.subscribe(j);
    const offs: (() => void)[] = [];
    let left = false;
    const state: Store<ChannelState> = {
      subscribe: (listener) => j.stateListeners.add(listener),
      getSnapshot: () => j.state,
      getServerSnapshot: () => j.state,
    };
    return {
      state,
      joined: () => this.whenJoined(j),
      send: async (data, options) => {
        const topic = await this.whenJoined(j);
        await this.kernel.request({ type: "send", topic, data }, options);
      },
      onMessage: (listener) => {
        const off = j.messages.add(listener as (m: unknown) => void);
        offs.push(off);
        return off;
      },
      onRevoked: (listener) => {
        const s = j.state;
        if (s.status === "revoked" && s.error !== undefined) {
          listener(s.error);
          return () => undefined;
        }
        const off = j.revoked.add(listener);
        offs.push(off);
        return off;
      },
      leave: () => {
        if (left) return;
        left = true;
        for (const off of offs) off();
        this.release(j);
      },
    };
  }

  private whenJoined(j: Join): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const check = (): boolean => {
        const s = j.state;
        if (s.status === "joined" && s.topic !== undefined) resolve(s.topic);
        else if (s.status === "error" || s.status === "revoked") reject(s.error);
        else if (s.status === "left") reject(new MizanError("not_subscribed", `left channel \`${j.channel}\``));
        else return false;
        return true;
      };
      if (check()) return;
      const off = j.stateListeners.add(() => {
        if (check()) off();
      });
    });
  }

  private subscribe(j: Join): void {
    if (!this.kernel.isOpen) {
      this.kernel.connect(); // `onOpen` subscribes
      return;
    }
    j.sent = true;
    if (j.state.status !== "joined") this.setState(j, { status: "pending", topic: j.state.topic, error: undefined });
    const authentications = this.kernel.authentications;
    this.kernel.request({ type: "subscribe", channel: j.channel, params: j.params }).then(
      (reply) => {
        if (reply.type === "subscribed" && this.joins.get(j.key) === j) {
          this.setState(j, { status: "joined", topic: reply.topic, error: undefined });
        }
      },
      (error: unknown) => {
        j.sent = false;
        const err = error instanceof MizanError ? error : new MizanError("internal", String(error));
        if (err.code === "disconnected") return; // re-joined on reconnect
        if (this.joins.get(j.key) !== j) return; // left or revoked meanwhile: keep saying so
        if (err.code === "unauthenticated" && this.kernel.authentications !== authentications && j.refs > 0) {
          this.subscribe(j); // judged for the identity before an `auth` accepted since: ask again
          return;
        }
        this.setState(j, { status: "error", topic: undefined, error: err });
      },
    );
  }

  /** Joins again what was refused `unauthenticated`: the socket may have a user now. */
  private onAuthenticated(): void {
    for (const j of [...this.joins.values()]) {
      if (j.refs > 0 && !j.sent && j.state.status === "error" && j.state.error?.code === "unauthenticated") this.subscribe(j);
    }
  }

  private onOpen(reconnected: boolean): void {
    for (const j of [...this.joins.values()]) {
      if (reconnected) j.sent = false;
      if (j.refs > 0) {
        if (!j.sent) this.subscribe(j);
      } else if (reconnected) this.drop(j, false);
    }
  }

  /**
   * The server left `topic` for this socket (PROTOCOL.md section 3): every
   * join on it is forgotten, so it is neither restored after a reconnect nor
   * handed to a later `join` (which subscribes afresh), and its handles turn
   * `revoked`.
   */
  private revoke(frame: Unsubscribed): void {
    for (const j of [...this.joins.values()]) {
      if (j.state.topic !== frame.topic) continue;
      clearTimeout(j.lingerTimer);
      this.joins.delete(j.key);
      j.sent = false;
      const error = new MizanError(
        frame.code,
        `the server left \`${frame.topic}\` for this socket (${frame.code}): its user changed or its token expired`,
      );
      this.setState(j, { status: "revoked", topic: frame.topic, error });
      j.revoked.emit(error);
    }
  }

  private release(j: Join): void {
    j.refs--;
    if (j.refs > 0) return;
    j.lingerTimer = setTimeout(() => {
      if (j.refs === 0) this.drop(j, true);
    }, this.options.lingerMs ?? 1_500);
  }

  private drop(j: Join, unsubscribe: boolean): void {
    clearTimeout(j.lingerTimer);
    if (this.joins.get(j.key) === j) this.joins.delete(j.key);
    const topic = j.state.topic;
    // Two param sets with the same group share one topic: leave it only when no join uses it.
    const shared = topic !== undefined && [...this.joins.values()].some((o) => o.state.topic === topic);
    if (unsubscribe && j.sent && topic !== undefined && !shared && this.kernel.isOpen) {
      this.kernel.request({ type: "unsubscribe", topic }).catch(() => undefined);
    }
    j.sent = false;
    this.setState(j, { status: "left", topic: undefined, error: undefined });
  }

  private setState(j: Join, state: ChannelState): void {
    const c = j.state;
    if (c.status === state.status && c.topic === state.topic && c.error === state.error) return;
    j.state = state;
    j.stateListeners.emit();
  }
}
