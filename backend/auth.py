"""Who is calling: user JWTs (ours or Supabase's), session cookies, and the route decorators."""

from __future__ import annotations

import functools
import hmac
import time
import uuid
from dataclasses import dataclass, field

import jwt
from flask import g, request

from backend.config import Config
from backend.csrf import require_csrf_proof
from backend.errors import Forbidden, ServiceUnavailable, Unauthorized
from backend.net import client_ip
from backend.runtime import current_runtime
from backend.services.accounts import sessions
from backend.services.oauth.resource import AccessGrant, InvalidAccessToken
from backend.services.shared.audit import RequestInfo

ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA")
PASSWORD_CHANGE_CLAIM = "qb_must_change_password"  # noqa: S105 (a claim name)
SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))


@dataclass(frozen=True)
class Identity:
    user_id: uuid.UUID
    email: str | None
    claims: dict = field(default_factory=dict)
    must_change_password: bool = False
    via: str = "bearer"  # or "session", or "oauth" for an access token of our OAuth server
    scopes: frozenset = frozenset()  # what an OAuth access token allows; checked by login_required(scope=...)
    client_id: str | None = None  # the OAuth client the token was issued to
    organization_id: uuid.UUID | None = None  # that client's organization


class TokenVerifier:
    """Verifies Supabase-shaped user JWTs: HS256 with JWT_SECRET, or asymmetric keys via JWKS."""

    def __init__(self, config: Config):
        self.secret = config.jwt_secret
        self.jwks_url = f"{config.supabase_url}/auth/v1/.well-known/jwks.json" if config.supabase_url else None
        self._jwks_client: jwt.PyJWKClient | None = None

    def _jwks(self) -> jwt.PyJWKClient:
        if self._jwks_client is None:
            self._jwks_client = jwt.PyJWKClient(self.jwks_url, cache_keys=True, lifespan=600, timeout=5)
        return self._jwks_client

    def verify(self, token: str) -> dict:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("the bearer token is malformed") from None
        algorithm = header.get("alg")
        if algorithm == "HS256":
            key = self.secret
        elif algorithm in ASYMMETRIC_ALGORITHMS and self.jwks_url:
            try:
                key = self._jwks().get_signing_key_from_jwt(token).key
            except (jwt.PyJWKClientConnectionError, ValueError):  # ValueError: the answer was not JSON
                # The provider's fault, not the caller's: a 401 would sign every Supabase user out.
                raise ServiceUnavailable(
                    "the identity provider's signing keys are unreachable", retry_after=5
                ) from None
            except jwt.PyJWTError:
                raise Unauthorized("the bearer token's signing key is unknown") from None
        else:
            raise Unauthorized(f"tokens signed with {algorithm!r} are not accepted") from None
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience="authenticated",
                options={"require": ["exp", "sub", "aud"]},
                leeway=30,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the bearer token has expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("the bearer token is invalid") from None
        if claims.get("role") != "authenticated":
            raise Unauthorized("the bearer token is not a user token")
        try:
            uuid.UUID(str(claims["sub"]))
        except ValueError:
            raise Unauthorized("the bearer token's subject is not a user id") from None
        return claims


def issue_access_token(config: Config, user_id, email: str, *, session_id=None, must_change_password=False) -> str:
    """A Supabase-shaped HS256 access token for a local login."""
    now = int(time.time())
    claims = {
        "iss": config.jwt_issuer,
        "sub": str(user_id),
        "aud": "authenticated",
        "role": "authenticated",
        "email": email,
        "iat": now,
        "exp": now + config.jwt_ttl_seconds,
        "jti": str(uuid.uuid4()),
        "aal": "aal1",
        "amr": [{"method": "password", "timestamp": now}],
    }
    if session_id is not None:
        claims["session_id"] = str(session_id)
    if must_change_password:
        claims[PASSWORD_CHANGE_CLAIM] = True
    return jwt.encode(claims, config.jwt_secret, algorithm="HS256")


def user_claims(user_id, email: str | None) -> dict:
    """The claims a session-cookie request runs with, shaped like a JWT's."""
    return {"sub": str(user_id), "role": "authenticated", "aud": "authenticated", "email": email}


def request_origin() -> RequestInfo:
    config: Config = current_runtime().config
    return RequestInfo(
        ip=client_ip(request.remote_addr, request.headers.get("X-Forwarded-For"), config.trusted_proxies),
        # Only a test client can send NUL in a header; Postgres text could not store it.
        user_agent=(request.headers.get("User-Agent") or "").replace("\x00", "") or None,
    )


def presented_bearer() -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None when there is no such header."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _bearer_token() -> str | None:
    if not request.headers.get("Authorization"):
        return None
    token = presented_bearer()
    if token is None:
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    return token


def authenticate_request() -> Identity | None:
    """The caller's identity from a bearer token or the session cookie; None when anonymous."""
    runtime = current_runtime()
    token = _bearer_token()
    if token is not None:
        oauth = current_runtime().oauth
        if oauth is not None and oauth.resource.is_access_token(token):
            return _oauth_identity(oauth, token)
        claims = runtime.verifier.verify(token)
        _require_live_session(runtime, claims)
        return Identity(
            user_id=uuid.UUID(claims["sub"]),
            email=claims.get("email"),
            claims=claims,
            must_change_password=bool(claims.get(PASSWORD_CHANGE_CLAIM)),
        )
    cookie = request.cookies.get(runtime.config.session_cookie_name)
    if cookie:
        with runtime.db.transaction("service_role") as conn:
            session = sessions.find_session(conn, cookie)
        if session is not None:
            # A cookie of no live session authenticates nothing, so there is nothing to forge with
            # it (and its browser could get no token: /api/auth/me answers it 401).
            if request.method not in SAFE_METHODS:
                require_csrf_proof(cookie)
            return Identity(
                user_id=session["user_id"],
                email=session["email"],
                claims=user_claims(session["user_id"], session["email"]),
                must_change_password=session["must_change_password"],
                via="session",
            )
    return None


