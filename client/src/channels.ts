/**
 * Channels: typed pub/sub topics (PROTOCOL.md section 2). Joins are shared
 * per channel and canonical params, restored after a reconnect, and left
 * after the last user leaves (with the cache's short linger). A join the
 * server revokes (`unsubscribed`, PROTOCOL.md section 3) is forgotten: it is
 * not restored after a reconnect, and its handles say why. A join refused
 * `unauthenticated` is tried again once an `auth` is accepted.
 *
 * Each join keeps its position in the topic's stream (PROTOCOL.md section
 * 9): the epoch and offset of the `subscribed` reply, then the offset of
 * every message. After a reconnect it subscribes again with `since` that
 * position: the server replays what was missed (`recovered: true`), or says
 * it cannot (`recovered: false`), which the join reports as a gap. A message
 * whose offset is not after the last one seen is dropped (no duplicates).
 *
 * A join whose handles asked for presence (`presence()`, PROTOCOL.md section
 * 10) asks `presence` after every `subscribed` reply and keeps the member
 * list current with the `presence_diff` pushes after the answer (see
 * `presence.ts`).
 */

import { MizanError } from "./errors.js";
import type { ClientRequest, JsonObject, Position, PresenceMember, ServerFrame, Unsubscribed } from "./frames.js";
import { canonicalParams, keyOf } from "./params.js";
import { PresenceView, type PresenceState, type PresenceStats } from "./presence.js";
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
  /**
   * Messages may be missing: after a reconnect the server could not replay
   * what the join missed (`recovered: false`: it restarted, or its history no
   * longer reaches back). Stays set for the life of the join.
   */
  gap: boolean;
}

/** Options of one `join`. */
export interface JoinOptions {
  /**
   * Show the last `history` messages the channel keeps (PROTOCOL.md section
   * 9, `history: K`): they arrive as ordinary messages, oldest first, before
   * live ones. Asked on the join's first subscribe; a later user of a join
   * already made gets the last `history` messages that join received since
   * a user asked for history.
   */
  history?: number;
}

/** Options of the channel registry. */
export interface ChannelOptions {
  /** How long a join nobody uses stays, in ms (default 1 500). */
  lingerMs?: number;
}

/**
 * A handle on a join's presence list (`ChannelSubscription.presence()`):
 * shared by every handle of the join that asked for it.
 */
export interface PresenceHandle<I = unknown> {
  /** The member list, kept current (see `PresenceState`). */
  readonly state: Store<PresenceState<I>>;
  /** Asks the server for the whole list again (it is also asked after every rejoin). */
  refresh(): void;
  /** Stops using the list (the join's `leave()` stops it too). */
  stop(): void;
}

/**
 * One user's handle on a channel join. `I` is the type of the channel's
 * presence member info (`undefined` when it attaches none).
 */
export interface ChannelSubscription<C = unknown, S = unknown, I = unknown> {
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
  /**
   * Calls `listener` each time a resubscribe after a reconnect could not
   * recover the messages missed meanwhile (`state.gap` turns true). Returns
   * its remover.
   */
  onGap(listener: () => void): () => void;
  /**
   * The topic's members, kept current (PROTOCOL.md section 10: the
   * `presence` answer, then every `presence_diff` after it, asked again
   * after every rejoin). For a channel that tracks presence; otherwise the
   * list turns `error` with `not_found`.
   */
  presence(): PresenceHandle<I>;
  /**
   * The topic's member counts (`presence_stats`), cheap however large the
   * topic is. Waits for the join; rejects as `send` does, or with
   * `not_found` for a channel without presence.
   */
  presenceStats(options?: RequestOptions): Promise<PresenceStats>;
  /** Stops using the join (the last user's leave unsubscribes after the linger). */
  leave(): void;
}

const PENDING: ChannelState = Object.freeze({ status: "pending", topic: undefined, error: undefined, gap: false }) as ChannelState;

