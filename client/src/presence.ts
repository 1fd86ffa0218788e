/**
 * Presence (PROTOCOL.md section 10): who is subscribed to a topic, kept
 * current from one `presence` answer and the `presence_diff` pushes after it.
 *
 * The server sends a socket no diff of the batch its `presence` answer was
 * taken in (nor its own join), and every diff it sends later is of a later
 * batch. So the list is exact when every diff that arrives while the answer
 * is on its way (or before it was asked) is dropped — the answer already
 * holds it — and every diff after the answer is applied, in order. After a
 * reconnect the socket is new: it asks again, and drops diffs until that
 * answer lands.
 *
 * `PresenceView` is that list logic alone (no socket): `Channels` drives it.
 */

import type { MizanError } from "./errors.js";
import type { PresenceMember } from "./frames.js";
import { Listeners, type Store } from "./store.js";

/**
 * Where a presence list is:
 * - `pending`: no answer yet (the join or the `presence` request is on its
 *   way, or waits for the socket);
 * - `success`: `members` is the topic's member list (`stale` while a
 *   reconnect's new answer is on its way);
 * - `error`: the join was refused, or the `presence` request failed
 *   (`not_found`: the channel does not track presence; `timeout`, `limit`,
 *   …). Asked again after the next (re)join, or `refresh()`;
 * - `revoked`: the server removed the socket from the topic (its identity
 *   changed or its token expired); `members` is empty.
 */
export type PresenceStatus = "pending" | "success" | "error" | "revoked";

/** A snapshot of a topic's presence. */
export interface PresenceState<I = unknown> {
  status: PresenceStatus;
  /** The topic, once joined. */
  topic: string | undefined;
  /**
   * Every member (socket) of the topic, this socket included. Members keep
   * their place: the order of the first answer, then joins in the order they
   * came; an answer after a reconnect keeps the place of those still there.
   */
  members: readonly PresenceMember<I>[];
  /** `members.length`: how many sockets are in the topic. */
  count: number;
  /** How many distinct signed-in users are among `members` (anonymous sockets are not counted). */
  users: number;
  /**
   * The list may be out of date: the socket dropped, and the answer asked
   * after it joined again has not landed yet (`members` is the last list).
   */
  stale: boolean;
  /** Why the join or the `presence` request failed, or why the join was revoked. */
  error: MizanError | undefined;
}

/** The reply to `presence_stats`: cheap counts, without the member list. */
export interface PresenceStats {
  /** Members (sockets) of the topic. */
  sessions: number;
  /** Distinct signed-in users among them. */
  users: number;
}

const EMPTY: readonly PresenceMember<never>[] = Object.freeze([]);

/** The initial state. */
export const PENDING_PRESENCE: PresenceState<never> = Object.freeze({
  status: "pending",
  topic: undefined,
  members: EMPTY,
  count: 0,
  users: 0,
  stale: false,
  error: undefined,
}) as PresenceState<never>;

/**
 * One topic's member list, and when to trust a diff. Call `ask()` when a
 * `presence` request is sent, `answered` with its reply, `diff` with every
 * `presence_diff` of the topic, and `lost()` when the socket or the join
 * is gone (the next answer replaces the list).
 */
export class PresenceView<I = unknown> implements Store<PresenceState<I>> {
  private state: PresenceState<I> = PENDING_PRESENCE;
  private readonly listeners = new Listeners();
  private members = new Map<string, PresenceMember<I>>();
  /** The answer applied is the base: diffs are applied on top of it. */
  private based = false;
  /** The outstanding ask (0: none); only its answer is taken. */
  private asking = 0;
  private asks = 0;

  subscribe = (listener: () => void): (() => void) => this.listeners.add(listener);

  getSnapshot = (): PresenceState<I> => this.state;

  getServerSnapshot = (): PresenceState<I> => this.state;

  /** Whether diffs are applied now (an answer landed and none is awaited). */
  get current(): boolean {
    return this.based && this.asking === 0;
  }

  /** A `presence` request is sent: diffs are dropped until its answer. Returns its ticket. */
  ask(topic: string): number {
    this.asking = ++this.asks;
    this.based = false;
    if (this.state.status === "error" || this.state.status === "revoked") {
      this.set({ ...this.state, status: "pending", topic, error: undefined });
    } else if (this.state.topic !== topic) this.set({ ...this.state, topic });
    return this.asking;
  }

  /** The answer to ask `ticket` (an older ask's answer is ignored). */
  answered(ticket: number, topic: string, members: readonly PresenceMember<I>[]): void {
    if (ticket !== this.asking) return;
    this.asking = 0;
    this.based = true;
    const fresh = new Map<string, PresenceMember<I>>();
    for (const m of members) fresh.set(m.session, m);
    const next = new Map<string, PresenceMember<I>>();
    for (const session of this.members.keys()) {
      const m = fresh.get(session);
      if (m !== undefined) next.set(session, m);
    }
    for (const [session, m] of fresh) if (!next.has(session)) next.set(session, m);
    this.members = next;
    this.publish(topic, "success", undefined, false);
  }

  /** Ask `ticket` failed (`disconnected` is not a failure: call `lost()` and ask again after the rejoin). */
  failed(ticket: number, error: MizanError): void {
    if (ticket !== this.asking) return;
    this.asking = 0;
    this.based = false;
    this.members = new Map();
    this.publish(this.state.topic, "error", error, false);
  }

  /**
   * A `presence_diff`: leaves, then joins (PROTOCOL.md: leaves apply first),
   * applied to the list when it is current; dropped otherwise (the answer awaited holds it already).
   * Returns whether it was applied.
   */
  diff(joins: readonly PresenceMember<I>[], leaves: readonly PresenceMember<I>[]): boolean {
    if (!this.current) return false;
    // A member in both lists (it left and came back within the batch, or its
    // identity changed with an `auth`) is there, as it is now, in its place.
    const back = new Set(joins.map((m) => m.session));
    for (const m of leaves) if (!back.has(m.session)) this.members.delete(m.session);
    for (const m of joins) this.members.set(m.session, m);
    this.publish(this.state.topic, "success", undefined, false);
    return true;
  }

  /** The socket dropped or the join is being made again: the list is stale until the next answer. */
  lost(): void {
    this.asking = 0;
    this.based = false;
    if (this.state.status === "success" && !this.state.stale) this.set({ ...this.state, stale: true });
  }

  /** The join failed (`error`) or was revoked: the socket is not in the topic. */
  dropped(status: "error" | "revoked", error: MizanError | undefined, topic: string | undefined): void {
    this.asking = 0;
    this.based = false;
    this.members = new Map();
    this.publish(topic, status, error, false);
  }

  private publish(topic: string | undefined, status: PresenceStatus, error: MizanError | undefined, stale: boolean): void {
    const members = Object.freeze([...this.members.values()]);
    const users = new Set<string>();
    for (const m of members) if (m.user !== null) users.add(m.user);
    const s = this.state;
    if (
      s.status === status && s.topic === topic && s.error === error && s.stale === stale &&
      s.members.length === members.length && s.members.every((m, i) => m === members[i])
    ) {
      return;
    }
    this.set({ status, topic, members, count: members.length, users: users.size, stale, error });
  }

  private set(state: PresenceState<I>): void {
    this.state = state;
    this.listeners.emit();
  }
}