def _require_live_session(runtime, claims: dict) -> None:
    """Our own access tokens belong to a session (sign-in): signing out or changing the password
    ends it, and with it every token it issued, before the token expires. Tokens of another
    issuer (Supabase Auth) are its business."""
    if claims.get("iss") != runtime.config.jwt_issuer:
        return
    try:
        session_id = uuid.UUID(str(claims.get("session_id")))
    except ValueError:
        raise Unauthorized("the bearer token names no session: sign in again") from None
    with runtime.db.transaction("service_role") as conn:
        alive = sessions.session_alive(conn, session_id)
    if not alive:
        raise Unauthorized("the session of this bearer token has ended: sign in again")


def bearer_session_id() -> uuid.UUID | None:
    """The session a valid bearer token of ours belongs to, or None (no token, or not ours)."""
    runtime = current_runtime()
    try:
        token = _bearer_token()
        claims = runtime.verifier.verify(token) if token else None
    except (Unauthorized, ServiceUnavailable):  # an OAuth token, a foreign one, or no keys: not ours
        return None
    if not claims or claims.get("iss") != runtime.config.jwt_issuer:
        return None
    try:
        return uuid.UUID(str(claims.get("session_id")))
    except ValueError:
        return None


def oauth_challenge(error: str | None = None, scope: str | None = None) -> dict:
    """The WWW-Authenticate header of a refused OAuth bearer request (RFC 6750 section 3)."""
    challenge = 'Bearer realm="questbridge"' + (f', error="{error}"' if error else "")
    return {"WWW-Authenticate": challenge + (f', scope="{scope}"' if scope else "")}


def invalid_token(detail: str) -> Unauthorized:
    return Unauthorized(detail, headers=oauth_challenge("invalid_token"))


def require_scope(granted: frozenset, scope: str | None) -> None:
    """OAuth access tokens reach only routes that name a scope, and only with that scope."""
    if scope is None:
        raise Forbidden("OAuth access tokens are not accepted here: sign in as a user", slug="oauth-token-not-accepted")
    if scope not in granted:
        raise Forbidden(
            f"the access token lacks the {scope} scope",
            slug="insufficient-scope",
            headers=oauth_challenge("insufficient_scope", scope),
        )


def oauth_identity(grant: AccessGrant) -> Identity:
    """A live OAuth access token's identity: its user (or client principal), running as that user."""
    # client_organization_id confines the token to its client's organization under RLS (the
    # membership helpers count no other), whatever else its user belongs to.
    claims = user_claims(grant.user_id, None) | {
        "client_id": grant.client_id,
        "scope": " ".join(sorted(grant.scopes)),
        "client_organization_id": str(grant.organization_id),
    }
    return Identity(
        user_id=grant.user_id,
        email=None,
        claims=claims,
        via="oauth",
        scopes=grant.scopes,
        client_id=grant.client_id,
        organization_id=grant.organization_id,
    )


def _oauth_identity(oauth, token: str) -> Identity:
    try:
        return oauth_identity(oauth.resource.authenticate(token))
    except InvalidAccessToken as exc:
        raise invalid_token(str(exc)) from None


def login_required(view=None, *, allow_password_change: bool = False, scope: str | None = None):
    """Require a signed-in user; g.identity is set. A pending password change blocks the rest.

    OAuth access tokens are accepted only where `scope` is given, and must carry it; user
    tokens and sessions are not scoped.
    """

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            identity = authenticate_request()
            if identity is None:
                raise Unauthorized("sign in first: send a bearer token or the session cookie")
            if identity.via == "oauth":
                require_scope(identity.scopes, scope)
            if identity.must_change_password and not allow_password_change:
                raise Forbidden(
                    "you must change your password before doing anything else",
                    slug="password-change-required",
                )
            g.identity = identity
            return fn(*args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


def token_required(scope: str):
    """Only an OAuth access token carrying `scope`; g.identity is set, and the view gets, as its
    first argument, the one transaction entered as the token's user once its jti is found live
    (so a revoked token stops working at the next request). Its signature and scope are checked
    before the database is asked."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            resource = current_runtime().oauth.resource
            token = presented_bearer()
            if token is None:
                detail = "send an OAuth access token: Authorization: Bearer <token>"
                raise Unauthorized(detail, headers=oauth_challenge())
            if not resource.is_access_token(token):
                raise invalid_token("this API takes OAuth access tokens, not user sign-ins")
            try:
                claims = resource.verify(token)
                require_scope(frozenset(claims["scope"].split()), scope)
                with resource.acting_as(claims) as (conn, grant):
                    g.identity = oauth_identity(grant)
                    return fn(conn, *args, **kwargs)
            except InvalidAccessToken as exc:
                raise invalid_token(str(exc)) from None

        return wrapper

    return decorate


def user_transaction():
    """The signed-in user's transaction: role authenticated with their claims, so RLS decides."""
    runtime = current_runtime()
    return runtime.db.transaction("authenticated", g.identity.claims)


def require_bearer_secret(expected: str, name: str) -> None:
    """401 unless the request carries `Authorization: Bearer <expected>` (constant-time compare)."""
    given = presented_bearer()
    if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized(f"a valid 'Authorization: Bearer <{name}>' is required")
