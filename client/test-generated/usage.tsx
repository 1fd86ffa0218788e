// How an application uses the generated fixture client; compiled (not run)
// by `npm run typecheck:generated`. Wrong uses are marked @ts-expect-error,
// so they fail the check if they ever start to compile.

import {
  MizanProvider,
  callEcho,
  callFail,
  callUpdateProfile,
  fetchUserContext,
  joinChatChannel,
  manifestVersion,
  useAddOrder,
  useChatChannel,
  useChatPresence,
  useCurrentUser,
  useGlobal,
  useNotifications,
  useRenameUser,
  useUser,
  type ChatSaid,
  type UserShape,
} from "../../codegen/tests/snapshots/fixture/index.js";
// The Zod schemas are imported on their own: the index leaves Zod out.
import { channelMessages, functionArgs } from "../../codegen/tests/snapshots/fixture/schemas.js";
import * as Everything from "../../codegen/tests/snapshots/fixture/index.js";
// Forms: the hooks (and Zod) come from forms.js, not the index.
import { contactForm, useContactForm } from "../../codegen/tests/snapshots/fixture/forms.js";
import { useSignUpForm } from "../../codegen/tests/snapshots/shapes/forms.js";
// A presence channel with member info (codegen/tests/manifests/shapes.json).
import { joinDocumentChannel, useDocumentPresence, type DocumentMemberInfo } from "../../codegen/tests/snapshots/shapes/index.js";
import { channelMessages as shapeMessages } from "../../codegen/tests/snapshots/shapes/schemas.js";

// @ts-expect-error: the index does not carry the schemas (nor Zod)
void Everything.functionArgs;
// @ts-expect-error: a context's read function has no call hook beside the context's own
void Everything.useOrderDetail;
// @ts-expect-error: `alerts` does not track presence: no presence hook
void Everything.useAlertsPresence;
// @ts-expect-error: the index does not carry the forms' hooks (they check with Zod)
void Everything.useContactForm;
// A form's functions can also be called and used one by one.
void Everything.callContactSubmit;
void Everything.useContactValidate;

export async function calls(): Promise<string> {
  const echoed = await callEcho({ text: "hi" });
  await callFail();
  await callUpdateProfile({ user_id: 5, name: "Ann" }, { transport: "http" });
  // @ts-expect-error: `text` must be a string
  await callEcho({ text: 5 });
  // @ts-expect-error: `name` is required
  await callUpdateProfile({ user_id: 5 });
  const bundle = await fetchUserContext({ user_id: 5 }, { transport: "http" });
  const name: string = bundle.data.user_profile.name;
  const args = functionArgs.echo.parse({ text: "x" });
  const said: ChatSaid = channelMessages.chat.server.parse({ text: "t", user: null });
  const sub = joinChatChannel({ room: "lobby" });
  sub.onMessage((m) => m.user?.toUpperCase());
  await sub.send({ text: "hello" });
  // Presence without React: the list as a store, and the counts.
  const who = sub.presence();
  const members = who.state.getSnapshot().members;
  const first: string | null | undefined = members[0]?.user;
  // @ts-expect-error: the fixture's chat attaches no member info
  members[0]?.info.name;
  const { sessions, users } = await sub.presenceStats();
  who.stop();
  sub.leave();
  const doc = joinDocumentChannel({ doc_id: 1 });
  const editor: DocumentMemberInfo | undefined = doc.presence().state.getSnapshot().members[0]?.info;
  const color: "red" | "green" | "blue" | undefined = editor?.color;
  const parsed: DocumentMemberInfo = shapeMessages.document.memberInfo.parse({ name: "a", color: "red" });
  doc.leave();
  void [first, sessions, users, color, parsed];
  return echoed.message + name + args.text + said.text + manifestVersion;
}

