/**
 * Forms (PROTOCOL.md section 13): a form F is the server functions
 * `F.schema`, `F.validate` and `F.submit`. `FormController` holds a form's
 * values and errors and talks to those functions:
 *
 * - a field is checked in the browser as it changes (the form's Zod schema,
 *   generated from the same rules the server checks), and nothing is sent
 *   while it fails;
 * - once it passes, `F.validate` checks it on the server (debounced), for
 *   the rules only the server knows; a later answer wins, and an answer
 *   about a value changed since is dropped;
 * - `submit()` checks every field in the browser, sends `F.submit` only when
 *   they pass, and puts the server's `invalid_args` field errors in `errors`.
 *
 * It needs no React: `useForm` (`@mizan/client/react`) is a thin hook over it.
 */

import type { MizanClient } from "./client.js";
import { MizanError } from "./errors.js";
import type { JsonObject } from "./frames.js";
import type { FormStatus } from "./status.js";
import { ValueStore, type Store } from "./store.js";

/** The input a field wants (the server's `FieldKind`). */
export type FieldKind = "text" | "textarea" | "email" | "url" | "number" | "checkbox" | "password";

/** One field as `F.schema` describes it (and the manifest's `forms`). */
export interface FormFieldSpec<N extends string = string> {
  /** Its key in the fields object. */
  name: N;
  label: string;
  /** A `FieldKind` (another word from a newer server reads as text). */
  kind: FieldKind | (string & {});
  /** Whether it must be given. */
  required: boolean;
  min_length?: number | null;
  max_length?: number | null;
  minimum?: number | null;
  maximum?: number | null;
  /** A regular expression the value matches. */
  pattern?: string | null;
  /** Help text (the field's doc comment). */
  help?: string | null;
}

/** The names of the fields of `F`. */
export type FieldName<F> = Extract<keyof F, string>;

/** The part of a Zod schema (3.23+ or 4) a form uses: `safeParse`. */
export interface FormSchemaLike {
  safeParse(value: unknown):
    | { success: true }
    | { success: false; error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } };
}

/**
 * A form as the generator writes it (`contactForm`): its name, its
 * description as `F.schema` answers it, and the Zod schema of its fields
 * (without one, only the server checks them).
 */
export interface FormDefinition<F> {
  /** The form's name: its functions are `<name>.validate` and `<name>.submit`. */
  name: string;
  title: string;
  submit_label: string;
  /** Its fields, in declaration order. */
  fields: readonly FormFieldSpec<FieldName<F>>[];
  schema?: FormSchemaLike | undefined;
}

/** The values of a form's fields so far (any of them may be missing). */
export type FormValues<F> = { [K in keyof F]?: F[K] | undefined };

/** The messages of each invalid field. */
export type FormErrors<F> = { [K in FieldName<F>]?: readonly string[] };

/** Everything a form shows. */
export interface FormState<F, R> {
  values: FormValues<F>;
  /** Each invalid field's messages: the browser's check, else the server's. */
  errors: FormErrors<F>;
  /** The fields left (blurred) at least once, and all of them after a `submit()`. */
  touched: { [K in FieldName<F>]?: boolean };
  /** See `FormStatus`. */
  status: FormStatus;
  /** The last successful submit's answer. */
  result: R | undefined;
  /**
   * Why the last submit failed, when the server said so: `invalid_args`
   * (its fields are also in `errors`), or any other `MizanError`
   * (`internal`, `timeout`, `forbidden`, …). `undefined` when the browser's
   * check stopped it.
   */
  error: MizanError | undefined;
}

/** Options of a form. */
export interface FormOptions<F> {
  /** The values to start from (and to go back to on `reset()`). */
  initialValues?: FormValues<F>;
  /**
   * When a field is checked: `"change"` (the default): as it changes and
   * when it is left; `"blur"`: only when it is left. `submit()` checks all.
   */
  validateOn?: "change" | "blur";
  /** How long after the last change to ask `F.validate`, in ms (300). Leaving the field asks at once. */
  debounceMs?: number;
  /** Whether to ask `F.validate` at all (true); `submit()` is checked by the server anyway. */
  serverValidation?: boolean;
  /** The timeout of each request, in ms (the client's default). */
  timeoutMs?: number;
}

/** The message of a required field left empty (the server's own). */
export const REQUIRED_MESSAGE = "This field is required.";

/** `undefined`, `null` and `""`: a field left empty (not sent; "required" when it must be given). */
export function isEmptyValue(value: unknown): boolean {
  return value === undefined || value === null || value === "";
}

/** What a form knows of one field. */
interface Track {
  /** Bumped on every change of its value. */
  version: number;
  /** The server's verdict on the value of `version`. */
  server?: { version: number; messages: readonly string[] };
  /** The sequence number of the last `F.validate` answer applied to it. */
  appliedSeq: number;
}

