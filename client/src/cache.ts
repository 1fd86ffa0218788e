/**
 * The context cache: one entry per context and canonical params, shared by
 * every user of that key, watched while someone uses it, refetched once per
 * burst of invalidations, patched in place by merges. A watch the server
 * drops (`unwatched`, PROTOCOL.md section 3) turns its entry `revoked` and
 * is not watched again after a reconnect. A watch refused `unauthenticated`
 * is watched again once an `auth` is accepted.
 *
 * Each entry keeps the stream position (PROTOCOL.md section 9) of the data
 * it holds: the `bundle`'s, advanced by every merge applied on top, dropped
 * by an invalidation (until the refetch's bundle brings its own). A watch
 * sent while the entry holds a position carries it as `since`, and an
 * `unchanged` reply keeps the data, fresh, at the new position.
 */

import { MizanError } from "./errors.js";
import type { Bundle, InvalidateEntry, JsonObject, MergeEntry, Position, ReplyFrame, Unwatched } from "./frames.js";
import { canonicalJson, canonicalParams, keyOf, scopeMatches } from "./params.js";
import type { SocketKernel } from "./socket.js";
import type { ContextStatus } from "./status.js";
import { Listeners, type Store } from "./store.js";

/** What a user of a context sees. Replaced (never mutated) on every change. */
export interface ContextState<D = Record<string, unknown>> {
  /**
   * `pending` until the first bundle, `success` with it, `error` when the
   * last request failed, `revoked` when the server dropped the watch
   * (`unwatched`). See `ContextStatus`.
   */
  status: ContextStatus;
  /**
   * The bundle: `{slot: value}`. `undefined` while `pending`, and once the
   * server refused the key (`not_found`, `forbidden`, `unauthenticated`,
   * `invalid_args`); kept, marked `stale`, after any other failure.
   */
  data: D | undefined;
  /**
   * Why the last fetch or watch failed, or why the server dropped the watch
   * (the socket's identity changed or its token expired; `code` is the
   * server's reason: `forbidden`, `unauthenticated`, …).
   */
  error: MizanError | undefined;
  /**
   * True while `data` is not known to be current: from an invalidation
   * until the refetch lands, and when `data` is kept after a failure.
   */
  stale: boolean;
}

/** Options of the context cache. */
export interface CacheOptions {
  /**
   * How long an entry nobody uses stays watched, in ms (default 1 500), so a
   * component that unmounts and mounts again (a route change, React's strict
   * mode) does not unwatch and watch again.
   */
  lingerMs?: number;
  /**
   * How long to gather invalidations before refetching, in ms (default 10):
   * a burst of pushes that arrive together costs one fetch.
   */
  refetchDelayMs?: number;
  /** Timeout of `watch` and `fetch` requests, in ms (default: the client's). */
  timeoutMs?: number;
}

const PENDING: ContextState<never> = Object.freeze({
  status: "pending",
  data: undefined,
  error: undefined,
  stale: false,
}) as ContextState<never>;

/**
 * How the server refuses a key itself (it does not exist, or this socket
 * may not see it): the entry drops its data rather than show it as if it
 * were still there.
 */
const REFUSALS: ReadonlySet<string> = new Set(["not_found", "forbidden", "unauthenticated", "invalid_args"]);

class Entry {
  refs = 0;
  state: ContextState<Record<string, unknown>> = PENDING;
  readonly listeners = new Listeners();
  /** A watch was sent on the current connection (or is on its way). */
  watched = false;
  /** A `watch` or `fetch` is in flight (at most one per entry). */
  inFlight = false;
  /** Invalidated while in flight: fetch once more when it lands. */
  again = false;
  /**
   * The server dropped the watch (`unwatched`): not watched again after a
   * reconnect or an invalidation, only for a new user or `refetch()`.
   */
  revoked = false;
  /** Bumped when the watch is dropped: replies to requests sent before it are ignored. */
  generation = 0;
  refetchTimer: ReturnType<typeof setTimeout> | undefined;
  lingerTimer: ReturnType<typeof setTimeout> | undefined;
  /** Merges that arrived while a bundle was in flight, re-applied on top of it. */
  lateMerges: MergeEntry[] = [];
  /**
   * The stream position of `state.data` (PROTOCOL.md section 9): it reflects
   * every entry of the context up to it that reaches this watch. Undefined
   * when unknown (no bundle with a position yet, a server without streams,
   * after an invalidation until the refetch lands, after a failure), and
   * only then is a watch sent without `since`.
   */
  position: Position | undefined = undefined;

