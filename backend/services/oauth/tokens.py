"""Storage of codes, grants, refresh and access tokens and consents; single use is made atomic here.

Codes and refresh tokens are stored as SHA-256 hashes. Redeeming a code or a refresh token locks
its row, so of two concurrent uses one wins and the other is seen as a replay, which revokes the
grant: the tokens already issued from that code, or the whole refresh-token family. Access tokens
are JWTs; their jti row is what makes revocation take effect at the API at once.
Every function takes a connection running as service_role unless it says "as the user".
"""

from __future__ import annotations

import uuid

import psycopg

from backend.db import as_service_role, queries_beside
from backend.errors import NotFound
from backend.services.shared import audit
from backend.services.shared.audit import RequestInfo
from backend.services.shared.digest import secret_digest
from backend.services.shared.pagination import page_params, paginate

SQL = queries_beside(__file__)


# -- authorization codes -----------------------------------------------------------------------


def save_code(
    conn: psycopg.Connection,
    code: str,
    *,
    client_id: str,
    user_id,
    redirect_uri: str | None,
    scope: str,
    code_challenge: str | None,
    code_challenge_method: str | None,
    ttl_seconds: int,
    nonce: str | None = None,
    auth_time=None,
) -> None:
    """`nonce` and `auth_time` (when the user signed in) go into the id_token of an openid code."""
    conn.execute(
        SQL["insert_code"],
        {
            "code_hash": secret_digest(code),
            "client_id": client_id,
            "user_id": user_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "code_challenge": code_challenge,
            "code_challenge_method": code_challenge_method,
            "nonce": nonce,
            "auth_time": auth_time,
            "ttl": ttl_seconds,
        },
    )


def redeem_code(conn: psycopg.Connection, code: str, client_id: str) -> dict | None:
    """Spend a code issued to `client_id`: its row, or None when unknown, expired or already used.

    A code used before is a replay: the grant it produced is revoked with its tokens, and the
    caller's transaction must commit for that to hold (the error response does not roll back).
    """
    row = conn.execute(SQL["lock_code"], {"code_hash": secret_digest(code)}).fetchone()
    if row is None or row["client_id"] != client_id:
        return None
    if row["used_at"] is not None:
        if row["grant_id"] is not None:
            revoke_grant(conn, row["grant_id"], "authorization_code_replayed")
        return None
    conn.execute(SQL["mark_code_used"], {"code_hash": row["code_hash"]})
    if row["expired"]:
        return None
    return row


def link_code_to_grant(conn: psycopg.Connection, code_hash: bytes, grant_id) -> None:
    conn.execute(SQL["link_code_to_grant"], {"code_hash": code_hash, "grant_id": grant_id})


# -- grants and tokens ---------------------------------------------------------------------------


def create_grant(conn: psycopg.Connection, *, client_id: str, user_id, organization_id, scope: str, ttl_seconds: int):
    """A new token family (refresh tokens rotate inside it, up to its absolute expiry)."""
    row = conn.execute(
        SQL["insert_grant"],
        {
            "client_id": client_id,
            "user_id": user_id,
            "organization_id": organization_id,
            "scope": scope,
            "ttl": ttl_seconds,
        },
    ).fetchone()
    return row["id"]


def save_access_token(
    conn: psycopg.Connection,
    *,
    jti,
    client_id: str,
    grant_id,
    user_id,
    organization_id,
    scope: str,
    issued_at: int,
    expires_at: int,
) -> None:
    conn.execute(
        SQL["insert_access_token"],
        {
            "jti": jti,
            "client_id": client_id,
            "grant_id": grant_id,
            "user_id": user_id,
            "organization_id": organization_id,
            "scope": scope,
            "issued_at": issued_at,
            "expires_at": expires_at,
        },
    )


def save_refresh_token(conn: psycopg.Connection, token: str, grant_id, scope: str) -> None:
    conn.execute(
        SQL["insert_refresh_token"], {"token_hash": secret_digest(token), "grant_id": grant_id, "scope": scope}
    )


def redeem_refresh_token(conn: psycopg.Connection, token: str) -> dict | None:
    """The live refresh token's row, locked for rotation; None when unknown, expired or revoked.

    A refresh token that was already rotated is being reused (a leak or a replay): the whole
    grant is revoked, and the caller's transaction must commit for that to hold.
    """
    row = conn.execute(SQL["lock_refresh_token"], {"token_hash": secret_digest(token)}).fetchone()
    if row is None:
        return None
    if row["rotated_at"] is not None:
        revoke_grant(conn, row["grant_id"], "refresh_token_reused")
        return None
    if row["revoked_at"] is not None or row["expired"]:
        return None
    return row


