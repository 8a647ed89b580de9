"""Password reset tokens: single use, asked for by an organization, kept only as their hash.

Every function takes a connection already running as service_role: the table holds token hashes.
"""

from __future__ import annotations

import psycopg

from backend.db import queries_beside
from backend.services.shared.digest import new_token, secret_digest

SQL = queries_beside(__file__)


def issue_reset_token(conn: psycopg.Connection, user_id, requested_by, ttl_seconds: int, organization_id) -> str:
    """A single-use reset token asked for by one organization; its earlier unused tokens for the
    user stop working, another organization's do not."""
    conn.execute(SQL["invalidate_organization_reset_tokens"], {"user_id": user_id, "organization_id": organization_id})
    token = new_token()
    conn.execute(
        SQL["insert_reset_token"],
        {
            "user_id": user_id,
            "token_hash": secret_digest(token),
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
    row = conn.execute(SQL["consume_reset_token"], {"token_hash": secret_digest(token)}).fetchone()
    return {"id": row["user_id"], "email": row["email"]} if row else None


def invalidate_reset_tokens(conn: psycopg.Connection, user_id) -> None:
    """Every unused reset token of a user stops working (its password was just set)."""
    conn.execute(SQL["invalidate_reset_tokens"], {"user_id": user_id})


def delete_expired(conn: psycopg.Connection) -> int:
    """Forget reset tokens a day after they expired; how many went."""
    return conn.execute(SQL["delete_expired"]).rowcount
