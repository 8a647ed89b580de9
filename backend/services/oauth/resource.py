"""The resource server's side: reading our access-token JWTs and checking that one is still live."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import jwt
import psycopg

from backend.db import Database
from backend.services.oauth import keys, tokens

if TYPE_CHECKING:
    from backend.services.oauth.server import Settings

JWT_LEEWAY_SECONDS = 30
VERIFIED_TOKENS_KEPT = 4096


class InvalidAccessToken(Exception):
    """A bearer token is not a live access token of ours; the message says why."""


@dataclass(frozen=True)
class AccessGrant:
    """A verified, live access token: who it acts as, for which client and organization, with what."""

    user_id: uuid.UUID
    client_id: str
    organization_id: uuid.UUID
    scopes: frozenset[str]
    jti: str


def jwt_header(token: str) -> dict:
    """A JWT's header, unverified, or {} when it is not one: cheap enough to sort bearer tokens
    (PyJWT's own check of every character costs ten times more, and jwt.decode does it anyway)."""
    segment = token.split(".", 1)[0]
    if len(segment) > 1024:
        return {}
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except ValueError:
        return {}
    return header if isinstance(header, dict) else {}


def read_own_jwt(keyring: keys.KeyRing, settings: Settings, token: str, *, verify_exp: bool = False) -> dict | None:
    """The claims of an access token we signed (expired or not), or None."""
    header = jwt_header(token)
    if header.get("typ") != "at+jwt" or header.get("alg") != keys.ALGORITHM:
        return None
    key = keyring.verification_key(header.get("kid"))
    if key is None:
        return None
    try:
        return jwt.decode(
            token,
            key,
            algorithms=[keys.ALGORITHM],
            audience=settings.audience,
            issuer=settings.issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "jti", "client_id"], "verify_exp": verify_exp},
            leeway=JWT_LEEWAY_SECONDS,
        )
    except jwt.PyJWTError:
        return None


def _grant(row: dict, claims: dict) -> AccessGrant:
    return AccessGrant(
        user_id=row["user_id"],
        client_id=row["client_id"],
        organization_id=row["organization_id"],
        scopes=frozenset(row["scope"].split()),
        jti=claims["jti"],
    )


class ResourceServer:
    """Checks the access tokens the API is called with: our signature, then a live jti."""

    def __init__(self, settings: Settings, db: Database, keyring: keys.KeyRing):
        self.settings = settings
        self.db = db
        self.keyring = keyring
        self._verified: dict[str, dict] = {}
        self._verified_lock = threading.Lock()

    @staticmethod
    def is_access_token(token: str) -> bool:
        """Whether a bearer token is shaped like ours (a JWT typed at+jwt), before any check."""
        return jwt_header(token).get("typ") == "at+jwt"

    def verify(self, token: str) -> dict:
        """The claims of a valid, unexpired access token of ours (signature, iss, aud, exp); no
        database lookup yet, so not proof that it is still live.

        A client uses one token for up to an hour: the claims of the tokens verified lately are
        kept (a token's signature never changes) and only their expiry is checked again.
        """
        claims = self._verified.get(token)
        if claims is not None and claims["exp"] + JWT_LEEWAY_SECONDS > time.time():
            return claims
        claims = read_own_jwt(self.keyring, self.settings, token, verify_exp=True)
        if claims is None:
            raise InvalidAccessToken("the access token is invalid, expired or signed by an unknown key")
        with self._verified_lock:
            self._verified[token] = claims
            while len(self._verified) > VERIFIED_TOKENS_KEPT:
                self._verified.pop(next(iter(self._verified)))
        return claims

    def authenticate(self, token: str) -> AccessGrant:
        """Verify an access token and look its jti up (revocation takes effect at once)."""
        claims = self.verify(token)
        with self.db.transaction("service_role") as conn:
            row = tokens.active_access_token(conn, claims["jti"], claims["sub"])
        if row is None:
            raise InvalidAccessToken("the access token has been revoked")
        return _grant(row, claims)

    @contextmanager
    def acting_as(self, claims: dict) -> Iterator[tuple[psycopg.Connection, AccessGrant]]:
        """One transaction as the token's user (RLS decides), entered only if the token is still
        live: the revocation check and the identity cost one round trip together."""
        with self.db.connection() as conn, conn.transaction():
            row = tokens.enter_as_token(conn, claims["jti"], claims["sub"])
            if row is None:
                raise InvalidAccessToken("the access token has been revoked")
            yield conn, _grant(row, claims)
