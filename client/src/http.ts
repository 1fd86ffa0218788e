/**
 * Calls and context fetches over HTTP (PROTOCOL.md section 1): for server
 * rendering, scripts, and functions that are not offered over the socket.
 */

import { MizanError } from "./errors.js";
import type { Bundle, CallReply, JsonObject } from "./frames.js";
import { resolveToken, type TokenSource } from "./token.js";
import { endpoints } from "./url.js";

/** A `fetch` implementation (the global one by default). */
export type FetchFunction = (input: string, init: {
  method: string;
  headers: Record<string, string>;
  body: string;
  signal?: AbortSignal;
}) => Promise<{ status: number; ok: boolean; text(): Promise<string> }>;

/** Options of one HTTP request. */
export interface HttpOptions {
  /** The token to send as `Authorization: Bearer` (or its provider). */
  token?: TokenSource;
  /** Extra headers (e.g. a cookie forwarded by a server renderer). */
  headers?: Record<string, string>;
  /** Gives up after this long, in ms (default 15 000). */
  timeoutMs?: number;
  /** The `fetch` to use. */
  fetch?: FetchFunction;
}

/** Calls `fn` over `POST {base}/call/{fn}`; resolves with the result and its effects. */
export async function callHttpWithEffects<R = unknown>(
  url: string,
  fn: string,
  args: JsonObject = {},
  options: HttpOptions = {},
): Promise<CallReply<R>> {
  const body = await post(`${endpoints(url).http}/call/${encodeURIComponent(fn)}`, args, options);
  const reply = body as Partial<CallReply<R>>;
  return { result: reply.result as R, invalidate: reply.invalidate ?? [], merge: reply.merge ?? [] };
}

/** Calls `fn` over HTTP and resolves with its result. */
export async function callHttp<R = unknown>(url: string, fn: string, args: JsonObject = {}, options: HttpOptions = {}): Promise<R> {
  return (await callHttpWithEffects<R>(url, fn, args, options)).result;
}

/**
 * Fetches a context's bundle over `POST {base}/fetch/{context}`: what a
 * server renderer puts in the page, for the client to hydrate from.
 */
export async function fetchContextHttp<D = Record<string, unknown>>(
  url: string,
  context: string,
  params: JsonObject = {},
  options: HttpOptions = {},
): Promise<Bundle<D>> {
  return (await post(`${endpoints(url).http}/fetch/${encodeURIComponent(context)}`, params, options)) as Bundle<D>;
}

async function post(target: string, payload: JsonObject, options: HttpOptions): Promise<unknown> {
  const doFetch = options.fetch ?? (globalThis as { fetch?: FetchFunction }).fetch;
  if (doFetch === undefined) throw new MizanError("unsupported", "no fetch implementation: pass `fetch` in the options");
  const headers: Record<string, string> = { "content-type": "application/json", ...options.headers };
  const token = await resolveToken(options.token);
  if (token !== undefined) headers["authorization"] = `Bearer ${token}`;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const controller = typeof AbortController === "undefined" ? undefined : new AbortController();
  const timer = setTimeout(() => controller?.abort(), timeoutMs);
  let status: number;
  let text: string;
  try {
    const init: Parameters<FetchFunction>[1] = { method: "POST", headers, body: JSON.stringify(payload) };
    if (controller !== undefined) init.signal = controller.signal;
    const res = await doFetch(target, init);
    status = res.status;
    text = await res.text();
  } catch (e) {
    if (controller?.signal.aborted === true) throw new MizanError("timeout", `no answer from ${target} within ${timeoutMs} ms`);
    throw new MizanError("network", `request to ${target} failed: ${String(e)}`);
  } finally {
    clearTimeout(timer);
  }
  let body: unknown;
  try {
    body = text === "" ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (status >= 200 && status < 300) return body;
  const err = body as { code?: string; message?: string; details?: unknown } | undefined;
  throw new MizanError(err?.code ?? codeForStatus(status), err?.message ?? `HTTP ${status}`, err?.details, status);
}

function codeForStatus(status: number): string {
  switch (status) {
    case 400:
      return "bad_frame";
    case 401:
      return "unauthenticated";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 413:
    case 429:
      return "limit";
    case 422:
      return "invalid_args";
    default:
      return "internal";
  }
}
