"""Browser sessions of a sign-in: created with a cookie kept only as its hash, checked, ended.

Every function takes a connection already running as service_role: the table holds token hashes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import psycopg

from backend.db import queries_beside
from backend.services.shared.audit import RequestInfo
from backend.services.shared.digest import new_token, secret_digest

SQL = queries_beside(__file__)


@dataclass(frozen=True)
class NewSession:
    token: str  # the cookie value, stored only as its hash
    id: uuid.UUID  # what the access tokens of this sign-in name as session_id


def create_session(conn: psycopg.Connection, user_id, ttl_seconds: int, origin: RequestInfo) -> NewSession:
    """A new session of a sign-in: its cookie, and its id for the access tokens issued with it."""
    token = new_token()
    row = conn.execute(
        SQL["insert_session"],
        {
            "user_id": user_id,
            "token_hash": secret_digest(token),
            "ttl": ttl_seconds,
            "ip": origin.ip,
            "user_agent": (origin.user_agent or "")[:512] or None,
        },
    ).fetchone()
    return NewSession(token, row["id"])


def find_session(conn: psycopg.Connection, token: str) -> dict | None:
    return conn.execute(SQL["find_session"], {"token_hash": secret_digest(token)}).fetchone()


def revoke_session(conn: psycopg.Connection, token: str | None = None, session_id=None):
    """End a session, named by its cookie or by its id (a bearer token's session_id); its user, or None."""
    if token is not None:
        row = conn.execute(SQL["revoke_session"], {"token_hash": secret_digest(token)}).fetchone()
    else:
        row = conn.execute(SQL["revoke_session_by_id"], {"id": session_id}).fetchone()
    return row["user_id"] if row else None


def revoke_user_sessions(conn: psycopg.Connection, user_id) -> None:
    """End every session of a user (a new password)."""
    conn.execute(SQL["revoke_user_sessions"], {"user_id": user_id})


def session_alive(conn: psycopg.Connection, session_id) -> bool:
    return conn.execute(SQL["session_alive"], {"id": session_id}).fetchone()["alive"]


def delete_expired(conn: psycopg.Connection) -> int:
    """Forget sessions a day after they expired or were ended; how many went."""
    return conn.execute(SQL["delete_expired"]).rowcount