type MessageFrame = Extract<ServerFrame, { type: "message" }>;

class Join {
  refs = 0;
  state: ChannelState = PENDING;
  readonly stateListeners = new Listeners();
  readonly messages = new Listeners<[unknown]>();
  readonly revoked = new Listeners<[MizanError]>();
  readonly gaps = new Listeners();
  /** A subscribe was sent on the current connection. */
  sent = false;
  /** A subscribe is in flight: its topic's messages wait for the reply. */
  inflight = false;
  /** Messages that came while `inflight` (its topic, or any unknown one before the first reply). */
  held: MessageFrame[] = [];
  /** The stream's epoch, from the last `subscribed` (undefined: no position known). */
  epoch: string | undefined;
  /** The position to resubscribe from: the reply's offset, then every message's. */
  at = 0;
  /** The offset of the last message delivered: a message at or before it is a duplicate. */
  seen = 0;
  /** A subscribe was answered once: the next is a resubscribe. */
  joinedOnce = false;
  /** `history` for the first subscribe. */
  history = 0;
  /** The recent messages kept for later users asking `history`, and how many. */
  recent: unknown[] = [];
  keepRecent = 0;
  lingerTimer: ReturnType<typeof setTimeout> | undefined;
  /** The presence list, while a handle uses it, and how many do. */
  presence: PresenceView | undefined;
  presenceUsers = 0;

  constructor(
    readonly key: string,
    readonly channel: string,
    readonly params: JsonObject,
  ) {}
}

/** The channel joins of one client. */
export class Channels {
  private readonly joins = new Map<string, Join>();
  /**
   * Topics left while another join of their channel had a subscribe in
   * flight, by topic, with their channel: that join may land on the same
   * topic (two param sets, one group), and an `unsubscribe` sent now would
   * reach the server after its `subscribe`, leaving it for both. Settled
   * once the channel has no subscribe in flight (`settleLeaves`).
   */
  private readonly leaving = new Map<string, string>();
  private readonly kernel: SocketKernel;
  private readonly options: ChannelOptions;

  constructor(kernel: SocketKernel, options: ChannelOptions = {}) {
    this.kernel = kernel;
    this.options = options;
    kernel.onOpen.add(({ reconnected }) => this.onOpen(reconnected));
    kernel.onAuthenticated.add(() => this.onAuthenticated());
    // Diffs stop with the socket: every presence list is stale until its next answer.
    kernel.state.subscribe(() => {
      if (kernel.state.getSnapshot().status === "open") return;
      for (const j of this.joins.values()) j.presence?.lost();
    });
    kernel.onPush.add((frame) => {
      if (frame.type === "message") {
        for (const j of [...this.joins.values()]) {
          const topic = j.state.topic;
          if (j.inflight && (topic === undefined || topic === frame.topic)) j.held.push(frame);
          else if (topic === frame.topic) this.deliver(j, frame);
        }
      } else if (frame.type === "presence_diff") {
        for (const j of this.joins.values()) {
          if (j.presence !== undefined && j.state.topic === frame.topic) j.presence.diff(frame.joins, frame.leaves);
        }
      } else if (frame.type === "unsubscribed") this.revoke(frame);
      else if (frame.type === "gap") this.broke(frame);
    });
  }

  /**
   * The server lost part of `topic`'s stream while subscribed (PROTOCOL.md
   * section 9): every join on it reports the gap and counts positions from
   * the one given.
   */
  private broke(frame: Extract<ServerFrame, { type: "gap" }>): void {
    for (const j of this.joins.values()) {
      if (j.state.topic !== frame.topic) continue;
      j.epoch = frame.epoch;
      j.at = frame.offset;
      j.seen = frame.offset;
      this.setState(j, { ...j.state, gap: true });
      j.gaps.emit();
    }
  }

