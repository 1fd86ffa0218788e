/** `MizanProvider` and `useMizan`: one client for a React tree. */

import { createContext, createElement, useContext, useEffect, useLayoutEffect, useRef, useState, type ReactNode } from "react";
import { createClient, type ClientOptions, type MizanClient } from "../client.js";
import { setDefaultClient } from "../default-client.js";
import type { Bundle } from "../frames.js";
import type { TokenSource } from "../token.js";

/**
 * `useLayoutEffect` in a browser; on a server, where effects never run,
 * `useEffect` (React 18 warns about layout effects there).
 */
const useClientLayoutEffect = typeof window === "undefined" ? useEffect : useLayoutEffect;

/** The React context that carries the client. */
export const MizanReactContext = createContext<MizanClient | null>(null);

/** Props of `MizanProvider`. */
export interface MizanProviderProps {
  /** The server's mount (`http://host:3000/api/mizan`, `/api/mizan`, …): the provider creates and owns a client. */
  url?: string;
  /** A client made elsewhere (`createClient`), instead of `url`. */
  client?: MizanClient;
  /**
   * The token, or an async provider called on every (re)connect. A new
   * string (or a provider with a new identity: memoize it) is sent at once
   * in an `auth` frame, and requests wait for its reply, so hooks mounted
   * in the same render already act as the new user; `null` signs out (the
   * socket reconnects anonymous).
   */
  token?: TokenSource;
  /** Bundles fetched by the server renderer (`fetchContextHttp`): rendered at once, then watched. */
  hydrate?: readonly Bundle<unknown>[];
  /** More client options, used when the provider creates the client. */
  options?: Omit<ClientOptions, "url" | "token" | "hydrate">;
  children?: ReactNode;
}

/**
 * Provides a Mizan client to its tree. With `url` it creates the client,
 * makes it the default one (for generated `callX` functions), connects it
 * in an effect (never during server rendering) and closes it on unmount.
 *
 * ```tsx
 * <MizanProvider url="/api/mizan" token={getToken}>
 *   <App />
 * </MizanProvider>
 * ```
 */
export function MizanProvider(props: MizanProviderProps): ReactNode {
  const tokenRef = useRef<TokenSource>(props.token);
  tokenRef.current = props.token;
  const readToken = (): string | null | undefined | Promise<string | null | undefined> => {
    const t = tokenRef.current;
    return typeof t === "function" ? t() : t;
  };
  const [owned] = useState<MizanClient | undefined>(() => {
    if (props.client !== undefined) return undefined;
    if (props.url === undefined) throw new Error("MizanProvider: give it `url` or `client`");
    return createClient({ ...props.options, url: props.url, token: readToken });
  });
  const client = props.client ?? (owned as MizanClient);

  // Seed the cache before the first render reads it (keys already held are kept).
  const hydrated = useRef<readonly Bundle<unknown>[] | undefined>(undefined);
  if (props.hydrate !== undefined && hydrated.current !== props.hydrate) {
    hydrated.current = props.hydrate;
    client.hydrate(props.hydrate);
  }

  const closeTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => {
    clearTimeout(closeTimer.current);
    if (owned === undefined) return undefined;
    setDefaultClient(owned);
    owned.connect();
    return () => {
      // Deferred, so React's strict mode (unmount, mount again) keeps the socket.
      closeTimer.current = setTimeout(() => {
        owned.close();
        setDefaultClient(undefined);
      }, 0);
    };
  }, [owned]);

  // A client passed in gets the token too; a changed token is sent at once.
  // A layout effect: React runs every layout effect of a commit before any
  // passive one, and a child's effects before its parent's, so this holds
  // the requests of hooks mounted in the same render (their passive effects
  // send them) until the new token's `auth` reply.
  const firstToken = useRef(true);
  useClientLayoutEffect(() => {
    if (firstToken.current) {
      firstToken.current = false;
      if (owned !== undefined || props.token === undefined) return;
    }
    void client.setToken(readToken).catch(() => undefined);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, props.token]);

  return createElement(MizanReactContext.Provider, { value: client }, props.children);
}

/** The client of the nearest `MizanProvider`. */
export function useMizan(): MizanClient {
  const client = useContext(MizanReactContext);
  if (client === null) throw new Error("useMizan: no <MizanProvider> above this component");
  return client;
}
