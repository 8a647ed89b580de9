"""Local accounts: who they are (auth.users, profile) and their password credentials.

Every function takes a connection already running as service_role (credentials hold hashes that
no user role may read), but for `my_profile` and `my_organizations`, which run as the user.
"""

from __future__ import annotations

import uuid

import psycopg

from backend.db import queries_beside
from backend.services.accounts import resets, sessions
from backend.services.shared.passwords import PasswordHasher

SQL = queries_beside(__file__)


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
    given_name: str | None = None,
    family_name: str | None = None,
    signs_in_elsewhere: bool = False,
) -> uuid.UUID:
    """A new local account (auth.users + profile + credentials); password None means invite-only,
    unless the account `signs_in_elsewhere` (through an LMS launch): then it has no password and
    none to choose."""
    user_id = uuid.uuid4()
    email = normalize_email(email)
    conn.execute(SQL["insert_auth_user"], {"id": user_id, "email": email})
    conn.execute(
        SQL["insert_profile"],
        {
            "id": user_id,
            "email": email,
            "display_name": display_name,
            "given_name": given_name,
            "family_name": family_name,
            # An address from an LMS's claim is the platform's word, not proven to us.
            "email_verified": not signs_in_elsewhere,
        },
    )
    conn.execute(
        SQL["insert_credentials"],
        {
            "user_id": user_id,
            "password_hash": hasher.hash(password) if password is not None else None,
            "must_change_password": must_change_password or (password is None and not signs_in_elsewhere),
        },
    )
    return user_id


def find_by_email(conn: psycopg.Connection, email: str) -> dict | None:
    return conn.execute(SQL["find_by_email"], {"email": normalize_email(email)}).fetchone()


def find_by_id(conn: psycopg.Connection, user_id) -> dict | None:
    return conn.execute(SQL["find_by_id"], {"id": user_id}).fetchone()


def rehash_password(conn: psycopg.Connection, hasher: PasswordHasher, user_id, password: str) -> None:
    """Store the password just verified under the hasher's current parameters."""
    conn.execute(SQL["rehash_password"], {"user_id": user_id, "password_hash": hasher.hash(password)})


def set_password(conn: psycopg.Connection, hasher: PasswordHasher, user_id, new_password: str) -> None:
    """Store a new password, clear must_change_password and end every existing session."""
    conn.execute(
        SQL["update_password_hash"],
        {"user_id": user_id, "password_hash": hasher.hash(new_password), "must_change_password": False},
    )
    sessions.revoke_user_sessions(conn, user_id)
    resets.invalidate_reset_tokens(conn, user_id)


def my_profile(conn: psycopg.Connection) -> dict | None:
    """The caller's profile; runs as the user (authenticated)."""
    return conn.execute(SQL["my_profile"]).fetchone()


def set_my_names(conn: psycopg.Connection, *, given_name: str | None, family_name: str | None) -> dict:
    """Set the caller's given and family names (None clears one); runs as the user (RLS decides)."""
    return conn.execute(SQL["set_my_names"], {"given_name": given_name, "family_name": family_name}).fetchone()


def my_organizations(conn: psycopg.Connection) -> list[dict]:
    return conn.execute(SQL["my_organizations"]).fetchall()
