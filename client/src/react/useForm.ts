/** `useForm`: a server form (PROTOCOL.md section 13) in a component. */

import { useEffect, useId, useMemo, useRef, useSyncExternalStore } from "react";
import {
  FormController,
  type FieldName,
  type FormDefinition,
  type FormFieldSpec,
  type FormOptions,
  type FormState,
  type FormValues,
} from "../form.js";
import { useMizan } from "./provider.js";

/** What an input's `onChange` gives: a change event (or anything with its `target`). */
export interface FieldChangeEvent {
  target: { value: string; checked?: boolean };
}

/**
 * Props to spread on the field's `<input>` (or `<textarea>`):
 * `<input {...form.fields.email.input} />`. A checkbox gets `checked`, the
 * others `value` (`""` when empty); `type` follows the field's kind.
 */
export interface FieldInputProps {
  id: string;
  name: string;
  type?: string;
  value?: string;
  checked?: boolean;
  onChange(event: FieldChangeEvent): void;
  onBlur(): void;
  "aria-invalid": boolean;
}

/** One field of a form in a component: its description, value, errors and handlers. */
export interface FieldBinding<V> extends FormFieldSpec {
  value: V | undefined;
  /** Its messages (empty when valid). */
  errors: readonly string[];
  /** The first of them. */
  error: string | undefined;
  /** Whether it was left (blurred) at least once, or the form submitted. */
  touched: boolean;
  /** Sets its value. */
  set(value: V | undefined): void;
  /**
   * Takes a change event (`<input onChange={field.onChange}>`: `checked`
   * for a checkbox, a number for a number field, `""` as empty) or a value.
   */
  onChange(eventOrValue: FieldChangeEvent | V | undefined): void;
  /** Marks it as left; checks it now. */
  onBlur(): void;
  /** Props for its `<input>` or `<textarea>`. */
  input: FieldInputProps;
}

/** What `useForm` (and a generated `use<Form>Form`) returns. */
export interface FormResult<F, R> extends FormState<F, R> {
  /** The form's title, submit label and fields (as `F.schema` answers them). */
  definition: FormDefinition<F>;
  /** Each field, by name. */
  fields: { [K in FieldName<F>]-?: FieldBinding<F[K]> };
  /** The same, in declaration order (to render them all). */
  fieldList: readonly FieldBinding<F[FieldName<F>]>[];
  /** Sets one field (and checks it, by `validateOn`). */
  set<K extends FieldName<F>>(field: K, value: F[K] | undefined): void;
  /** Sets several fields. */
  setValues(values: FormValues<F>): void;
  /** Marks a field as left and checks it now. */
  blur(field: FieldName<F>): void;
  /** Checks `fields` (all) now, in the browser then on the server; resolves with whether they are valid. */
  validate(fields?: readonly FieldName<F>[]): Promise<boolean>;
  /**
   * Checks every field in the browser, then sends `F.submit`. Resolves with
   * the result, or `undefined` when nothing was sent or it failed; never rejects.
   */
  submit(): Promise<R | undefined>;
  /** For `<form onSubmit={form.handleSubmit}>`: prevents the page load, then `submit()`. */
  handleSubmit(event?: { preventDefault(): void }): void;
  /** Back to the initial values (or `values`), no errors, `idle`. */
  reset(values?: FormValues<F>): void;
}

const INPUT_TYPES: Record<string, string | undefined> = {
  text: "text",
  textarea: undefined,
  email: "email",
  url: "url",
  number: "number",
  checkbox: "checkbox",
  password: "password",
};

function isChangeEvent(x: unknown): x is FieldChangeEvent {
  return typeof x === "object" && x !== null && "target" in x && typeof (x as FieldChangeEvent).target === "object";
}

/** The value a change event carries for a field of `kind`. */
function eventValue(kind: string, event: FieldChangeEvent): unknown {
  if (kind === "checkbox") return event.target.checked === true;
  if (kind === "number") return event.target.value === "" ? undefined : Number(event.target.value);
  return event.target.value;
}

