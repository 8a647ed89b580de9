"""Events partners push with an API key: checked, stored for the key's organization and fanned out
to its subscriptions (run as service_role: the key, not a user, is the caller)."""

from __future__ import annotations

import math
import uuid

import psycopg

from backend.db import queries_beside
from backend.errors import NotFound, ValidationFailed
from backend.jsonutil import dumps
from backend.services.keys.admission import ApiKey
from backend.services.webhooks import events

SQL = queries_beside(__file__)

MAX_EVENT_TYPE_LENGTH = 128
MAX_EVENT_DATA_BYTES = 64 * 1024
MAX_EVENT_DATA_DEPTH = 32


def check_event_type(name: str) -> str | None:
    """Why a partner may not push this event type, or None when it may."""
    if len(name) > MAX_EVENT_TYPE_LENGTH or not events.EVENT_TYPE.match(name):
        return "must be a dotted lowercase name like partner.course_synced (a-z, 0-9, _; at most 128 characters)"
    return events.custom_type_problem(name)


def check_event_data(data: dict) -> None:
    """Refuse (naming `data`) what is not plain JSON, nests too deep or is too large to store."""
    if not _plain(data, 1):
        raise ValidationFailed.field(
            "data", f"must be plain JSON nested at most {MAX_EVENT_DATA_DEPTH} levels (no NaN or Infinity)"
        )
    if len(dumps(data).encode()) > MAX_EVENT_DATA_BYTES:
        raise ValidationFailed.field(
            "data", f"must be at most {MAX_EVENT_DATA_BYTES} bytes as compact JSON", status=413
        )


def _plain(value, depth: int) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict | list):
        if depth > MAX_EVENT_DATA_DEPTH:
            return False
        items = value.values() if isinstance(value, dict) else value
        return all(_plain(item, depth + 1) for item in items)
    return True


def push_event(conn: psycopg.Connection, key: ApiKey, client_ip: str | None, event_type: str, data: dict) -> uuid.UUID:
    """Store a partner's event for the key's organization and fan it out to subscriptions listing it.

    Run as service_role, like admission: the key, not a user, is the caller.
    """
    event_id = events.emit_event(conn, key.organization_id, event_type, data)
    conn.execute(
        SQL["insert_pushed_event"],
        {"event_id": event_id, "organization_id": key.organization_id, "api_key_id": key.id, "client_ip": client_ip},
    )
    return event_id


def get_pushed_event(conn: psycopg.Connection, key: ApiKey, event_id: uuid.UUID) -> dict:
    """An event pushed through the external API by any key of the same organization (run as service_role)."""
    row = conn.execute(
        SQL["get_pushed_event"], {"event_id": event_id, "organization_id": key.organization_id}
    ).fetchone()
    if row is None:
        raise NotFound("event not found")
    return row
