"""Signing keys kept in Postgres, one table per family (OAuth's ES256 keys, the LTI tool's RS256
keys): private half encrypted with the secretbox, generated on first use, rotated with the next key
published ahead, cached per process.

The kid is the key's RFC 7638 thumbprint. A rotation adds a key that starts signing only after
`ahead_seconds`, so every verifier that caches the family's JWKS has seen it first; keys it
replaces stay published until the last thing they signed has expired.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
import psycopg
from joserfc.jwk import ECKey, KeySet, RSAKey
from psycopg import sql
from psycopg.types.json import Jsonb

from backend.db import Database, queries_beside
from backend.services.shared.secretbox import SecretBox

SQL = queries_beside(__file__)

RETIREMENT_LEEWAY_SECONDS = 300
CACHE_SECONDS = 60.0
UNKNOWN_KID_RELOAD_SECONDS = 2.0


@dataclass(frozen=True)
class KeyFamily:
    """Where a family of keys lives and what kind of key it holds."""

    table: str  # in schema public
    algorithm: str  # the JWS alg its keys sign with
    secret_purpose: str  # the secretbox purpose of its private keys
    key_type: type[ECKey] | type[RSAKey]
    key_size: str | int  # the curve of an EC key, the bits of an RSA key

    def query(self, name: str) -> sql.Composed:
        return sql.SQL(SQL[name]).format(table=sql.Identifier("public", self.table))

    @property
    def lock_name(self) -> str:
        return f"questbridge.{self.table}"


@dataclass(frozen=True)
class StoredKey:
    kid: str
    public_jwk: dict
    private_key_encrypted: bytes
    activates_at: datetime
    retires_at: datetime | None


def _new_key(family: KeyFamily, box: SecretBox) -> dict:
    params = {"use": "sig", "alg": family.algorithm}
    key = family.key_type.generate_key(family.key_size, params, private=True)
    kid = key.thumbprint()
    public_jwk = key.as_dict(private=False) | {"kid": kid} | params
    pem = key.as_pem(private=True).decode()
    return {
        "kid": kid,
        "algorithm": family.algorithm,
        "public_jwk": Jsonb(public_jwk),
        "private_key_encrypted": box.encrypt(pem, family.secret_purpose),
    }


def published_keys(conn: psycopg.Connection, family: KeyFamily) -> list[StoredKey]:
    return [
        StoredKey(
            kid=row["kid"],
            public_jwk=row["public_jwk"],
            private_key_encrypted=bytes(row["private_key_encrypted"]),
            activates_at=row["activates_at"],
            retires_at=row["retires_at"],
        )
        for row in conn.execute(family.query("published_keys")).fetchall()
    ]


def current_key(keys: list[StoredKey], now: datetime | None = None) -> StoredKey | None:
    """The key that signs now: the latest one already active."""
    now = now or datetime.now(UTC)
    active = [key for key in keys if key.activates_at <= now]
    return active[-1] if active else None


def ensure_current_key(conn: psycopg.Connection, box: SecretBox, family: KeyFamily) -> list[StoredKey]:
    """The published keys, after adding one that signs at once if none does (first use)."""
    conn.execute(SQL["lock_keys"], {"lock": family.lock_name})
    keys = published_keys(conn, family)
    if current_key(keys) is None:
        conn.execute(family.query("insert_key"), _new_key(family, box) | {"ahead_seconds": 0})
        keys = published_keys(conn, family)
    return keys


def rotate(
    conn: psycopg.Connection, box: SecretBox, family: KeyFamily, *, ahead_seconds: int, signed_lifetime_seconds: int
) -> dict:
    """Schedule the next key to start signing in `ahead_seconds`; a key already scheduled is kept.
    The keys it replaces stay published for `signed_lifetime_seconds` (the longest lifetime of
    anything they sign) and a leeway after it activates.

    Returns {"kid", "activates_at", "created": bool}. conn runs as service_role.
    """
    keys = ensure_current_key(conn, box, family)
    now = datetime.now(UTC)
    pending = [key for key in keys if key.activates_at > now]
    if pending:
        return {"kid": pending[-1].kid, "activates_at": pending[-1].activates_at, "created": False}
    row = conn.execute(family.query("insert_key"), _new_key(family, box) | {"ahead_seconds": ahead_seconds}).fetchone()
    retires_at = row["activates_at"] + timedelta(seconds=signed_lifetime_seconds + RETIREMENT_LEEWAY_SECONDS)
    conn.execute(family.query("retire_older_keys"), {"activates_at": row["activates_at"], "retires_at": retires_at})
    return {"kid": row["kid"], "activates_at": row["activates_at"], "created": True}


def rotate_if_due(
    conn: psycopg.Connection,
    box: SecretBox,
    family: KeyFamily,
    *,
    rotation_days: int,
    ahead_seconds: int,
    signed_lifetime_seconds: int,
) -> dict | None:
    """Rotate when the current key will have signed for `rotation_days` once its successor activates."""
    keys = ensure_current_key(conn, box, family)
    now = datetime.now(UTC)
    if any(key.activates_at > now for key in keys):
        return None
    current = current_key(keys, now)
    due_at = current.activates_at + timedelta(days=rotation_days) - timedelta(seconds=ahead_seconds)
    if now < due_at:
        return None
    return rotate(conn, box, family, ahead_seconds=ahead_seconds, signed_lifetime_seconds=signed_lifetime_seconds)


def delete_retired(conn: psycopg.Connection, family: KeyFamily) -> int:
    return conn.execute(family.query("delete_retired_keys")).rowcount


class KeyRing:
    """This process's view of one family's keys, reloaded every minute and when a kid is unknown."""

    def __init__(self, db: Database, box: SecretBox, family: KeyFamily, cache_seconds: float = CACHE_SECONDS):
        self.db = db
        self.box = box
        self.family = family
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._keys: list[StoredKey] = []
        self._loaded_at = float("-inf")
        self._signers: dict[str, KeySet] = {}
        self._verifiers: dict[str, object] = {}

    def _load(self) -> None:
        with self.db.transaction("service_role") as conn:
            keys = published_keys(conn, self.family)
            if current_key(keys) is None:
                keys = ensure_current_key(conn, self.box, self.family)
        self._keys = keys
        self._loaded_at = time.monotonic()

    def _fresh_keys(self) -> list[StoredKey]:
        with self._lock:
            if time.monotonic() - self._loaded_at > self.cache_seconds:
                self._load()
            return self._keys

    def reload(self) -> None:
        with self._lock:
            self._load()

    def signing_key(self) -> KeySet:
        """The current private key as a one-key joserfc KeySet (so the JWT header carries its kid)."""
        keys = self._fresh_keys()
        key = current_key(keys)
        if key is None:
            self.reload()
            key = current_key(self._keys)
        signer = self._signers.get(key.kid)
        if signer is None:
            family = self.family
            pem = self.box.decrypt(key.private_key_encrypted, family.secret_purpose)
            params = {"kid": key.kid, "use": "sig", "alg": family.algorithm}
            signer = KeySet([family.key_type.import_key(pem, params)])
            self._signers[key.kid] = signer
        return signer

    def verification_key(self, kid: str | None):
        """The public key of `kid` (a cryptography object), or None when it is not published."""
        if not isinstance(kid, str) or not kid:
            return None
        cached = self._verifiers.get(kid)
        if cached is not None and time.monotonic() - self._loaded_at <= self.cache_seconds:
            return cached
        keys = {key.kid: key for key in self._fresh_keys()}
        if kid not in keys:
            with self._lock:
                if time.monotonic() - self._loaded_at > UNKNOWN_KID_RELOAD_SECONDS:
                    self._load()
            keys = {key.kid: key for key in self._keys}
        key = keys.get(kid)
        if key is None:
            self._verifiers.pop(kid, None)
            return None
        public = jwt.PyJWK(key.public_jwk, algorithm=self.family.algorithm).key
        self._verifiers[kid] = public
        return public

    def jwks(self) -> dict:
        return {"keys": [dict(key.public_jwk) for key in self._fresh_keys()]}
