import type { ReactNode } from "react";
import { CopyStatus, useCopy } from "./CopyField";

interface SecretRevealProps {
  label: string;
  secret: string;
  /** What the secret is for, shown above it. */
  children?: ReactNode;
  onDone?: () => void;
}

/** A secret the server shows once: read-only, selected on focus, with a copy button. */
export function SecretReveal({ label, secret, children, onDone }: SecretRevealProps) {
  const { input, copied, copy } = useCopy<HTMLInputElement>(secret);

  return (
    <section className="secret" aria-label={label}>
      <p className="secret-warning">
        <strong>{label}</strong> — shown only once. Copy it now and store it safely; it cannot be shown again.
      </p>
      {children}
      <div className="secret-row">
        <input
          ref={input}
          className="secret-value"
          readOnly
          value={secret}
          aria-label={label}
          data-testid="secret-value"
          onFocus={(event) => event.currentTarget.select()}
          spellCheck={false}
        />
        <button type="button" className="button button-primary" onClick={copy}>
          Copy
        </button>
        {onDone && (
          <button type="button" className="button" onClick={onDone}>
            Done
          </button>
        )}
      </div>
      <CopyStatus copied={copied} className="secret-status" />
    </section>
  );
}
