// Starts the fixture server (examples/fixture) as a child process, and
// mints tokens for it. Shared by the global setup and the tests that need a
// server of their own (restart, stop).

import { spawn, type ChildProcess } from "node:child_process";
import { createHmac } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";

/** The fixture's JWT secret (its default). */
export const SECRET = "fixture-secret";

/** Where the fixture binary is: `$MIZAN_FIXTURE_BIN`, else `$CARGO_TARGET_DIR/debug/examples/fixture`. */
export function fixtureBinary(): string {
  const bin =
    process.env.MIZAN_FIXTURE_BIN ??
    join(process.env.CARGO_TARGET_DIR ?? "/var/tmp/mizan-target", "debug", "examples", "fixture");
  if (!existsSync(bin)) {
    throw new Error(
      `no fixture binary at ${bin}: build it with \`cargo build --example fixture\` (same CARGO_TARGET_DIR) or set MIZAN_FIXTURE_BIN`,
    );
  }
  return bin;
}

/** A running fixture. */
export interface Fixture {
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  process: ChildProcess;
  /** Kills it (SIGKILL by default) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts the fixture on `port` (0: a free one) and waits for `listening on`. */
export async function startFixture(port = 0, attempts = 20): Promise<Fixture> {
  for (let i = 0; ; i++) {
    try {
      return await startOnce(port);
    } catch (e) {
      // Restarting on the same port: the old socket may linger a moment.
      if (port === 0 || i + 1 >= attempts) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Starts the fixture on a random port below the kernel's ephemeral range, for
 * a test that restarts it on the same port: a port chosen with `--port 0`
 * could be handed to another process (any `bind(0)` on the machine) while
 * the fixture is down. Tries other ports if one is taken.
 */
export async function startFixtureForRestart(): Promise<Fixture> {
  let last: unknown;
  for (let i = 0; i < 10; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    try {
      return await startOnce(port);
    } catch (e) {
      last = e;
    }
  }
  throw last;
}

function startOnce(port: number): Promise<Fixture> {
  const child = spawn(fixtureBinary(), ["--port", String(port)], {
    env: { ...process.env, MIZAN_JWT_SECRET: SECRET, RUST_LOG: process.env.RUST_LOG ?? "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return new Promise<Fixture>((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`fixture did not start in 15 s\n${out}${err}`));
    }, 15_000);
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m?.[1] === undefined) return;
      clearTimeout(timer);
      const url = m[1];
      resolve({
        url,
        port: Number(new URL(url).port),
        process: child,
        stop: async (signal = "SIGKILL") => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          await exited;
        },
      });
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`fixture exited (${code ?? signal}) before listening\n${out}${err}`));
    });
  });
}

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString("base64url");
}

/** An HS256 JWT for the fixture. */
export function mintToken(sub: string, claims: { staff?: boolean; superuser?: boolean; expInSeconds?: number } = {}): string {
  const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const payload: Record<string, unknown> = {
    sub,
    exp: Math.floor(Date.now() / 1000) + (claims.expInSeconds ?? 3600),
  };
  if (claims.staff !== undefined) payload.staff = claims.staff;
  if (claims.superuser !== undefined) payload.superuser = claims.superuser;
  const body = b64url(JSON.stringify(payload));
  const sig = createHmac("sha256", SECRET).update(`${header}.${body}`).digest("base64url");
  return `${header}.${body}.${sig}`;
}
