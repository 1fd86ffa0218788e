/**
 * `@mizan/client`: the runtime of Mizan's generated TypeScript.
 *
 * - `socket.ts`: the socket kernel (ids, timeouts, reconnect, tokens, close codes)
 * - `client.ts`: `MizanClient`, which composes the rest
 * - `cache.ts`: the shared context cache (watch, invalidate, merge, hydrate)
 * - `channels.ts`: channel joins
 * - `form.ts`: forms (checked in the browser, then `F.validate`, `F.submit`)
 * - `presence.ts`: presence lists (who is in a topic)
 * - `http.ts`: calls and fetches over HTTP (server rendering)
 * - `status.ts`: the status words of contexts, calls, channels and the connection
 * - `store.ts`: the store interface (`useSyncExternalStore`-compatible)
 * - `react/`: the React bindings (`@mizan/client/react`)
 */

export { backoffDelay, type BackoffOptions } from "./backoff.js";
export { ContextCache, type CacheOptions, type ContextLease, type ContextState } from "./cache.js";
export {
  Channels,
  type ChannelOptions,
  type ChannelState,
  type ChannelSubscription,
  type JoinOptions,
  type PresenceHandle,
} from "./channels.js";
export { MizanClient, createClient, type CallOptions, type ClientOptions } from "./client.js";
export { fetchBundle, getDefaultClient, invoke, joinChannel, setDefaultClient, type InvokeOptions } from "./default-client.js";
export { MizanError, isMizanError, type ClientErrorCode, type ErrorCode, type ServerErrorCode } from "./errors.js";
export {
  FormController,
  REQUIRED_MESSAGE,
  isEmptyValue,
  type FieldKind,
  type FieldName,
  type FormDefinition,
  type FormErrors,
  type FormFieldSpec,
  type FormOptions,
  type FormSchemaLike,
  type FormState,
  type FormValues,
} from "./form.js";
export type {
  Bundle,
  CallReply,
  ClientRequest,
  InvalidateEntry,
  Json,
  JsonObject,
  MergeEntry,
  Position,
  PresenceMember,
  ReplyFrame,
  ServerFrame,
  Unsubscribed,
  Unwatched,
  UserInfo,
} from "./frames.js";
export { callHttp, callHttpWithEffects, fetchContextHttp, type FetchFunction, type HttpOptions } from "./http.js";
export { canonicalJson, keyOf, scopeMatches } from "./params.js";
export { PresenceView, type PresenceState, type PresenceStats, type PresenceStatus } from "./presence.js";
export {
  SUBPROTOCOL,
  SocketKernel,
  type ConnectionState,
  type OpenEvent,
  type RequestOptions,
  type SocketOptions,
  type WebSocketConstructor,
  type WebSocketLike,
} from "./socket.js";
export type { CallStatus, ChannelStatus, ConnectionStatus, ContextStatus, FormStatus } from "./status.js";
export { Listeners, ValueStore, type Store } from "./store.js";
export { resolveToken, type TokenProvider, type TokenSource } from "./token.js";
export { DEFAULT_BASE_PATH, endpoints, type Endpoints } from "./url.js";
