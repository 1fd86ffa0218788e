/** `useCall`: a server function as a mutation with state. */

import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { CallOptions } from "../client.js";
import { MizanError } from "../errors.js";
import type { JsonObject } from "../frames.js";
import type { CallStatus } from "../status.js";
import { useMizan } from "./provider.js";

/** What `useCall` returns. */
export interface CallResult<A, R> {
  /**
   * Calls the function. Never rejects: resolves with the result, or with
   * `undefined` when the call fails (the `MizanError` lands in `error`,
   * `status: "error"`).
   */
  mutate(args: A): Promise<R | undefined>;
  /** Calls the function; resolves with the result, rejects with the `MizanError` (setting the same state). */
  mutateAsync(args: A): Promise<R>;
  /** The last call's result. */
  data: R | undefined;
  /** The last call's error. */
  error: MizanError | undefined;
  /** `idle`, `pending`, `success` or `error` (see `CallStatus`). */
  status: CallStatus;
  /** Back to `idle`. */
  reset(): void;
}

interface CallHookState<R> {
  status: CallStatus;
  data: R | undefined;
  error: MizanError | undefined;
}

/**
 * Calls a server function from a component. Only the latest call's outcome
 * is kept; contexts it affects refresh by themselves (invalidation, merge).
 *
 * ```tsx
 * const rename = useCall<{ user_id: number; name: string }, { ok: boolean }>("update_profile");
 * <button onClick={() => rename.mutate({ user_id: 5, name: "Ann" })} disabled={rename.status === "pending"} />
 * ```
 */
export function useCall<A extends object = JsonObject, R = unknown>(fn: string, options: CallOptions = {}): CallResult<A, R> {
  const client = useMizan();
  const [state, setState] = useState<CallHookState<R>>({ status: "idle", data: undefined, error: undefined });
  const seq = useRef(0);
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);
  const transport = options.transport;
  const timeoutMs = options.timeoutMs;
  const mutateAsync = useCallback(
    async (args: A): Promise<R> => {
      const n = ++seq.current;
      setState((s) => ({ status: "pending", data: s.data, error: undefined }));
      const opts: CallOptions = {};
      if (transport !== undefined) opts.transport = transport;
      if (timeoutMs !== undefined) opts.timeoutMs = timeoutMs;
      try {
        const data = await client.call<R>(fn, args as JsonObject, opts);
        if (mounted.current && n === seq.current) setState({ status: "success", data, error: undefined });
        return data;
      } catch (e) {
        const error = e instanceof MizanError ? e : new MizanError("internal", String(e));
        if (mounted.current && n === seq.current) setState((s) => ({ status: "error", data: s.data, error }));
        throw error;
      }
    },
    [client, fn, transport, timeoutMs],
  );
  const mutate = useCallback((args: A) => mutateAsync(args).catch(() => undefined), [mutateAsync]);
  const reset = useCallback(() => {
    seq.current++;
    setState({ status: "idle", data: undefined, error: undefined });
  }, []);
  return useMemo(() => ({ ...state, mutate, mutateAsync, reset }), [state, mutate, mutateAsync, reset]);
}
