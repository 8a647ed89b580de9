"""Authlib's authorization server wired to our storage: grants, PKCE, endpoints, client auth, tokens.

The routes build an `HttpRequest` from the HTTP request and bind a service_role connection for
the duration of the call (`with oauth.server.bound(conn, origin)`); Authlib never opens
transactions, so a token request is one transaction and single use holds in our SQL. The server
answers with a `Reply` (status, body, headers) that the route turns into an HTTP response.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import jwt
import psycopg
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Request, grants
from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from authlib.oauth2.rfc9207 import IssuerParameter

from backend import metrics
from backend.config import Config
from backend.db import Database
from backend.services.oauth import (
    CLIENT_CREDENTIALS_SCOPES,
    GRANT_TYPES,
    SCOPES,
    clients,
    exercisable_scopes,
    keys,
    tokens,
)
from backend.services.oauth.clients import Client
from backend.services.shared import rate_limit
from backend.services.shared.audit import RequestInfo
from backend.services.shared.secretbox import SecretBox

SECRET_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
TOKEN_AUTH_METHODS = [*SECRET_AUTH_METHODS, "none"]
JWT_LEEWAY_SECONDS = 30
VERIFIED_TOKENS_KEPT = 4096


@dataclass(frozen=True)
class Settings:
    issuer: str
    audience: str
    access_token_ttl: int
    refresh_token_ttl: int
    code_ttl: int
    client_auth_window: int
    client_auth_max_failures: int
    client_auth_max_failures_per_ip: int
    key_rotation_days: int
    key_publish_ahead: int

    @property
    def issuer_netloc(self) -> str:
        return urlsplit(self.issuer).netloc

    @classmethod
    def from_config(cls, config: Config) -> Settings:
        issuer = (config.oauth_issuer or config.public_url).rstrip("/")
        return cls(
            issuer=issuer,
            audience=f"{issuer}/api",
            access_token_ttl=config.oauth_access_token_ttl_seconds,
            refresh_token_ttl=config.oauth_refresh_token_ttl_seconds,
            code_ttl=config.oauth_code_ttl_seconds,
            client_auth_window=config.oauth_client_auth_window_seconds,
            client_auth_max_failures=config.oauth_client_auth_max_failures,
            client_auth_max_failures_per_ip=config.oauth_client_auth_max_failures_per_ip,
            key_rotation_days=config.oauth_key_rotation_days,
            key_publish_ahead=config.oauth_key_publish_ahead_seconds,
        )


# -- requests and replies ------------------------------------------------------------------------


class _Payload(OAuth2Payload):
    def __init__(self, values):
        self._values = values

    @property
    def data(self):
        return self._values

    @property
    def datalist(self):
        values = defaultdict(list)
        for key in self._values:
            values[key].extend(self._values.getlist(key))
        return values


class HttpRequest(OAuth2Request):
    """An OAuth request as the route read it: `args` and `form` are MultiDicts, `values` both."""

    def __init__(self, method: str, uri: str, headers, args, form, values):
        super().__init__(method, uri, headers=headers)
        self._args = args
        self._form = form
        self.payload = _Payload(values)

    @property
    def args(self):
        return self._args

    @property
    def form(self):
        return self._form


@dataclass
class Reply:
    status: int
    body: dict | str
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def location(self) -> str | None:
        return next((value for name, value in self.headers if name.lower() == "location"), None)

    @location.setter
    def location(self, value: str) -> None:
        self.headers = [(name, v) for name, v in self.headers if name.lower() != "location"] + [("Location", value)]


@dataclass
class _Call:
    conn: psycopg.Connection
    origin: RequestInfo
    clients: dict = field(default_factory=dict)


_call: ContextVar[_Call] = ContextVar("questbridge_oauth_call")


def _conn() -> psycopg.Connection:
    return _call.get().conn


# -- what Authlib's grants and endpoints see -------------------------------------------------------


@dataclass(frozen=True)
class User:
    id: uuid.UUID

    def get_user_id(self):
        return self.id


@dataclass(frozen=True)
class AuthorizationCode:
    code_hash: bytes
    client_id: str
    user_id: uuid.UUID
    redirect_uri: str | None
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope


@dataclass(frozen=True)
class StoredToken:
    """An access or refresh token found by introspection, revocation or a refresh."""

    kind: str  # "access_token" or "refresh_token"
    client_id: str
    user_id: uuid.UUID
    scope: str
    issued_at: int
    expires_at: int
    revoked: bool
    grant_id: uuid.UUID | None = None
    jti: uuid.UUID | None = None
    token_hash: bytes | None = None

    def check_client(self, client):
        return self.client_id == client.get_client_id()

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return max(0, self.expires_at - int(time.time()))

    def is_expired(self):
        return self.expires_at <= time.time()

    def is_revoked(self):
        return self.revoked

    def get_user(self):
        return User(self.user_id)


def _refresh_token(row: dict) -> StoredToken:
    return StoredToken(
        kind="refresh_token",
        client_id=row["client_id"],
        user_id=row["user_id"],
        scope=row["scope"],
        issued_at=int(row["created_at"].timestamp()),
        expires_at=int(row["expires_at"].timestamp()),
        revoked=row["revoked_at"] is not None or row["rotated_at"] is not None,
        grant_id=row["grant_id"],
        token_hash=bytes(row["token_hash"]),
    )


def _access_token(row: dict) -> StoredToken:
    return StoredToken(
        kind="access_token",
        client_id=row["client_id"],
        user_id=row["user_id"],
        scope=row["scope"],
        issued_at=int(row["issued_at"].timestamp()),
        expires_at=int(row["expires_at"].timestamp()),
        revoked=row["revoked_at"] is not None,
        grant_id=row["grant_id"],
        jti=row["jti"],
    )


class PKCE(CodeChallenge):
    """RFC 7636 with S256 only: `plain` and a missing method are refused; required per client."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        challenge, method = data.get("code_challenge"), data.get("code_challenge_method")
        if not challenge and not method:
            if grant.request.client.pkce_required:
                raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256")
            return
        if method != "S256":
            raise InvalidRequestError("code_challenge_method must be S256 (plain is not accepted)")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result):
        code = grant.request.authorization_code
        if grant.request.client.pkce_required and not code.code_challenge:
            raise InvalidGrantError("this client requires PKCE but the code was issued without a code_challenge")
        super().validate_code_verifier(grant, result)


