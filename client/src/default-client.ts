/**
 * The default client: what generated `callX(args)` functions use when no
 * client is passed. `MizanProvider` sets it when it creates its client.
 */

import type { CallOptions, MizanClient } from "./client.js";
import type { ChannelSubscription, JoinOptions } from "./channels.js";
import type { Bundle, JsonObject } from "./frames.js";

let current: MizanClient | undefined;

/** Makes `client` the default (or clears it with `undefined`). */
export function setDefaultClient(client: MizanClient | undefined): void {
  current = client;
}

/** The default client; throws a helpful error when there is none. */
export function getDefaultClient(): MizanClient {
  if (current === undefined) {
    throw new Error(
      "mizan: no client. Render <MizanProvider url=…> first, call setDefaultClient(createClient({ url })), or pass { client } to the call.",
    );
  }
  return current;
}

/** Options of a generated call: which client, which transport, how long. */
export interface InvokeOptions extends CallOptions {
  /** The client to use (default: the default client). */
  client?: MizanClient;
}

/** Calls `fn` on `options.client` or the default client. What generated `callX` functions use. */
export function invoke<R>(fn: string, args: object, options: InvokeOptions = {}): Promise<R> {
  const { client, ...rest } = options;
  return (client ?? getDefaultClient()).call<R>(fn, args as JsonObject, rest);
}

/**
 * Fetches a context's bundle once on `options.client` or the default client:
 * over the socket, or over HTTP with `{ transport: "http" }` (server rendering).
 */
export async function fetchBundle<D>(context: string, params: object, options: InvokeOptions = {}): Promise<Bundle<D>> {
  const { client, transport, ...rest } = options;
  const c = client ?? getDefaultClient();
  if (transport === "http") return c.fetchHttp<D>(context, params as JsonObject, rest);
  const data = await c.fetch<D>(context, params as JsonObject, rest);
  return { context, params: params as JsonObject, data };
}

/** Joins a channel on `options.client` or the default client (`history`: see `JoinOptions`). */
export function joinChannel<C, S, I = unknown>(
  channel: string,
  params: object,
  options: JoinOptions & { client?: MizanClient } = {},
): ChannelSubscription<C, S, I> {
  const { client, history } = options;
  return (client ?? getDefaultClient()).channel<C, S, I>(channel, params as JsonObject, history === undefined ? {} : { history });
}
