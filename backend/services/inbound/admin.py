"""The inbox as admins see it: events and refused requests (RLS decides whose), and retries of dead events."""

from __future__ import annotations

import json
import uuid

import psycopg

from backend.db import as_service_role, queries_beside
from backend.errors import Conflict, NotFound
from backend.services.inbound import processor
from backend.services.shared import audit
from backend.services.shared.audit import RequestInfo
from backend.services.shared.ownership import require_admin
from backend.services.shared.pagination import page_params, paginate

SQL = queries_beside(__file__)

STATUSES = ("pending", "processing", "processed", "failed", "dead", "ignored")


def get_event(conn: psycopg.Connection, event_id: uuid.UUID) -> dict:
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


def retry(conn: psycopg.Connection, *, event_id: uuid.UUID, user_id: uuid.UUID | None, origin: RequestInfo) -> dict:
    """Queue a dead event again with its attempts reset."""
    event = get_event(conn, event_id)
    if event["status"] != "dead":
        message = f"is {event['status']}; only dead events are retried"
        raise Conflict(f"status: {message}", errors={"status": [message]})
    with as_service_role(conn):
        if conn.execute(SQL["retry_dead"], {"id": event_id}).fetchone() is None:
            raise Conflict("status: changed meanwhile; reload the event", errors={"status": ["changed meanwhile"]})
        processor.notify(conn)
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