/**
 * A server form in a component. Values and errors live in the component;
 * fields are checked by the definition's Zod schema in the browser, then by
 * `F.validate` (debounced, `options.debounceMs`, 300 ms), and `submit()`
 * sends `F.submit` over the provider's socket. Pending checks stop at unmount.
 *
 * ```tsx
 * const form = useContactForm(); // generated: useForm(contactForm, options)
 * <form onSubmit={form.handleSubmit}>
 *   <input {...form.fields.email.input} />
 *   {form.fields.email.touched && <p>{form.fields.email.error}</p>}
 *   <button disabled={form.status === "submitting"}>{form.definition.submit_label}</button>
 * </form>
 * ```
 */
export function useForm<F extends object, R = unknown>(
  definition: FormDefinition<F>,
  options: FormOptions<F> = {},
): FormResult<F, R> {
  const client = useMizan();
  const id = useId();
  const ref = useRef<FormController<F, R> | undefined>(undefined);
  if (ref.current === undefined || ref.current.client !== client || ref.current.definition !== definition) {
    ref.current = new FormController<F, R>(client, definition, options);
  }
  const controller = ref.current;
  controller.setOptions(options);
  useEffect(() => () => controller.cancel(), [controller]);
  const state = useSyncExternalStore(controller.subscribe, controller.getSnapshot, controller.getServerSnapshot);

  // One set of handlers per field, stable for the controller's life.
  const handlers = useMemo(() => {
    const out = new Map<string, { set(v: unknown): void; onChange(x: unknown): void; onBlur(): void }>();
    for (const spec of definition.fields) {
      const name = spec.name;
      const set = (v: unknown): void => controller.set(name, v as F[typeof name]);
      out.set(name, {
        set,
        onChange: (x) => set(isChangeEvent(x) ? eventValue(spec.kind, x) : x),
        onBlur: () => controller.blur(name),
      });
    }
    return out;
  }, [controller, definition]);

  const fieldList = useMemo(() => {
    const values = state.values as Record<string, unknown>;
    const errors = state.errors as Record<string, readonly string[] | undefined>;
    const touched = state.touched as Record<string, boolean | undefined>;
    return definition.fields.map((spec) => {
      const h = handlers.get(spec.name)!;
      const value = values[spec.name];
      const messages = errors[spec.name] ?? [];
      const input: FieldInputProps = {
        id: `${id}-${spec.name}`,
        name: spec.name,
        onChange: h.onChange,
        onBlur: h.onBlur,
        "aria-invalid": messages.length > 0,
      };
      const type = spec.kind in INPUT_TYPES ? INPUT_TYPES[spec.kind] : "text";
      if (type !== undefined) input.type = type;
      if (spec.kind === "checkbox") input.checked = value === true;
      else input.value = value === undefined || value === null ? "" : String(value);
      const binding: FieldBinding<unknown> = {
        ...spec,
        value,
        errors: messages,
        error: messages[0],
        touched: touched[spec.name] === true,
        set: h.set,
        onChange: h.onChange,
        onBlur: h.onBlur,
        input,
      };
      return binding;
    });
  }, [state.values, state.errors, state.touched, definition, handlers, id]);

  // Stable for the controller's life, like the field handlers.
  const methods = useMemo(
    (): Pick<FormResult<F, R>, "set" | "setValues" | "blur" | "validate" | "submit" | "handleSubmit" | "reset"> => ({
      set: (field, value) => controller.set(field, value),
      setValues: (values) => controller.setValues(values),
      blur: (field) => controller.blur(field),
      validate: (names) => controller.validate(names),
      submit: () => controller.submit(),
      handleSubmit: (event) => {
        event?.preventDefault();
        void controller.submit();
      },
      reset: (values) => controller.reset(values),
    }),
    [controller],
  );

  return useMemo(() => {
    const fields: Record<string, FieldBinding<unknown>> = {};
    for (const b of fieldList) fields[b.name] = b;
    return {
      ...state,
      ...methods,
      definition,
      fields: fields as FormResult<F, R>["fields"],
      fieldList: fieldList as FormResult<F, R>["fieldList"],
    };
  }, [state, methods, fieldList, definition]);
}
