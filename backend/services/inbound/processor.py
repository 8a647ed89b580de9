"""The inbox processor: claims due events with SKIP LOCKED, applies each in one transaction with its
handler, backs failures off and ends them dead; run by the scheduler job, the worker and the cron route."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import structlog

from backend.config import Config
from backend.db import Database, queries_beside, set_identity
from backend.services.inbound.handlers import NO_HANDLER, HandlerError, Handlers, InboundEvent
from backend.services.shared.workers import worker_name

SQL = queries_beside(__file__)
log = structlog.get_logger(__name__)

NOTIFY_CHANNEL = "questbridge_inbox"


@dataclass(frozen=True)
class InboxSettings:
    """The inbox's tunables: those without a default come from Config (`from_config`)."""

    max_attempts: int
    backoff_seconds: tuple
    rate_limit_per_hour: int
    lease_seconds: int = 60
    batch_size: int = 50

    @classmethod
    def from_config(cls, config: Config) -> InboxSettings:
        return cls(**config.section("inbound_", cls))

    def delay_after(self, attempts: int) -> int:
        """Seconds before the next attempt once `attempts` have failed."""
        schedule = self.backoff_seconds
        return schedule[min(max(attempts, 1) - 1, len(schedule) - 1)]


@contextmanager
def system_transaction(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """A transaction as service_role on `conn`, its statements pipelined.

    Receipt and processing are runs of short statements; pipelined, the ones whose results are not
    needed yet travel together, which matters most when the database is across a network. Results
    are fetched as usual: a fetch sends what is queued and waits for it. Receipt runs its few
    transactions on one connection, so it pays the pool's checkout (and its liveness check) once.
    """
    with conn.pipeline(), conn.transaction():
        set_identity(conn, "service_role", None)
        yield conn


def notify(conn: psycopg.Connection) -> None:
    """Wake the processors listening on NOTIFY_CHANNEL when the current transaction commits."""
    conn.execute(SQL["notify"])


def claim(
    conn: psycopg.Connection,
    worker: str,
    limit: int,
    lease_seconds: int,
    max_attempts: int,
    attempted: list | None = None,
) -> list[InboundEvent]:
    params = {
        "limit": limit,
        "lease_seconds": lease_seconds,
        "max_attempts": max_attempts,
        "worker": worker,
        "attempted": attempted or [],
    }
    return [InboundEvent(**row) for row in conn.execute(SQL["claim"], params).fetchall()]


def _describe(exc: Exception) -> str:
    """What an admin reads as the event's error: the cause, without the row's contents."""
    if isinstance(exc, HandlerError):
        return str(exc)
    if isinstance(exc, psycopg.Error):
        diag = exc.diag
        constraint = f" ({diag.constraint_name})" if diag.constraint_name else ""
        return f"database error{constraint}: {diag.message_primary or type(exc).__name__}"
    return f"{type(exc).__name__}: {exc}"


def process(db: Database, event: InboundEvent, worker: str, settings: InboxSettings, handlers: Handlers) -> str:
    """Apply one claimed event; returns processed, ignored, failed, dead, or lost (lease taken over)."""
    started = time.perf_counter()
    try:
        with db.connection() as conn, system_transaction(conn):
            if conn.execute(SQL["lock_claimed"], {"id": event.id, "worker": worker}).fetchone() is None:
                return "lost"
            handler = handlers.get(event.source, event.type)
            if handler is None:
                status, outcome = "ignored", NO_HANDLER
            else:
                status, outcome = "processed", handler(conn, event)
            conn.execute(
                SQL["mark_done"],
                {
                    "id": event.id,
                    "status": status,
                    "outcome": outcome,
                    "processing_ms": int((time.perf_counter() - started) * 1000),
                },
            )
        return status
    except Exception as exc:  # one bad event must never stop the processor
        error = _describe(exc)
        log.warning("inbound_event_failed", event_id=str(event.id), source=event.source, error=error)
        with db.transaction("service_role") as conn:
            row = conn.execute(
                SQL["mark_failed"],
                {
                    "id": event.id,
                    "worker": worker,
                    "error": error,
                    "max_attempts": settings.max_attempts,
                    "delay_seconds": settings.delay_after(event.attempts),
                    "processing_ms": int((time.perf_counter() - started) * 1000),
                },
            ).fetchone()
        return row["status"] if row else "lost"


def run_pass(
    db: Database, settings: InboxSettings, handlers: Handlers, time_budget: float = 20.0, worker: str | None = None
) -> dict:
    """Process everything due now, batch by batch, within the time budget; returns the counts.

    Each event is attempted at most once per pass, whatever its backoff.
    """
    worker = worker or worker_name()
    counts: Counter = Counter()
    attempted: list = []
    deadline = time.monotonic() + time_budget
    while time.monotonic() < deadline:
        with db.transaction("service_role") as conn:
            events = claim(conn, worker, settings.batch_size, settings.lease_seconds, settings.max_attempts, attempted)
        if not events:
            break
        counts["claimed"] += len(events)
        for event in events:
            attempted.append(event.id)
            counts[process(db, event, worker, settings, handlers)] += 1
    return {name: counts[name] for name in ("claimed", "processed", "ignored", "failed", "dead")}


class InboxWorker:
    """The APScheduler job: drain what is due, then keep draining on NOTIFY until the next run.

    Runs every second with a budget just under that, so events are applied moments after their
    202 without polling; the listening connection is kept between runs so no wake-up is lost.
    """

    def __init__(self, db: Database, settings: InboxSettings, handlers: Handlers):
        self.db = db
        self.settings = settings
        self.handlers = handlers
        self.worker = worker_name()
        self._listener: psycopg.Connection | None = None

    def run(self, listen_seconds: float = 0.9) -> dict:
        deadline = time.monotonic() + listen_seconds
        totals: Counter = Counter(self._pass())
        while (remaining := deadline - time.monotonic()) > 0 and self._wait(remaining):
            totals.update(self._pass())
        return dict(totals)

    def _pass(self) -> dict:
        return run_pass(self.db, self.settings, self.handlers, worker=self.worker)

    def _wait(self, timeout: float) -> bool:
        """True when NOTIFY says something arrived within `timeout` seconds."""
        try:
            if self._listener is None or self._listener.closed:
                listener = psycopg.connect(self.db.conninfo, autocommit=True)
                listener.execute(f"listen {NOTIFY_CHANNEL}")
                self._listener = listener
            woken = any(True for _ in self._listener.notifies(timeout=timeout, stop_after=1))
            if woken:  # one pass serves every notification already queued
                for _ in self._listener.notifies(timeout=0.001):
                    pass
            return woken
        except psycopg.Error:
            log.warning("inbox_listen_lost", exc_info=True)
            self.close()
            return False

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
