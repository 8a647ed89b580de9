"""Operational read models: delivery metrics, time series, recent deliveries and the audit log.

Each function runs in the caller's transaction. For one organization that is the admin's own
transaction (RLS applies too); platform-wide reads switch to service_role after
`require_platform_admin` has checked the caller.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from backend.db import as_service_role, queries_beside
from backend.errors import Forbidden
from backend.services.organizations import require_admin
from backend.services.pagination import page_params, paginate

SQL = queries_beside(__file__)


def require_platform_admin(conn: psycopg.Connection) -> None:
    if not conn.execute(SQL["is_platform_admin"]).fetchone()["yes"]:
        raise Forbidden("only platform admins may read across organizations; pass organization_id")


@contextmanager
def scoped(conn: psycopg.Connection, organization_id) -> Iterator[psycopg.Connection]:
    """The connection to read with: the org admin's own, or service_role for a platform admin."""
    if organization_id is not None:
        require_admin(conn, organization_id)
        yield conn
        return
    require_platform_admin(conn)
    with as_service_role(conn):
        yield conn


def delivery_metrics(conn: psycopg.Connection, organization_id, window_hours: int) -> dict:
    row = conn.execute(
        SQL["delivery_metrics"], {"organization_id": organization_id, "window_hours": window_hours}
    ).fetchone()
    return {
        **row,
        "p50_latency_ms": _ms(row["p50_latency_ms"]),
        "p99_latency_ms": _ms(row["p99_latency_ms"]),
        "window_hours": window_hours,
    }


def delivery_timeseries(conn: psycopg.Connection, organization_id, minutes: int) -> list[dict]:
    rows = conn.execute(SQL["delivery_timeseries"], {"organization_id": organization_id, "minutes": minutes})
    return [
        {**row, "p50_latency_ms": _ms(row["p50_latency_ms"]), "p99_latency_ms": _ms(row["p99_latency_ms"])}
        for row in rows
    ]


def recent_deliveries(conn: psycopg.Connection, organization_id, status: str | None, event_type: str | None):
    return conn.execute(
        SQL["recent_deliveries"], {"organization_id": organization_id, "status": status, "event_type": event_type}
    ).fetchall()


def audit_entries(conn: psycopg.Connection, organization_id, action: str | None, limit: int, cursor: str | None):
    params = {"organization_id": organization_id, "action": action} | page_params(cursor, limit, ids=int)
    rows = conn.execute(SQL["audit_entries"], params).fetchall()
    return paginate(rows, limit)


def _ms(value) -> float | None:
    return None if value is None else round(float(value), 2)