type Errors = Record<string, readonly string[]>;

/** A form's state and its requests. Also a `Store` of `FormState`. */
export class FormController<F extends object, R = unknown> implements Store<FormState<F, R>> {
  readonly client: MizanClient;
  readonly definition: FormDefinition<F>;
  private options: FormOptions<F>;
  private readonly store: ValueStore<FormState<F, R>>;
  private readonly tracks = new Map<string, Track>();
  /** Fields waiting for the debounce before `F.validate`. */
  private readonly waiting = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** `F.validate` requests on their way, by sequence number. */
  private readonly inFlight = new Set<number>();
  /** Their answers' handling, for `validate()` to wait for. */
  private readonly answers = new Set<Promise<void>>();
  private seq = 0;
  /** Bumped by `submit()`, `reset()` and `cancel()`: answers of an older generation are dropped. */
  private generation = 0;
  private submitting: Promise<R | undefined> | undefined;
  private outcome: "idle" | "success" | "error" = "idle";

  constructor(client: MizanClient, definition: FormDefinition<F>, options: FormOptions<F> = {}) {
    this.client = client;
    this.definition = definition;
    this.options = options;
    this.store = new ValueStore<FormState<F, R>>({
      values: { ...options.initialValues },
      errors: {},
      touched: {},
      status: "idle",
      result: undefined,
      error: undefined,
    });
  }

  subscribe = (listener: () => void): (() => void) => this.store.subscribe(listener);

  getSnapshot = (): FormState<F, R> => this.store.getSnapshot();

  getServerSnapshot = (): FormState<F, R> => this.store.getSnapshot();

  /** Replaces the options (`initialValues` is read by `reset()`; the others from the next change). */
  setOptions(options: FormOptions<F>): void {
    this.options = options;
  }

  /** The names of the fields, in declaration order. */
  get fieldNames(): FieldName<F>[] {
    return this.definition.fields.map((f) => f.name);
  }

  /** Sets one field's value (and checks it, by `validateOn`). */
  set<K extends FieldName<F>>(field: K, value: F[K] | undefined): void {
    this.setValues({ [field]: value } as FormValues<F>);
  }

  /** Sets several fields at once. */
  setValues(values: FormValues<F>): void {
    const names = Object.keys(values);
    if (names.length === 0) return;
    const state = this.state();
    const next = { ...state.values, ...values };
    for (const name of names) this.track(name).version++;
    this.patch({ values: next });
    if ((this.options.validateOn ?? "change") === "change") this.check(names, false);
    else for (const name of names) this.waiting.delete(name);
    this.publish();
  }

  /** Marks a field as left: checks it, and asks the server now if it is waiting. */
  blur(field: FieldName<F>): void {
    const state = this.state();
    if (state.touched[field] !== true) this.patch({ touched: { ...state.touched, [field]: true } });
    this.check([field], true);
    this.publish();
  }

  /**
   * Checks `fields` (all by default) now: in the browser, then those that
   * pass on the server (no debounce). Resolves with whether they are all
   * valid (a failed server request counts as valid: `submit()` is checked anyway).
   */
  async validate(fields: readonly FieldName<F>[] = this.fieldNames): Promise<boolean> {
    this.check(fields, false);
    this.publish();
    await this.flush();
    // And the checks sent before this one.
    await Promise.all([...this.answers]);
    const errors = this.state().errors as Errors;
    return fields.every((f) => errors[f] === undefined);
  }

