"""The inbound inbox: verified webhooks stored durably and idempotently, then applied exactly once in
effect by a processor that claims with SKIP LOCKED.

Receipt is the fast path (a rate-limit count, one insert guarded by unique keys, NOTIFY). Processing
runs each event's handler and marks it done in one transaction, so an event's effects and its
`processed` status commit together or not at all. Three entry points share `run_pass`: the
APScheduler job (`InboxWorker`, in the web process and in the standalone worker), and the cron
endpoint. Handlers are registered per (source, event type); types without one are stored `ignored`.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import psycopg
import structlog

from backend import metrics
from backend.config import Config
from backend.db import Database, as_service_role, queries_beside, set_identity
from backend.errors import BadRequest, Conflict, NotFound, ServiceUnavailable, TooManyRequests, Unauthorized
from backend.jsonutil import unstorable
from backend.services.inbound import signatures as inbound_signatures
from backend.services.shared import audit, rate_limit
from backend.services.shared.audit import RequestInfo
from backend.services.shared.ownership import require_admin
from backend.services.shared.pagination import page_params, paginate

SQL = queries_beside(__file__)
log = structlog.get_logger(__name__)

NOTIFY_CHANNEL = "questbridge_inbox"
MAX_BODY_BYTES = 256 * 1024
STATUSES = ("pending", "processing", "processed", "failed", "dead", "ignored")
RATE_WINDOW_SECONDS = 3600
NO_HANDLER = "no handler is registered for this event type"
WAKE_INTERVAL = 0.05  # seconds between two wake-ups sent by one process


@dataclass(frozen=True)
class InboxSettings:
    max_attempts: int = 3
    backoff_seconds: tuple = (10, 60)
    lease_seconds: int = 60
    batch_size: int = 50
    rate_limit_per_hour: int = 1000

    @classmethod
    def from_config(cls, config: Config) -> InboxSettings:
        return cls(
            max_attempts=config.inbound_max_attempts,
            backoff_seconds=tuple(config.inbound_backoff_seconds),
            rate_limit_per_hour=config.inbound_rate_limit_per_hour,
        )

    def delay_after(self, attempts: int) -> int:
        """Seconds before the next attempt once `attempts` have failed."""
        schedule = self.backoff_seconds
        return schedule[min(max(attempts, 1) - 1, len(schedule) - 1)]


@dataclass(frozen=True)
class InboundEvent:
    """A claimed event, as its handler sees it."""

    id: uuid.UUID
    source: str
    type: str
    attempts: int
    organization_id: uuid.UUID | None
    subject_id: uuid.UUID | None
    sent_at: datetime | None
    raw_body: str
    body_sha256: str  # hex, of the body as received
    idempotency_key: str | None
    received_at: datetime
    client_ip: str | None
    user_agent: str | None

    @property
    def payload(self) -> dict:
        return json.loads(self.raw_body, parse_float=Decimal)


class HandlerError(Exception):
    """A handler cannot apply its event now: the attempt fails, rolls back, and is retried."""


Handler = Callable[[psycopg.Connection, InboundEvent], "str | None"]
_HANDLERS: dict[tuple[str, str], Handler] = {}


def register(source: str, event_type: str, handler: Handler) -> None:
    """Apply events of `event_type` from `source` with `handler(conn, event) -> outcome`.

    The handler runs inside the event's transaction as service_role; whatever it writes commits
    together with the event's `processed` status, or rolls back with a failed attempt.
    """
    _HANDLERS[(source, event_type)] = handler


def unregister(source: str, event_type: str) -> None:
    _HANDLERS.pop((source, event_type), None)


def handler_for(source: str, event_type: str) -> Handler | None:
    # The built-in handlers register themselves on import; importing here means a processor never
    # mistakes an autograder grade for an unknown type because nothing else imported the module.
    from backend.services.inbound import autograder  # noqa: F401

    return _HANDLERS.get((source, event_type))


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


# -- receipt ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    event_id: uuid.UUID
    created: bool  # False: a duplicate of event_id
    status: str


def count_request(conn: psycopg.Connection, bucket: str, limit: int) -> None:
    """Count one request against `limit` per hour; 429 with Retry-After when the window is full.

    `conn` is a system connection (`Database.system_connection`) outside any transaction: the count
    is one statement, committed on its own without waiting for the disk (a count lost in a crash is
    harmless; the counter row, shared by every request of a client, stays locked for microseconds).
    """
    decision = rate_limit.hit(conn, bucket, limit, RATE_WINDOW_SECONDS, wait_for_disk=False)
    if not decision.allowed:
        raise TooManyRequests(
            f"over {limit} requests per hour from this address; retry later", retry_after=decision.retry_after
        )


def rate_bucket(source: str, origin: RequestInfo) -> str:
    return f"inbound:{source}:{origin.ip or 'unknown'}"


def record_failure(
    conn: psycopg.Connection, source: str, reason: str, origin: RequestInfo, organization_id=None
) -> None:
    """Log a refused request (source, client, reason); never the secrets or the signatures."""
    conn.execute(
        SQL["insert_failure"],
        {
            "source": source,
            "organization_id": organization_id,
            "reason": reason,
            "client_ip": origin.ip,
            "user_agent": origin.user_agent,
        },
    )
    log.warning("inbound_verification_failed", source=source, ip=origin.ip, user_agent=origin.user_agent, reason=reason)
    metrics.INBOUND_RECEIVED.labels(source, "rejected").inc()


def refuse(conn: psycopg.Connection, source: str, reason: str, origin: RequestInfo, organization_id=None) -> None:
    """Record a verification failure in its own transaction (it must outlive the refusal)."""
    with system_transaction(conn):
        record_failure(conn, source, reason, origin, organization_id)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse_json_object(body: bytes) -> tuple[str, dict]:
    """The body as UTF-8 text and as a JSON object; 400 naming `body` otherwise."""
    try:
        text = body.decode("utf-8")
        data = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest("the body is not valid UTF-8 JSON", errors={"body": ["is not valid JSON"]}) from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object", errors={"body": ["must be a JSON object"]})
    return text, data


def store(
    conn: psycopg.Connection,
    *,
    source: str,
    event_type: str,
    raw_body: str,
    origin: RequestInfo,
    provider_event_id: str | None = None,
    idempotency_key: str | None = None,
    organization_id=None,
    subject_id=None,
    sent_at: float | None = None,
) -> Receipt:
    """Insert an event once; a repeat of its provider id or idempotency key returns the first one."""
    status = "pending" if handler_for(source, event_type) is not None else "ignored"
    params = {
        "source": source,
        "provider_event_id": provider_event_id,
        "idempotency_key": idempotency_key,
        "type": event_type,
        "status": status,
        "organization_id": organization_id,
        "subject_id": subject_id,
        "sent_at": sent_at,
        "raw_body": raw_body,
        "body_sha256": hashlib.sha256(raw_body.encode()).digest(),
        "client_ip": origin.ip,
        "user_agent": origin.user_agent,
        "outcome": NO_HANDLER if status == "ignored" else None,
    }
    row = conn.execute(SQL["insert_event"], params).fetchone()
    if row is None:
        existing = conn.execute(SQL["existing_event"], params).fetchone()
        return Receipt(existing["id"], False, existing["status"])
    return Receipt(row["id"], True, status)


_last_wake: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def wake_processors(db: Database, conn: psycopg.Connection) -> None:
    """NOTIFY the processors that an event was committed, in a statement of its own on the system
    connection `conn`.

    Postgres holds a database-wide lock from a NOTIFY's commit until its WAL record is flushed, so
    a NOTIFY inside each receipt's transaction would serialize every receipt behind one disk sync;
    here the commit does not wait for the flush. A woken processor drains everything due, so under
    load one wake-up per WAKE_INTERVAL per process is enough; anything a skipped or lost wake-up
    leaves behind is picked up by the processors' 1 s poll.
    """
    now = time.monotonic()
    if now - _last_wake.get(db, -WAKE_INTERVAL) < WAKE_INTERVAL:
        return
    _last_wake[db] = now
    conn.execute(SQL["notify"])


def _text_field(data: dict, name: str, max_length: int) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not 1 <= len(value) <= max_length:
        message = f"must be a string of 1 to {max_length} characters"
    else:
        message = unstorable(value)
    if message:
        raise BadRequest(f"{name}: {message}", errors={name: [message]})
    return value


def receive_from_source(
    db: Database,
    source: inbound_signatures.Source,
    body: bytes,
    headers: Mapping[str, str],
    origin: RequestInfo,
    settings: InboxSettings,
) -> Receipt:
    """POST /api/inbound/<source>: count, verify, parse, store once."""
    with db.system_connection() as conn:
        count_request(conn, rate_bucket(source.name, origin), settings.rate_limit_per_hour)
        try:
            verified = inbound_signatures.verify_source(source, body, headers)
        except inbound_signatures.SignatureRefused as refused:
            refuse(conn, source.name, refused.reason, origin, source.organization_id)
            raise Unauthorized(f"the request is not authentic: {refused.reason}", headers={}) from None
        raw_body, data = parse_json_object(body)
        if verified.message_id is not None and len(verified.message_id) > 255:
            raise BadRequest("webhook-id: must be at most 255 characters", errors={"webhook-id": ["is too long"]})
        event_id = verified.message_id if verified.message_id is not None else _text_field(data, "id", 255)
        event_type = _text_field(data, "type", 200)
        try:
            with system_transaction(conn):
                receipt = store(
                    conn,
                    source=source.name,
                    event_type=event_type,
                    raw_body=raw_body,
                    origin=origin,
                    provider_event_id=event_id,
                    organization_id=source.organization_id,
                    sent_at=verified.sent_at,
                )
        except psycopg.errors.ForeignKeyViolation:
            # Our configuration's fault, not the sender's: a 5xx makes the sender retry later.
            log.error("inbound_source_organization_missing", source=source.name, organization_id=source.organization_id)
            raise ServiceUnavailable(
                f"the organization configured for source {source.name!r} does not exist", retry_after=300
            ) from None
        if receipt.created and receipt.status == "pending":
            wake_processors(db, conn)
    return receipt


# -- processing ---------------------------------------------------------------------------------


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


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


def process(db: Database, event: InboundEvent, worker: str, settings: InboxSettings) -> str:
    """Apply one claimed event; returns processed, ignored, failed, dead, or lost (lease taken over)."""
    started = time.perf_counter()
    try:
        with db.connection() as conn, system_transaction(conn):
            if conn.execute(SQL["lock_claimed"], {"id": event.id, "worker": worker}).fetchone() is None:
                return "lost"
            handler = handler_for(event.source, event.type)
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


def run_pass(db: Database, settings: InboxSettings, time_budget: float = 20.0, worker: str | None = None) -> dict:
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
            counts[process(db, event, worker, settings)] += 1
    return {name: counts[name] for name in ("claimed", "processed", "ignored", "failed", "dead")}


class InboxWorker:
    """The APScheduler job: drain what is due, then keep draining on NOTIFY until the next run.

    Runs every second with a budget just under that, so events are applied moments after their
    202 without polling; the listening connection is kept between runs so no wake-up is lost.
    """

    def __init__(self, db: Database, settings: InboxSettings):
        self.db = db
        self.settings = settings
        self.worker = worker_name()
        self._listener: psycopg.Connection | None = None

    def run(self, listen_seconds: float = 0.9) -> dict:
        deadline = time.monotonic() + listen_seconds
        totals: Counter = Counter(run_pass(self.db, self.settings, worker=self.worker))
        while (remaining := deadline - time.monotonic()) > 0 and self._wait(remaining):
            totals.update(run_pass(self.db, self.settings, worker=self.worker))
        return dict(totals)

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


# -- administration -----------------------------------------------------------------------------


def get_event(conn: psycopg.Connection, event_id) -> dict:
    """An event as its organization's admins (or platform admins) see it; 403 for members, else 404."""
    row = conn.execute(SQL["get_event"], {"id": event_id}).fetchone()
    if row is None:
        with as_service_role(conn):
            owner = conn.execute(SQL["event_organization"], {"id": event_id}).fetchone()
        if owner is not None and owner["organization_id"] is not None:
            try:
                require_admin(conn, owner["organization_id"])
            except NotFound:
                pass
        raise NotFound("inbound event not found")
    raw_body = row.pop("raw_body")
    row["payload"] = json.loads(raw_body)
    return row


