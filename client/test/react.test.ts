// The React bindings on the server: rendering uses hydrated bundles, shows
// `pending` without them, and never opens a socket.

import { createElement } from "react";
import { renderToString } from "react-dom/server";
import { afterEach, describe, expect, it } from "vitest";
import { fetchContextHttp } from "../src/index.js";
import { MizanProvider, useCall, useChannel, useConnection, useMizanContext } from "../src/react/index.js";
import { closeClients, fixtureUrl, freshUserId, newClient } from "./helpers.js";

afterEach(closeClients);

type UserData = { user_profile: { user_id: number; name: string } };

function Profile(props: { userId: number }) {
  const { data, status } = useMizanContext<UserData>("user", { user_id: props.userId });
  const conn = useConnection();
  const rename = useCall<{ user_id: number; name: string }, { ok: boolean }>("update_profile");
  const chat = useChannel<{ text: string }, { text: string }>("chat", { room: "ssr" });
  return createElement(
    "p",
    null,
    `${status}:${data?.user_profile.name ?? "-"}:${conn.status}:${rename.status}:${chat.status}:${chat.messages.length}`,
  );
}

describe("React bindings (server rendering)", () => {
  it("renders hydrated data at once, without a socket", async () => {
    const user_id = freshUserId();
    const bundle = await fetchContextHttp(fixtureUrl(), "user", { user_id });
    const { client } = newClient(fixtureUrl());
    const html = renderToString(
      createElement(MizanProvider, { client, hydrate: [bundle] }, createElement(Profile, { userId: user_id })),
    );
    expect(html).toBe(`<p>success:user${user_id}:idle:idle:pending:0</p>`);
    expect(client.connection.getSnapshot().status).toBe("idle");
  });

  it("renders pending without a bundle", () => {
    const { client } = newClient(fixtureUrl());
    const html = renderToString(createElement(MizanProvider, { client }, createElement(Profile, { userId: 1 })));
    expect(html).toBe("<p>pending:-:idle:idle:pending:0</p>");
  });

  it("creates its own client from a url", () => {
    const html = renderToString(
      createElement(MizanProvider, { url: fixtureUrl(), token: "t" }, createElement(Profile, { userId: 2 })),
    );
    expect(html).toBe("<p>pending:-:idle:idle:pending:0</p>");
  });

  it("refuses hooks outside a provider", () => {
    expect(() => renderToString(createElement(Profile, { userId: 3 }))).toThrow(/MizanProvider/);
  });
});
