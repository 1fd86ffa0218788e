/** `useChannel`: join a channel, send to it, receive its messages. */

import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import type { ChannelState, ChannelSubscription } from "../channels.js";
import { MizanError } from "../errors.js";
import type { JsonObject } from "../frames.js";
import { keyOf } from "../params.js";
import type { ChannelStatus } from "../status.js";
import type { Store } from "../store.js";
import { useMizan } from "./provider.js";

/** Options of `useChannel`. */
export interface UseChannelOptions<S> {
  /** Called with every message (the latest function is used; no need to memoize). */
  onMessage?: (message: S) => void;
  /** How many recent messages `messages` keeps (default 100; 0 keeps none). */
  keep?: number;
  /**
   * Called if the server revokes the join (`status` turns `revoked`): the
   * socket's user changed or its token expired, and it may no longer be in
   * the topic. `error.code` says why (`forbidden`, `unauthenticated`, …).
   * The latest function is used; no need to memoize.
   */
  onRevoked?: (error: MizanError) => void;
  /**
   * Show the last `history` messages the channel keeps when the component
   * joins (they arrive in `messages`, oldest first, before live ones). The
   * channel must keep history (`Channel::HISTORY`); default none.
   */
  history?: number;
  /**
   * Called each time a reconnect could not recover the messages missed
   * meanwhile (`gap` turns true). The latest function is used.
   */
  onGap?: () => void;
}

/** What `useChannel` returns. */
export interface ChannelResult<C, S> {
  /**
   * Sends a client message; resolves once the channel's `receive` has run.
   * Rejects as `ChannelSubscription.send` does, and with `not_subscribed`
   * before the component's effect joined. Never sets `status` or `error`.
   */
  send(data: C): Promise<void>;
  /** The most recent messages, oldest first (see `keep`). */
  messages: S[];
  /** `pending`, `joined`, `error`, `revoked` or `left` (see `ChannelStatus`). */
  status: ChannelStatus;
  /** The joined topic (or the one left, once revoked). */
  topic: string | undefined;
  /** Why the subscribe was refused, or why the server revoked the join. */
  error: MizanError | undefined;
  /**
   * Messages may be missing: a reconnect could not recover what was sent
   * meanwhile (the server restarted, or its history no longer reaches back).
   * Stays true until the component joins again.
   */
  gap: boolean;
  /** Empties `messages`. */
  clear(): void;
}

const PENDING_STORE: Store<ChannelState> = {
  subscribe: () => () => undefined,
  getSnapshot: () => PENDING_STATE,
  getServerSnapshot: () => PENDING_STATE,
};
const PENDING_STATE: ChannelState = Object.freeze({ status: "pending", topic: undefined, error: undefined, gap: false }) as ChannelState;

/**
 * Joins `channel` with `params` while the component is mounted (re-joined
 * after reconnects; shared with other components on the same key). A join
 * the server revokes stays `revoked` (and `send` rejects with its error)
 * until the component joins again: remount it, e.g. with a `key` that
 * changes when the user signs in again.
 *
 * ```tsx
 * const chat = useChannel<{ text: string }, { text: string; user: string | null }>("chat", { room: "lobby" });
 * chat.messages.map((m) => <li>{m.text}</li>);
 * chat.send({ text: "hi" });
 * ```
 */
export function useChannel<C = unknown, S = unknown>(
  channel: string,
  params: object = {},
  options: UseChannelOptions<S> = {},
): ChannelResult<C, S> {
  const client = useMizan();
  const key = keyOf(channel, params as JsonObject);
  const keep = options.keep ?? 100;
  const history = options.history ?? 0;
  const onMessage = useRef(options.onMessage);
  onMessage.current = options.onMessage;
  const onRevoked = useRef(options.onRevoked);
  onRevoked.current = options.onRevoked;
  const onGap = useRef(options.onGap);
  onGap.current = options.onGap;
  const [messages, setMessages] = useState<S[]>([]);
  const [sub, setSub] = useState<ChannelSubscription<C, S> | null>(null);
  const subRef = useRef<ChannelSubscription<C, S> | null>(null);

  useEffect(() => {
    const s = client.channel<C, S>(channel, params as JsonObject, history > 0 ? { history } : {});
    subRef.current = s;
    setSub(s);
    setMessages([]);
    const off = s.onMessage((m) => {
      onMessage.current?.(m);
      if (keep > 0) setMessages((prev) => (prev.length >= keep ? [...prev.slice(prev.length - keep + 1), m] : [...prev, m]));
    });
    const offRevoked = s.onRevoked((e) => onRevoked.current?.(e));
    const offGap = s.onGap(() => onGap.current?.());
    return () => {
      off();
      offRevoked();
      offGap();
      s.leave();
      if (subRef.current === s) subRef.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, key, keep, history]);

  const store = sub?.state ?? PENDING_STORE;
  const state = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getServerSnapshot);
  const send = useCallback((data: C): Promise<void> => {
    const s = subRef.current;
    if (s === null) return Promise.reject(new MizanError("not_subscribed", `not joined to \`${channel}\` yet`));
    return s.send(data);
  }, [channel]);
  const clear = useCallback(() => setMessages([]), []);
  return useMemo(
    () => ({ send, messages, status: state.status, topic: state.topic, error: state.error, gap: state.gap, clear }),
    [send, messages, state, clear],
  );
}
