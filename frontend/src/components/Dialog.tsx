import { useEffect, useId, useRef, type KeyboardEvent, type ReactNode } from "react";
import { createPortal } from "react-dom";
import type { ApiError } from "../api";
import { ErrorBanner } from "./feedback";

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

interface DialogProps {
  title: string;
  onClose: () => void;
  children: ReactNode;
  footer?: ReactNode;
}

/**
 * A modal dialog: focus moves in and stays in (Tab wraps), Escape closes, and focus returns
 * to what was focused before.
 */
export function Dialog({ title, onClose, children, footer }: DialogProps) {
  const titleId = useId();
  const panel = useRef<HTMLDivElement>(null);
  const onCloseRef = useRef(onClose);
  onCloseRef.current = onClose;

  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    const first = panel.current?.querySelector<HTMLElement>("[data-autofocus]") ?? panel.current?.querySelector<HTMLElement>(FOCUSABLE);
    (first ?? panel.current)?.focus();
    return () => previous?.focus?.();
  }, []);

  function onKeyDown(event: KeyboardEvent) {
    if (event.key === "Escape") {
      event.stopPropagation();
      onCloseRef.current();
      return;
    }
    if (event.key !== "Tab" || !panel.current) return;
    const focusable = Array.from(panel.current.querySelectorAll<HTMLElement>(FOCUSABLE));
    if (!focusable.length) return;
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  }

  return createPortal(
    <div className="dialog-backdrop" onMouseDown={(event) => event.target === event.currentTarget && onClose()}>
      <div
        className="dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        ref={panel}
        tabIndex={-1}
        onKeyDown={onKeyDown}
      >
        <h2 id={titleId} className="dialog-title">
          {title}
        </h2>
        <div className="dialog-body">{children}</div>
        {footer && <div className="dialog-footer">{footer}</div>}
      </div>
    </div>,
    document.body,
  );
}

interface ConfirmProps {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  error?: ApiError;
  /** The request confirming runs (a useAction): busy while it runs, its error shown, and cleared on Cancel. */
  action?: { busy: boolean; error: ApiError | undefined; clearError: () => void };
  onConfirm: () => void;
  onCancel: () => void;
}

/** "Are you sure?" with Cancel focused first, so Enter never destroys by accident. */
export function ConfirmDialog({ title, children, confirmLabel, danger, action, onConfirm, ...props }: ConfirmProps) {
  const busy = action ? action.busy : props.busy;
  const error = action ? action.error : props.error;
  function onCancel() {
    action?.clearError();
    props.onCancel();
  }
  return (
    <Dialog
      title={title}
      onClose={onCancel}
      footer={
        <DialogButtons
          label={confirmLabel}
          busyLabel="Working…"
          busy={busy}
          danger={danger}
          focusCancel
          onConfirm={onConfirm}
          onCancel={onCancel}
        />
      }
    >
      {children}
      <ErrorBanner error={error} />
    </Dialog>
  );
}

/** A dialog's footer: Cancel, then the button that acts (disabled and saying `busyLabel` while it runs). */
export function DialogButtons({
  label,
  busyLabel,
  busy,
  danger,
  focusCancel,
  onConfirm,
  onCancel,
}: {
  label: string;
  busyLabel: string;
  busy?: boolean;
  danger?: boolean;
  /** Focus Cancel first, so Enter never destroys by accident. */
  focusCancel?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  return (
    <>
      <button type="button" className="button" onClick={onCancel} data-autofocus={focusCancel || undefined}>
        Cancel
      </button>
      <button type="button" className={`button ${danger ? "button-danger" : "button-primary"}`} onClick={onConfirm} disabled={busy}>
        {busy ? busyLabel : label}
      </button>
    </>
  );
}
