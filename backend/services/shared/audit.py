"""Audit entries for security-relevant actions; the actor is taken from the transaction's identity."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg.types.json import Jsonb


@dataclass(frozen=True)
class RequestInfo:
    """Where an action came from, passed explicitly so services never read flask.request."""

    ip: str | None = None
    user_agent: str | None = None


def record(
    conn: psycopg.Connection,
    action: str,
    *,
    organization_id=None,
    target_type: str | None = None,
    target_id=None,
    metadata: dict | None = None,
    origin: RequestInfo | None = None,
    actor_id=None,
) -> int:
    """Write one audit entry in the caller's transaction.

    `actor_id` is honoured only for system work (service_role); a user's transaction is always
    recorded as that user.
    """
    origin = origin or RequestInfo()
    row = conn.execute(
        "select private.write_audit(%s, %s, %s, %s, %s, %s, %s, %s) as id",
        (
            organization_id,
            action,
            target_type,
            str(target_id) if target_id is not None else None,
            Jsonb(metadata or {}),
            origin.ip,
            origin.user_agent,
            actor_id,
        ),
    ).fetchone()
    return row["id"]
