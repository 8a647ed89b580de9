"""Authlib's authorization server wired to our storage: its grants and endpoints, client
authentication counted and throttled, the access-token JWTs it signs, and its metadata.

The routes build an `HttpRequest` and bind a service_role connection for the duration of the call
(`with oauth.server.bound(conn, origin)`); Authlib never opens transactions, so a token request is
one transaction and single use holds in our SQL.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import psycopg
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from authlib.oauth2.rfc9207 import IssuerParameter

from backend import metrics
from backend.config import Config
from backend.db import Database
from backend.services.oauth import GRANT_TYPES, SCOPES, clients, keys, tokens
from backend.services.oauth.adapters import (
    Call,
    Reply,
    basic_request_credentials,
    call_conn,
    current_call,
    post_credentials,
)
from backend.services.oauth.clients import Client
from backend.services.oauth.grants import (
    PKCE,
    SECRET_AUTH_METHODS,
    TOKEN_AUTH_METHODS,
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    Introspection,
    RefreshTokenGrant,
    Revocation,
)
from backend.services.oauth.openid import IdToken
from backend.services.oauth.resource import ResourceServer, read_own_jwt
from backend.services.shared import rate_limit
from backend.services.shared.audit import RequestInfo
from backend.services.shared.secretbox import SecretBox


@dataclass(frozen=True)
class Settings:
    issuer: str
    audience: str
    access_token_ttl_seconds: int
    refresh_token_ttl_seconds: int
    code_ttl_seconds: int
    client_auth_window_seconds: int
    client_auth_max_failures: int
    client_auth_max_failures_per_ip: int
    key_rotation_days: int
    key_publish_ahead_seconds: int

    @property
    def issuer_netloc(self) -> str:
        return urlsplit(self.issuer).netloc

    @classmethod
    def from_config(cls, config: Config) -> Settings:
        issuer = (config.oauth_issuer or config.public_url).rstrip("/")
        return cls(**config.section("oauth_", cls) | {"issuer": issuer, "audience": f"{issuer}/api"})


class AccessTokenGenerator(JWTBearerTokenGenerator):
    """RFC 9068 JWTs (iss sub aud client_id scope exp iat jti, typ at+jwt) signed by the current key."""

    def __init__(self, settings: Settings, keyring: keys.KeyRing):
        super().__init__(
            settings.issuer,
            alg=keys.ALGORITHM,
            refresh_token_generator=lambda **_: secrets.token_urlsafe(32),
            expires_generator=settings.access_token_ttl_seconds,
        )
        self.audience = settings.audience
        self.keyring = keyring

    def get_jwks(self):
        return self.keyring.signing_key()

    def get_audiences(self, client, user, scope):
        return self.audience

    def get_jti(self, client, grant_type, user, scope):
        return str(uuid.uuid4())


class ClientAuthThrottled(OAuth2Error):
    """Too many failed client authentications from this address: even the right secret waits."""

    error = "invalid_client"
    status_code = 429

    def __init__(self, retry_after: int):
        super().__init__(description="too many failed client authentications; retry later")
        self.retry_after = retry_after

    def get_headers(self):
        return [*super().get_headers(), ("Retry-After", str(self.retry_after))]


class Issuer(IssuerParameter):
    def __init__(self, issuer: str):
        self.issuer = issuer

    def get_issuer(self):
        return self.issuer


class Server(AuthorizationServer):
    def __init__(self, settings: Settings, keyring: keys.KeyRing, id_token_keys: keys.IdTokenKeyRing):
        super().__init__(scopes_supported=list(SCOPES))
        self.settings = settings
        self.keyring = keyring
        self.register_token_generator("default", AccessTokenGenerator(settings, keyring))
        self.register_grant(AuthorizationCodeGrant, [PKCE(required=True), IdToken(settings, id_token_keys)])
        self.register_grant(RefreshTokenGrant)
        self.register_grant(ClientCredentialsGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)
        self.register_extension(Issuer(settings.issuer))
        self.register_client_auth_method("client_secret_basic", self._secret_auth(basic_request_credentials))
        self.register_client_auth_method("client_secret_post", self._secret_auth(post_credentials))

    @contextmanager
    def bound(self, conn: psycopg.Connection, origin: RequestInfo) -> Iterator[None]:
        """Run Authlib calls with `conn` (service_role) as their storage."""
        reset = current_call.set(Call(conn=conn, origin=origin))
        try:
            yield
        finally:
            current_call.reset(reset)

    # What Authlib asks of every server.

    def query_client(self, client_id):
        call = current_call.get()
        if client_id not in call.clients:
            call.clients[client_id] = clients.load_client(call.conn, client_id)
        return call.clients[client_id]

    def save_token(self, token, request):
        claims = _payload_of(token["access_token"])
        client: Client = request.client
        conn = call_conn()
        scope = token.get("scope", "")
        grant_id = None
        if request.authorization_code is not None:
            grant_id = tokens.create_grant(
                conn,
                client_id=client.client_id,
                user_id=request.authorization_code.user_id,
                organization_id=client.organization_id,
                scope=scope,
                ttl_seconds=self.settings.refresh_token_ttl_seconds,
            )
            tokens.link_code_to_grant(conn, request.authorization_code.code_hash, grant_id)
        elif request.refresh_token is not None:
            grant_id = request.refresh_token.grant_id
        tokens.save_access_token(
            conn,
            jti=claims["jti"],
            client_id=client.client_id,
            grant_id=grant_id,
            user_id=claims["sub"],
            organization_id=client.organization_id,
            scope=scope,
            issued_at=claims["iat"],
            expires_at=claims["exp"],
        )
        if token.get("refresh_token"):
            tokens.save_refresh_token(conn, token["refresh_token"], grant_id, scope)
        metrics.TOKENS_ISSUED.labels(request.payload.grant_type or "unknown").inc()

    def create_oauth2_request(self, request):
        return request

    def create_json_request(self, request):
        raise NotImplementedError("no JSON endpoints")

    def handle_response(self, status_code, payload, headers):
        return Reply(status_code, payload, list(headers))

    def send_signal(self, name, *args, **kwargs):
        """Authlib's signals: nothing listens."""

    # Client authentication, counted and throttled per client and address.

    def _secret_auth(self, extract):
        def authenticate(query_client, request):
            client_id, secret = extract(request)
            if not client_id or not secret:
                return None
            call = current_call.get()
            ip = call.origin.ip or "unknown"
            window = self.settings.client_auth_window_seconds
            well_formed = clients.CLIENT_ID_FORMAT.match(client_id) is not None
            # Anything may arrive as a client_id: only a well-formed one is looked up or named in a bucket.
            client_key = client_id if well_formed else "sha256:" + hashlib.sha256(client_id.encode()).hexdigest()[:32]
            pair_bucket, ip_bucket = f"oauth_client_auth:{client_key}:{ip}", f"oauth_client_auth_ip:{ip}"
            # The same windows rate_limit counts in; read with the client in one round trip.
            window_start, reset_at = rate_limit.window_bounds(window)
            client, pair_failures, ip_failures = clients.load_client_with_failures(
                call.conn,
                client_id if well_formed else "",
                pair_bucket=pair_bucket,
                ip_bucket=ip_bucket,
                window_start=window_start,
            )
            call.clients[client_id] = client
            if (
                pair_failures >= self.settings.client_auth_max_failures
                or ip_failures >= self.settings.client_auth_max_failures_per_ip
            ):
                raise ClientAuthThrottled(max(1, reset_at - int(time.time())))
            if client is not None and client.check_client_secret(secret):
                return client
            for bucket in (pair_bucket, ip_bucket):
                rate_limit.add(call.conn, bucket, window)
            return None

        return authenticate

    def read_own_jwt(self, token: str, *, verify_exp: bool = False) -> dict | None:
        """The claims of an access token we signed (expired or not), or None."""
        return read_own_jwt(self.keyring, self.settings, token, verify_exp=verify_exp)


