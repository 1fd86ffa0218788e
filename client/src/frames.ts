/**
 * The wire frames of protocol version 1 (PROTOCOL.md section 2), as the
 * client sends and receives them.
 */

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A JSON object: args, params, channel data. */
export type JsonObject = { [key: string]: unknown };

/** The user a socket acts as (`hello` and the reply to `auth`). */
export interface UserInfo {
  id: string;
  staff?: boolean;
  superuser?: boolean;
}

/** One invalidation (PROTOCOL.md section 5). */
export interface InvalidateEntry {
  context: string;
  /** Set for a function-level entry. */
  fn?: string;
  /** Absent for a broad entry: every watcher of the context. */
  params?: JsonObject;
  /** For a per-user context: the audience. The server already routed it. */
  user?: string;
  /** The entry's offset in its context's stream (PROTOCOL.md section 9), once published. */
  offset?: number;
}

/** One merge (PROTOCOL.md section 6). */
export interface MergeEntry {
  context: string;
  slot: string;
  params?: JsonObject;
  user?: string;
  value: unknown;
  /** The entry's offset in its context's stream (PROTOCOL.md section 9), once published. */
  offset?: number;
}

/**
 * The server removed the socket from a topic it had joined, because the
 * socket's identity changed (an `auth` frame with another user or other
 * levels) or its token expired (PROTOCOL.md section 3). No message of the
 * topic arrives after it.
 */
export interface Unsubscribed {
  topic: string;
  /** Why: `forbidden`, `unauthenticated` (no user remains), or another error code. */
  code: string;
}

/** The server dropped a context watch, for the same reasons as `Unsubscribed`. */
export interface Unwatched {
  context: string;
  params: JsonObject;
  /** Why: `forbidden`, `unauthenticated` (no user remains), or another error code. */
  code: string;
}

/**
 * One member of a topic that tracks presence (PROTOCOL.md section 10): a
 * socket subscribed to it. A user with two tabs is two members (two
 * sessions) with the same `user`.
 */
export interface PresenceMember<I = unknown> {
  /** The socket's session id (its `hello.session`): unique per socket. */
  session: string;
  /** Its user's id, `null` for an anonymous socket. */
  user: string | null;
  /**
   * What the channel attaches to its members (its `MemberInfo`: a display
   * name, say), computed by the server when the socket joined. Absent for a
   * channel that attaches nothing (the generated hooks type it `undefined`).
   */
  info: I;
}

/** A context bundle: the reply to `fetch`/`watch`, and the body of an HTTP fetch. */
export interface Bundle<D = Record<string, unknown>> {
  context: string;
  params: JsonObject;
  data: D;
  /** The context stream's position the bundle reflects, when the server keeps streams (PROTOCOL.md section 9). */
  epoch?: string;
  offset?: number;
}

/** What a call returns: its result and what it made stale or patched. */
export interface CallReply<R = unknown> {
  result: R;
  invalidate: InvalidateEntry[];
  merge: MergeEntry[];
}

/**
 * A position in a stream (PROTOCOL.md section 9): `offset` counts the events
 * of epoch `epoch` (0: before any). Offsets of different epochs are not comparable.
 */
export interface Position {
  epoch: string;
  offset: number;
}

/** A request the client sends, without its `id`. */
export type ClientRequest =
  | { type: "auth"; token: string }
  | { type: "call"; fn: string; args: JsonObject }
  | { type: "fetch"; context: string; params: JsonObject }
  | {
      type: "watch";
      context: string;
      params: JsonObject;
      /** The position of the bundle the client holds: the server may answer `unchanged`. */
      since?: Position;
    }
  | { type: "unwatch"; context: string; params: JsonObject }
  | { type: "subscribe"; channel: string; params: JsonObject; since?: Position; history?: number }
  | { type: "send"; topic: string; data: unknown }
  | { type: "unsubscribe"; topic: string }
  | { type: "presence"; topic: string }
  | { type: "presence_stats"; topic: string };

/** A frame the server sends. */
export type ServerFrame =
  | { type: "hello"; protocol: number; node: string; session: string; user: UserInfo | null }
  | { type: "ok"; id: number; user?: UserInfo }
  | ({ type: "result"; id: number } & CallReply)
  | ({
      type: "bundle";
      id: number;
      /** The context stream's epoch (absent from a server without streams, and on HTTP). */
      epoch?: string;
      /** Every entry at or before it is reflected in `data`; the watcher gets every matching entry after it. */
      offset?: number;
    } & Bundle)
  | {
      /** The reply to a `watch` with `since` when nothing after it reaches the watch: keep the data. */
      type: "unchanged";
      id: number;
      context: string;
      params: JsonObject;
      epoch: string;
      /** The stream's current offset: the held data is current up to it. */
      offset: number;
    }
  | {
      type: "subscribed";
      id: number;
      topic: string;
      /** The topic's epoch (absent from a server without streams). */
      epoch?: string;
      /** The offset of the last message published before the subscription took effect. */
      offset?: number;
      /** Only in reply to a `since`: whether the missed messages follow (`true`) or cannot be replayed (`false`). */
      recovered?: boolean;
    }
  | { type: "error"; id?: number; code: string; message: string; details?: unknown }
  | {
      /** The reply to `presence`: every socket subscribed to the topic, on every node, once. */
      type: "presence";
      id: number;
      topic: string;
      members: PresenceMember[];
    }
  | {
      /** The reply to `presence_stats`: members (sockets) and distinct signed-in users. */
      type: "presence_stats";
      id: number;
      topic: string;
      sessions: number;
      users: number;
    }
  | {
      /**
       * A batch of presence changes of a topic (at most one per
       * `presence_interval`). Never carries the receiving socket's own join,
       * nor the batch its `presence` answer was taken in.
       */
      type: "presence_diff";
      topic: string;
      joins: PresenceMember[];
      leaves: PresenceMember[];
    }
  | { type: "message"; topic: string; data: unknown; /** The message's offset in its topic's stream. */ offset?: number }
  | ({ type: "invalidate" } & InvalidateEntry)
  | ({ type: "merge" } & MergeEntry)
  | ({ type: "unsubscribed" } & Unsubscribed)
  | ({ type: "unwatched" } & Unwatched)
  | {
      /**
       * The topic's stream broke while subscribed (the shared store lost its
       * data): messages before this position may be missing; the next one follows it.
       */
      type: "gap";
      topic: string;
      epoch: string;
      offset: number;
    };

/** A reply to a request (any frame with an `id`). */
export type ReplyFrame = Extract<ServerFrame, { id: number }>;
