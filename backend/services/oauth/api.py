"""What the protected API (/api/v1) reads, run as the token's user so RLS decides, and narrowed
to the organization of the client the user authorized."""

from __future__ import annotations

import psycopg

from backend.db import queries_beside
from backend.errors import NotFound
from backend.services.shared.ownership import require_member
from backend.services.shared.pagination import page_params, paginate

SQL = queries_beside(__file__)


def me(conn: psycopg.Connection, organization_id) -> dict:
    row = conn.execute(SQL["me"], {"organization_id": organization_id}).fetchone()
    if row is None:
        raise NotFound("user not found")
    organization = (
        {"id": row["organization_id"], "name": row["organization_name"], "role": row["role"]}
        if row["organization_id"] is not None
        else None
    )
    return {"id": row["id"], "email": row["email"], "display_name": row["display_name"], "organization": organization}


def quests(conn: psycopg.Connection, organization_id, limit: int, cursor: str | None):
    """The organization's quests, newest first; 404 once the user is no longer a member."""
    rows = conn.execute(SQL["quests"], page_params(cursor, limit) | {"organization_id": organization_id}).fetchall()
    if not rows:
        require_member(conn, organization_id)  # empty, or hidden by RLS: only then is it worth asking
    return paginate(rows, limit)


def progress(conn: psycopg.Connection, organization_id, limit: int, cursor: str | None) -> dict:
    """The caller's progress per quest of the organization, newest quest first, with totals."""
    rows = conn.execute(SQL["progress"], page_params(cursor, limit) | {"organization_id": organization_id}).fetchall()
    if not rows:
        require_member(conn, organization_id)
    rows, next_cursor = paginate(rows, limit, key=lambda r: (r["created_at"], r["quest_id"]))
    for row in rows:
        row["completed"] = row["tasks_total"] > 0 and row["tasks_completed"] == row["tasks_total"]
        row.pop("created_at")
    totals = conn.execute(SQL["totals"], {"organization_id": organization_id}).fetchone()
    return {"data": rows, "next_cursor": next_cursor, "totals": totals}
