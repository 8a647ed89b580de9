"""Rate limits kept in Postgres, exact under concurrency and shared by every process: fixed
windows (`hit`: refused until the window ends) and paced buckets (`pace`: GCRA, a burst and then
one attempt per interval)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from backend import metrics
from backend.db import queries_beside

SQL = queries_beside(__file__)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: int  # unix seconds when the window ends (a paced bucket: when its allowance is whole again)
    retry_at: float | None = None  # a refused paced attempt: unix seconds when the next one is admitted

    @property
    def retry_after(self) -> int:
        if self.retry_at is not None:
            return max(1, math.ceil(self.retry_at - time.time()))
        return max(1, self.reset_at - int(time.time()))


def _window(window_seconds: int, now: float | None = None) -> tuple[datetime, int]:
    now = time.time() if now is None else now
    start = int(now) - int(now) % window_seconds
    return datetime.fromtimestamp(start, UTC), start + window_seconds


def hit(
    conn: psycopg.Connection, bucket: str, limit: int, window_seconds: int, *, wait_for_disk: bool = True
) -> Decision:
    """Admit and count one request in `bucket`, or refuse it when the window is full.

    wait_for_disk=False: the transaction the count is in commits without waiting for its WAL
    flush (a count lost in a crash is harmless). The counter row, shared by every request of a
    bucket, is then locked for microseconds rather than a disk sync; run the count on its own
    (one autocommit statement), since the rest of its transaction would not wait either.
    """
    window_start, reset_at = _window(window_seconds)
    if limit <= 0:  # the insert below would admit the window's first request whatever the limit
        return Decision(False, limit, 0, reset_at)
    params = {"bucket": bucket, "window_start": window_start, "limit": limit, "wait_for_disk": wait_for_disk}
    count = conn.execute(SQL["hit"], params).fetchone()["count"]
    if count is None:
        metrics.RATE_LIMIT_HITS.labels(bucket.split(":", 1)[0]).inc()
        return Decision(False, limit, 0, reset_at)
    return Decision(True, limit, max(0, limit - count), reset_at)


def add(conn: psycopg.Connection, bucket: str, window_seconds: int) -> int:
    """Count one event in `bucket` (no limit applied) and return the window's total."""
    window_start, _ = _window(window_seconds)
    return conn.execute(SQL["add"], {"bucket": bucket, "window_start": window_start}).fetchone()["count"]


def release(conn: psycopg.Connection, bucket: str, window_seconds: int) -> None:
    """Take back one count of `bucket` in this window (none below zero)."""
    window_start, _ = _window(window_seconds)
    conn.execute(SQL["release"], {"bucket": bucket, "window_start": window_start})


def pace(conn: psycopg.Connection, bucket: str, burst: int, interval_seconds: float) -> Decision:
    """Admit one attempt in `bucket` if its allowance has room: `burst` attempts at once, then one
    every `interval_seconds` (GCRA). A refusal's retry_after is when the next attempt will be
    admitted, at most one interval away, not when the allowance is whole again."""
    interval = timedelta(seconds=interval_seconds)
    row = conn.execute(
        SQL["pace"], {"bucket": bucket, "interval": interval, "tolerance": interval * (burst - 1)}
    ).fetchone()
    now, ahead = time.time(), row["ahead_seconds"]
    reset_at = math.ceil(now + ahead)
    if not row["admitted"]:
        metrics.RATE_LIMIT_HITS.labels(bucket.split(":", 1)[0]).inc()
        retry_at = now + ahead - interval_seconds * (burst - 1)
        return Decision(False, burst, 0, reset_at, retry_at=retry_at)
    # 1e-9: the arrival time is whole microseconds, so ahead / interval can fall just short of a whole number.
    remaining = max(0, math.floor(burst - ahead / interval_seconds + 1e-9))
    return Decision(True, burst, remaining, reset_at)


def give_back(conn: psycopg.Connection, bucket: str, interval_seconds: float) -> None:
    """Take back one admitted attempt of a paced bucket."""
    conn.execute(SQL["give_back"], {"bucket": bucket, "interval": timedelta(seconds=interval_seconds)})


def delete_expired(conn: psycopg.Connection, older_than_seconds: int = 2 * 86400) -> int:
    """Delete windows that ended more than `older_than_seconds` ago and paced buckets that are whole again."""
    before = datetime.fromtimestamp(time.time() - older_than_seconds, UTC)
    windows = conn.execute(SQL["delete_expired"], {"before": before}).rowcount
    return windows + conn.execute(SQL["delete_expired_paces"]).rowcount


def window_bounds(window_seconds: int) -> tuple[datetime, int]:
    """The fixed window of `window_seconds` now: its start, as the counters key it, and its end in
    unix seconds; for a caller that reads counts within a query of its own."""
    return _window(window_seconds)
