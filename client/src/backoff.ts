/** Reconnect delays: exponential backoff with jitter. */

/** How long to wait between reconnect attempts. */
export interface BackoffOptions {
  /** Delay before the first retry, in ms (default 250). */
  initialMs?: number;
  /** Upper bound of a delay, in ms (default 10 000). */
  maxMs?: number;
  /** Growth per failed attempt (default 2). */
  factor?: number;
  /**
   * Fraction of each delay that is random (default 0.5): a delay of `d` becomes
   * a uniform pick in `[d·(1−jitter), d]`, so clients dropped together do not
   * all come back in the same instant.
   */
  jitter?: number;
}

/** The delay before attempt number `attempt` (0 is the first retry). */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialMs ?? 250;
  const max = options.maxMs ?? 10_000;
  const factor = options.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 0.5));
  const base = Math.min(max, initial * Math.pow(factor, Math.max(0, attempt)));
  return Math.round(base * (1 - jitter * random()));
}
