// Values a person copies into another system: read-only (selectable whole) with a copy button.
import { useEffect, useId, useRef, useState, type ReactNode } from "react";

async function copyText(text: string, fallback: HTMLInputElement | HTMLTextAreaElement | null): Promise<boolean> {
  try {
    if (navigator.clipboard?.writeText) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // Denied (no permission, not a secure context): fall back to selecting the text.
  }
  if (fallback) {
    fallback.select();
    try {
      return document.execCommand("copy");
    } catch {
      return false;
    }
  }
  return false;
}

/** Copying `text`: the input to select when the clipboard refuses, and how the last copy went. */
export function useCopy<E extends HTMLInputElement | HTMLTextAreaElement>(text: string) {
  const input = useRef<E>(null);
  const [copied, setCopied] = useState<"yes" | "no" | null>(null);

  useEffect(() => {
    setCopied(null);
  }, [text]);

  async function copy() {
    setCopied((await copyText(text, input.current)) ? "yes" : "no");
  }

  return { input, copied, copy };
}

/** How the last copy went, announced politely. */
export function CopyStatus({ copied, className }: { copied: "yes" | "no" | null; className: string }) {
  return (
    <p className={className} role="status" aria-live="polite">
      {copied === "yes" && "Copied to the clipboard."}
      {copied === "no" && "Could not copy automatically: the text is selected, press Ctrl+C (⌘C)."}
    </p>
  );
}

/**
 * One labelled value to paste elsewhere: several values (`string[]`) are shown one per line,
 * unwrapped, in a text area and copied that way, as the other system's form expects them.
 */
export function CopyField({ label, value, hint }: { label: string; value: string | string[]; hint?: ReactNode }) {
  const id = useId();
  const text = Array.isArray(value) ? value.join("\n") : value;
  const multiline = Array.isArray(value);
  const { input, copied, copy } = useCopy<HTMLInputElement & HTMLTextAreaElement>(text);
  const common = {
    id,
    ref: input,
    className: "secret-value",
    readOnly: true,
    value: text,
    spellCheck: false,
    "aria-describedby": hint ? `${id}-hint` : undefined,
    onFocus: (event: { currentTarget: HTMLInputElement | HTMLTextAreaElement }) => event.currentTarget.select(),
  };
  return (
    <div className="field copy-field">
      <label htmlFor={id}>{label}</label>
      <div className="secret-row">
        {multiline ? <textarea {...common} rows={Math.max(value.length, 1)} wrap="off" /> : <input {...common} />}
        <button type="button" className="button" onClick={copy} aria-label={`Copy ${label}`}>
          Copy
        </button>
      </div>
      {hint && (
        <div id={`${id}-hint`} className="field-hint">
          {hint}
        </div>
      )}
      <CopyStatus copied={copied} className="copy-status" />
    </div>
  );
}
