"""Receipt of inbound webhooks: counted, verified, stored once (unique keys make it idempotent) and
the processors woken; the fast path of the configured sources and of the autograder."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import psycopg
import structlog

from backend import metrics
from backend.db import Database, queries_beside
from backend.errors import BadRequest, ServiceUnavailable, TooManyRequests, Unauthorized
from backend.jsonutil import unstorable
from backend.services.inbound import processor
from backend.services.inbound import signatures as inbound_signatures
from backend.services.inbound.handlers import NO_HANDLER, Handlers
from backend.services.inbound.processor import InboxSettings, system_transaction
from backend.services.shared import rate_limit
from backend.services.shared.audit import RequestInfo

SQL = queries_beside(__file__)
log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 256 * 1024
RATE_WINDOW_SECONDS = 3600
WAKE_INTERVAL = 0.05  # seconds between two wake-ups sent by one process


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
    handlers: Handlers,
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
    status = "pending" if handlers.get(source, event_type) is not None else "ignored"
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
        return first_received(conn, source, provider_event_id=provider_event_id, idempotency_key=idempotency_key)
    return Receipt(row["id"], True, status)


def first_received(
    conn: psycopg.Connection, source: str, *, provider_event_id: str | None = None, idempotency_key: str | None = None
) -> Receipt:
    """The event of `source` first stored under this provider event id or idempotency key."""
    params = {"source": source, "provider_event_id": provider_event_id, "idempotency_key": idempotency_key}
    existing = conn.execute(SQL["existing_event"], params).fetchone()
    return Receipt(existing["id"], False, existing["status"])


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
    processor.notify(conn)


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
    handlers: Handlers,
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
                    handlers,
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
