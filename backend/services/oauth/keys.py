"""The ES256 keys that sign access-token JWTs, published at /.well-known/jwks.json: a family of the
shared signing keys (stored, encrypted, rotated with the next key published ahead, cached per process).

Keys a rotation replaces stay published until the last access token they signed has expired.
"""

from __future__ import annotations

import psycopg
from joserfc.jwk import ECKey

from backend.db import Database
from backend.services.shared import signing_keys
from backend.services.shared.secretbox import SecretBox
from backend.services.shared.signing_keys import RETIREMENT_LEEWAY_SECONDS, StoredKey

__all__ = ["ALGORITHM", "RETIREMENT_LEEWAY_SECONDS", "SECRET_PURPOSE", "KeyRing"]

ALGORITHM = "ES256"
SECRET_PURPOSE = "oauth-signing-key"  # noqa: S105 (the secretbox purpose, not a secret)
FAMILY = signing_keys.KeyFamily(
    table="oauth_signing_keys", algorithm=ALGORITHM, secret_purpose=SECRET_PURPOSE, key_type=ECKey, key_size="P-256"
)


def published_keys(conn: psycopg.Connection) -> list[StoredKey]:
    return signing_keys.published_keys(conn, FAMILY)


def rotate(conn: psycopg.Connection, box: SecretBox, *, ahead_seconds: int, token_ttl_seconds: int) -> dict:
    """Schedule the next key to sign in `ahead_seconds` (see signing_keys.rotate)."""
    return signing_keys.rotate(
        conn, box, FAMILY, ahead_seconds=ahead_seconds, signed_lifetime_seconds=token_ttl_seconds
    )


def rotate_if_due(
    conn: psycopg.Connection, box: SecretBox, *, rotation_days: int, ahead_seconds: int, token_ttl_seconds: int
) -> dict | None:
    return signing_keys.rotate_if_due(
        conn,
        box,
        FAMILY,
        rotation_days=rotation_days,
        ahead_seconds=ahead_seconds,
        signed_lifetime_seconds=token_ttl_seconds,
    )


def delete_retired(conn: psycopg.Connection) -> int:
    return signing_keys.delete_retired(conn, FAMILY)


class KeyRing(signing_keys.KeyRing):
    def __init__(self, db: Database, box: SecretBox, cache_seconds: float = signing_keys.CACHE_SECONDS):
        super().__init__(db, box, FAMILY, cache_seconds)
