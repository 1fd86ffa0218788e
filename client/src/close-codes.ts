/**
 * What the server's close codes mean to the client: the error to surface
 * (if any) and how soon to come back. docs/operations.md lists the codes.
 */

import { MizanError } from "./errors.js";

/**
 * How to reconnect after a close:
 * - `backoff`: after the backoff delay, counting at least `minAttempts`
 *   failed attempts (so a refusal that would only repeat waits longer);
 * - `renew`: at once the first time (a fresh token from the provider fixes
 *   it), then backing off if the provider keeps handing out bad tokens;
 * - `soon`: after the first backoff step, not counted as a failure (the
 *   node is going away; another one takes the socket).
 */
export type Retry = { kind: "backoff"; minAttempts: number } | { kind: "renew" } | { kind: "soon" };

/** What a close means: an error to surface, and the retry. */
export interface ClosePlan {
  error?: MizanError;
  retry: Retry;
}

const backoff = (minAttempts: number): Retry => ({ kind: "backoff", minAttempts });

/**
 * The plan for close `code` with `reason`.
 *
 * ```ts
 * closePlan(4029, "").retry; // { kind: "backoff", minAttempts: 3 }
 * closePlan(1012, "restart").error; // undefined: a restart is not an error
 * ```
 */
export function closePlan(code: number, reason: string): ClosePlan {
  const detail = reason ? `: ${reason}` : "";
  switch (code) {
    case 1008:
      // An anonymous socket on probation that did not sign in (the node's
      // anonymous share is full): retrying at once would only be refused again.
      return { error: new MizanError("policy", `the server closed the socket by policy (1008${detail})`), retry: backoff(3) };
    case 4029:
      return {
        error: new MizanError("limit", `the server dropped this client for staying over its rate (4029${detail})`),
        retry: backoff(3),
      };
    case 1002:
    case 1007:
    case 1003:
      return { error: new MizanError("unsupported", `the server refused a frame (${code}${detail})`), retry: backoff(0) };
    case 1009:
      return { error: new MizanError("too_large", `a frame was over the server's limit (1009${detail})`), retry: backoff(0) };
    case 4001:
      return { retry: { kind: "renew" } };
    case 1012:
      return { retry: { kind: "soon" } };
    case 4008:
      return {
        error: new MizanError("limit", `the server dropped this client for reading too slowly (4008${detail})`),
        retry: backoff(2),
      };
    default:
      return { retry: backoff(0) };
  }
}
