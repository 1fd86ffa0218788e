/**
 * `MizanClient`: one socket, the context cache and the channel joins of one
 * application (one per page, or per provider).
 */

import { ContextCache, type CacheOptions, type ContextState } from "./cache.js";
import { Channels, type ChannelOptions, type ChannelSubscription, type JoinOptions } from "./channels.js";
import type { MizanError } from "./errors.js";
import type { Bundle, CallReply, JsonObject } from "./frames.js";
import { callHttpWithEffects, fetchContextHttp, type FetchFunction, type HttpOptions } from "./http.js";
import { SocketKernel, type ConnectionState, type RequestOptions, type SocketOptions } from "./socket.js";
import type { Store } from "./store.js";
import type { TokenSource } from "./token.js";
import { endpoints } from "./url.js";

/** Options of `createClient`. */
export interface ClientOptions extends Omit<SocketOptions, "url" | "token"> {
  /**
   * Where the server is: the mount's HTTP base (`http://host:3000/api/mizan`),
   * an origin (`/api/mizan` is appended), a path resolved against the page
   * (`/api/mizan`), or the socket's `ws://` URL.
   */
  url: string;
  /** The token, or an async provider called on every (re)connect. */
  token?: TokenSource;
  /** Context cache settings. */
  cache?: CacheOptions;
  /** Channel settings. */
  channels?: ChannelOptions;
  /** The `fetch` for HTTP calls (the global one by default). */
  fetch?: FetchFunction;
  /** Bundles to seed the cache with (server rendering). */
  hydrate?: readonly Bundle<unknown>[];
}

/** Options of one call. */
export interface CallOptions extends RequestOptions {
  /** `ws` (default) or `http`. */
  transport?: "ws" | "http";
}

/** A Mizan client. Connects lazily: on the first request, or `connect()`. */
export class MizanClient {
  /** The HTTP base of the server's mount. */
  readonly httpUrl: string;
  /** The WebSocket URL. */
  readonly wsUrl: string;
  /** The socket kernel (requests, pushes, connection state). */
  readonly kernel: SocketKernel;
  /** The shared context cache. */
  readonly cache: ContextCache;
  /** The channel joins. */
  readonly channels: Channels;
  private token: TokenSource;
  private readonly fetchImpl: FetchFunction | undefined;

  constructor(options: ClientOptions) {
    const ep = endpoints(options.url);
    this.httpUrl = ep.http;
    this.wsUrl = ep.ws;
    this.token = options.token;
    this.fetchImpl = options.fetch;
    const { url: _url, token: _token, cache, channels, fetch: _fetch, hydrate, ...socket } = options;
    this.kernel = new SocketKernel({ ...socket, url: ep.ws, token: () => this.token });
    this.cache = new ContextCache(this.kernel, {
      ...(options.requestTimeoutMs === undefined ? {} : { timeoutMs: options.requestTimeoutMs }),
      ...cache,
    });
    this.channels = new Channels(this.kernel, channels);
    if (hydrate !== undefined) this.cache.hydrate(hydrate);
  }

  /** The connection state (status, user, errors), as a store. */
  get connection(): Store<ConnectionState> {
    return this.kernel.state;
  }

  /** Opens the socket now (otherwise the first request does). */
  connect(): void {
    this.kernel.connect();
  }

  /** Drops the socket and connects again (subscriptions and watches are restored). */
  reconnect(): void {
    this.kernel.reconnect();
  }

  /** Closes the socket for good. */
  close(): void {
    this.kernel.close();
  }

  /**
   * Replaces the token (or provider). On an open socket the new token is sent
   * at once in an `auth` frame; without a token, a signed-in socket
   * reconnects as anonymous.
   */
  setToken(token: TokenSource): Promise<void> {
    this.token = token;
    return this.kernel.reauthenticate();
  }

  /** Listens to errors that answer no request (refused tokens, error pushes, close codes). */
  onError(listener: (error: MizanError) => void): () => void {
    return this.kernel.onError.add(listener);
  }

