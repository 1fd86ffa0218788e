#!/usr/bin/env node
// `npm test`: the browser tests of the example pages. For each scenario it
// starts the example's binary on a free port, runs the scenario's tests in
// Debian's Chromium (screenshots and logs in ./artifacts/<scenario>/), and
// stops it; the restart tests stop and start it again on the same port.
// Prints one line per test and ends with `N passed, N failed`; exits 1 on any
// failure.
//
//   node run.mjs [chat] [todo] [guestbook] [starter]
//
// `starter` (examples/starter, a standalone app outside the workspace) runs
// only when MIZAN_STARTER_BIN names its built binary (scripts/check-starter
// does); the default run is chat, todo and guestbook.
//
// Environment:
//   CARGO_TARGET_DIR   where the binaries are: $CARGO_TARGET_DIR/debug/examples/{chat,todo,guestbook}
//                      (default /var/tmp/mizan-target, as scripts/test)
//   MIZAN_E2E_BUILD    0: use the binaries as they are; otherwise `cargo build --examples` first
//   MIZAN_STARTER_BIN  the built examples/starter binary (adds the `starter` scenario)
//   MIZAN_E2E_ARTIFACTS  where screenshots and logs go (default ./artifacts)
//   CHROMIUM_PATH      the browser (default /usr/bin/chromium)

import { spawn, spawnSync } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CHROMIUM, launchChromium, runScenario } from "./lib.mjs";
import * as chat from "./chat_two_tabs.mjs";
import * as todo from "./todo_two_tabs.mjs";
import * as guestbook from "./guestbook_form.mjs";
import * as starter from "./starter_polls.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const targetDir = path.resolve(root, process.env.CARGO_TARGET_DIR || "/var/tmp/mizan-target");
const artifacts = path.resolve(here, process.env.MIZAN_E2E_ARTIFACTS || "artifacts");
const all = [chat, todo, guestbook, starter];
// A scenario's binary: an example of the workspace, or one named by an
// environment variable (`binEnv`), for an app built elsewhere.
const binOf = (s) => (s.binEnv ? process.env[s.binEnv] || null : path.join(targetDir, "debug", "examples", s.example));
const wanted = process.argv.slice(2);
const scenarios = wanted.length ? all.filter((s) => wanted.includes(s.name)) : all.filter((s) => binOf(s) !== null);
if (wanted.length && scenarios.length !== wanted.length) {
  console.error(`unknown scenario in ${wanted.join(" ")}; there are: ${all.map((s) => s.name).join(" ")}`);
  process.exit(2);
}

/**
 * One example server: `start()` (on a free port the first time, then on the
 * same one), `stop(signal)` (waits for the process to exit).
 */
class ExampleServer {
  constructor(name, bin, logFile, env = {}) {
    this.bin = bin;
    this.env = env;
    this.example = name;
    this.log = createWriteStream(logFile, { flags: "w" });
    this.port = 0;
    this.proc = null;
    this.url = null;
  }

  async start() {
    // Right after a kill the port may linger for a moment: retry.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.startOnce();
      } catch (e) {
        if (attempt >= 20 || this.port === 0) throw e;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  startOnce() {
    return new Promise((resolve, reject) => {
      this.log.write(`--- starting ${this.bin} --port ${this.port}\n`);
      const proc = spawn(this.bin, ["--host", "127.0.0.1", "--port", String(this.port)], {
        // A quick graceful stop: in-flight requests get 1 s, sockets are closed within 0.3 s.
        env: { ...process.env, ...this.env, MIZAN_SHUTDOWN_GRACE: "1s", MIZAN_DRAIN_WINDOW: "300ms", RUST_LOG: process.env.RUST_LOG ?? "info" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      const timer = setTimeout(() => {
        proc.kill("SIGKILL");
        reject(new Error(`${this.example}: no banner within 15 s:\n${out}`));
      }, 15_000);
      proc.stdout.on("data", (chunk) => {
        this.log.write(chunk);
        out += chunk;
        const m = /open (http:\/\/[0-9.]+:(\d+)\/)/.exec(out);
        if (m && this.proc !== proc) {
          clearTimeout(timer);
          this.proc = proc;
          this.url = m[1];
          this.port = Number(m[2]);
          resolve(this.url);
        }
      });
      proc.stderr.on("data", (chunk) => {
        this.log.write(chunk);
        out += chunk;
      });
      proc.on("exit", (code, signal) => {
        this.log.write(`--- exited (code ${code}, signal ${signal})\n`);
        if (this.proc !== proc) {
          clearTimeout(timer);
          reject(new Error(`${this.example} exited before listening (code ${code}):\n${out}`));
        }
      });
      proc.on("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  /** Sends `signal` and waits for the process to exit (SIGKILL after 10 s). */
  async stop(signal = "SIGTERM") {
    const proc = this.proc;
    if (proc === null) return;
    this.proc = null;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

function preflight() {
  if (!existsSync(CHROMIUM)) {
    console.error(`FAIL: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
    process.exit(1);
  }
  if (process.env.MIZAN_E2E_BUILD !== "0" && scenarios.some((s) => !s.binEnv)) {
    console.log("cargo build --workspace --examples");
    const r = spawnSync("cargo", ["build", "--quiet", "--workspace", "--examples"], {
      cwd: root, stdio: "inherit", env: { ...process.env, CARGO_TARGET_DIR: targetDir },
    });
    if (r.status !== 0) process.exit(1);
  }
  for (const s of scenarios) {
    const bin = binOf(s);
    if (bin === null) {
      console.error(`FAIL: the ${s.name} scenario needs ${s.binEnv}=<its binary> (scripts/check-starter sets it)`);
      process.exit(1);
    }
    if (!existsSync(bin)) {
      const hint = s.binEnv ? `set ${s.binEnv} to the built binary` : `cargo build --examples (with CARGO_TARGET_DIR=${targetDir})`;
      console.error(`FAIL: ${bin} is missing: ${hint}`);
      process.exit(1);
    }
  }
}

preflight();
mkdirSync(artifacts, { recursive: true });
const started = Date.now();
const total = { passed: 0, failed: 0, skipped: 0 };
const browser = await launchChromium();
const servers = [];
const cleanup = async () => {
  for (const s of servers) await s.stop("SIGKILL").catch(() => {});
};
process.on("SIGINT", () => void cleanup().then(() => process.exit(130)));
try {
  for (const scenario of scenarios) {
    const dir = path.join(artifacts, scenario.name);
    mkdirSync(dir, { recursive: true });
    // A scenario's `env(artifacts)`: variables for its server (the guestbook's database).
    const env = scenario.env?.(artifacts) ?? {};
    const server = new ExampleServer(scenario.name, binOf(scenario), path.join(artifacts, `${scenario.name}-server.log`), env);
    servers.push(server);
    let r;
    try {
      const url = await server.start();
      r = await runScenario({ scenario, browser, url, dir, server });
    } catch (e) {
      console.error(`FAIL ${scenario.name}: ${e.stack || e}`);
      r = { passed: 0, failed: 1, skipped: 0 };
    } finally {
      await server.stop("SIGTERM");
    }
    for (const k of Object.keys(total)) total[k] += r[k];
  }
} finally {
  await browser.close().catch(() => {});
  await cleanup();
}
const secs = ((Date.now() - started) / 1000).toFixed(1);
console.log(`browser tests: ${secs} s; screenshots and logs in ${artifacts}`);
console.log(`${total.passed} passed, ${total.failed} failed` + (total.skipped ? `, ${total.skipped} skipped` : ""));
process.exit(total.failed || total.skipped ? 1 : 0);
