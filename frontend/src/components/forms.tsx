import { useId, type ReactNode } from "react";
import type { ApiError } from "../api";

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

/** Lines of a textarea as a list: trimmed, blanks dropped. */
export function lines(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((line) => line.trim())
    .filter(Boolean);
}
