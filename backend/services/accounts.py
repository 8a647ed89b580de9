"""Local accounts: users, password login with throttling, browser sessions and password resets.

Every function takes a connection already running as service_role: these tables hold secrets
(hashes) that no user role may read.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

import psycopg

from backend.db import queries_beside
from backend.services import audit, rate_limit
from backend.services.audit import RequestInfo
from backend.services.passwords import PasswordHasher

SQL = queries_beside(__file__)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def normalize_email(email: str) -> str:
    return email.strip()


def create_user(
    conn: psycopg.Connection,
    hasher: PasswordHasher,
    email: str,
    password: str | None = None,
    *,
    must_change_password: bool = False,
    display_name: str | None = None,
) -> uuid.UUID:
    """A new local account (auth.users + profile + credentials); password None means invite-only."""
    user_id = uuid.uuid4()
    email = normalize_email(email)
    conn.execute(SQL["insert_auth_user"], {"id": user_id, "email": email})
    conn.execute(SQL["insert_profile"], {"id": user_id, "email": email, "display_name": display_name})
    conn.execute(
        SQL["insert_credentials"],
        {
            "user_id": user_id,
            "password_hash": hasher.hash(password) if password is not None else None,
            "must_change_password": must_change_password or password is None,
        },
    )
    return user_id


def find_by_email(conn: psycopg.Connection, email: str) -> dict | None:
    return conn.execute(SQL["find_by_email"], {"email": normalize_email(email)}).fetchone()


def find_by_id(conn: psycopg.Connection, user_id) -> dict | None:
    return conn.execute(SQL["find_by_id"], {"id": user_id}).fetchone()


@dataclass(frozen=True)
class LoginLimits:
    window_seconds: int
    max_failures_per_email: int
    max_failures_per_ip: int


@dataclass(frozen=True)
class LoginResult:
    user: dict | None = None
    retry_after: int | None = None  # set when throttled

    @property
    def throttled(self) -> bool:
        return self.retry_after is not None


def authenticate(
    conn: psycopg.Connection,
    hasher: PasswordHasher,
    email: str,
    password: str,
    limits: LoginLimits,
    origin: RequestInfo,
) -> LoginResult:
    """Check a password login; failures are counted per email and per IP and audited.

    Returns instead of raising so the caller commits the failure count and audit entry.
    """
    email_bucket = f"login:email:{normalize_email(email).lower()}"
    ip_bucket = f"login:ip:{origin.ip or 'unknown'}"
    for bucket, limit in (
        (email_bucket, limits.max_failures_per_email),
        (ip_bucket, limits.max_failures_per_ip),
    ):
        decision = rate_limit.check(conn, bucket, limit, limits.window_seconds)
        if not decision.allowed:
            scope = bucket.split(":")[1]
            audit.record(conn, "auth.login_throttled", metadata={"email": email, "scope": scope}, origin=origin)
            return LoginResult(retry_after=decision.retry_after)

    user = find_by_email(conn, email)
    ok = hasher.verify(user["password_hash"] if user else None, password)
    if not ok:
        rate_limit.add(conn, email_bucket, limits.window_seconds)
        rate_limit.add(conn, ip_bucket, limits.window_seconds)
        audit.record(
            conn,
            "auth.login_failed",
            target_type="user" if user else None,
            target_id=user["id"] if user else None,
            metadata={"email": email, "reason": "invalid_credentials"},
            origin=origin,
            actor_id=user["id"] if user else None,
        )
        return LoginResult()
    if hasher.needs_rehash(user["password_hash"]):
        conn.execute(SQL["rehash_password"], {"user_id": user["id"], "password_hash": hasher.hash(password)})
    audit.record(
        conn, "auth.login_succeeded", target_type="user", target_id=user["id"], origin=origin, actor_id=user["id"]
    )
    return LoginResult(user=user)


def create_session(conn: psycopg.Connection, user_id, ttl_seconds: int, origin: RequestInfo) -> str:
    """A new browser session; returns the cookie value (stored only as its hash)."""
    token = new_token()
    conn.execute(
        SQL["insert_session"],
        {
            "user_id": user_id,
            "token_hash": hash_token(token),
            "ttl": ttl_seconds,
            "ip": origin.ip,
            "user_agent": (origin.user_agent or "")[:512] or None,
        },
    )
    return token


def find_session(conn: psycopg.Connection, token: str) -> dict | None:
    return conn.execute(SQL["find_session"], {"token_hash": hash_token(token)}).fetchone()


def revoke_session(conn: psycopg.Connection, token: str):
    row = conn.execute(SQL["revoke_session"], {"token_hash": hash_token(token)}).fetchone()
    return row["user_id"] if row else None


def issue_reset_token(conn: psycopg.Connection, user_id, requested_by, ttl_seconds: int) -> str:
    """A single-use reset token; any earlier unused token of the user stops working."""
    conn.execute(SQL["invalidate_reset_tokens"], {"user_id": user_id})
    token = new_token()
    conn.execute(
        SQL["insert_reset_token"],
        {"user_id": user_id, "token_hash": hash_token(token), "requested_by": requested_by, "ttl": ttl_seconds},
    )
    return token


def consume_reset_token(conn: psycopg.Connection, token: str) -> dict | None:
    """Spend a reset token; returns its user ({id, email}), or None when invalid, expired or used.

    The caller sets the password in the same transaction, or rolls back to leave the token usable.
    """
    row = conn.execute(SQL["consume_reset_token"], {"token_hash": hash_token(token)}).fetchone()
    return {"id": row["user_id"], "email": row["email"]} if row else None


def set_password(conn: psycopg.Connection, hasher: PasswordHasher, user_id, new_password: str) -> None:
    """Store a new password, clear must_change_password and end every existing session."""
    conn.execute(
        SQL["update_password_hash"],
        {"user_id": user_id, "password_hash": hasher.hash(new_password), "must_change_password": False},
    )
    conn.execute(SQL["revoke_user_sessions"], {"user_id": user_id})
    conn.execute(SQL["invalidate_reset_tokens"], {"user_id": user_id})


def my_profile(conn: psycopg.Connection) -> dict | None:
    """The caller's profile; runs as the user (authenticated)."""
    return conn.execute(SQL["my_profile"]).fetchone()


def my_organizations(conn: psycopg.Connection) -> list[dict]:
    return conn.execute(SQL["my_organizations"]).fetchall()


def delete_expired(conn: psycopg.Connection) -> dict:
    return conn.execute(SQL["delete_expired"]).fetchone()
