"""Organizations and their members. User-facing functions run as the caller (RLS decides)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import psycopg

from backend.db import as_service_role, queries_beside
from backend.errors import Conflict, Forbidden, NotFound, TooManyRequests, ValidationFailed
from backend.services import accounts, audit, rate_limit
from backend.services.audit import RequestInfo
from backend.services.events import emit_event
from backend.services.pagination import page_params, paginate
from backend.services.passwords import PasswordHasher

SQL = queries_beside(__file__)
RESETS_PER_USER_PER_HOUR = 5


def create_organization(conn: psycopg.Connection, user_id, name: str, origin: RequestInfo) -> dict:
    """A new organization; its creator becomes its first admin (a trigger adds the membership)."""
    org_id = uuid.uuid4()
    conn.execute(SQL["insert_organization"], {"id": org_id, "name": name.strip(), "created_by": user_id})
    audit.record(
        conn,
        "organization.created",
        organization_id=org_id,
        target_type="organization",
        target_id=org_id,
        metadata={"name": name.strip()},
        origin=origin,
    )
    return conn.execute(SQL["get_organization"], {"id": org_id}).fetchone()


def list_organizations(conn: psycopg.Connection, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
    rows = conn.execute(SQL["list_organizations"], page_params(cursor, limit)).fetchall()
    return paginate(rows, limit)


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


def sole_administered(conn: psycopg.Connection) -> uuid.UUID:
    """The one organization the caller administers, for requests that may leave organization_id
    out; a 422 naming organization_id when they administer none or several."""
    rows = conn.execute(SQL["administered"]).fetchall()
    if len(rows) == 1:
        return rows[0]["organization_id"]
    reason = "you administer no organization" if not rows else "you administer several organizations: name one"
    raise ValidationFailed.field("organization_id", f"is required: {reason}")


@dataclass(frozen=True)
class NewMember:
    membership: dict
    created_account: bool
    reset_token: str | None  # set for a new account: the invitation to choose a password


def add_member(
    conn: psycopg.Connection,
    hasher: PasswordHasher,
    organization_id,
    email: str,
    role: str,
    origin: RequestInfo,
    reset_ttl_seconds: int,
) -> NewMember:
    """Add an existing user by email, or invite a new one (an account without a password)."""
    require_admin(conn, organization_id)
    reset_token = None
    with as_service_role(conn):
        user = accounts.find_by_email(conn, email)
        created = user is None
        if created:
            user_id = accounts.create_user(conn, hasher, email, None, must_change_password=True)
            reset_token = accounts.issue_reset_token(conn, user_id, None, reset_ttl_seconds)
        else:
            user_id = user["id"]
    if conn.execute(SQL["membership"], {"organization_id": organization_id, "user_id": user_id}).fetchone():
        raise Conflict(
            "email: is already a member of this organization",
            errors={"email": ["is already a member of this organization"]},
        )
    membership = conn.execute(
        SQL["insert_membership"], {"organization_id": organization_id, "user_id": user_id, "role": role}
    ).fetchone()
    audit.record(
        conn,
        "membership.created",
        organization_id=organization_id,
        target_type="user",
        target_id=user_id,
        metadata={"role": role, "invited": created},
        origin=origin,
    )
    membership["email"] = accounts.normalize_email(email) if created else user["email"]
    emit_event(
        conn,
        organization_id,
        "user.registered",
        {"user_id": user_id, "email": membership["email"], "role": role, "invited": created},
    )
    return NewMember(membership=membership, created_account=created, reset_token=reset_token)


def list_members(conn: psycopg.Connection, organization_id, limit: int, cursor: str | None):
    require_member(conn, organization_id)
    params = page_params(cursor, limit) | {"organization_id": organization_id}
    rows = conn.execute(SQL["list_members"], params).fetchall()
    return paginate(rows, limit, key=lambda r: (r["created_at"], r["user_id"]))


def request_password_reset(
    conn: psycopg.Connection, organization_id, user_id, origin: RequestInfo, ttl_seconds: int
) -> tuple[str, str]:
    """An org admin sends a member a reset token; returns (email, token) for the mailer only."""
    require_admin(conn, organization_id)
    if conn.execute(SQL["membership"], {"organization_id": organization_id, "user_id": user_id}).fetchone() is None:
        raise NotFound("member not found")
    requested_by = conn.execute("select auth.uid() as id").fetchone()["id"]
    with as_service_role(conn):
        # Each reset cancels the previous link; a cap keeps an admin from flooding someone's inbox.
        sent = rate_limit.hit(conn, f"password_reset:{user_id}", RESETS_PER_USER_PER_HOUR, 3600)
        if not sent.allowed:
            raise TooManyRequests(
                "too many password resets for this user; try again later", retry_after=sent.retry_after
            )
        user = accounts.find_by_id(conn, user_id)
        token = accounts.issue_reset_token(conn, user_id, requested_by, ttl_seconds)
    audit.record(
        conn,
        "auth.password_reset_requested",
        organization_id=organization_id,
        target_type="user",
        target_id=user_id,
        origin=origin,
    )
    return user["email"], token
