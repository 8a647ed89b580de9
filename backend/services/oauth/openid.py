"""OpenID Connect on our OAuth server: the id_token of the code flow (Authlib's OpenIDCode extension
on our grant, signed RS256 by the id_token key family) and the claims of a user, for the id_token and
the userinfo endpoint, as the granted scopes allow."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import psycopg
from authlib.oidc.core import OpenIDCode, UserInfo

from backend.db import queries_beside
from backend.services.oauth import keys
from backend.services.oauth.adapters import call_conn

if TYPE_CHECKING:
    from backend.services.oauth.server import Settings
    from backend.services.shared.signing_keys import KeyRing

SQL = queries_beside(__file__)


def user_info(conn: psycopg.Connection, user_id, scope: str) -> dict:
    """The standard claims of `user_id` that `scope` allows: sub always; email and email_verified
    with `email`; name, given_name, family_name with `profile`. email_verified is the profile's: an
    address proven by accepting an emailed invitation link or set by an operator (cli create-user,
    create-admin) is; one an LMS launch brought is not; there is no self-service sign-up.
    preferred_username is the email address, so it is given only when `email` is granted too."""
    row = conn.execute(SQL["user_claims"], {"user_id": user_id}).fetchone()
    if row is None:
        return {"sub": str(user_id)}
    given, family = row["given_name"], row["family_name"]
    full_name = " ".join(part for part in (given, family) if part) or row["display_name"]
    claims = UserInfo(
        sub=str(row["id"]),
        email=row["email"],
        email_verified=row["email_verified"],
        name=full_name,
        given_name=given,
        family_name=family,
    )
    scopes = scope.split()
    if "email" in scopes:
        claims["preferred_username"] = row["email"]
    return {name: value for name, value in claims.filter(scope).items() if value is not None}


class IdToken(OpenIDCode):
    """The id_token of an authorization code granted with `openid`: iss, sub, aud (the client_id),
    exp, iat, auth_time, nonce (as the authorization request sent it), at_hash, and the user's
    claims the scopes allow."""

    def __init__(self, settings: Settings, keyring: KeyRing):
        super().__init__(require_nonce=False)
        self.settings = settings
        self.keyring = keyring

    def resolve_client_private_key(self, client):
        return self.keyring.signing_key()

    def get_client_algorithm(self, client):
        return keys.ID_TOKEN_ALGORITHM

    def get_encode_header(self, client):
        (key,) = self.keyring.signing_key().keys
        return {"alg": keys.ID_TOKEN_ALGORITHM, "kid": key.kid, "typ": "JWT"}

    def get_client_claims(self, client):
        return {
            "iss": self.settings.issuer,
            "aud": client.get_client_id(),
            "exp": int(time.time()) + self.settings.access_token_ttl_seconds,
        }

    def exists_nonce(self, nonce, request):
        row = call_conn().execute(SQL["nonce_used"], {"client_id": request.payload.client_id, "nonce": nonce})
        return row.fetchone()["used"]

    def generate_user_info(self, user, scope):
        return user_info(call_conn(), user.id, scope)
