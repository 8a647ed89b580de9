import { useEffect, useRef, useState, type ReactNode } from "react";

async function copyText(text: string, fallbackInput: HTMLInputElement | null): Promise<boolean> {
  try {
    if (navigator.clipboard?.writeText) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // Denied (no permission, not a secure context): fall back to selecting the text.
  }
  if (fallbackInput) {
    fallbackInput.select();
    try {
      return document.execCommand("copy");
    } catch {
      return false;
    }
  }
  return false;
}

interface SecretRevealProps {
  label: string;
  secret: string;
  /** What the secret is for, shown above it. */
  children?: ReactNode;
  onDone?: () => void;
}

/** A secret the server shows once: read-only, selected on focus, with a copy button. */
export function SecretReveal({ label, secret, children, onDone }: SecretRevealProps) {
  const input = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState<"yes" | "no" | null>(null);

  useEffect(() => {
    setCopied(null);
  }, [secret]);

  async function copy() {
    setCopied((await copyText(secret, input.current)) ? "yes" : "no");
  }

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
      <p className="secret-status" role="status" aria-live="polite">
        {copied === "yes" && "Copied to the clipboard."}
        {copied === "no" && "Could not copy automatically: the text is selected, press Ctrl+C (⌘C)."}
      </p>
    </section>
  );
}