function Profile(props: { userId: number }) {
  const { data, error, status } = useUser({ user_id: props.userId });
  const me = useCurrentUser();
  const meId: string | null | undefined = me.data?.id;
  const global = useGlobal();
  const notes = useNotifications();
  const rename = useRenameUser();
  const addOrder = useAddOrder();
  const chat = useChatChannel({ room: "lobby" }, { onMessage: (m) => console.log(m.text) });
  // The channel's recent messages on join, and the gap after a reconnect that could not recover.
  const recent = useChatChannel({ room: "lobby" }, { history: 50, onGap: () => console.log("gap") });
  const missing: boolean = recent.gap;
  void missing;
  // Who is in the room: the members (sessions), their users, counts.
  const here = useChatPresence({ room: "lobby" });
  const editors = useDocumentPresence({ doc_id: 7 });
  const names: string[] = editors.members.map((m) => m.info.name);
  // @ts-expect-error: `doc_id` is required
  useDocumentPresence({});
  void names;
  // @ts-expect-error: `user` needs `user_id`
  useUser({});
  const profile: UserShape | undefined = data?.user_profile;
  return (
    <div>
      <p>{status === "error" ? error?.message : profile?.name}</p>
      <p>{meId ?? global.data?.current_user.id}</p>
      <ul>{notes.data?.notifications.map((n) => <li key={n}>{n}</li>)}</ul>
      <button onClick={() => void rename.mutate({ user_id: props.userId, name: "Bo" })}>{rename.status}</button>
      <button onClick={() => void addOrder.mutateAsync({ user_id: props.userId, item: "tea" }).then((o) => o.id)}>add</button>
      <ul>{chat.messages.map((m, i) => <li key={i}>{m.user}: {m.text}</li>)}</ul>
      <button onClick={() => void chat.send({ text: "hi" })}>{chat.status}</button>
      <p>{here.status === "success" ? `${here.count} here (${here.users} signed in)${here.stale ? ", reconnecting" : ""}` : here.error?.code}</p>
      <ul>{here.members.map((m) => <li key={m.session}>{m.user ?? "guest"}</li>)}</ul>
      <button onClick={() => void here.stats().then((s) => s.sessions)}>count</button>
    </div>
  );
}

function Contact() {
  const form = useContactForm({ debounceMs: 500, initialValues: { name: "Ann" } });
  const { name, email, message } = form.fields;
  const sent: boolean | undefined = form.result?.sent;
  const nameValue: string | undefined = form.values.name;
  const emailErrors: readonly string[] | undefined = form.errors.email;
  form.set("message", null);
  // @ts-expect-error: `name` is a string
  form.set("name", 5);
  // @ts-expect-error: no such field
  form.set("phone", "1");
  name.set("Bo");
  void form.submit().then((r) => r?.sent);
  void [sent, nameValue, emailErrors, contactForm.fields[0]?.label];
  return (
    <form onSubmit={form.handleSubmit}>
      <h2>{form.definition.title}</h2>
      <label htmlFor={name.input.id}>{name.label}</label>
      <input {...name.input} />
      {name.touched && name.error !== undefined && <p>{name.error}</p>}
      <input {...email.input} required={email.required} />
      <textarea {...message.input} />
      <input value={name.value ?? ""} onChange={name.onChange} onBlur={name.onBlur} />
      {form.fieldList.map((f) => <p key={f.name}>{f.label}: {f.errors.join(", ")}</p>)}
      <button disabled={form.status === "submitting"}>{form.definition.submit_label}</button>
      <button type="button" onClick={() => form.reset()}>{form.status}</button>
    </form>
  );
}

function SignUp() {
  const form = useSignUpForm({ validateOn: "blur", serverValidation: false });
  const id: number | undefined = form.result?.user_id;
  const { terms, age } = form.fields;
  const old: number | null | undefined = age.value;
  terms.set(true);
  // @ts-expect-error: `terms` is a bool
  terms.set("yes");
  void [id, old];
  return (
    <>
      <input {...terms.input} />
      <input {...age.input} />
    </>
  );
}

export function App() {
  return (
    <MizanProvider url="/api/mizan" token={async () => "jwt"}>
      <Profile userId={5} />
      <Contact />
      <SignUp />
    </MizanProvider>
  );
}