def find_refresh_token(conn: psycopg.Connection, token: str) -> dict | None:
    return conn.execute(SQL["find_refresh_token"], {"token_hash": secret_digest(token)}).fetchone()


def mark_rotated(conn: psycopg.Connection, token_hash: bytes) -> None:
    conn.execute(SQL["rotate_refresh_token"], {"token_hash": token_hash})


def revoke_grant(conn: psycopg.Connection, grant_id, reason: str) -> None:
    """The grant, its refresh tokens and every access token it produced stop working."""
    conn.execute(SQL["revoke_grant"], {"grant_id": grant_id, "reason": reason})


def revoke_access_token(conn: psycopg.Connection, jti) -> None:
    conn.execute(SQL["revoke_access_token"], {"jti": jti})


def _ids(jti, sub) -> dict | None:
    try:
        return {"jti": uuid.UUID(str(jti)), "sub": uuid.UUID(str(sub))}
    except ValueError:
        return None


def active_access_token(conn: psycopg.Connection, jti, sub) -> dict | None:
    """{user_id, organization_id, client_id, scope} of a live (unexpired, unrevoked) access token."""
    ids = _ids(jti, sub)
    return conn.execute(SQL["active_access_token"], ids).fetchone() if ids else None


def enter_as_token(conn: psycopg.Connection, jti, sub) -> dict | None:
    """In a fresh transaction with no identity yet: if the token is live, make the transaction its
    user's (role authenticated, their claims) and return the token's row; else None."""
    ids = _ids(jti, sub)
    return conn.execute(SQL["enter_as_token"], ids).fetchone() if ids else None


def find_access_token(conn: psycopg.Connection, jti) -> dict | None:
    try:
        jti = uuid.UUID(str(jti))
    except ValueError:
        return None
    return conn.execute(SQL["find_access_token"], {"jti": jti}).fetchone()


# -- consents and the user's authorized applications ---------------------------------------------


def consented_scopes(conn: psycopg.Connection, user_id, client_id: str) -> set[str]:
    row = conn.execute(SQL["find_consent"], {"user_id": user_id, "client_id": client_id}).fetchone()
    return set(row["scopes"]) if row else set()


def record_consent(
    conn: psycopg.Connection, *, user_id, client_id: str, organization_id, scopes: list[str], origin: RequestInfo
) -> None:
    conn.execute(SQL["record_consent"], {"user_id": user_id, "client_id": client_id, "scopes": sorted(scopes)})
    audit.record(
        conn,
        "oauth_consent.granted",
        organization_id=organization_id,
        target_type="oauth_client",
        target_id=client_id,
        metadata={"scopes": sorted(scopes)},
        origin=origin,
        actor_id=user_id,
    )


def list_authorizations(conn: psycopg.Connection, limit: int, cursor: str | None):
    """The applications the caller authorized, newest first (as the user)."""
    rows = conn.execute(SQL["list_authorizations"], page_params(cursor, limit)).fetchall()
    rows, next_cursor = paginate(rows, limit, key=lambda r: (r["created_at"], r["cursor_id"]))
    return [{k: v for k, v in row.items() if k != "cursor_id"} for row in rows], next_cursor


def revoke_authorization(conn: psycopg.Connection, user_id, client_id: str, origin: RequestInfo) -> dict:
    """Forget the caller's consent to an application and revoke every token it holds for them (as the user)."""
    if conn.execute(SQL["delete_consent"], {"client_id": client_id}).fetchone() is None:
        raise NotFound("authorization not found")
    with as_service_role(conn):
        counts = conn.execute(
            SQL["revoke_user_client_grants"],
            {"user_id": user_id, "client_id": client_id, "reason": "authorization_revoked_by_user"},
        ).fetchone()
        client = conn.execute(SQL["client_of_grants"], {"client_id": client_id}).fetchone()
        audit.record(
            conn,
            "oauth_consent.revoked",
            organization_id=client["organization_id"] if client else None,
            target_type="oauth_client",
            target_id=client_id,
            metadata={"grants_revoked": counts["grants"], "access_tokens_revoked": counts["access_tokens"]},
            origin=origin,
            actor_id=user_id,
        )
    return counts


def delete_expired(conn: psycopg.Connection) -> dict:
    return conn.execute(SQL["delete_expired"]).fetchone()
