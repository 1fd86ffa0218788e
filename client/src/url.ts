/** Where the endpoints of a Mizan mount are, from one base URL. */

/** The default mount path (PROTOCOL.md section 1). */
export const DEFAULT_BASE_PATH = "/api/mizan";

/** The endpoints derived from a base URL. */
export interface Endpoints {
  /** The HTTP base, e.g. `http://127.0.0.1:3000/api/mizan` (no trailing slash). */
  http: string;
  /** The WebSocket URL, e.g. `ws://127.0.0.1:3000/api/mizan/ws`. */
  ws: string;
}

/**
 * Resolves a base URL into endpoints. `url` is the mount's HTTP base
 * (`http://host:3000/api/mizan`), an origin alone (`http://host:3000`, which
 * gets `/api/mizan`), a path (`/api/mizan`, resolved against the page's
 * location in a browser), or a `ws://`/`wss://` URL of the socket itself.
 */
export function endpoints(url: string): Endpoints {
  const origin = (globalThis as { location?: { href?: string } }).location?.href;
  let u: URL;
  try {
    u = origin === undefined ? new URL(url) : new URL(url, origin);
  } catch {
    throw new TypeError(`mizan: \`${url}\` is not a URL; give an absolute URL such as http://127.0.0.1:3000/api/mizan`);
  }
  if (u.protocol === "ws:" || u.protocol === "wss:") {
    const ws = u.toString();
    u.protocol = u.protocol === "ws:" ? "http:" : "https:";
    u.pathname = u.pathname.replace(/\/ws\/?$/, "");
    return { http: stripSlash(u.toString()), ws };
  }
  if (u.pathname === "/" || u.pathname === "") u.pathname = DEFAULT_BASE_PATH;
  u.search = "";
  u.hash = "";
  const http = stripSlash(u.toString());
  const w = new URL(http + "/ws");
  w.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return { http, ws: w.toString() };
}

function stripSlash(s: string): string {
  return s.endsWith("/") ? s.slice(0, -1) : s;
}
