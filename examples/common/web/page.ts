// What the chat and todo pages share (imported from each page's src/):
// remembered values, guest names, the `#status` label and error text.
// No imports, so it resolves from either page's folder.

/** localStorage that never throws (private mode, storage disabled). */
export const storage = {
  get(key: string): string | null {
    try {
      return localStorage.getItem(key);
    } catch {
      return null;
    }
  },
  set(key: string, value: string): void {
    try {
      localStorage.setItem(key, value);
    } catch {
      /* private mode */
    }
  },
};

/** A random `guest-NNNN`. */
export const guestName = (): string => `guest-${Math.floor(1000 + Math.random() * 9000)}`;

/**
 * What `#status` shows for a connection status: exactly `connected` once
 * the socket is open (the end-to-end tests wait for that word).
 */
export function statusLabel(status: string): string {
  switch (status) {
    case "open":
      return "connected";
    case "idle":
    case "connecting":
      return "connecting";
    default:
      return status; // reconnecting, closed, failed
  }
}

/** `code: message` of a MizanError, or the error as text. */
export function describe(err: unknown): string {
  if (err !== null && typeof err === "object" && "code" in err) {
    const e = err as { code: string; message?: string };
    return e.code + (e.message ? `: ${e.message}` : "");
  }
  return String(err);
}

/** A line under the page: what happened, and whether it went wrong. */
export interface Notice {
  text: string;
  error: boolean;
}
