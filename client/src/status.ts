/**
 * The status words of every piece of client state. A word means the same
 * thing wherever it appears:
 *
 * - `idle`: nothing was asked yet;
 * - `pending`: the first answer is on its way (there is no data yet);
 * - `success`: answered; `data` is the server's current answer;
 * - `error`: the last request failed; `error` (a `MizanError`) says why,
 *   and the client tries again by itself where the status type says so;
 * - `revoked`: the server took back what it had granted (a watch, a join)
 *   because the socket's identity changed or its token expired; the client
 *   does not ask again by itself.
 *
 * The connection and a channel join have lifecycle words of their own
 * (`connecting`, `open`, `joined`, …), listed on their types.
 *
 * ```ts
 * const { status, data, error } = client.cache.peek("user", { user_id: 5 }) ?? {};
 * if (status === "pending") showSpinner();
 * else if (status === "error" || status === "revoked") showError(error!.code);
 * else render(data);
 * ```
 */

/**
 * Where a context entry is:
 * - `pending`: no bundle yet; a `watch` is on its way (or waits for the
 *   socket). Also after a failure without data, while the client asks again;
 * - `success`: `data` is the latest bundle (`stale` while a refetch after
 *   an invalidation is on its way);
 * - `error`: the last `watch` or `fetch` failed (`error.code`). When the
 *   server refused the key itself (`not_found`, `forbidden`,
 *   `unauthenticated`, `invalid_args`: a deleted record, a lost right)
 *   `data` is `undefined`; after any other failure (`timeout`, `internal`,
 *   `limit`) `data` is the last bundle, `stale: true`. Tried again on the
 *   next use, invalidation or reconnect, and, for `unauthenticated`, when
 *   an `auth` is accepted;
 * - `revoked`: the server dropped the watch (`unwatched`); `data` as for
 *   `error`. Watched again only by a new user of the key or `refetch()`.
 */
export type ContextStatus = "pending" | "success" | "error" | "revoked";

/**
 * Where a call of `useCall` is:
 * - `idle`: not called yet (or `reset()`);
 * - `pending`: a call is on its way (`data` keeps the previous result);
 * - `success`: `data` is the latest call's result;
 * - `error`: the latest call failed (`error.code`); `data` keeps the
 *   previous result. Never retried: a call may have run.
 */
export type CallStatus = "idle" | "pending" | "success" | "error";

/**
 * Where a channel join is:
 * - `pending`: the `subscribe` is on its way (or waits for the socket);
 * - `joined`: messages arrive (also while reconnecting: the join is
 *   restored when the socket is back);
 * - `error`: the server refused the `subscribe` (`error.code`: `forbidden`,
 *   `unauthenticated`, `not_found`, `invalid_args`, `limit`). Tried again
 *   after a reconnect and, for `unauthenticated`, when an `auth` is accepted;
 * - `revoked`: the server removed the socket from the topic after joining,
 *   because its identity changed or its token expired (`error.code` is the
 *   server's reason: `forbidden`, `unauthenticated`, …). No message arrives
 *   any more and the join is not restored after a reconnect; join again
 *   (a new `channel()` handle) to try once more;
 * - `left`: `leave()` was called by its last user.
 */
export type ChannelStatus = "pending" | "joined" | "error" | "revoked" | "left";

/**
 * Where the connection is:
 * - `idle`: never connected (the client connects on first use, or `connect()`);
 * - `connecting`: first connection under way;
 * - `open`: `hello` received and the token (if any) accepted or refused;
 * - `reconnecting`: the socket dropped and the client is waiting or retrying;
 * - `closed`: `close()` was called;
 * - `failed`: the client cannot connect at all (no WebSocket implementation); `reconnect()` retries.
 */
export type ConnectionStatus = "idle" | "connecting" | "open" | "reconnecting" | "closed" | "failed";

/**
 * Where a form (`FormController`, `useForm`) is:
 * - `idle`: not submitted yet (or `reset()`), nothing asked of the server;
 * - `validating`: a server check (`F.validate`) of fields that passed the
 *   browser's is waiting for its debounce or its answer;
 * - `submitting`: `F.submit` is on its way;
 * - `success`: the last submit returned; `result` is its answer;
 * - `error`: the last submit failed: fields invalid (in the browser, then
 *   nothing was sent, or on the server: `errors`), or `error` (a
 *   `MizanError`) says why. Never submitted again by itself.
 *
 * `submitting` comes before `validating`, which comes before the last
 * submit's outcome: editing after a submit shows `validating`, then the
 * outcome again until the next `submit()` or `reset()`.
 */
export type FormStatus = "idle" | "validating" | "submitting" | "success" | "error";
