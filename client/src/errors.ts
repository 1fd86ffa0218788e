/**
 * Errors surfaced by the runtime. Every failure is a `MizanError` with a
 * `code`: the server's codes (PROTOCOL.md section 2) plus the client's own.
 */

/** Error codes the server sends (PROTOCOL.md section 2). */
export type ServerErrorCode =
  | "bad_frame"
  | "not_found"
  | "invalid_args"
  | "unauthenticated"
  | "forbidden"
  | "not_subscribed"
  | "limit"
  | "internal";

/**
 * Codes the client produces itself:
 * - `timeout`: no reply within the request's timeout;
 * - `disconnected`: the socket closed before the reply came (the request may
 *   or may not have run);
 * - `closed`: the client was closed;
 * - `policy`, `unsupported`, `too_large`: the server closed the socket with
 *   1008, 1003 (or 1002, 1007) or 1009;
 * - `network`: an HTTP request failed before any response.
 */
export type ClientErrorCode =
  | "timeout"
  | "disconnected"
  | "closed"
  | "policy"
  | "unsupported"
  | "too_large"
  | "network";

/** Any error code. Unknown server codes pass through as strings. */
export type ErrorCode = ServerErrorCode | ClientErrorCode | (string & {});

/** A failed request, a refused connection, or an error push. */
export class MizanError extends Error {
  override readonly name = "MizanError";
  /** What kind of error. */
  readonly code: ErrorCode;
  /** Extra detail from the server, e.g. where `invalid_args` failed. */
  readonly details: unknown;
  /** The HTTP status, for errors of HTTP requests. */
  readonly status: number | undefined;

  constructor(code: ErrorCode, message: string, details?: unknown, status?: number) {
    super(message);
    this.code = code;
    this.details = details;
    this.status = status;
  }
}

/** Whether `e` is a `MizanError` with the given code (any code when omitted). */
export function isMizanError(e: unknown, code?: ErrorCode): e is MizanError {
  return e instanceof MizanError && (code === undefined || e.code === code);
}
