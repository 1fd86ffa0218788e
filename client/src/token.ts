/** Where the client gets its credentials. */

/**
 * A token, or a function that returns one (possibly asynchronously). The
 * function is called on every connect and reconnect, and when the server
 * says the token expired, so it can return a fresh one. `null`/`undefined`
 * means: no user.
 */
export type TokenSource = string | null | undefined | TokenProvider;

/** Returns the current token, or nothing for an anonymous client. */
export type TokenProvider = () => string | null | undefined | Promise<string | null | undefined>;

/** Resolves a token source to the token to use now. */
export async function resolveToken(source: TokenSource): Promise<string | undefined> {
  const t = typeof source === "function" ? await source() : source;
  return t === null || t === undefined || t === "" ? undefined : t;
}
