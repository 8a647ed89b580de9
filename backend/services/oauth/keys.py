"""The ES256 keys that sign access-token JWTs and the RS256 keys that sign OpenID Connect id_tokens,
both published at /.well-known/jwks.json: two families of the shared signing keys (stored,
encrypted, rotated with the next key published ahead, cached per process).

Keys a rotation replaces stay published until the last token they signed has expired (an id_token
lives as long as the access token it comes with).
"""

from __future__ import annotations

import psycopg
from joserfc.jwk import ECKey, RSAKey

from backend.db import Database
from backend.services.shared import signing_keys
from backend.services.shared.secretbox import SecretBox
from backend.services.shared.signing_keys import RETIREMENT_LEEWAY_SECONDS, StoredKey

__all__ = ["ALGORITHM", "ID_TOKEN_ALGORITHM", "RETIREMENT_LEEWAY_SECONDS", "SECRET_PURPOSE", "KeyRing"]

ALGORITHM = "ES256"
SECRET_PURPOSE = "oauth-signing-key"  # noqa: S105 (the secretbox purpose, not a secret)
FAMILY = signing_keys.KeyFamily(
    table="oauth_signing_keys", algorithm=ALGORITHM, secret_purpose=SECRET_PURPOSE, key_type=ECKey, key_size="P-256"
)
ID_TOKEN_ALGORITHM = "RS256"  # noqa: S105 (an algorithm; RS256 is what every OpenID relying party accepts)
ID_TOKEN_FAMILY = signing_keys.KeyFamily(
    table="oidc_signing_keys",
    algorithm=ID_TOKEN_ALGORITHM,
    secret_purpose="oidc-signing-key",  # noqa: S106 (the secretbox purpose, not a secret)
    key_type=RSAKey,
    key_size=2048,
)
FAMILIES = (FAMILY, ID_TOKEN_FAMILY)


def published_keys(conn: psycopg.Connection) -> list[StoredKey]:
    return signing_keys.published_keys(conn, FAMILY)


def rotate(conn: psycopg.Connection, box: SecretBox, *, ahead_seconds: int, token_ttl_seconds: int) -> dict:
    """Schedule the next key to sign in `ahead_seconds` (see signing_keys.rotate)."""
    return signing_keys.rotate(
        conn, box, FAMILY, ahead_seconds=ahead_seconds, signed_lifetime_seconds=token_ttl_seconds
    )


def rotate_if_due(
    conn: psycopg.Connection,
    box: SecretBox,
    *,
    rotation_days: int,
    ahead_seconds: int,
    token_ttl_seconds: int,
    family: signing_keys.KeyFamily = FAMILY,
) -> dict | None:
    """Rotate `family`'s key when due; both families follow the same rules."""
    return signing_keys.rotate_if_due(
        conn,
        box,
        family,
        rotation_days=rotation_days,
        ahead_seconds=ahead_seconds,
        signed_lifetime_seconds=token_ttl_seconds,
    )


def delete_retired(conn: psycopg.Connection) -> int:
    return sum(signing_keys.delete_retired(conn, family) for family in FAMILIES)


class KeyRing(signing_keys.KeyRing):
    def __init__(self, db: Database, box: SecretBox, cache_seconds: float = signing_keys.CACHE_SECONDS):
        super().__init__(db, box, FAMILY, cache_seconds)


class IdTokenKeyRing(signing_keys.KeyRing):
    def __init__(self, db: Database, box: SecretBox, cache_seconds: float = signing_keys.CACHE_SECONDS):
        super().__init__(db, box, ID_TOKEN_FAMILY, cache_seconds)
