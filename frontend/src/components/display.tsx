import { Fragment } from "react";

const dateTime = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

/** A timestamp in the reader's time zone, the exact ISO value in `dateTime` and the tooltip. */
export function Time({ value }: { value: string | null | undefined }) {
  if (!value) return <span className="muted">—</span>;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return <span>{value}</span>;
  return (
    <time dateTime={value} title={value}>
      {dateTime.format(date)}
    </time>
  );
}

const TONES: Record<string, string> = {
  delivered: "ok",
  processed: "ok",
  active: "ok",
  pending: "neutral",
  processing: "info",
  delivering: "info",
  retrying: "warn",
  failed: "warn",
  dead: "bad",
  disabled: "bad",
  revoked: "bad",
  expired: "bad",
  replaced: "warn",
  ignored: "neutral",
  accepted: "ok",
  declined: "neutral",
  // A learner's work (the learner pages).
  submitted: "info",
  graded: "ok",
  completed: "ok",
};

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge badge-${TONES[status] ?? "neutral"}`}>{status}</span>;
}

export function formatNumber(value: number | null | undefined, digits = 0): string {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  return value.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

export function formatMs(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
}

export function formatPercent(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  // The API gives a rate in [0, 1]; accept a percentage too.
  const percent = value <= 1 ? value * 100 : value;
  return `${percent.toFixed(1)}%`;
}

/** Text that may break after its dots, underscores, @ and slashes (dotted names, emails, URLs). */
export function Breakable({ text }: { text: string }) {
  const parts = text.split(/(?<=[._@/])/);
  return (
    <>
      {parts.map((part, index) => (
        <Fragment key={index}>
          {part}
          {index < parts.length - 1 && <wbr />}
        </Fragment>
      ))}
    </>
  );
}

/**
 * A whole id, cut to fit by CSS with an ellipsis: the full value stays in the text (found, copied
 * and read out whole) and in the tooltip, so ids that share a prefix (qbc_…) stay distinguishable.
 */
export function FullId({ value }: { value: string | null | undefined }) {
  if (!value) return <span className="muted">—</span>;
  return (
    <code className="id-clip" title={value}>
      {value}
    </code>
  );
}

/** The first 8 characters: for prose and labels only, never where the id tells things apart. */
export function shortId(id: string | null | undefined): string {
  return id ? id.slice(0, 8) : "—";
}
