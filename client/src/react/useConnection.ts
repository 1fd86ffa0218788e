/** `useConnection`: the socket's state (status, user, last error). */

import { useSyncExternalStore } from "react";
import type { ConnectionState } from "../socket.js";
import { useMizan } from "./provider.js";

/**
 * The connection's state: show "reconnecting…", or who is signed in.
 *
 * ```tsx
 * const { status, user } = useConnection();
 * ```
 */
export function useConnection(): ConnectionState {
  const store = useMizan().connection;
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getServerSnapshot);
}