  /**
   * Checks every field in the browser; when they pass, sends `F.submit`.
   * Resolves with the result, or `undefined` when nothing was sent or the
   * submit failed (see `status`, `errors`, `error`); never rejects. A
   * submit while one is on its way gets that one's promise.
   */
  submit(): Promise<R | undefined> {
    if (this.submitting !== undefined) return this.submitting;
    this.stopValidation();
    const names = this.fieldNames;
    const touched: Record<string, boolean> = {};
    for (const n of names) touched[n] = true;
    const clientErrors = this.clientErrors(names);
    if (Object.keys(clientErrors.fields).length > 0 || clientErrors.form.length > 0) {
      // Nothing is sent. The fields that pass keep the server's verdict on their value.
      const errors: Errors = { ...clientErrors.fields };
      for (const name of names) {
        const t = this.track(name);
        if (errors[name] === undefined && t.server?.version === t.version && t.server.messages.length > 0) {
          errors[name] = t.server.messages;
        }
      }
      this.outcome = "error";
      const error =
        clientErrors.form.length > 0
          ? new MizanError("invalid_args", clientErrors.form.join("; "), { fields: clientErrors.fields })
          : undefined;
      this.patch({ errors: errors as FormErrors<F>, touched: touched as FormState<F, R>["touched"], error });
      this.publish();
      return Promise.resolve(undefined);
    }
    const generation = this.generation;
    const versions = this.versions(names);
    const run = async (): Promise<R | undefined> => {
      try {
        const result = await this.client.call<R>(`${this.definition.name}.submit`, this.payload(), this.requestOptions());
        if (generation === this.generation) {
          this.outcome = "success";
          // Every field it saw is valid; one changed meanwhile keeps its own errors.
          const errors: Errors = {};
          const current = this.state().errors as Errors;
          for (const [name, t] of this.tracks) {
            if (t.version !== versions.get(name) && current[name] !== undefined) errors[name] = current[name];
            else delete t.server;
          }
          this.patch({ result, errors: errors as FormErrors<F>, error: undefined });
        }
        return result;
      } catch (e) {
        const error = e instanceof MizanError ? e : new MizanError("internal", String(e));
        if (generation === this.generation) {
          this.outcome = "error";
          const fields = fieldErrors(error);
          if (fields === undefined) this.patch({ error });
          else {
            // The server names every invalid field: its list replaces ours,
            // for the values it saw (a field changed meanwhile keeps its own).
            const errors: Errors = {};
            const current = this.state().errors as Errors;
            for (const [name, messages] of Object.entries(fields)) {
              const t = this.tracks.get(name);
              if (t !== undefined && t.version !== versions.get(name)) continue;
              errors[name] = messages;
            }
            for (const name of names) {
              const t = this.track(name);
              if (t.version !== versions.get(name)) {
                if (current[name] !== undefined) errors[name] = current[name];
                continue;
              }
              t.server = { version: t.version, messages: fields[name] ?? [] };
            }
            this.patch({ errors: errors as FormErrors<F>, error });
          }
        }
        return undefined;
      } finally {
        if (generation === this.generation) {
          this.submitting = undefined;
          this.publish();
        }
      }
    };
    this.patch({ touched: touched as FormState<F, R>["touched"] });
    const promise = run();
    this.submitting = promise;
    this.publish();
    return promise;
  }

  /**
   * Back to the start: the initial values (or `values`), no errors, nothing
   * touched, `idle`. A validation or submit on its way is forgotten (its
   * answer changes nothing; a submit's promise still settles).
   */
  reset(values?: FormValues<F>): void {
    this.stopValidation();
    this.submitting = undefined;
    this.outcome = "idle";
    this.tracks.clear();
    this.store.set({
      values: { ...(values ?? this.options.initialValues) },
      errors: {},
      touched: {},
      status: "idle",
      result: undefined,
      error: undefined,
    });
  }

  /**
   * Stops the work in the background (a component's unmount): the debounce
   * timer, and the answers on their way are dropped. The form stays usable.
   */
  cancel(): void {
    this.stopValidation();
    this.submitting = undefined;
    this.publish();
  }

  // --- checks ---------------------------------------------------------------

