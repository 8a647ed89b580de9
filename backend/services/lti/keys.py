"""The LTI tool's RSA keys (RS256: all Canvas and Moodle accept), published at /lti/jwks.json: a
family of the shared signing keys (stored with the private half encrypted, rotated with the next
key published ahead, cached per process).

What they sign (client assertions, deep-linking responses) lives five minutes at most, so a key a
rotation replaces stays published that long, and a leeway, after its successor starts signing.
"""

from __future__ import annotations

import psycopg
from joserfc import jwt
from joserfc.jwk import RSAKey

from backend.db import Database
from backend.services.shared import signing_keys
from backend.services.shared.secretbox import SecretBox

ALGORITHM = "RS256"
KEY_BITS = 2048
SECRET_PURPOSE = "lti-tool-key"  # noqa: S105 (the secretbox purpose, not a secret)
SIGNED_LIFETIME_SECONDS = 300
FAMILY = signing_keys.KeyFamily(
    table="lti_tool_keys", algorithm=ALGORITHM, secret_purpose=SECRET_PURPOSE, key_type=RSAKey, key_size=KEY_BITS
)


def rotate(conn: psycopg.Connection, box: SecretBox, *, ahead_seconds: int) -> dict:
    """Schedule the next key to sign in `ahead_seconds` (see signing_keys.rotate)."""
    return signing_keys.rotate(
        conn, box, FAMILY, ahead_seconds=ahead_seconds, signed_lifetime_seconds=SIGNED_LIFETIME_SECONDS
    )


class ToolKeys(signing_keys.KeyRing):
    """The tool's key ring: signs with the current key, its kid in the header."""

    def __init__(self, db: Database, box: SecretBox, cache_seconds: float = signing_keys.CACHE_SECONDS):
        super().__init__(db, box, FAMILY, cache_seconds)

    def sign(self, claims: dict) -> str:
        """A compact RS256 JWT of `claims` signed by the current key; the header names its kid."""
        (key,) = self.signing_key().keys
        return jwt.encode({"alg": ALGORITHM, "typ": "JWT", "kid": key.kid}, claims, key)