def _payload_of(token: str) -> dict:
    """The claims of a JWT this process has just signed."""
    segment = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


class OAuth:
    """Everything the OAuth routes and the API's authentication need, one per app."""

    def __init__(self, config: Config, db: Database, box: SecretBox):
        self.settings = Settings.from_config(config)
        self.db = db
        self.box = box
        self.keyring = keys.KeyRing(db, box)
        self.id_token_keys = keys.IdTokenKeyRing(db, box)
        self.server = Server(self.settings, self.keyring, self.id_token_keys)
        self.resource = ResourceServer(self.settings, db, self.keyring)

    @contextmanager
    def system_transaction(self) -> Iterator[psycopg.Connection]:
        """The service_role transaction of a token, revocation or introspection request."""
        with self.db.transaction("service_role") as conn:
            yield conn

    def jwks(self) -> dict:
        """Every published key: the access tokens' (ES256) and the id_tokens' (RS256)."""
        return {"keys": self.keyring.jwks()["keys"] + self.id_token_keys.jwks()["keys"]}

    def openid_configuration(self) -> dict:
        """OpenID Connect Discovery 1.0: the RFC 8414 metadata and what relying parties look for."""
        issuer = self.settings.issuer
        return self.metadata() | {
            "userinfo_endpoint": f"{issuer}/api/oauth/userinfo",
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [keys.ID_TOKEN_ALGORITHM],
            "claims_supported": [
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "at_hash",
                "email",
                "email_verified",
                "name",
                "given_name",
                "family_name",
                "preferred_username",
            ],
        }

    def metadata(self) -> dict:
        """RFC 8414 authorization server metadata (with RFC 9207's iss parameter support)."""
        issuer = self.settings.issuer
        return {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/api/oauth/authorize",
            "token_endpoint": f"{issuer}/api/oauth/token",
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "revocation_endpoint": f"{issuer}/api/oauth/revoke",
            "introspection_endpoint": f"{issuer}/api/oauth/introspect",
            "scopes_supported": list(SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": list(GRANT_TYPES),
            "token_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
            "revocation_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
            "introspection_endpoint_auth_methods_supported": SECRET_AUTH_METHODS,
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
            "service_documentation": f"{issuer}/api/docs",
        }