  constructor(
    readonly key: string,
    readonly context: string,
    readonly params: JsonObject,
  ) {}
}

/** A handle on one cache entry; `release` when done. */
export interface ContextLease<D> {
  /** The entry's current state. */
  getSnapshot(): ContextState<D>;
  /** Stops using the entry (the last release unwatches it after the linger). */
  release(): void;
}

/** The shared context cache of one client. */
export class ContextCache {
  private readonly entries = new Map<string, Entry>();
  private readonly kernel: SocketKernel;
  private readonly options: CacheOptions;

  constructor(kernel: SocketKernel, options: CacheOptions = {}) {
    this.kernel = kernel;
    this.options = options;
    kernel.onOpen.add(({ reconnected }) => this.onOpen(reconnected));
    kernel.onAuthenticated.add(() => this.onAuthenticated());
    kernel.onPush.add((frame) => {
      if (frame.type === "invalidate") this.invalidate(frame);
      else if (frame.type === "merge") this.merge(frame);
      else if (frame.type === "unwatched") this.unwatched(frame);
    });
  }

  /**
   * A store over one context: subscribing uses the entry (the first user
   * watches it), unsubscribing releases it. Pass it to `useSyncExternalStore`.
   */
  store<D = Record<string, unknown>>(context: string, params: JsonObject = {}): Store<ContextState<D>> {
    const key = keyOf(context, params);
    const snapshot = (): ContextState<D> => (this.entries.get(key)?.state ?? PENDING) as ContextState<D>;
    return {
      subscribe: (listener) => {
        const lease = this.acquire(context, params);
        const entry = this.entries.get(key);
        const off = entry?.listeners.add(listener);
        return () => {
          off?.();
          lease.release();
        };
      },
      getSnapshot: snapshot,
      getServerSnapshot: snapshot,
    };
  }

