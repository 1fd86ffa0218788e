// Forms (PROTOCOL.md section 13) against the fixture's `contact` form (name
// 1-100 characters, an e-mail address, an optional message of at most 1000):
// the generated definition (codegen/tests/snapshots/fixture/forms.ts) with
// its Zod schema, through the runtime's FormController and the generated
// `useContactForm` hook.

import { mount } from "./react-root.js";
import { act, createElement } from "react";
import { afterEach, describe, expect, it } from "vitest";
import { callContactSubmit } from "../../codegen/tests/snapshots/fixture/api.js";
import { contactForm, useContactForm } from "../../codegen/tests/snapshots/fixture/forms.js";
import type { ContactFormFields, ContactFormResult } from "../../codegen/tests/snapshots/fixture/types.js";
import { FormController, MizanError, REQUIRED_MESSAGE, type FormOptions } from "../src/index.js";
import { MizanProvider, type FormResult } from "../src/react/index.js";
import { FrameLog, closeClients, fixtureUrl, freshUserId, newClient, sleep, waitFor } from "./helpers.js";

afterEach(closeClients);

/**
 * An address Zod's e-mail check accepts but the server's (garde: a user
 * part of at most 64 characters) refuses: a rule only the server checks.
 */
const LONG_USER = `${"a".repeat(65)}@example.com`;
const SERVER_SAYS = "not a valid email: user length exceeded maximum of 64 characters";

/** The args of every `call` of `fn` sent so far (from `mark` on). */
function calls(log: FrameLog, fn: string, mark = 0): unknown[] {
  return log
    .of("out", "call", mark)
    .filter((f) => f.fn === fn)
    .map((f) => f.args);
}

/** A client on the fixture with a frame log, and `onSend(hook)` to act the moment a frame goes out. */
function connect() {
  const log = new FrameLog();
  let hook: ((frame: Record<string, unknown>) => void) | undefined;
  const { client } = newClient(fixtureUrl(), {
    onFrame: (dir, frame) => {
      log.record(dir, frame);
      if (dir === "out") hook?.(frame);
    },
  });
  return { client, log, onSend: (h: typeof hook) => (hook = h) };
}

function form(client: ReturnType<typeof newClient>["client"], options: FormOptions<ContactFormFields> = {}) {
  return new FormController<ContactFormFields, ContactFormResult>(client, contactForm, options);
}

