"""Organizations and their members (who join by invitation: invitations.py). User-facing functions run
as the caller (RLS decides)."""

from __future__ import annotations

import uuid

import psycopg

from backend.db import as_service_role, queries_beside
from backend.errors import NotFound, TooManyRequests
from backend.services.accounts import resets, users
from backend.services.shared import audit, rate_limit
from backend.services.shared.audit import RequestInfo
from backend.services.shared.ownership import caller_id, require_admin, require_member
from backend.services.shared.pagination import page_params, paginate

SQL = queries_beside(__file__)
RESETS_PER_USER_PER_HOUR = 5


def create_organization(
    conn: psycopg.Connection, user_id, name: str, origin: RequestInfo, *, via: str | None = None
) -> dict:
    """A new organization; its creator becomes its first admin (a trigger adds the membership).

    `via` names a system path (the CLI) that runs this as service_role for `user_id`; the audit
    entry says so."""
    org_id = uuid.uuid4()
    conn.execute(SQL["insert_organization"], {"id": org_id, "name": name.strip(), "created_by": user_id})
    audit.record(
        conn,
        "organization.created",
        organization_id=org_id,
        target_type="organization",
        target_id=org_id,
        metadata={"name": name.strip()} | ({"via": via} if via else {}),
        origin=origin,
        actor_id=user_id,
    )
    return conn.execute(SQL["get_organization"], {"id": org_id}).fetchone()


def list_organizations(conn: psycopg.Connection, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
    rows = conn.execute(SQL["list_organizations"], page_params(cursor, limit)).fetchall()
    return paginate(rows, limit)


def list_members(conn: psycopg.Connection, organization_id, limit: int, cursor: str | None):
    require_member(conn, organization_id)
    params = page_params(cursor, limit) | {"organization_id": organization_id}
    rows = conn.execute(SQL["list_members"], params).fetchall()
    return paginate(rows, limit, key=lambda r: (r["created_at"], r["user_id"]))


def remove_member(conn: psycopg.Connection, organization_id, user_id, origin: RequestInfo) -> None:
    """An org admin removes a member (another admin too, never the last one: 409)."""
    require_admin(conn, organization_id)
    _end_membership(conn, organization_id, user_id, "membership.removed", origin)


def leave(conn: psycopg.Connection, organization_id, origin: RequestInfo) -> None:
    """The caller leaves an organization (its last admin cannot: 409)."""
    require_member(conn, organization_id)
    _end_membership(conn, organization_id, caller_id(conn), "membership.left", origin)


def _end_membership(conn: psycopg.Connection, organization_id, user_id, action: str, origin: RequestInfo) -> None:
    # Recorded first, while the caller is still a member of the log's organization; the delete's
    # refusal (the last admin, by trigger, whatever else runs at once) rolls both back.
    membership = conn.execute(SQL["membership"], {"organization_id": organization_id, "user_id": user_id}).fetchone()
    if membership is None:
        raise NotFound("member not found")
    audit.record(
        conn,
        action,
        organization_id=organization_id,
        target_type="user",
        target_id=user_id,
        metadata={"role": membership["role"]},
        origin=origin,
    )
    if conn.execute(SQL["delete_membership"], {"organization_id": organization_id, "user_id": user_id}).rowcount != 1:
        raise NotFound("member not found")


def request_password_reset(
    conn: psycopg.Connection, organization_id, user_id, origin: RequestInfo, ttl_seconds: int
) -> tuple[str, str, str]:
    """An org admin sends a member a reset token; returns (email, token, organization name) for the
    mailer only. Only a member can be sent one, and members are only those who accepted."""
    require_admin(conn, organization_id)
    if conn.execute(SQL["membership"], {"organization_id": organization_id, "user_id": user_id}).fetchone() is None:
        raise NotFound("member not found")
    requested_by = caller_id(conn)
    with as_service_role(conn):
        # A cap per organization keeps an admin from flooding someone's inbox, and never stops
        # another organization's reset.
        sent = rate_limit.hit(conn, f"password_reset:{organization_id}:{user_id}", RESETS_PER_USER_PER_HOUR, 3600)
        if not sent.allowed:
            raise TooManyRequests(
                "too many password resets for this user; try again later", retry_after=sent.retry_after
            )
        user = users.find_by_id(conn, user_id)
        token = resets.issue_reset_token(conn, user_id, requested_by, ttl_seconds, organization_id)
        name = conn.execute(SQL["organization_name"], {"id": organization_id}).fetchone()["name"]
    audit.record(
        conn,
        "auth.password_reset_requested",
        organization_id=organization_id,
        target_type="user",
        target_id=user_id,
        origin=origin,
    )
    return user["email"], token, name
