import { useState, type FormEvent } from "react";
import { describe } from "../../../common/web/page.js";
import { useSignForm } from "./generated/forms.js";
import type { Entry } from "./generated/types.js";

/**
 * The `sign` form, through the generated `useSignForm()`. A field is
 * checked in the browser as it changes (the Zod schema generated from the
 * server's `garde` attributes: nothing is sent while it fails), then by
 * `sign.validate` (the server-only check: has this name signed today?);
 * Sign checks every field and sends `sign.submit`, which writes the entry.
 * Errors show once a field was left, or after Sign.
 */
export function SignForm() {
  const form = useSignForm();
  const [done, setDone] = useState<Entry | null>(null);
  const { name, message } = form.fields;

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault();
    setDone(null);
    const entry = await form.submit();
    if (entry !== undefined) {
      setDone(entry);
      form.reset({ name: form.values.name }); // ready for the next one
    }
  };

  // Any other failure (`internal`, `timeout`, …); field errors show by their field.
  const failed = form.error !== undefined && form.error.code !== "invalid_args" ? describe(form.error) : null;
  return (
    <form id="sign-form" className="pane" onSubmit={onSubmit} noValidate>
      <h2>{form.definition.title}</h2>
      <div className="field">
        <label htmlFor="name">{name.label}</label>
        <input {...name.input} id="name" autoComplete="nickname" />
        {name.touched && name.error && (
          <p id="name-error" className="field-error">
            {name.errors.join(" ")}
          </p>
        )}
      </div>
      <div className="field">
        <label htmlFor="message">{message.label}</label>
        <textarea {...message.input} id="message" />
        {message.touched && message.error && (
          <p id="message-error" className="field-error">
            {message.errors.join(" ")}
          </p>
        )}
      </div>
      <div className="actions">
        <button id="sign" type="submit" disabled={form.status === "submitting"}>
          {form.definition.submit_label}
        </button>
        <span id="sign-result" className={failed ? "error" : done ? "ok" : ""}>
          {failed ?? (done ? `Thank you, ${done.name}: you are entry #${done.id}.` : "")}
        </span>
      </div>
    </form>
  );
}
