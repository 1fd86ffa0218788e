// Freezes a fixture of its own (SIGSTOP) so that a request gets no reply.

import { afterAll, afterEach, describe, expect, it } from "vitest";
import { startFixture, type Fixture } from "./fixture.js";
import { closeClients, newClient, sleep } from "./helpers.js";

let fixture: Fixture | undefined;
afterEach(closeClients);
afterAll(async () => {
  fixture?.process.kill("SIGCONT");
  await fixture?.stop();
});

describe("per-request timeout", () => {
  it("rejects with `timeout`, ignores the late reply, and keeps working", async () => {
    fixture = await startFixture(0);
    const { client } = newClient(fixture.url, { requestTimeoutMs: 5_000 });
    await expect(client.call("echo", { text: "warm" })).resolves.toEqual({ message: "warm" });
    expect(client.connection.getSnapshot().session).not.toBeNull();
    fixture.process.kill("SIGSTOP");
    // The stop takes effect when the kernel next schedules the node's
    // threads; give it a moment before the request that must go unanswered.
    await sleep(200);
    const start = Date.now();
    try {
      await expect(client.call("echo", { text: "slow" }, { timeoutMs: 300 })).rejects.toMatchObject({ code: "timeout" });
    } finally {
      fixture.process.kill("SIGCONT");
    }
    const elapsed = Date.now() - start;
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(2_000);
    // The late reply to the timed-out call arrives now and is dropped; the next call gets its own.
    await expect(client.call("echo", { text: "next" })).resolves.toEqual({ message: "next" });
    expect(client.connection.getSnapshot().status).toBe("open");
  });
});