  /** Delivers one message to a join, unless its offset says it was seen already. */
  private deliver(j: Join, frame: MessageFrame): void {
    if (typeof frame.offset === "number" && j.epoch !== undefined) {
      if (frame.offset <= j.seen) return;
      j.seen = frame.offset;
      if (frame.offset > j.at) j.at = frame.offset;
    }
    if (j.keepRecent > 0) {
      j.recent.push(frame.data);
      if (j.recent.length > j.keepRecent) j.recent.splice(0, j.recent.length - j.keepRecent);
    }
    j.messages.emit(frame.data);
  }

  /** Joins `channel` with `params` (shared with every other user of the same key). */
  join<C = unknown, S = unknown, I = unknown>(
    channel: string,
    params: JsonObject = {},
    options: JoinOptions = {},
  ): ChannelSubscription<C, S, I> {
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
    const history = Math.max(0, Math.floor(options.history ?? 0));
    // A later user of a join already answered: replay what it kept to this handle's listeners.
    const backlog = history > 0 && j.joinedOnce ? j.recent.slice(-history) : [];
    if (history > 0) {
      if (!j.joinedOnce) j.history = Math.max(j.history, history);
      j.keepRecent = Math.max(j.keepRecent, history);
    }
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
        for (const m of backlog) (listener as (m: unknown) => void)(m);
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
      onGap: (listener) => {
        const off = j.gaps.add(listener);
        offs.push(off);
        return off;
      },
      presence: () => {
        let view = j.presence;
        if (view === undefined) {
          view = new PresenceView();
          j.presence = view;
          const s = j.state;
          if (s.status === "error" || s.status === "revoked") view.dropped(s.status, s.error, s.topic);
          else this.askPresence(j);
        }
        j.presenceUsers++;
        const v = view;
        let stopped = false;
        const stop = (): void => {
          if (stopped) return;
          stopped = true;
          j.presenceUsers--;
          if (j.presenceUsers === 0 && j.presence === v) j.presence = undefined;
        };
        offs.push(stop);
        return {
          state: v as unknown as Store<PresenceState<I>>,
          refresh: () => {
            if (!stopped && j.presence === v) this.askPresence(j);
          },
          stop,
        };
      },
      presenceStats: async (options) => {
        const topic = await this.whenJoined(j);
        const reply = await this.kernel.request({ type: "presence_stats", topic }, options);
        if (reply.type !== "presence_stats") throw new Error(`mizan: unexpected \`${reply.type}\` reply to presence_stats`);
        return { sessions: reply.sessions, users: reply.users };
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

  /**
   * Asks for the presence list of a joined join (again): diffs are dropped
   * until the answer, which replaces the list. A join still on its way asks
   * once its `subscribed` reply lands; one whose socket is down, after the
   * rejoin.
   */
  private askPresence(j: Join): void {
    const view = j.presence;
    const topic = j.state.topic;
    if (view === undefined || topic === undefined || j.state.status !== "joined" || j.inflight || !this.kernel.isOpen) return;
    const ticket = view.ask(topic);
    this.kernel.request({ type: "presence", topic }).then(
      (reply) => {
        if (reply.type === "presence" && j.presence === view) view.answered(ticket, topic, reply.members as PresenceMember[]);
      },
      (error: unknown) => {
        const err = error instanceof MizanError ? error : new MizanError("internal", String(error));
        if (err.code === "disconnected") return; // asked again after the rejoin
        view.failed(ticket, err);
      },
    );
  }

  private subscribe(j: Join): void {
    if (!this.kernel.isOpen) {
      this.kernel.connect(); // `onOpen` subscribes
      return;
    }
    j.presence?.lost();
    j.sent = true;
    j.inflight = true;
    j.held = [];
    if (j.state.status !== "joined") this.setState(j, { ...j.state, status: "pending", error: undefined });
    const authentications = this.kernel.authentications;
    const request: Extract<ClientRequest, { type: "subscribe" }> = { type: "subscribe", channel: j.channel, params: j.params };
    const since: Position | undefined = j.joinedOnce && j.epoch !== undefined ? { epoch: j.epoch, offset: j.at } : undefined;
    if (since !== undefined) request.since = since;
    else if (!j.joinedOnce && j.history > 0) request.history = j.history;
    this.kernel.request(request).then(
      (reply) => {
        if (reply.type !== "subscribed" || this.joins.get(j.key) !== j) {
          j.inflight = false;
          j.held = [];
          this.settleLeaves(j.channel);
          return;
        }
        const recovered = since !== undefined && reply.recovered === true;
        const gap = j.joinedOnce && !recovered;
        if (reply.epoch === undefined || typeof reply.offset !== "number") j.epoch = undefined;
        else if (recovered) j.at = Math.max(j.at, reply.offset);
        else {
          j.epoch = reply.epoch;
          j.at = reply.offset;
          // The replayed history is at or before the reply's offset.
          j.seen = request.history !== undefined ? 0 : reply.offset;
        }
        j.joinedOnce = true;
        this.setState(j, { status: "joined", topic: reply.topic, error: undefined, gap: j.state.gap || gap });
        const held = j.held;
        j.inflight = false;
        j.held = [];
        for (const m of held) if (m.topic === reply.topic) this.deliver(j, m);
        if (gap) j.gaps.emit();
        this.askPresence(j);
        this.settleLeaves(j.channel);
      },
      (error: unknown) => {
        j.sent = false;
        j.inflight = false;
        j.held = [];
        this.settleLeaves(j.channel);
        const err = error instanceof MizanError ? error : new MizanError("internal", String(error));
        if (err.code === "disconnected") return; // re-joined on reconnect
        if (this.joins.get(j.key) !== j) return; // left or revoked meanwhile: keep saying so
        if (err.code === "unauthenticated" && this.kernel.authentications !== authentications && j.refs > 0) {
          this.subscribe(j); // judged for the identity before an `auth` accepted since: ask again
          return;
        }
        this.setState(j, { status: "error", topic: undefined, error: err, gap: j.state.gap });
        j.presence?.dropped("error", err, undefined);
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
    // A new connection has joined nothing: nothing is left to leave.
    if (reconnected) this.leaving.clear();
    for (const j of [...this.joins.values()]) {
      if (reconnected) {
        j.sent = false;
        j.inflight = false;
        j.held = [];
      }
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
      this.setState(j, { status: "revoked", topic: frame.topic, error, gap: j.state.gap });
      j.presence?.dropped("revoked", error, frame.topic);
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
      if (this.subscribing(j.channel)) this.leaving.set(topic, j.channel);
      else this.kernel.request({ type: "unsubscribe", topic }).catch(() => undefined);
    }
    j.sent = false;
    this.setState(j, { status: "left", topic: undefined, error: undefined, gap: j.state.gap });
  }

  /** Whether a join of `channel` has a subscribe in flight. */
  private subscribing(channel: string): boolean {
    return [...this.joins.values()].some((o) => o.channel === channel && o.inflight);
  }

  /**
   * Once no subscribe of `channel` is in flight, leaves the topics
   * `leaving` holds for it that no join landed on.
   */
  private settleLeaves(channel: string): void {
    if (this.leaving.size === 0 || this.subscribing(channel)) return;
    for (const [topic, of] of [...this.leaving]) {
      if (of !== channel) continue;
      this.leaving.delete(topic);
      const used = [...this.joins.values()].some((o) => o.state.topic === topic);
      if (!used && this.kernel.isOpen) this.kernel.request({ type: "unsubscribe", topic }).catch(() => undefined);
    }
  }

  private setState(j: Join, state: ChannelState): void {
    const c = j.state;
    if (c.status === state.status && c.topic === state.topic && c.error === state.error && c.gap === state.gap) return;
    j.state = state;
    j.stateListeners.emit();
  }
}