describe("forms", () => {
  it("checks a field in the browser first and sends nothing while it fails", async () => {
    const { client, log } = newClient(fixtureUrl());
    const f = form(client, { debounceMs: 10 });
    f.set("name", "");
    expect(f.getSnapshot().errors.name).toEqual([REQUIRED_MESSAGE]);
    f.set("name", "x".repeat(101));
    expect(f.getSnapshot().errors.name).toEqual([expect.stringContaining("100")]);
    f.set("email", "nope");
    expect(f.getSnapshot().errors.email).toHaveLength(1);
    // An optional field left empty is fine, and not asked about either.
    f.set("message", "");
    expect(f.getSnapshot().errors.message).toBeUndefined();
    expect(f.getSnapshot().status).toBe("idle");
    await sleep(100);
    expect(log.frames).toEqual([]); // not even a connection
    expect(client.connection.getSnapshot().status).toBe("idle");
  });

  it("asks `validate` for the fields that pass, once per pause, and shows the server's verdict", async () => {
    const { client, log } = newClient(fixtureUrl());
    const f = form(client, { debounceMs: 50 });
    for (const name of ["A", "An", "Ann"]) f.set("name", name);
    expect(f.getSnapshot().status).toBe("validating");
    await waitFor(() => f.getSnapshot().status === "idle", 5_000, "the check");
    expect(calls(log, "contact.validate")).toEqual([{ name: "Ann" }]);
    expect(f.getSnapshot().errors).toEqual({});

    // Valid to Zod, not to the server.
    f.set("email", LONG_USER);
    expect(f.getSnapshot().errors.email).toBeUndefined();
    await waitFor(() => f.getSnapshot().errors.email, 5_000, "the server's verdict");
    expect(f.getSnapshot().errors.email).toEqual([SERVER_SAYS]);
    expect(calls(log, "contact.validate")).toEqual([{ name: "Ann" }, { email: LONG_USER }]);
    expect(f.getSnapshot().status).toBe("idle");

    // Leaving the field asks nothing more: the verdict on this value stands.
    f.blur("email");
    await sleep(100);
    expect(calls(log, "contact.validate")).toHaveLength(2);
    expect(f.getSnapshot().errors.email).toEqual([SERVER_SAYS]);
    expect(f.getSnapshot().touched).toEqual({ email: true });

    // validate(): every field now; the empty optional message is not sent.
    const mark = log.mark();
    f.set("email", "ann@example.com");
    await expect(f.validate()).resolves.toBe(true);
    expect(calls(log, "contact.validate", mark)).toEqual([{ email: "ann@example.com" }]);
    expect(f.getSnapshot().errors).toEqual({});
  });

  it("drops an answer about a value changed since it was asked: the later check wins", async () => {
    const { client, log, onSend } = connect();
    await client.call("echo", { text: "open" });
    const f = form(client, { debounceMs: 0 });
    // The moment the first check goes out (before its answer can come), the
    // value changes to one Zod refuses: no second check, and the first
    // answer (the server's error about the old value) must not replace Zod's.
    onSend((frame) => {
      if (frame.fn !== "contact.validate") return;
      onSend(undefined);
      f.set("email", "ann@");
    });
    f.set("email", LONG_USER);
    await waitFor(() => f.getSnapshot().status === "idle", 5_000, "the check");
    await sleep(50);
    expect(calls(log, "contact.validate")).toEqual([{ email: LONG_USER }]);
    expect(log.of("in", "result").length).toBe(2); // the echo's and the check's
    expect(f.getSnapshot().errors.email).toEqual(["Invalid email address"]);

    // Twice in a row: the second value's answer is the one shown.
    onSend((frame) => {
      if (frame.fn !== "contact.validate") return;
      onSend(undefined);
      f.set("email", "ann@example.com");
    });
    f.set("email", LONG_USER);
    await waitFor(() => calls(log, "contact.validate").length === 3 && f.getSnapshot().status === "idle", 5_000, "both checks");
    await sleep(50);
    expect(calls(log, "contact.validate").slice(1)).toEqual([{ email: LONG_USER }, { email: "ann@example.com" }]);
    expect(f.getSnapshot().errors).toEqual({});
    expect(f.getSnapshot().values.email).toBe("ann@example.com");
  });

  it("sends no submit while a field fails in the browser, and shows every such field", async () => {
    const { client, log } = newClient(fixtureUrl());
    const f = form(client);
    f.set("email", "nope");
    await expect(f.submit()).resolves.toBeUndefined();
    const s = f.getSnapshot();
    expect(s.status).toBe("error");
    expect(s.error).toBeUndefined();
    expect(s.errors.name).toEqual([REQUIRED_MESSAGE]);
    expect(s.errors.email).toHaveLength(1);
    expect(s.errors.message).toBeUndefined();
    expect(s.touched).toEqual({ name: true, email: true, message: true });
    expect(calls(log, "contact.submit")).toEqual([]);
  });

  it("submits valid fields: the result, and the form's effect on `notifications`", async () => {
    const { client, log } = newClient(fixtureUrl());
    const notes: string[][] = [];
    const stop = client.watch<{ notifications: string[] }>("notifications", {}, (s) => {
      if (s.data !== undefined) notes.push(s.data.notifications);
    });
    const f = form(client);
    const name = `form ${freshUserId()}`;
    f.setValues({ name, email: "ann@example.com", message: "hello" });
    const submitted = f.submit();
    expect(f.getSnapshot().status).toBe("submitting");
    expect(f.submit()).toBe(submitted); // one at a time
    await expect(submitted).resolves.toEqual({ sent: true });
    expect(f.getSnapshot()).toMatchObject({ status: "success", result: { sent: true }, errors: {}, error: undefined });
    expect(calls(log, "contact.submit")).toEqual([{ name, email: "ann@example.com", message: "hello" }]);
    await waitFor(() => notes.at(-1)?.includes(`contact from ${name}`), 5_000, "the notification");
    stop();
  });

  it("puts the server's field errors of a submit in `errors`", async () => {
    const { client, log } = newClient(fixtureUrl());
    const f = form(client, { serverValidation: false });
    f.setValues({ name: "Ann", email: LONG_USER });
    expect(f.getSnapshot().errors).toEqual({}); // Zod finds nothing
    await expect(f.submit()).resolves.toBeUndefined();
    const s = f.getSnapshot();
    expect(s.status).toBe("error");
    expect(s.error).toBeInstanceOf(MizanError);
    expect(s.error?.code).toBe("invalid_args");
    expect(s.errors).toEqual({ email: [SERVER_SAYS] });
    expect(calls(log, "contact.submit")).toHaveLength(1);
    expect(calls(log, "contact.validate")).toEqual([]);
    // Fixed, it goes through.
    f.set("email", "ann@example.com");
    expect(f.getSnapshot().errors).toEqual({});
    await expect(f.submit()).resolves.toEqual({ sent: true });
  });

  it("gets every invalid field at once from the server when the browser's check is left out", async () => {
    const { client } = newClient(fixtureUrl());
    const tooLong = { name: "x".repeat(101), email: "nope", message: "m".repeat(1001) };
    // The generated call, without any form: the server's `invalid_args`.
    const refused = await callContactSubmit(tooLong, { client }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(MizanError);
    expect((refused as MizanError).code).toBe("invalid_args");
    const fields = ((refused as MizanError).details as { fields: Record<string, string[]> }).fields;
    expect(Object.keys(fields).sort()).toEqual(["email", "message", "name"]);
    // A definition without a schema: only the server checks, and its list lands in `errors`.
    const f = new FormController<ContactFormFields, ContactFormResult>(client, { ...contactForm, schema: undefined });
    f.setValues(tooLong);
    expect(f.getSnapshot().errors).toEqual({});
    await f.submit();
    expect(f.getSnapshot().errors).toEqual(fields);
  });

  it("reset: back to the initial values; a check on its way changes nothing", async () => {
    const { client, log, onSend } = connect();
    await client.call("echo", { text: "open" });
    const f = form(client, { debounceMs: 0, initialValues: { name: "Ann" } });
    f.setValues({ email: "ann@example.com" });
    await expect(f.submit()).resolves.toEqual({ sent: true });
    onSend((frame) => {
      if (frame.fn === "contact.validate") f.reset();
    });
    f.set("email", LONG_USER);
    await waitFor(() => calls(log, "contact.validate").length === 1, 5_000, "the check");
    await sleep(100); // its answer (an error) has come
    expect(f.getSnapshot()).toEqual({
      values: { name: "Ann" },
      errors: {},
      touched: {},
      status: "idle",
      result: undefined,
      error: undefined,
    });
  });

  it("useContactForm: fields with input props, checked as they change, submitted", async () => {
    const { client, log } = newClient(fixtureUrl());
    const seen: { form?: FormResult<ContactFormFields, ContactFormResult> } = {};
    function Contact(): null {
      seen.form = useContactForm({ debounceMs: 20 });
      return null;
    }
    const tree = await mount(createElement(MizanProvider, { client }, createElement(Contact)));
    const now = () => seen.form!;
    expect(now().definition.title).toBe("Contact us");
    expect(now().fieldList.map((f) => [f.name, f.label, f.input.type])).toEqual([
      ["name", "Name", "text"],
      ["email", "Email", "email"],
      ["message", "Message", undefined], // a textarea
    ]);
    expect(now().fields.email.input).toMatchObject({ name: "email", value: "", "aria-invalid": false });
    expect(now().fields.email.input.id).toMatch(/-email$/);

    await act(async () => now().fields.name.input.onChange({ target: { value: "" } }));
    expect(now().fields.name.error).toBe(REQUIRED_MESSAGE);
    expect(now().fields.name.input["aria-invalid"]).toBe(true);
    await act(async () => now().fields.name.onBlur());
    expect(now().fields.name.touched).toBe(true);

    await act(async () => {
      now().fields.name.onChange({ target: { value: "Ann" } });
      now().fields.email.onChange("ann@example.com"); // a value works too
    });
    expect(now().values).toEqual({ name: "Ann", email: "ann@example.com" });
    expect(now().fields.name.errors).toEqual([]);
    // Answers arrive outside any event: wait inside act, as a browser would render them.
    await act(() => waitFor(() => now().status === "idle", 5_000, "the check"));
    expect(calls(log, "contact.validate")).toEqual([{ name: "Ann", email: "ann@example.com" }]);

    let prevented = false;
    await act(async () => now().handleSubmit({ preventDefault: () => (prevented = true) }));
    expect(prevented).toBe(true);
    await act(() => waitFor(() => now().status === "success", 5_000, "the submit"));
    expect(now().result).toEqual({ sent: true });
    await act(async () => now().reset());
    expect(now().status).toBe("idle");
    expect(now().fields.name.input.value).toBe("");
    await tree.unmount();
  });
});
