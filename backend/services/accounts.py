"""Local accounts: users, password login with throttling, browser sessions and password resets.

Every function takes a connection already running as service_role (these tables hold secrets,
hashes, that no user role may read), but for `authenticate`, which runs its own transactions.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

import psycopg

from backend.db import Database, queries_beside
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
class NewSession:
    token: str  # the cookie value, stored only as its hash
    id: uuid.UUID  # what the access tokens of this sign-in name as session_id


@dataclass(frozen=True)
class LoginResult:
    user: dict | None = None
    session: NewSession | None = None  # when signed in
    retry_after: int | None = None  # set when throttled

    @property
    def throttled(self) -> bool:
        return self.retry_after is not None


def count_guess(
    conn: psycopg.Connection, buckets: list[tuple[str, int]], window_seconds: int
) -> tuple[str, rate_limit.Decision] | None:
    """Count a guess (a password login, a current-password check) in each (bucket, limit) before
    it is checked, each count one atomic statement, so parallel guesses cannot all slip under the
    limit. None when every bucket admits it; else the full bucket and its refusal, with nothing
    counted. `forgive_guess` takes the counts back when the guess proves right."""
    counted = []
    for bucket, limit in buckets:
        decision = rate_limit.hit(conn, bucket, limit, window_seconds)
        if not decision.allowed:
            forgive_guess(conn, counted, window_seconds)
            return bucket, decision
        counted.append((bucket, limit))
    return None


def forgive_guess(conn: psycopg.Connection, buckets: list[tuple[str, int]], window_seconds: int) -> None:
    for bucket, _ in buckets:
        rate_limit.release(conn, bucket, window_seconds)


def authenticate(
    db: Database,
    hasher: PasswordHasher,
    email: str,
    password: str,
    limits: LoginLimits,
    origin: RequestInfo,
    session_ttl_seconds: int,
) -> LoginResult:
    """A password login, audited, with a new session when it succeeds.

    The guess is counted per email and per IP in its own committed transaction before the
    password is checked: parallel guesses cannot outrun the limits, and no counter row stays
    locked while argon2 runs. A right password is forgiven its count.
    """
    buckets = [
        (f"login:email:{normalize_email(email).lower()}", limits.max_failures_per_email),
        (f"login:ip:{origin.ip or 'unknown'}", limits.max_failures_per_ip),
    ]
    with db.transaction("service_role") as conn:
        refused = count_guess(conn, buckets, limits.window_seconds)
        if refused is not None:
            bucket, decision = refused
            scope = bucket.split(":")[1]
            audit.record(conn, "auth.login_throttled", metadata={"email": email, "scope": scope}, origin=origin)
            return LoginResult(retry_after=decision.retry_after)
        user = find_by_email(conn, email)
    ok = hasher.verify(user["password_hash"] if user else None, password)
    with db.transaction("service_role") as conn:
        if not ok:
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
        forgive_guess(conn, buckets, limits.window_seconds)
        if hasher.needs_rehash(user["password_hash"]):
            conn.execute(SQL["rehash_password"], {"user_id": user["id"], "password_hash": hasher.hash(password)})
        audit.record(
            conn, "auth.login_succeeded", target_type="user", target_id=user["id"], origin=origin, actor_id=user["id"]
        )
        session = create_session(conn, user["id"], session_ttl_seconds, origin)
    return LoginResult(user=user, session=session)


def create_session(conn: psycopg.Connection, user_id, ttl_seconds: int, origin: RequestInfo) -> NewSession:
    """A new session of a sign-in: its cookie, and its id for the access tokens issued with it."""
    token = new_token()
    row = conn.execute(
        SQL["insert_session"],
        {
            "user_id": user_id,
            "token_hash": hash_token(token),
            "ttl": ttl_seconds,
            "ip": origin.ip,
            "user_agent": (origin.user_agent or "")[:512] or None,
        },
    ).fetchone()
    return NewSession(token, row["id"])


def find_session(conn: psycopg.Connection, token: str) -> dict | None:
    return conn.execute(SQL["find_session"], {"token_hash": hash_token(token)}).fetchone()


def revoke_session(conn: psycopg.Connection, token: str | None = None, session_id=None):
    """End a session, named by its cookie or by its id (a bearer token's session_id); its user, or None."""
    if token is not None:
        row = conn.execute(SQL["revoke_session"], {"token_hash": hash_token(token)}).fetchone()
    else:
        row = conn.execute(SQL["revoke_session_by_id"], {"id": session_id}).fetchone()
    return row["user_id"] if row else None


def session_alive(conn: psycopg.Connection, session_id) -> bool:
    return conn.execute(SQL["session_alive"], {"id": session_id}).fetchone()["alive"]


def issue_reset_token(conn: psycopg.Connection, user_id, requested_by, ttl_seconds: int, organization_id) -> str:
    """A single-use reset token asked for by one organization; its earlier unused tokens for the
    user stop working, another organization's do not."""
    conn.execute(SQL["invalidate_organization_reset_tokens"], {"user_id": user_id, "organization_id": organization_id})
    token = new_token()
    conn.execute(
        SQL["insert_reset_token"],
        {
            "user_id": user_id,
            "token_hash": hash_token(token),
            "requested_by": requested_by,
            "ttl": ttl_seconds,
            "organization_id": organization_id,
        },
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
