import { useEffect, useRef, type ReactNode } from "react";
import type { ApiError } from "../api";

/** A failed request as a person reads it: the problem's title and detail, and field errors. */
export function ErrorBanner({ error, onRetry, fields }: { error: ApiError | undefined; onRetry?: () => void; fields?: string[] }) {
  if (!error) return null;
  const shownNextToInputs = new Set(fields ?? []);
  const otherFields = Object.keys(error.errors).filter((name) => !shownNextToInputs.has(name));
  return (
    <div className="alert alert-error" role="alert">
      <p className="alert-title">{error.title}</p>
      {error.detail && error.detail !== error.title && <p>{error.detail}</p>}
      {otherFields.length > 0 && (
        <ul>
          {otherFields.map((name) =>
            error.fieldMessages(name).map((message) => (
              <li key={`${name}:${message}`}>
                {name === "_schema" ? message : `${name}: ${message}`}
              </li>
            )),
          )}
        </ul>
      )}
      {onRetry && (
        <button type="button" className="button button-small" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <div className="loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      {label}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <p className="empty-title">{title}</p>
      {children && <div className="empty-body">{children}</div>}
    </div>
  );
}

/** The server does not offer this feature yet (405 or 501, or a 404 that is not Questbridge's). */
export function Unavailable({ what }: { what: string }) {
  return (
    <div className="empty unavailable" role="status">
      <p className="empty-title">{what} is unavailable</p>
      <p className="empty-body">This server does not offer it yet. Update the server, then reload this page.</p>
    </div>
  );
}

/** Questbridge answered 404: what was asked for does not exist, in the server's words. */
export function NotFound({ what, error, hint }: { what: string; error: ApiError; hint?: ReactNode }) {
  const title = `${what} not found`;
  const words = (text: string) => text.toLowerCase().replace(/[.!]+$/, "").trim();
  // "delivery not found" under "Delivery not found" would say it twice.
  const detail = error.detail && ![words(error.title), words(title)].includes(words(error.detail)) ? error.detail : "";
  return (
    <div className="empty not-found" role="alert">
      <p className="empty-title">{title}</p>
      {detail && <p className="empty-body">{detail.charAt(0).toUpperCase() + detail.slice(1)}{/[.!?]$/.test(detail) ? "" : "."}</p>}
      {hint && <div className="empty-body">{hint}</div>}
    </div>
  );
}

/** The usual load states of a resource: spinner, not found, unavailable, error with retry, or the content. */
export function LoadState({
  loading,
  error,
  hasData,
  what,
  onRetry,
  notFoundHint,
  children,
}: {
  loading: boolean;
  error: ApiError | undefined;
  hasData: boolean;
  what: string;
  onRetry?: () => void;
  /** Shown under "<what> not found", e.g. a link back to the list. */
  notFoundHint?: ReactNode;
  children: ReactNode;
}) {
  if (!hasData) {
    if (error?.notFound) return <NotFound what={what} error={error} hint={notFoundHint} />;
    if (error?.unavailable) return <Unavailable what={what} />;
    if (error) return <ErrorBanner error={error} onRetry={onRetry} />;
    if (loading) return <Loading label={`Loading ${what.toLowerCase()}…`} />;
  }
  return (
    <>
      {hasData && error && !error.unavailable && <ErrorBanner error={error} onRetry={onRetry} />}
      {children}
    </>
  );
}

/** A polite announcement of what just happened ("Subscription saved"). */
export function Notice({ children, tone = "success" }: { children: ReactNode; tone?: "success" | "info" }) {
  if (!children) return null;
  return (
    <div className={`alert alert-${tone}`} role="status" aria-live="polite">
      {children}
    </div>
  );
}

let firstPageShown = false;

/**
 * The page's heading. After a navigation inside the app it takes focus, so screen readers and
 * keyboards start at the new page; the first page loaded keeps the browser's usual start (where
 * Tab reaches the skip link first).
 */
export function PageTitle({ children, actions }: { children: ReactNode; actions?: ReactNode }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (!firstPageShown) {
      firstPageShown = true;
      return;
    }
    ref.current?.focus({ preventScroll: true });
  }, []);
  return (
    <div className="page-title">
      <h1 tabIndex={-1} ref={ref}>
        {children}
      </h1>
      {actions && <div className="page-actions">{actions}</div>}
    </div>
  );
}

/** "Load more" for cursor-paginated lists, with the error of the last attempt. */
export function LoadMore({
  list,
}: {
  list: { hasMore: boolean; loadMore: () => Promise<void>; loadingMore: boolean; moreError: ApiError | undefined };
}) {
  if (!list.hasMore && !list.moreError) return null;
  return (
    <div className="load-more">
      <ErrorBanner error={list.moreError} />
      {list.hasMore && (
        <button type="button" className="button" onClick={() => void list.loadMore()} disabled={list.loadingMore}>
          {list.loadingMore ? "Loading…" : "Load more"}
        </button>
      )}
    </div>
  );
}
