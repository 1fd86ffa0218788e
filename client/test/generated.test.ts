// The generated fixture client (codegen/tests/snapshots/fixture), run
// against the live fixture: the names and wiring the generator writes work.

import { afterEach, describe, expect, it } from "vitest";
import {
  callEcho,
  callUpdateProfile,
  callWhoami,
  fetchUserContext,
  joinChatChannel,
  manifestVersion,
} from "../../codegen/tests/snapshots/fixture/index.js";
import { channelMessages, contextParams, functionArgs } from "../../codegen/tests/snapshots/fixture/schemas.js";
import { setDefaultClient } from "../src/index.js";
import { mintToken } from "./fixture.js";
import { closeClients, fixtureUrl, freshUserId, newClient, waitFor } from "./helpers.js";

afterEach(() => {
  setDefaultClient(undefined);
  closeClients();
});

describe("generated fixture client", () => {
  it("matches the server's manifest version", async () => {
    const res = await fetch(`${fixtureUrl()}/api/mizan/manifest`);
    const manifest = (await res.json()) as { version: string };
    expect(manifestVersion).toBe(manifest.version);
  });

  it("calls through the default client or an explicit one", async () => {
    expect(() => callEcho({ text: "x" })).toThrow(/no client/);
    const { client } = newClient(fixtureUrl(), { token: mintToken("gen") });
    setDefaultClient(client);
    await expect(callEcho({ text: "hi" })).resolves.toEqual({ message: "hi" });
    await expect(callWhoami()).resolves.toEqual({ id: "gen", staff: false });
    const other = newClient(fixtureUrl()).client;
    await expect(callWhoami({}, { client: other })).rejects.toMatchObject({ code: "unauthenticated" });
    const user_id = freshUserId();
    await callUpdateProfile({ user_id, name: "gen" }, { transport: "http" });
    const bundle = await fetchUserContext({ user_id }, { transport: "http" });
    expect(bundle).toEqual({
      context: "user",
      params: { user_id },
      data: { user_orders: [], user_profile: { user_id, name: "gen" } },
      epoch: expect.any(String),
      offset: expect.any(Number),
    });
    // Over the socket the same bundle (its position is kept by the cache, not returned here).
    const { epoch: _epoch, offset: _offset, ...same } = bundle;
    await expect(fetchUserContext({ user_id })).resolves.toEqual(same);
  });

  it("joins channels", async () => {
    const { client } = newClient(fixtureUrl());
    setDefaultClient(client);
    const sub = joinChatChannel({ room: `g${freshUserId()}` });
    const got: string[] = [];
    sub.onMessage((m) => got.push(m.text));
    await sub.send({ text: "generated" });
    await waitFor(() => got.length === 1);
    expect(got).toEqual(["generated"]);
    // The chat tracks presence: the generated join is typed for it.
    const who = sub.presence();
    await waitFor(() => who.state.getSnapshot().status === "success");
    expect(who.state.getSnapshot().members).toEqual([{ session: client.connection.getSnapshot().session, user: null }]);
    await expect(sub.presenceStats()).resolves.toEqual({ sessions: 1, users: 0 });
    sub.leave();
  });

  it("validates with the generated Zod schemas", () => {
    expect(functionArgs.update_profile.parse({ user_id: 5, name: "a" })).toEqual({ user_id: 5, name: "a" });
    expect(functionArgs.update_profile.safeParse({ user_id: 5.5, name: "a" }).success).toBe(false);
    expect(functionArgs.echo.safeParse({}).success).toBe(false);
    expect(channelMessages.chat.server.parse({ text: "t", user: null })).toEqual({ text: "t", user: null });
    expect(channelMessages.chat.server.safeParse({ text: "t" }).success).toBe(false);
    expect(contextParams.global.safeParse({}).success).toBe(true);
    expect(contextParams.global.safeParse({ x: 1 }).success).toBe(false);
    expect(functionArgs.whoami.parse({ anything: 1 })).toEqual({ anything: 1 });
  });
});
