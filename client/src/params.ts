/**
 * Canonical params: the cache and channel keys, and the matching rule of
 * PROTOCOL.md section 5.
 */

import type { JsonObject } from "./frames.js";

/**
 * JSON text with object keys sorted at every level, so that `{a:1,b:2}` and
 * `{b:2,a:1}` give the same key. `undefined` members are dropped, as
 * `JSON.stringify` does.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** The key of a context or channel with its params: `name` + canonical params. */
export function keyOf(name: string, params: JsonObject | undefined): string {
  return `${name}\u0000${canonicalJson(params ?? {})}`;
}

/** A copy of `params` with keys sorted and `undefined` members dropped. */
export function canonicalParams(params: JsonObject | undefined): JsonObject {
  return sortKeys(params ?? {}) as JsonObject;
}

/**
 * Whether an entry scoped by `scope` reaches a watcher of `params`: every key
 * of `scope` is in `params` with an equal JSON value. No scope reaches every
 * watcher of the context.
 */
export function scopeMatches(scope: JsonObject | undefined, params: JsonObject): boolean {
  if (scope === undefined || scope === null) return true;
  for (const k of Object.keys(scope)) {
    if (!Object.prototype.hasOwnProperty.call(params, k)) return false;
    if (canonicalJson(scope[k]) !== canonicalJson(params[k])) return false;
  }
  return true;
}
