"""Who is calling: user JWTs (ours or Supabase's), session cookies, and the route decorators."""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import jwt
from flask import current_app, g, request

from backend.config import Config
from backend.errors import Forbidden, ServiceUnavailable, Unauthorized
from backend.net import client_ip, forwarded_scheme
from backend.runtime import current_runtime
from backend.services.accounts import sessions
from backend.services.oauth.resource import InvalidAccessToken
from backend.services.shared.audit import RequestInfo

ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA")
PASSWORD_CHANGE_CLAIM = "qb_must_change_password"  # noqa: S105 (a claim name)
CSRF_HEADER = "X-CSRF-Token"
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


def transport_scheme() -> str:
    """http or https, as the client reached us: the connection's own scheme, unless a trusted
    proxy (TRUSTED_PROXIES) terminated TLS and says so in X-Forwarded-Proto."""
    config: Config = current_runtime().config
    told = forwarded_scheme(request.remote_addr, request.headers.get("X-Forwarded-Proto"), config.trusted_proxies)
    return told or request.environ.get("wsgi.url_scheme", "http")


def _device_cookie_name(config: Config) -> str:
    # __Host-: over https the browser refuses it unless Secure, for / and without a Domain.
    return "__Host-qb_device" if config.session_cookie_secure else "qb_device"


def login_device() -> str | None:
    """The device cookie this browser got from its last sign-in (signin.trusted_device checks it)."""
    return request.cookies.get(_device_cookie_name(current_runtime().config)) or None


def remember_login_device(response, cookie: str | None) -> None:
    """Mark the browser that just signed in as one its account uses: later sign-ins from it skip
    the throttles strangers share. HttpOnly, and it grants nothing but that."""
    if cookie is None:
        return
    config: Config = current_runtime().config
    response.set_cookie(
        _device_cookie_name(config),
        cookie,
        max_age=config.login_device_ttl_seconds,
        httponly=True,
        samesite="Lax",
        secure=config.session_cookie_secure,
        path="/",
    )


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    return token.strip()


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


def csrf_token(purpose: str, binding: str) -> str:
    """A token only our own pages can know: an HMAC, under SECRET_KEY, of what it is for and of a
    value bound to this browser (its session cookie, or a nonce cookie before sign-in). A cookie
    travels with a forged cross-site request, but its value cannot be read by the forging page."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"questbridge-{purpose}\x00{binding}".encode(), hashlib.sha256).hexdigest()


def csrf_token_ok(purpose: str, binding: str | None, presented: str | None) -> bool:
    if not binding or not presented:
        return False
    return hmac.compare_digest(csrf_token(purpose, binding), presented)


def session_csrf_token(session_token: str) -> str:
    """What the admin UI sends as X-CSRF-Token with every unsafe request the session cookie authenticates."""
    return csrf_token("session", session_token)


def cross_site_reason() -> str | None:
    """Why the browser says this request did not come from one of our own pages, or None.

    Fetch metadata and Origin are what the browser itself reports, so a forging page cannot change
    them: another site, another port of this host or a sibling subdomain is not same-origin. They
    are absent from old browsers and from non-browser clients, which is why the token is required too.
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site != "same-origin":
        return f"it was sent by a page of another origin (Sec-Fetch-Site: {site})"
    origin = request.headers.get("Origin")
    if origin is not None and not _is_our_origin(origin):
        return "its Origin is not this server's"
    return None


def _is_our_origin(origin: str) -> bool:
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False  # "null" (sandboxed frames, privacy-sensitive redirects) and garbage
    public = urlsplit(current_runtime().config.public_url)
    if (parts.scheme, parts.netloc) == (public.scheme, public.netloc):
        return True
    # Behind no proxy the browser's Host is the origin it sent the page from; a browser cannot be
    # made to send another site's Host, and a non-browser client is no cross-site forger. The
    # scheme counts too: a plain-http page is not the https origin of the same host.
    return (parts.scheme, parts.netloc) == (transport_scheme(), request.host)