NO_EXERCISABLE_SCOPE = "the user cannot exercise any of the requested scopes"


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def create_authorization_response(self, redirect_uri, grant_user):
        """The code carries only the scopes the user can exercise (RFC 6749 3.3: the token answer's
        `scope` tells the client); when none is left, access_denied."""
        if grant_user:
            role = clients.membership_role(_conn(), self.request.client.organization_id, grant_user.id)
            granted = exercisable_scopes(self.request.scope.split(), role)
            if not granted:
                raise AccessDeniedError(description=NO_EXERCISABLE_SCOPE, redirect_uri=redirect_uri)
            self.request.scope = " ".join(granted)
        return super().create_authorization_response(redirect_uri, grant_user)

    def save_authorization_code(self, code, request):
        data = request.payload.data
        challenge = data.get("code_challenge") or None
        tokens.save_code(
            _conn(),
            code,
            client_id=request.client.client_id,
            user_id=request.user.id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope or "",
            code_challenge=challenge,
            code_challenge_method="S256" if challenge else None,
            ttl_seconds=self.server.settings.code_ttl,
        )

    def query_authorization_code(self, code, client):
        row = tokens.redeem_code(_conn(), code, client.client_id)
        if row is None:
            return None
        return AuthorizationCode(
            code_hash=bytes(row["code_hash"]),
            client_id=row["client_id"],
            user_id=row["user_id"],
            redirect_uri=row["redirect_uri"],
            scope=row["scope"],
            code_challenge=row["code_challenge"],
            code_challenge_method=row["code_challenge_method"],
        )

    def delete_authorization_code(self, authorization_code):
        """Nothing to do: redeeming spent the code, and its row stays to recognize a replay."""

    def authenticate_user(self, authorization_code):
        return User(authorization_code.user_id)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotated on every use

    def authenticate_refresh_token(self, refresh_token):
        row = tokens.redeem_refresh_token(_conn(), refresh_token)
        return _refresh_token(row) if row else None

    def authenticate_user(self, refresh_token):
        return User(refresh_token.user_id)

    def issue_token(self, user, refresh_token):
        """Narrowed, like the code, to what the user can exercise now: an admin who became a
        member keeps the grant but no longer gets admin scopes."""
        scope = self.request.payload.scope or refresh_token.get_scope()
        role = clients.membership_role(_conn(), self.request.client.organization_id, user.id)
        if role is None:  # left or was removed from the client's organization: the grant ends there
            raise InvalidGrantError("the user is no longer a member of the client's organization")
        granted = exercisable_scopes(scope.split(), role)
        if not granted:
            raise InvalidGrantError(NO_EXERCISABLE_SCOPE)
        return self.generate_token(
            user=user, scope=" ".join(granted), include_refresh_token=self.INCLUDE_NEW_REFRESH_TOKEN
        )

    def revoke_old_credential(self, refresh_token):
        tokens.mark_rotated(_conn(), refresh_token.token_hash)


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """Tokens for the client's organization: they act as its principal, a member, read-only."""

    TOKEN_ENDPOINT_AUTH_METHODS = SECRET_AUTH_METHODS

    def validate_token_request(self):
        super().validate_token_request()
        client: Client = self.request.client
        if client.principal_id is None:
            raise UnauthorizedClientError("the client has no principal for client_credentials")
        allowed = [scope for scope in client.scopes if scope in CLIENT_CREDENTIALS_SCOPES]
        requested = list(dict.fromkeys((self.request.payload.scope or "").split())) or allowed
        if not requested or not set(requested) <= set(allowed):
            raise InvalidScopeError(
                "client_credentials tokens carry only "
                + " and ".join(CLIENT_CREDENTIALS_SCOPES)
                + ", within the client's scopes"
            )
        self.request.scope = " ".join(requested)

    def create_token_response(self):
        principal = User(self.request.client.principal_id)
        self.request.user = principal
        token = self.generate_token(user=principal, scope=self.request.scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class _TokenLookup:
    """query_token shared by revocation and introspection: our JWTs by jti, refresh tokens by hash."""

    def query_token(self, token_string, token_type_hint):
        order = ("access_token", "refresh_token")
        if token_type_hint == "refresh_token":  # noqa: S105 (a hint's name)
            order = order[::-1]
        for kind in order:
            found = self._find(kind, token_string)
            if found is not None:
                return found
        return None

    def _find(self, kind: str, token_string: str) -> StoredToken | None:
        if kind == "refresh_token":
            row = tokens.find_refresh_token(_conn(), token_string)
            return _refresh_token(row) if row else None
        claims = self.server.read_own_jwt(token_string)
        if claims is None:
            return None
        row = tokens.find_access_token(_conn(), claims.get("jti"))
        return _access_token(row) if row else None


class Revocation(_TokenLookup, RevocationEndpoint):
    CLIENT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def revoke_token(self, token, request):
        if token.kind == "refresh_token":
            tokens.revoke_grant(_conn(), token.grant_id, "refresh_token_revoked")
        else:
            tokens.revoke_access_token(_conn(), token.jti)


class Introspection(_TokenLookup, IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = SECRET_AUTH_METHODS  # introspection needs a confidential client

    def check_permission(self, token, client, request):
        return token.client_id == client.get_client_id()  # a client sees only its own tokens

    def introspect_token(self, token):
        body = {
            "active": True,
            "scope": token.scope,
            "client_id": token.client_id,
            "sub": str(token.user_id),
            "iss": self.server.settings.issuer,
            "exp": token.expires_at,
            "iat": token.issued_at,
        }
        if token.kind == "access_token":
            body |= {"token_type": "Bearer", "aud": self.server.settings.audience, "jti": str(token.jti)}
        return body


class AccessTokenGenerator(JWTBearerTokenGenerator):
    """RFC 9068 JWTs (iss sub aud client_id scope exp iat jti, typ at+jwt) signed by the current key."""

    def __init__(self, settings: Settings, keyring: keys.KeyRing):
        super().__init__(
            settings.issuer,
            alg=keys.ALGORITHM,
            refresh_token_generator=lambda **_: secrets.token_urlsafe(32),
            expires_generator=settings.access_token_ttl,
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
    def __init__(self, settings: Settings, keyring: keys.KeyRing):
        super().__init__(scopes_supported=list(SCOPES))
        self.settings = settings
        self.keyring = keyring
        self.register_token_generator("default", AccessTokenGenerator(settings, keyring))
        self.register_grant(AuthorizationCodeGrant, [PKCE(required=True)])
        self.register_grant(RefreshTokenGrant)
        self.register_grant(ClientCredentialsGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)
        self.register_extension(Issuer(settings.issuer))
        self.register_client_auth_method("client_secret_basic", self._secret_auth(_basic_credentials))
        self.register_client_auth_method("client_secret_post", self._secret_auth(_post_credentials))

    @contextmanager
    def bound(self, conn: psycopg.Connection, origin: RequestInfo) -> Iterator[None]:
        """Run Authlib calls with `conn` (service_role) as their storage."""
        reset = _call.set(_Call(conn=conn, origin=origin))
        try:
            yield
        finally:
            _call.reset(reset)

    # What Authlib asks of every server.

    def query_client(self, client_id):
        call = _call.get()
        if client_id not in call.clients:
            call.clients[client_id] = clients.load_client(call.conn, client_id)
        return call.clients[client_id]

    def save_token(self, token, request):
        claims = _payload_of(token["access_token"])
        client: Client = request.client
        conn = _conn()
        scope = token.get("scope", "")
        grant_id = None
        if request.authorization_code is not None:
            grant_id = tokens.create_grant(
                conn,
                client_id=client.client_id,
                user_id=request.authorization_code.user_id,
                organization_id=client.organization_id,
                scope=scope,
                ttl_seconds=self.settings.refresh_token_ttl,
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
            call = _call.get()
            ip = call.origin.ip or "unknown"
            window = self.settings.client_auth_window
            well_formed = clients.CLIENT_ID_FORMAT.match(client_id) is not None
            # Anything may arrive as a client_id: only a well-formed one is looked up or named in a bucket.
            client_key = client_id if well_formed else "sha256:" + hashlib.sha256(client_id.encode()).hexdigest()[:32]
            pair_bucket, ip_bucket = f"oauth_client_auth:{client_key}:{ip}", f"oauth_client_auth_ip:{ip}"
            # The same windows rate_limit counts in; read with the client in one round trip.
            window_start, reset_at = rate_limit._window(window)
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

    # Our own JWTs.

    def read_own_jwt(self, token: str, *, verify_exp: bool = False) -> dict | None:
        """The claims of an access token we signed (expired or not), or None."""
        header = jwt_header(token)
        if header.get("typ") != "at+jwt" or header.get("alg") != keys.ALGORITHM:
            return None
        key = self.keyring.verification_key(header.get("kid"))
        if key is None:
            return None
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[keys.ALGORITHM],
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti", "client_id"], "verify_exp": verify_exp},
                leeway=JWT_LEEWAY_SECONDS,
            )
        except jwt.PyJWTError:
            return None


def basic_credentials(headers) -> tuple[str | None, str | None]:
    """HTTP Basic client credentials; a header that does not decode is no credentials (invalid_client)."""
    try:
        return extract_basic_authorization(headers)
    except ValueError:  # not base64 of UTF-8, not ASCII, or nothing after the scheme
        return None, None


def _basic_credentials(request):
    return basic_credentials(request.headers)


def _post_credentials(request):
    return request.form.get("client_id"), request.form.get("client_secret")


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


def _payload_of(token: str) -> dict:
    """The claims of a JWT this process has just signed."""
    segment = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


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


def _grant(row: dict, claims: dict) -> AccessGrant:
    return AccessGrant(
        user_id=row["user_id"],
        client_id=row["client_id"],
        organization_id=row["organization_id"],
        scopes=frozenset(row["scope"].split()),
        jti=claims["jti"],
    )


class OAuth:
    """Everything the OAuth routes and the API's authentication need, one per app."""

    def __init__(self, config: Config, db: Database, box: SecretBox):
        self.settings = Settings.from_config(config)
        self.db = db
        self.box = box
        self.keyring = keys.KeyRing(db, box)
        self.server = Server(self.settings, self.keyring)
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
        claims = self.server.read_own_jwt(token, verify_exp=True)
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
    def system_transaction(self) -> Iterator[psycopg.Connection]:
        """The service_role transaction of a token, revocation or introspection request."""
        with self.db.transaction("service_role") as conn:
            yield conn

    @contextmanager
    def acting_as(self, claims: dict) -> Iterator[tuple[psycopg.Connection, AccessGrant]]:
        """One transaction as the token's user (RLS decides), entered only if the token is still
        live: the revocation check and the identity cost one round trip together."""
        with self.db.connection() as conn, conn.transaction():
            row = tokens.enter_as_token(conn, claims["jti"], claims["sub"])
            if row is None:
                raise InvalidAccessToken("the access token has been revoked")
            yield conn, _grant(row, claims)

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
