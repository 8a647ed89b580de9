import type { ReactNode } from "react";
import type { ApiError } from "../api";
import { Dialog, DialogButtons } from "./Dialog";
import { ErrorBanner } from "./feedback";
import { FieldMessages } from "./forms";

/** How long a rotated secret's predecessor keeps working: the choices every rotation offers. */
export const GRACE_CHOICES = [
  { seconds: 0, label: "Immediately (the old secret stops now)" },
  { seconds: 3600, label: "1 hour" },
  { seconds: 86400, label: "24 hours (recommended)" },
  { seconds: 604800, label: "7 days" },
];

export const DEFAULT_GRACE_SECONDS = 86400;

export function GraceChoices({ legend, value, onChange }: { legend: string; value: number; onChange: (seconds: number) => void }) {
  return (
    <fieldset className="radios">
      <legend>{legend}</legend>
      {GRACE_CHOICES.map((choice) => (
        <label key={choice.seconds} className="check">
          <input
            type="radio"
            name="grace"
            value={choice.seconds}
            checked={value === choice.seconds}
            onChange={() => onChange(choice.seconds)}
            data-autofocus={value === choice.seconds ? true : undefined}
          />
          <span>{choice.label}</span>
        </label>
      ))}
    </fieldset>
  );
}

/**
 * The dialog a secret is rotated in: `children` say what rotating does, then how long the old
 * secret keeps working, and the server's refusal. Escape (not Cancel) also forgets that refusal.
 */
export function RotateSecretDialog({
  title,
  legend,
  errorId,
  grace,
  onGraceChange,
  action,
  onCancel,
  onConfirm,
  children,
}: {
  title: string;
  legend: string;
  /** The id of the grace period's field errors. */
  errorId: string;
  grace: number;
  onGraceChange: (seconds: number) => void;
  /** The rotation (a useAction). */
  action: { busy: boolean; error: ApiError | undefined; clearError: () => void };
  onCancel: () => void;
  onConfirm: () => void;
  children?: ReactNode;
}) {
  return (
    <Dialog
      title={title}
      onClose={() => {
        action.clearError();
        onCancel();
      }}
      footer={<DialogButtons label="Rotate" busyLabel="Rotating…" busy={action.busy} onCancel={onCancel} onConfirm={onConfirm} />}
    >
      {children}
      <GraceChoices legend={legend} value={grace} onChange={onGraceChange} />
      <FieldMessages id={errorId} error={action.error} name="grace_seconds" />
      <ErrorBanner error={action.error} fields={["grace_seconds"]} />
    </Dialog>
  );
}
