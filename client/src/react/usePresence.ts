/** `usePresence`: who is in a channel's topic, kept current. */

import { useCallback, useEffect, useMemo, useState, useSyncExternalStore } from "react";
import type { ChannelSubscription, PresenceHandle } from "../channels.js";
import { MizanError } from "../errors.js";
import type { JsonObject } from "../frames.js";
import { keyOf } from "../params.js";
import { PENDING_PRESENCE, type PresenceState, type PresenceStats } from "../presence.js";
import type { Store } from "../store.js";
import { useMizan } from "./provider.js";

/** What `usePresence` returns: the list's state, and two requests. */
export interface PresenceResult<I = unknown> extends PresenceState<I> {
  /** Asks the server for the whole list again (it is asked after every rejoin by itself). */
  refresh(): void;
  /**
   * The topic's counts from the server (`presence_stats`), cheap for a
   * topic of any size. Rejects with `not_subscribed` before the component's
   * effect joined.
   */
  stats(): Promise<PresenceStats>;
}

const PENDING_STORE: Store<PresenceState<never>> = {
  subscribe: () => () => undefined,
  getSnapshot: () => PENDING_PRESENCE,
  getServerSnapshot: () => PENDING_PRESENCE,
};

interface Handles<I> {
  sub: ChannelSubscription<unknown, unknown, I>;
  presence: PresenceHandle<I>;
}

/**
 * Joins `channel` with `params` while the component is mounted (the join is
 * shared with `useChannel` on the same key) and keeps the topic's member
 * list: `{ status, members, count, users, stale, error }`. Each member is a
 * socket (`session`), with its `user` and, when the channel attaches one,
 * its `info`. The list is the server's `presence` answer with every
 * `presence_diff` after it applied in order, asked again after a reconnect
 * (`stale` meanwhile). The channel must track presence (`Channel::PRESENCE`),
 * or `status` turns `error` with `not_found`.
 *
 * ```tsx
 * const who = usePresence<{ name: string }>("chat", { room: "lobby" });
 * who.members.map((m) => <li key={m.session}>{m.info.name}</li>);
 * ```
 */
export function usePresence<I = unknown>(channel: string, params: object = {}): PresenceResult<I> {
  const client = useMizan();
  const key = keyOf(channel, params as JsonObject);
  const [handles, setHandles] = useState<Handles<I> | null>(null);

  useEffect(() => {
    const sub = client.channel<unknown, unknown, I>(channel, params as JsonObject);
    const presence = sub.presence();
    setHandles({ sub, presence });
    return () => {
      presence.stop();
      sub.leave();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, key]);

  const store = (handles?.presence.state ?? PENDING_STORE) as Store<PresenceState<I>>;
  const state = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getServerSnapshot);
  const refresh = useCallback(() => handles?.presence.refresh(), [handles]);
  const stats = useCallback(
    (): Promise<PresenceStats> =>
      handles === null
        ? Promise.reject(new MizanError("not_subscribed", `not joined to \`${channel}\` yet`))
        : handles.sub.presenceStats(),
    [handles, channel],
  );
  return useMemo(() => ({ ...state, refresh, stats }), [state, refresh, stats]);
}
