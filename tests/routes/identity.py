"""What the identity tests share: the test JWT secret, audit reads, Supabase claims, reset links."""

from __future__ import annotations

import time
import uuid

import pytest
from psycopg import sql

from tests.mail import RESET_LINK, link_token

JWT_SECRET = "test-jwt-secret-" + "y" * 32  # what make_config gives every app
NEW_PASSWORD = "a brand new passphrase 42"


def audit_rows(db, action_prefix: str = "auth.") -> list[dict]:
    with db.transaction("service_role") as conn:
        return conn.execute(
            "select action, actor_id, target_id, host(ip) as ip, metadata from public.audit_log "
            "where action like %s order by id",
            (action_prefix + "%",),
        ).fetchall()


def lifetimes(db, table: str, user_id) -> list[float]:
    """Seconds from creation to expiry of each of a user's rows in `table` (sessions, reset tokens)."""
    query = sql.SQL(
        "select extract(epoch from expires_at - created_at) as s from {} where user_id = %s order by created_at"
    )
    with db.transaction("service_role") as conn:
        return [float(r["s"]) for r in conn.execute(query.format(sql.Identifier("public", table)), (user_id,))]


def supabase_claims(user_id=None, **overrides) -> dict:
    now = int(time.time())
    claims = {
        "iss": "https://project.supabase.co/auth/v1",
        "sub": str(user_id or uuid.uuid4()),
        "aud": "authenticated",
        "role": "authenticated",
        "email": "supabase-user@example.test",
        "iat": now,
        "exp": now + 600,
        "session_id": str(uuid.uuid4()),  # Supabase's own session, unknown to us
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def reset_token_from(message) -> str:
    return link_token(message, RESET_LINK)


def sign_in(client, email, password, ip="127.0.0.1", headers=None):
    return client.post(
        "/api/auth/login",
        json={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": ip},
        headers=headers or {},
    )


WEAK_PASSWORDS = [
    pytest.param("short1", "at least", id="too-short"),
    pytest.param("aaaaaaaaaaaaaaaa", "too simple", id="too-simple"),
    pytest.param("x" * 200 + "yz12" * 20, "at most", id="too-long"),
]