  /** Starts using a context; the first user of a key watches it. */
  acquire<D = Record<string, unknown>>(context: string, params: JsonObject = {}): ContextLease<D> {
    const key = keyOf(context, params);
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = new Entry(key, context, canonicalParams(params));
      this.entries.set(key, entry);
    }
    const e = entry;
    clearTimeout(e.lingerTimer);
    e.lingerTimer = undefined;
    e.refs++;
    if (!e.watched) this.watch(e);
    let released = false;
    return {
      getSnapshot: () => e.state as ContextState<D>,
      release: () => {
        if (released) return;
        released = true;
        this.release(e);
      },
    };
  }

  /** The state of a context, if the cache has it (no request). */
  peek<D = Record<string, unknown>>(context: string, params: JsonObject = {}): ContextState<D> | undefined {
    return this.entries.get(keyOf(context, params))?.state as ContextState<D> | undefined;
  }

  /**
   * Seeds the cache with bundles fetched elsewhere (server rendering). The
   * first user then renders the data at once and watches without showing a
   * pending state; the watch's bundle replaces it only if it differs.
   * Keys the cache already holds are left alone.
   */
  hydrate(bundles: readonly Bundle<unknown>[]): void {
    for (const b of bundles) {
      const key = keyOf(b.context, b.params);
      if (this.entries.has(key)) continue;
      const entry = new Entry(key, b.context, canonicalParams(b.params));
      entry.state = { status: "success", data: b.data as Record<string, unknown>, error: undefined, stale: false };
      this.entries.set(key, entry);
    }
  }

  /**
   * Applies an invalidation: every matching entry (PROTOCOL.md section 5) is
   * marked stale and refetched once, however many invalidations arrive
   * before the refetch lands.
   */
  invalidate(entry: InvalidateEntry): void {
    for (const e of [...this.entries.values()]) {
      if (e.context !== entry.context || !scopeMatches(entry.params, e.params)) continue;
      if (e.revoked) continue; // not watched: it stays an error until `refetch()` or a new user
      if (e.refs === 0 && e.watched) {
        this.drop(e); // nobody looks at it: forget it rather than refetch
        continue;
      }
      e.position = undefined; // the data no longer reflects the stream: the refetch's bundle brings a position
      this.markStale(e);
    }
  }

  /** Applies a merge: splices `value` into the slot of every matching entry, with no request. */
  merge(entry: MergeEntry): void {
    for (const e of this.entries.values()) {
      if (e.context !== entry.context || !scopeMatches(entry.params, e.params)) continue;
      if (e.inFlight) e.lateMerges.push(entry);
      const data = e.state.data;
      if (data === undefined) continue;
      // In flight: the reply sets the position. Else the data now reflects this entry too.
      if (!e.inFlight) e.position = advance(e.position, entry.offset);
      this.setState(e, { ...e.state, data: { ...data, [entry.slot]: entry.value } });
    }
  }

  /**
   * Refetches a context now (every params of it when `params` is omitted).
   * An entry whose watch the server dropped is watched again (the app may
   * have signed the user back in).
   */
  refetch(context: string, params?: JsonObject): void {
    for (const e of this.entries.values()) {
      if (e.context === context && scopeMatches(params, e.params)) e.revoked = false;
    }
    this.invalidate(params === undefined ? { context } : { context, params });
  }

  /** How many keys the cache holds (for tests and devtools). */
  get size(): number {
    return this.entries.size;
  }

  // ---- internals -------------------------------------------------------------

  /**
   * The server dropped a watch (PROTOCOL.md section 3): the entry turns
   * `revoked` with the reason (its data dropped or kept as after a failed
   * request: see `REFUSALS`) and is not watched again on reconnect. An entry
   * nobody uses any more is forgotten.
   */
  private unwatched(frame: Unwatched): void {
    const e = this.entries.get(keyOf(frame.context, frame.params));
    if (e === undefined) return;
    clearTimeout(e.refetchTimer);
    e.refetchTimer = undefined;
    e.watched = false;
    e.revoked = true;
    e.generation++; // a reply still on its way describes the dropped watch
    e.inFlight = false;
    e.again = false;
    e.lateMerges = [];
    e.position = undefined;
    if (e.refs === 0) {
      this.drop(e);
      return;
    }
    const error = new MizanError(
      frame.code,
      `the server stopped watching \`${frame.context}\` for this socket (${frame.code}): its user changed or its token expired`,
      { params: frame.params },
    );
    this.fail(e, "revoked", error);
  }

  private release(e: Entry): void {
    e.refs--;
    if (e.refs > 0) return;
    const linger = this.options.lingerMs ?? 1_500;
    e.lingerTimer = setTimeout(() => {
      if (e.refs === 0) this.drop(e);
    }, linger);
  }

  private drop(e: Entry): void {
    clearTimeout(e.lingerTimer);
    clearTimeout(e.refetchTimer);
    if (this.entries.get(e.key) === e) this.entries.delete(e.key);
    if (e.watched && this.kernel.isOpen) {
      this.kernel.request({ type: "unwatch", context: e.context, params: e.params }, this.timeout()).catch(() => undefined);
    }
    e.watched = false;
  }

  /** Asks again for what was refused `unauthenticated`: the socket may have a user now. */
  private onAuthenticated(): void {
    for (const e of [...this.entries.values()]) {
      if (e.state.status !== "error" || e.state.error?.code !== "unauthenticated") continue;
      if (e.inFlight) e.again = true; // the refusal landed, its request is not settled yet
      else this.refresh(e);
    }
  }

  private onOpen(reconnected: boolean): void {
    for (const e of [...this.entries.values()]) {
      if (reconnected) e.watched = false; // the old socket's watches died with it
      if (e.refs > 0) {
        if (!e.watched && !e.revoked) this.watch(e);
      } else if (reconnected && e.lingerTimer !== undefined) {
        this.drop(e);
      }
    }
  }

  /** Sends `watch` (its bundle reply is also the (re)fetch). Waits for the socket when it is not open. */
  private watch(e: Entry): void {
    if (!this.kernel.isOpen) {
      this.kernel.connect(); // `onOpen` watches it
      return;
    }
    clearTimeout(e.refetchTimer);
    e.refetchTimer = undefined;
    e.watched = true;
    e.revoked = false; // a deliberate new watch (a new user, `refetch()`) tries again
    this.load(e, "watch");
  }

  private markStale(e: Entry): void {
    if (!e.state.stale && e.state.data !== undefined) this.setState(e, { ...e.state, stale: true });
    if (e.inFlight) {
      e.again = true;
      return;
    }
    if (e.refetchTimer !== undefined) return; // already scheduled: this burst costs one fetch
    e.refetchTimer = setTimeout(() => {
      e.refetchTimer = undefined;
      this.refresh(e);
    }, this.options.refetchDelayMs ?? 10);
  }

  private refresh(e: Entry): void {
    if (this.entries.get(e.key) !== e || e.refs === 0 || e.revoked) return;
    if (!e.watched) this.watch(e);
    else if (this.kernel.isOpen) this.load(e, "fetch");
    // else: not connected; the reconnect watches and so refetches
  }

  private load(e: Entry, type: "watch" | "fetch"): void {
    e.inFlight = true;
    e.again = false;
    if (e.state.status !== "success" && e.state.data === undefined) this.setState(e, PENDING); // asking again
    const generation = e.generation;
    const authentications = this.kernel.authentications;
    // `since` only with data held at a known position: the server may then answer `unchanged`.
    const since = type === "watch" && e.state.data !== undefined ? e.position : undefined;
    this.kernel
      .request(
        since === undefined
          ? { type, context: e.context, params: e.params }
          : { type: "watch", context: e.context, params: e.params, since: { ...since } },
        this.timeout(),
      )
      .then(
        (reply) => {
          if (e.generation === generation) this.applyBundle(e, reply);
        },
        (error: unknown) => {
          if (e.generation === generation) this.applyError(e, type, error, authentications);
        },
      )
      .finally(() => {
        if (e.generation !== generation) return; // the watch was dropped meanwhile
        e.inFlight = false;
        e.lateMerges = [];
        if (e.again && this.entries.get(e.key) === e) {
          e.again = false;
          this.refresh(e);
        }
      });
  }

  private applyBundle(e: Entry, reply: ReplyFrame): void {
    if (reply.type === "unchanged") {
      // Nothing after our `since` reaches the watch: the data we hold is current
      // up to `offset` (merges that arrived meanwhile are applied already).
      const old = e.state.data;
      if (old === undefined) return; // cannot happen: `since` is sent only with data
      e.position = this.landed(e, { epoch: reply.epoch, offset: reply.offset });
      this.setState(e, { status: "success", data: old, error: undefined, stale: e.again });
      return;
    }
    if (reply.type !== "bundle") return;
    let data = reply.data;
    for (const m of e.lateMerges) data = { ...data, [m.slot]: m.value };
    const position =
      typeof reply.epoch === "string" && typeof reply.offset === "number" ? { epoch: reply.epoch, offset: reply.offset } : undefined;
    e.position = this.landed(e, position);
    e.lateMerges = [];
    const old = e.state.data;
    // Same content keeps the same object: no re-render, no flash after hydration.
    const same = old !== undefined && canonicalJson(old) === canonicalJson(data);
    this.setState(e, { status: "success", data: same ? old : data, error: undefined, stale: e.again });
  }

  /**
   * The position of a reply that landed, advanced by the merges that arrived
   * while it was in flight (applied on top). Not advanced when an
   * invalidation arrived meanwhile (`again`): the data does not reflect it,
   * and a position before it is the honest one.
   */
  private landed(e: Entry, position: Position | undefined): Position | undefined {
    if (position === undefined || e.again) return position;
    let p: Position | undefined = position;
    for (const m of e.lateMerges) p = advance(p, m.offset);
    return p;
  }

  /** `authentications`: the kernel's count when the request was sent. */
  private applyError(e: Entry, type: "watch" | "fetch", error: unknown, authentications: number): void {
    const err = error instanceof MizanError ? error : new MizanError("internal", String(error));
    if (type === "watch") e.watched = false; // the server (or the socket) dropped the failed watch
    // The reconnect watches again (and so refetches); keep what we have.
    if (err.code === "disconnected" || err.code === "closed") return;
    if (err.code === "unauthenticated" && this.kernel.authentications !== authentications) {
      e.again = true; // judged for the identity before an `auth` accepted since: ask again
      return;
    }
    this.fail(e, "error", err);
  }

  /** A failed or dropped watch: the data goes if the server refused the key, else it stays, stale. */
  private fail(e: Entry, status: "error" | "revoked", error: MizanError): void {
    const data = REFUSALS.has(error.code) ? undefined : e.state.data;
    e.position = undefined; // kept data is stale: the next watch asks for a bundle
    this.setState(e, { status, data, error, stale: data !== undefined });
  }

  private setState(e: Entry, state: ContextState<Record<string, unknown>>): void {
    const cur = e.state;
    if (cur.status === state.status && cur.data === state.data && cur.error === state.error && cur.stale === state.stale) return;
    e.state = state;
    e.listeners.emit();
  }

  private timeout(): { timeoutMs?: number } {
    return this.options.timeoutMs === undefined ? {} : { timeoutMs: this.options.timeoutMs };
  }
}

/**
 * A position moved to an applied entry's offset. An entry without an offset
 * (a server without streams) makes the position unknown.
 */
function advance(position: Position | undefined, offset: number | undefined): Position | undefined {
  if (position === undefined) return undefined;
  if (typeof offset !== "number") return undefined;
  return offset > position.offset ? { epoch: position.epoch, offset } : position;
}
