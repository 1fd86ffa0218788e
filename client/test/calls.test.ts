import { afterEach, describe, expect, it } from "vitest";
import { MizanError, callHttp, callHttpWithEffects, fetchContextHttp } from "../src/index.js";
import { mintToken } from "./fixture.js";
import { closeClients, fixtureUrl, freshUserId, newClient } from "./helpers.js";

afterEach(closeClients);

async function errorOf(p: Promise<unknown>): Promise<MizanError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(MizanError);
    return e as MizanError;
  }
  throw new Error("expected the promise to reject");
}

describe("calls over the socket", () => {
  it("calls a function, connecting lazily with the mizan.v1 subprotocol", async () => {
    const { client, log } = newClient(fixtureUrl());
    expect(client.connection.getSnapshot().status).toBe("idle");
    await expect(client.call("echo", { text: "hi" })).resolves.toEqual({ message: "hi" });
    expect(client.connection.getSnapshot().status).toBe("open");
    const [call] = log.of("out", "call");
    expect(call).toEqual({ type: "call", id: 1, fn: "echo", args: { text: "hi" } });
  });

  it("gives replies to concurrent calls their own ids", async () => {
    const { client } = newClient(fixtureUrl());
    const texts = ["a", "b", "c", "d", "e"];
    const results = await Promise.all(texts.map((text) => client.call<{ message: string }>("echo", { text })));
    expect(results.map((r) => r.message)).toEqual(texts);
  });

  it("rejects with the server's error codes", async () => {
    const { client } = newClient(fixtureUrl());
    expect((await errorOf(client.call("whoami"))).code).toBe("unauthenticated");
    expect((await errorOf(client.call("fail"))).code).toBe("internal");
    expect((await errorOf(client.call("no_such_fn"))).code).toBe("not_found");
    const invalid = await errorOf(client.call("echo", { text: 5 }));
    expect(invalid.code).toBe("invalid_args");
    expect(invalid.details).toMatchObject({ path: "text" });
    // The socket stays usable after errors.
    await expect(client.call("echo", { text: "still here" })).resolves.toEqual({ message: "still here" });
  });

  it("authenticates with the token provider's token in an auth frame", async () => {
    let calls = 0;
    const { client, log } = newClient(fixtureUrl(), {
      token: async () => {
        calls++;
        await new Promise((r) => setTimeout(r, 5));
        return mintToken("alice");
      },
    });
    await expect(client.call("whoami")).resolves.toEqual({ id: "alice", staff: false });
    expect(calls).toBe(1);
    expect(client.connection.getSnapshot().user).toMatchObject({ id: "alice" });
    // The auth frame goes first; the call waited for it.
    expect(log.frames.filter((f) => f.dir === "out").map((f) => f.frame.type)).toEqual(["auth", "call"]);
    expect((await errorOf(client.call("staff_only"))).code).toBe("forbidden");
  });

  it("switches user with setToken, and surfaces a refused token", async () => {
    const { client } = newClient(fixtureUrl(), { token: mintToken("bob", { staff: true }) });
    await expect(client.call("staff_only")).resolves.toEqual({ ok: true });
    const errors: MizanError[] = [];
    client.onError((e) => errors.push(e));
    await client.setToken(mintToken("carol"));
    await expect(client.call("whoami")).resolves.toEqual({ id: "carol", staff: false });
    await client.setToken("not-a-jwt");
    expect(errors.map((e) => e.code)).toEqual(["unauthenticated"]);
    await expect(client.call("whoami")).resolves.toEqual({ id: "carol", staff: false });
  });

  it("returns effects with callWithEffects", async () => {
    const { client } = newClient(fixtureUrl());
    const user_id = freshUserId();
    const reply = await client.callWithEffects("update_profile", { user_id, name: "x" });
    expect(reply).toEqual({
      result: { ok: true },
      invalidate: [{ context: "user", params: { user_id }, offset: expect.any(Number) }],
      merge: [],
    });
  });

  it("refuses an oversized frame locally instead of getting the socket closed", async () => {
    const { client } = newClient(fixtureUrl(), { maxFrameBytes: 1024 });
    expect((await errorOf(client.call("echo", { text: "x".repeat(2000) }))).code).toBe("limit");
    await expect(client.call("echo", { text: "ok" })).resolves.toEqual({ message: "ok" });
  });
});

describe("calls over HTTP", () => {
  it("calls and fetches with the status codes of the spec", async () => {
    const url = fixtureUrl();
    await expect(callHttp(url, "echo", { text: "hi" })).resolves.toEqual({ message: "hi" });
    const user_id = freshUserId();
    await expect(callHttpWithEffects(url, "update_profile", { user_id, name: "h" })).resolves.toEqual({
      result: { ok: true },
      invalidate: [{ context: "user", params: { user_id }, offset: expect.any(Number) }],
      merge: [],
    });
    await expect(fetchContextHttp(url, "user", { user_id })).resolves.toEqual({
      context: "user",
      params: { user_id },
      data: { user_orders: [], user_profile: { user_id, name: "h" } },
      epoch: expect.any(String),
      offset: expect.any(Number),
    });
    const unauth = await errorOf(callHttp(url, "whoami"));
    expect([unauth.code, unauth.status]).toEqual(["unauthenticated", 401]);
    const invalid = await errorOf(callHttp(url, "echo", { text: 1 }));
    expect([invalid.code, invalid.status]).toEqual(["invalid_args", 422]);
    const missing = await errorOf(callHttp(url, "nope"));
    expect([missing.code, missing.status]).toEqual(["not_found", 404]);
    const failed = await errorOf(callHttp(url, "fail"));
    expect([failed.code, failed.status]).toEqual(["internal", 500]);
    await expect(callHttp(url, "whoami", {}, { token: async () => mintToken("dave") })).resolves.toEqual({ id: "dave", staff: false });
  });

  it("uses the client's token for callHttp", async () => {
    const { client } = newClient(fixtureUrl(), { token: mintToken("erin") });
    await expect(client.callHttp("whoami")).resolves.toEqual({ id: "erin", staff: false });
    expect(client.connection.getSnapshot().status).toBe("idle"); // no socket needed
  });
});
