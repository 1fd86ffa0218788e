// Test helpers: clients on Node's `ws`, a frame log, and waiting.

import { inject } from "vitest";
import WebSocket from "ws";
import { createClient, type ClientOptions, type MizanClient, type WebSocketConstructor } from "../src/index.js";

/** The shared fixture's base URL. */
export function fixtureUrl(): string {
  return inject("fixtureUrl");
}

/** Every frame one client sent and received. */
export class FrameLog {
  readonly frames: { dir: "in" | "out"; frame: Record<string, unknown> }[] = [];

  record = (dir: "in" | "out", frame: Record<string, unknown>): void => {
    this.frames.push({ dir, frame });
  };

  /** Frames of one direction and type, from index `from` on. */
  of(dir: "in" | "out", type: string, from = 0): Record<string, unknown>[] {
    return this.frames.slice(from).filter((f) => f.dir === dir && f.frame.type === type).map((f) => f.frame);
  }

  /** The current length, to count from later. */
  mark(): number {
    return this.frames.length;
  }
}

const clients: MizanClient[] = [];

/** A client on `url` with a frame log; closed by `closeClients`. */
export function newClient(url: string, options: Partial<ClientOptions> = {}): { client: MizanClient; log: FrameLog } {
  const log = new FrameLog();
  const client = createClient({
    url,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    backoff: { initialMs: 50, maxMs: 500 },
    onFrame: log.record,
    ...options,
  });
  clients.push(client);
  return { client, log };
}

/** Closes every client made by `newClient`. */
export function closeClients(): void {
  for (const c of clients.splice(0)) c.close();
}

/** Polls `check` until it returns a truthy value (or throws after `timeoutMs`). */
export async function waitFor<T>(check: () => T | undefined | null | false, timeoutMs = 5_000, what = "condition"): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

let next = Math.floor(Math.random() * 1_000_000) * 100 + 1_000_000;
/** A user id no other test uses (the fixture's data is shared by all tests). */
export function freshUserId(): number {
  return next++;
}

/** A `WebSocket` whose sockets can be cut, and kept from connecting again until `online()`. */
export function gated(): { WebSocket: WebSocketConstructor; cut(): void; online(): void } {
  let offline = false;
  const sockets: WebSocket[] = [];
  class Gated extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      // Offline: a port nobody listens on, so the attempt fails and backs off.
      super(offline ? "ws://127.0.0.1:1/api/mizan/ws" : url, protocols);
      sockets.push(this);
    }
  }
  return {
    WebSocket: Gated as unknown as WebSocketConstructor,
    cut: () => {
      offline = true;
      for (const s of sockets) s.terminate();
    },
    online: () => {
      offline = false;
    },
  };
}