  /** Calls a server function and resolves with its result. */
  async call<R = unknown>(fn: string, args: JsonObject = {}, options: CallOptions = {}): Promise<R> {
    return (await this.callWithEffects<R>(fn, args, options)).result;
  }

  /**
   * Calls a server function and resolves with its result and what it made
   * stale or patched. Over the socket the cache needs nothing from these
   * arrays: the server pushes the same entries to every matching watcher,
   * this client's included.
   */
  async callWithEffects<R = unknown>(fn: string, args: JsonObject = {}, options: CallOptions = {}): Promise<CallReply<R>> {
    if (options.transport === "http") {
      return callHttpWithEffects<R>(this.httpUrl, fn, args, this.httpOptions(options.timeoutMs));
    }
    const reply = await this.kernel.request({ type: "call", fn, args }, options);
    if (reply.type !== "result") throw new Error(`mizan: unexpected \`${reply.type}\` reply to a call`);
    return { result: reply.result as R, invalidate: reply.invalidate, merge: reply.merge };
  }

  /** Calls a server function over HTTP, with this client's token. */
  callHttp<R = unknown>(fn: string, args: JsonObject = {}, options: RequestOptions = {}): Promise<R> {
    return this.call<R>(fn, args, { ...options, transport: "http" });
  }

  /** Fetches a context's bundle once over the socket (no caching, no watch). */
  async fetch<D = Record<string, unknown>>(context: string, params: JsonObject = {}, options: RequestOptions = {}): Promise<D> {
    const reply = await this.kernel.request({ type: "fetch", context, params }, options);
    if (reply.type !== "bundle") throw new Error(`mizan: unexpected \`${reply.type}\` reply to a fetch`);
    return reply.data as D;
  }

  /** Fetches a context's bundle over HTTP (for server rendering, then `hydrate`). */
  fetchHttp<D = Record<string, unknown>>(context: string, params: JsonObject = {}, options: RequestOptions = {}): Promise<Bundle<D>> {
    return fetchContextHttp<D>(this.httpUrl, context, params, this.httpOptions(options.timeoutMs));
  }

  /** A store over a context in the shared cache (watched while subscribed). */
  context<D = Record<string, unknown>>(context: string, params: JsonObject = {}): Store<ContextState<D>> {
    return this.cache.store<D>(context, params);
  }

  /**
   * Watches a context and calls `listener` with every new state; returns the
   * function that stops (the cache unwatches after the last user).
   */
  watch<D = Record<string, unknown>>(context: string, params: JsonObject, listener: (state: ContextState<D>) => void): () => void {
    const store = this.cache.store<D>(context, params);
    let last: ContextState<D> | undefined;
    const notify = (): void => {
      const s = store.getSnapshot();
      if (s !== last) {
        last = s;
        listener(s);
      }
    };
    const off = store.subscribe(notify);
    notify();
    return off;
  }

  /** Seeds the cache with bundles (server rendering). */
  hydrate(bundles: readonly Bundle<unknown>[]): void {
    this.cache.hydrate(bundles);
  }

  /**
   * Joins a channel (shared per channel and params). `I`: the type of its
   * presence members' `info` (`presence()` on the handle).
   */
  channel<C = unknown, S = unknown, I = unknown>(
    channel: string,
    params: JsonObject = {},
    options: JoinOptions = {},
  ): ChannelSubscription<C, S, I> {
    return this.channels.join<C, S, I>(channel, params, options);
  }

  private httpOptions(timeoutMs: number | undefined): HttpOptions {
    const o: HttpOptions = { token: this.token };
    if (timeoutMs !== undefined) o.timeoutMs = timeoutMs;
    if (this.fetchImpl !== undefined) o.fetch = this.fetchImpl;
    return o;
  }
}

/** Creates a client. */
export function createClient(options: ClientOptions): MizanClient {
  return new MizanClient(options);
}
