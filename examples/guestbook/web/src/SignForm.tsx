import { useState, type FormEvent } from "react";
import { describe } from "../../../common/web/page.js";
import { useSignSubmit, useSignValidate } from "./generated/hooks.js";
import { SignSchema } from "./generated/schemas.js";
import type { Entry } from "./generated/types.js";

type Field = "name" | "message";
type Errors = Partial<Record<Field, string[]>>;

/**
 * The `sign` form. Its rules are checked in the browser first (the Zod
 * schema generated from the server's `garde` attributes: nothing is sent
 * while they fail), then by `sign.validate` (the server-only check: has
 * this name signed today?), then `sign.submit` writes the entry.
 */
export function SignForm() {
  const validate = useSignValidate();
  const submit = useSignSubmit();
  const [values, setValues] = useState({ name: "", message: "" });
  const [errors, setErrors] = useState<Errors>({});
  const [done, setDone] = useState<Entry | null>(null);
  const [failed, setFailed] = useState<string | null>(null);

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault();
    setDone(null);
    setFailed(null);
    const local = SignSchema.safeParse(values);
    if (!local.success) {
      const found: Errors = {};
      for (const issue of local.error.issues) {
        const field = issue.path[0] as Field;
        (found[field] ??= []).push(issue.message);
      }
      setErrors(found);
      return;
    }
    try {
      const checked = await validate.mutateAsync(values);
      if (!checked.valid) {
        setErrors(checked.errors as Errors);
        return;
      }
      setErrors({});
      setDone(await submit.mutateAsync(values));
      setValues({ name: values.name, message: "" });
    } catch (err) {
      const fields = (err as { details?: { fields?: Errors } }).details?.fields;
      if (fields) setErrors(fields);
      else setFailed(describe(err));
    }
  };

  const input = (field: Field) => ({
    id: field,
    name: field,
    value: values[field],
    "aria-invalid": errors[field] ? true : undefined,
    onChange: (e: { target: { value: string } }) => setValues({ ...values, [field]: e.target.value }),
  });
  return (
    <form id="sign-form" className="pane" onSubmit={onSubmit} noValidate>
      <h2>Sign the guestbook</h2>
      <div className="field">
        <label htmlFor="name">Your name</label>
        <input type="text" autoComplete="nickname" {...input("name")} />
        <FieldErrors field="name" errors={errors} />
      </div>
      <div className="field">
        <label htmlFor="message">Message</label>
        <textarea {...input("message")} />
        <FieldErrors field="message" errors={errors} />
      </div>
      <div className="actions">
        <button id="sign" type="submit" disabled={submit.status === "pending"}>
          Sign
        </button>
        <span id="sign-result" className={failed ? "error" : done ? "ok" : ""}>
          {failed ?? (done ? `Thank you, ${done.name}: you are entry #${done.id}.` : "")}
        </span>
      </div>
    </form>
  );
}

function FieldErrors({ field, errors }: { field: Field; errors: Errors }) {
  const messages = errors[field];
  if (!messages) return null;
  return (
    <p id={`${field}-error`} className="field-error">
      {messages.join(" ")}
    </p>
  );
}
