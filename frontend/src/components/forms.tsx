import { useId, type FormEvent, type ReactNode } from "react";
import type { ApiError } from "../api";
import { ErrorBanner } from "./feedback";

/** The server's messages for `name`, shown under its input and linked by aria-describedby. */
export function FieldMessages({ id, error, name }: { id: string; error: ApiError | undefined; name: string | string[] }) {
  const names = Array.isArray(name) ? name : [name];
  const messages = error ? names.flatMap((field) => error.fieldMessages(field)) : [];
  if (!messages.length) return null;
  return (
    <div id={id} className="field-error">
      {messages.map((message) => (
        <span key={message}>{message}</span>
      ))}
    </div>
  );
}

export function hasFieldError(error: ApiError | undefined, name: string | string[]): boolean {
  const names = Array.isArray(name) ? name : [name];
  return Boolean(error && names.some((field) => error.fieldMessages(field).length));
}

interface FieldProps {
  label: string;
  name: string;
  /** Also show the server's errors for these fields here (e.g. event_type beside event_types). */
  errorNames?: string[];
  error?: ApiError;
  hint?: ReactNode;
  children: (props: { id: string; "aria-invalid": boolean; "aria-describedby": string | undefined }) => ReactNode;
}

/** A labelled input with its hint and the server's errors for that field. */
export function Field({ label, name, errorNames, error, hint, children }: FieldProps) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const names = [name, ...(errorNames ?? [])];
  const invalid = hasFieldError(error, names);
  const describedBy = [hint ? hintId : null, invalid ? errorId : null].filter(Boolean).join(" ") || undefined;
  return (
    <div className={`field${invalid ? " field-invalid" : ""}`}>
      <label htmlFor={id}>{label}</label>
      {children({ id, "aria-invalid": invalid, "aria-describedby": describedBy })}
      {hint && (
        <div id={hintId} className="field-hint">
          {hint}
        </div>
      )}
      <FieldMessages id={errorId} error={error} name={names} />
    </div>
  );
}

/**
 * A password input in its Field, named "password" so that password managers know it; where a
 * new one is chosen, the hint says what it must be.
 */
export function PasswordField({
  label,
  autoComplete,
  value,
  onChange,
  error,
}: {
  label: string;
  autoComplete: "current-password" | "new-password";
  value: string;
  onChange: (value: string) => void;
  error?: ApiError;
}) {
  const hint = autoComplete === "new-password" ? "At least 10 characters; a passphrase is best." : undefined;
  return (
    <Field label={label} name="password" error={error} hint={hint}>
      {(props) => (
        <input
          {...props}
          type="password"
          name="password"
          autoComplete={autoComplete}
          required
          value={value}
          onChange={(event) => onChange(event.target.value)}
        />
      )}
    </Field>
  );
}

/** A form's primary button: while the request runs it is disabled and says `busyLabel`. */
export function SubmitButton({
  busy,
  busyLabel,
  disabled,
  block,
  children,
}: {
  busy: boolean;
  busyLabel: string;
  /** Disabled for another reason too (e.g. another request of the form runs). */
  disabled?: boolean;
  /** As wide as the form (the sign-in cards). */
  block?: boolean;
  children: ReactNode;
}) {
  return (
    <button type="submit" className={block ? "button button-primary button-block" : "button button-primary"} disabled={busy || disabled}>
      {busy ? busyLabel : children}
    </button>
  );
}

/** A form's buttons: submit, and Cancel where there is one. */
export function FormActions({
  busy,
  busyLabel,
  submitLabel,
  onCancel,
}: {
  busy: boolean;
  busyLabel: string;
  submitLabel: string;
  onCancel?: () => void;
}) {
  return (
    <div className="form-actions">
      <SubmitButton busy={busy} busyLabel={busyLabel}>
        {submitLabel}
      </SubmitButton>
      {onCancel && (
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
      )}
    </div>
  );
}

/**
 * A form in a panel of its own, titled by its heading: first the server's errors that no field
 * below shows (`fields` are the ones that do), then the fields and buttons.
 */
export function PanelForm({
  headingId,
  title,
  onSubmit,
  error,
  fields,
  children,
}: {
  headingId: string;
  title: string;
  onSubmit: (event: FormEvent) => void;
  error: ApiError | undefined;
  fields: string[];
  children: ReactNode;
}) {
  return (
    <section className="panel" aria-labelledby={headingId}>
      <h2 id={headingId}>{title}</h2>
      <form className="form" onSubmit={onSubmit} noValidate>
        <ErrorBanner error={error} fields={fields} />
        {children}
      </form>
    </section>
  );
}

/** Lines of a textarea as a list: trimmed, blanks dropped. */
export function lines(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((line) => line.trim())
    .filter(Boolean);
}