def require_csrf_proof(session_token: str) -> None:
    """403 unless an unsafe request carrying the session cookie proves it comes from our pages:
    the session's CSRF token in X-CSRF-Token, and no browser signal of another origin. An empty
    body is no exception: a body-less form post is exactly what a forging page sends."""
    reason = cross_site_reason()
    if reason is None and not csrf_token_ok("session", session_token, request.headers.get(CSRF_HEADER)):
        reason = f"it lacks the {CSRF_HEADER} header of this session (GET /api/auth/me returns it as csrf_token)"
    if reason is not None:
        raise Forbidden(
            f"this request is authenticated by the session cookie, and {reason}; requests with a bearer "
            "token or an API key need no CSRF token",
            slug="csrf-failed",
        )


def refuse_cross_site_sign_in() -> None:
    """Login CSRF: a page of another origin signing the browser in, to an account of its choosing
    (a login form, a reset or an invitation link it holds), so that what the victim then does lands
    in the attacker's account. Every route that sets the session cookie calls this first."""
    reason = cross_site_reason()
    if reason:
        raise Forbidden(f"sign in from this server's own pages: {reason}", slug="csrf-failed")


def signed_in_response(user_id, email: str, session, must_change_password: bool, extra: dict | None = None):
    """The answer to a sign-in (login, password change, reset, an accepted invitation): an access
    token and the session cookie, both ending with the session, and the session's CSRF token."""
    config: Config = current_runtime().config
    token = issue_access_token(config, user_id, email, session_id=session.id, must_change_password=must_change_password)
    body = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": config.jwt_ttl_seconds,
        "user": {"id": str(user_id), "email": email},
        "must_change_password": must_change_password,
        "csrf_token": session_csrf_token(session.token),
    }
    response = current_app.json.response(body | (extra or {}))
    response.headers["Cache-Control"] = "no-store"
    set_session_cookie(response, session.token)
    return response


def set_session_cookie(response, session_token: str) -> None:
    """The one session cookie, set by every sign-in: HttpOnly, SameSite=Lax, and in production
    Secure with the __Host- prefix (Config.session_cookie_name)."""
    config = current_runtime().config
    response.set_cookie(
        config.session_cookie_name,
        session_token,
        max_age=config.session_ttl_seconds,
        httponly=True,
        samesite="Lax",
        secure=config.session_cookie_secure,
        path="/",
    )


def clear_session_cookie(response) -> None:
    config = current_runtime().config
    response.delete_cookie(
        config.session_cookie_name, path="/", httponly=True, samesite="Lax", secure=config.session_cookie_secure
    )


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


def _oauth_identity(oauth, token: str) -> Identity:
    """An OAuth access token's identity: its user (or client principal), running as that user."""
    try:
        grant = oauth.resource.authenticate(token)
    except InvalidAccessToken as exc:
        raise Unauthorized(
            str(exc), headers={"WWW-Authenticate": 'Bearer realm="questbridge", error="invalid_token"'}
        ) from None
    scope = " ".join(sorted(grant.scopes))
    # client_organization_id confines the token to its client's organization under RLS (the
    # membership helpers count no other), whatever else its user belongs to.
    claims = user_claims(grant.user_id, None) | {
        "client_id": grant.client_id,
        "scope": scope,
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


def _check_scope(identity: Identity, scope: str | None) -> None:
    """OAuth access tokens reach only routes that name a scope, and only with that scope."""
    if scope is None:
        raise Forbidden("OAuth access tokens are not accepted here: sign in as a user", slug="oauth-token-not-accepted")
    if scope not in identity.scopes:
        raise Forbidden(
            f"the access token lacks the {scope} scope",
            slug="insufficient-scope",
            headers={"WWW-Authenticate": f'Bearer realm="questbridge", error="insufficient_scope", scope="{scope}"'},
        )


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
                _check_scope(identity, scope)
            if identity.must_change_password and not allow_password_change:
                raise Forbidden(
                    "you must change your password before doing anything else",
                    slug="password-change-required",
                )
            g.identity = identity
            return fn(*args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


def user_transaction():
    """The signed-in user's transaction: role authenticated with their claims, so RLS decides."""
    runtime = current_runtime()
    return runtime.db.transaction("authenticated", g.identity.claims)


def require_bearer_secret(expected: str, name: str) -> None:
    """401 unless the request carries `Authorization: Bearer <expected>` (constant-time compare)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise Unauthorized(f"a valid 'Authorization: Bearer <{name}>' is required")