def list_events(
    conn: psycopg.Connection, limit: int, cursor: str | None, *, organization_id=None, source=None, status=None
) -> tuple[list[dict], str | None]:
    """The events the caller may read (RLS decides), newest first."""
    params = page_params(cursor, limit) | {"organization_id": organization_id, "source": source, "status": status}
    rows = conn.execute(SQL["list_events"], params).fetchall()
    return paginate(rows, limit, key=lambda r: (r["received_at"], r["id"]))


def list_failures(
    conn: psycopg.Connection, limit: int, cursor: str | None, *, organization_id=None, source=None
) -> tuple[list[dict], str | None]:
    """Refused requests the caller may read (RLS decides), newest first."""
    params = page_params(cursor, limit) | {"organization_id": organization_id, "source": source}
    return paginate(conn.execute(SQL["list_failures"], params).fetchall(), limit)


def retry(conn: psycopg.Connection, event_id, user_id, origin: RequestInfo) -> dict:
    """Queue a dead event again with its attempts reset."""
    event = get_event(conn, event_id)
    if event["status"] != "dead":
        message = f"is {event['status']}; only dead events are retried"
        raise Conflict(f"status: {message}", errors={"status": [message]})
    with as_service_role(conn):
        if conn.execute(SQL["retry_dead"], {"id": event_id}).fetchone() is None:
            raise Conflict("status: changed meanwhile; reload the event", errors={"status": ["changed meanwhile"]})
        conn.execute(SQL["notify"])
        audit.record(
            conn,
            "inbound_event.retried",
            organization_id=event["organization_id"],
            target_type="inbound_event",
            target_id=event_id,
            metadata={"source": event["source"], "type": event["type"], "attempts": event["attempts"]},
            origin=origin,
            actor_id=user_id,
        )
    return get_event(conn, event_id)