  /**
   * Checks `names` in the browser and puts the verdicts in `errors`; those
   * that pass and have a value wait for the server (at once with `now`).
   */
  private check(names: readonly string[], now: boolean): void {
    const { fields } = this.clientErrors(names);
    const errors: Errors = { ...(this.state().errors as Errors) };
    const serverToo = this.options.serverValidation ?? true;
    for (const name of names) {
      const t = this.track(name);
      const messages = fields[name];
      if (messages !== undefined) {
        errors[name] = messages;
        this.waiting.delete(name);
        continue;
      }
      // Passed: the server's verdict on this very value stands; otherwise ask it.
      if (t.server?.version === t.version && t.server.messages.length > 0) errors[name] = t.server.messages;
      else delete errors[name];
      if (serverToo && t.server?.version !== t.version && !isEmptyValue(this.value(name))) this.waiting.add(name);
    }
    this.patch({ errors: errors as FormErrors<F> });
    if (this.waiting.size === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
    } else if (now) {
      void this.flush();
    } else {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.flush(), Math.max(0, this.options.debounceMs ?? 300));
    }
  }

  /** Sends `F.validate` for the fields waiting; resolves once it is answered. */
  private flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const names = [...this.waiting];
    this.waiting.clear();
    const payload = this.payload();
    const sent: JsonObject = {};
    for (const n of names) if (n in payload) sent[n] = payload[n] as JsonObject[string];
    // Never `{}`: the server would answer for every required field.
    if (Object.keys(sent).length === 0) {
      this.publish();
      return Promise.resolve();
    }
    const answered = this.ask(sent);
    this.answers.add(answered);
    void answered.finally(() => this.answers.delete(answered));
    return answered;
  }

  /** One `F.validate` request and what its answer changes. */
  private async ask(sent: JsonObject): Promise<void> {
    const seq = ++this.seq;
    const generation = this.generation;
    const versions = this.versions(Object.keys(sent));
    this.inFlight.add(seq);
    this.publish();
    let answer: { errors?: Record<string, readonly string[]> } | undefined;
    try {
      answer = await this.client.call(`${this.definition.name}.validate`, sent, this.requestOptions());
    } catch {
      // Advisory: a failed check leaves the errors as they were; submit() decides.
    }
    if (generation !== this.generation) return;
    this.inFlight.delete(seq);
    if (answer !== undefined) {
      const errors: Errors = { ...(this.state().errors as Errors) };
      for (const name of Object.keys(sent)) {
        const t = this.track(name);
        // A later answer wins; an answer about an older value is dropped.
        if (t.version !== versions.get(name) || seq < t.appliedSeq) continue;
        t.appliedSeq = seq;
        const messages = answer.errors?.[name] ?? [];
        t.server = { version: t.version, messages };
        if (messages.length > 0) errors[name] = messages;
        else delete errors[name];
      }
      this.patch({ errors: errors as FormErrors<F> });
    }
    this.publish();
  }

  /** The browser's verdict on `names`: messages by field, and those about no field. */
  private clientErrors(names: readonly string[]): { fields: Errors; form: string[] } {
    const fields: Record<string, string[]> = {};
    const form: string[] = [];
    const wanted = new Set(names);
    const specs = new Map(this.definition.fields.map((f) => [f.name as string, f]));
    for (const name of names) {
      if (specs.get(name)?.required === true && isEmptyValue(this.value(name))) fields[name] = [REQUIRED_MESSAGE];
    }
    const schema = this.definition.schema;
    if (schema !== undefined) {
      const parsed = schema.safeParse(this.payload());
      if (!parsed.success) {
        for (const issue of parsed.error.issues) {
          const first = issue.path[0];
          const name = typeof first === "string" || typeof first === "number" ? String(first) : undefined;
          if (name === undefined) {
            // About the whole object (a key it does not take): only a submit shows it.
            if (wanted.size === specs.size) form.push(issue.message);
            continue;
          }
          if (!wanted.has(name) || fields[name]?.[0] === REQUIRED_MESSAGE) continue;
          (fields[name] ??= []).push(issue.message);
        }
      }
    }
    return { fields, form };
  }

  // --- helpers --------------------------------------------------------------

  /** What is sent: the values, without the empty ones; a checkbox never given is `false`. */
  private payload(): JsonObject {
    const out: JsonObject = {};
    for (const [name, value] of Object.entries(this.state().values as Record<string, unknown>)) {
      if (!isEmptyValue(value)) out[name] = value as JsonObject[string];
    }
    for (const f of this.definition.fields) {
      if (f.kind === "checkbox" && out[f.name] === undefined) out[f.name] = false;
    }
    return out;
  }

  private value(name: string): unknown {
    const v = (this.state().values as Record<string, unknown>)[name];
    if (v === undefined && this.definition.fields.some((f) => f.name === name && f.kind === "checkbox")) return false;
    return v;
  }

  private track(name: string): Track {
    let t = this.tracks.get(name);
    if (t === undefined) {
      t = { version: 0, appliedSeq: 0 };
      this.tracks.set(name, t);
    }
    return t;
  }

  private versions(names: readonly string[]): Map<string, number> {
    return new Map(names.map((n) => [n, this.track(n).version]));
  }

  private stopValidation(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.waiting.clear();
    this.inFlight.clear();
    this.generation++;
  }

  private requestOptions(): { timeoutMs?: number } {
    return this.options.timeoutMs === undefined ? {} : { timeoutMs: this.options.timeoutMs };
  }

  // The state is built up with `patch` and published once with `publish`.
  private draft: FormState<F, R> | undefined;

  private state(): FormState<F, R> {
    return this.draft ?? this.store.getSnapshot();
  }

  private patch(p: Partial<FormState<F, R>>): void {
    this.draft = { ...this.state(), ...p };
  }

  private publish(): void {
    const status: FormStatus =
      this.submitting !== undefined
        ? "submitting"
        : this.timer !== undefined || this.inFlight.size > 0
          ? "validating"
          : this.outcome;
    const next = this.draft ?? this.store.getSnapshot();
    this.draft = undefined;
    this.store.set(next.status === status ? next : { ...next, status });
  }
}

/** `details.fields` of an `invalid_args` error, when it names fields. */
function fieldErrors(error: MizanError): Record<string, readonly string[]> | undefined {
  if (error.code !== "invalid_args") return undefined;
  const fields = (error.details as { fields?: unknown } | undefined)?.fields;
  if (typeof fields !== "object" || fields === null || Array.isArray(fields)) return undefined;
  const out: Record<string, readonly string[]> = {};
  for (const [name, messages] of Object.entries(fields as Record<string, unknown>)) {
    out[name] = Array.isArray(messages) ? messages.map(String) : [String(messages)];
  }
  return out;
}
