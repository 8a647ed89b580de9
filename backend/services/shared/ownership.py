"""Who may act on what: the caller's membership of an organization, and "404 unless you administer
the owner" for rows found by id. Runs in the caller's transaction, as the caller (RLS decides)."""

from __future__ import annotations

import uuid

import psycopg

from backend.db import as_service_role, queries_beside
from backend.errors import Forbidden, NotFound, ValidationFailed

SQL = queries_beside(__file__)


def caller_id(conn: psycopg.Connection) -> uuid.UUID | None:
    """The user the transaction runs as (auth.uid())."""
    return conn.execute(SQL["caller"]).fetchone()["id"]


def require_member(conn: psycopg.Connection, organization_id) -> None:
    """404 unless the caller belongs to the organization (its existence is not disclosed)."""
    if not conn.execute(SQL["role_in"], {"org": organization_id}).fetchone()["member"]:
        raise NotFound("organization not found")


def require_admin(conn: psycopg.Connection, organization_id) -> None:
    """404 for strangers, 403 for members who are not admins."""
    roles = conn.execute(SQL["role_in"], {"org": organization_id}).fetchone()
    if not roles["member"]:
        raise NotFound("organization not found")
    if not roles["admin"]:
        raise Forbidden("only organization admins may do this")


def require_admin_of(conn: psycopg.Connection, owner_query: str, params: dict, what: str) -> uuid.UUID:
    """The organization owning a row the caller administers, found by `owner_query` (which selects
    its organization_id). Strangers get the same 404 as for an id that does not exist; members of
    the organization get 403. RLS hides such rows from members entirely, so the owner is looked up
    as service_role, and nothing but its organization is read that way."""
    with as_service_role(conn):
        row = conn.execute(owner_query, params).fetchone()
    if row is None:
        raise NotFound(f"{what} not found")
    try:
        require_admin(conn, row["organization_id"])
    except NotFound:
        raise NotFound(f"{what} not found") from None
    return row["organization_id"]


def sole_administered(conn: psycopg.Connection) -> uuid.UUID:
    """The one organization the caller administers, for requests that may leave organization_id
    out; a 422 naming organization_id when they administer none or several."""
    rows = conn.execute(SQL["administered"]).fetchall()
    if len(rows) == 1:
        return rows[0]["organization_id"]
    reason = "you administer no organization" if not rows else "you administer several organizations: name one"
    raise ValidationFailed.field("organization_id", f"is required: {reason}")
