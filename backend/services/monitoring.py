"""Operational read models: delivery metrics, time series, recent deliveries and the audit log.

Each function runs in the caller's transaction, as `scoped` chooses it: an org admin's own (RLS
applies too), or service_role for a platform admin reading across organizations.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from backend.db import as_service_role, queries_beside
from backend.errors import Forbidden
from backend.services.shared.ownership import require_admin
from backend.services.shared.pagination import page_params, paginate

SQL = queries_beside(__file__)


@contextmanager
def scoped(conn: psycopg.Connection, organization_id) -> Iterator[psycopg.Connection]:
    """The connection to read with. One organization: its admins' own connection. None: service_role
    for a platform admin (every organization), else the caller's own connection, where RLS leaves
    exactly the organizations they administer; anyone who administers none is refused."""
    if organization_id is not None:
        require_admin(conn, organization_id)
        yield conn
        return
    standing = conn.execute(SQL["standing"]).fetchone()
    if standing["platform_admin"]:
        with as_service_role(conn):
            yield conn
        return
    if not standing["org_admin"]:
        raise Forbidden("only org admins and platform admins read monitoring; you administer no organization")
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
