/** `useMizanContext`: a context's bundle from the shared cache, kept fresh. */

import { useMemo, useSyncExternalStore } from "react";
import type { ContextState } from "../cache.js";
import type { JsonObject } from "../frames.js";
import { keyOf } from "../params.js";
import { useMizan } from "./provider.js";

/** What `useMizanContext` returns. */
export interface ContextResult<D> extends ContextState<D> {
  /** Refetches now (the cache still coalesces with pushes). */
  refetch(): void;
}

/**
 * Reads a context's bundle. Every component using the same context and
 * params shares one cache entry and one watch; the last one to unmount
 * releases it. Invalidations refetch it, merges patch it, both re-render.
 *
 * ```tsx
 * const { data, error, status } = useMizanContext<UserData>("user", { user_id: 5 });
 * ```
 */
export function useMizanContext<D = Record<string, unknown>>(context: string, params: object = {}): ContextResult<D> {
  const client = useMizan();
  const key = keyOf(context, params as JsonObject);
  // The key, not the params object's identity, decides: `{user_id: 5}` written inline is fine.
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const store = useMemo(() => client.context<D>(context, params as JsonObject), [client, key]);
  const state = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getServerSnapshot);
  return useMemo(
    () => ({ ...state, refetch: () => client.cache.refetch(context, params as JsonObject) }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [state, client, key],
  );
}
