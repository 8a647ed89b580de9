"""Signing a browser in: the password check every sign-in form runs, the answer to a sign-in, and
the cookies it sets (the session cookie, and the device cookie that marks a browser its account
has signed in from)."""

from __future__ import annotations

from flask import current_app, request

from backend.auth import issue_access_token, request_origin
from backend.config import Config
from backend.csrf import session_csrf_token
from backend.net import transport_scheme
from backend.runtime import current_runtime
from backend.services.accounts import signin

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def password_sign_in(email: str, password: str) -> signin.LoginResult:
    """Check an email and password against the sign-in throttles, starting a session when they match."""
    runtime = current_runtime()
    return signin.authenticate(
        runtime.db,
        runtime.hasher,
        email,
        password,
        signin.LoginLimits.from_config(runtime.config),
        request_origin(),
        runtime.config.session_ttl_seconds,
        device_cookie=login_device(),
    )


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


def _device_cookie_name(config: Config) -> str:
    # __Host-: over https the browser refuses it unless Secure, for / and without a Domain.
    return "__Host-qb_device" if config.session_cookie_secure else "qb_device"


def login_device() -> str | None:
    """The device cookie this browser got from its last sign-in (services.accounts.signin.trusted_device checks it)."""
    return request.cookies.get(_device_cookie_name(current_runtime().config)) or None


def remember_login_device(response, cookie: str | None) -> None:
    """Mark the browser that just signed in as one its account uses: later sign-ins from it skip
    the throttles strangers share. HttpOnly, and it grants nothing but that."""
    if cookie is None:
        return
    config: Config = current_runtime().config
    _set_cookie(response, config, _device_cookie_name(config), cookie, config.login_device_ttl_seconds)


def set_session_cookie(response, session_token: str) -> None:
    """The one session cookie, set by every sign-in: HttpOnly, SameSite=Lax, and in production
    Secure with the __Host- prefix (Config.session_cookie_name)."""
    config = current_runtime().config
    _set_cookie(response, config, config.session_cookie_name, session_token, config.session_ttl_seconds)


def clear_session_cookie(response) -> None:
    config = current_runtime().config
    response.delete_cookie(
        config.session_cookie_name, path="/", httponly=True, samesite="Lax", secure=config.session_cookie_secure
    )


def _set_cookie(response, config: Config, name: str, value: str, max_age: int) -> None:
    """A sign-in cookie: for the whole site, out of scripts' reach, not sent by cross-site subrequests."""
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="Lax", secure=config.session_cookie_secure, path="/"
    )


def set_framed_cookie(response, name: str, value: str, max_age: int, path: str = "/") -> None:
    """A cookie an LMS launch sets, which must come back on requests inside the LMS's frame (a
    cross-site context): SameSite=None, hence Secure, and Partitioned (CHIPS: browsers that block
    third-party cookies keep a partitioned one, per top-level site). Browsers take Secure cookies
    from http://localhost and 127.0.0.1 too; on any other plain-http host they would drop it, so
    there it falls back to SameSite=Lax (then only a launch in a new window works)."""
    secure = cross_site_cookies_work()
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="None" if secure else "Lax",
        secure=secure,
        partitioned=secure,
        path=path,
    )


def cross_site_cookies_work() -> bool:
    """Whether this request can be answered with a SameSite=None (Secure) cookie the browser keeps."""
    if current_runtime().config.session_cookie_secure or transport_scheme() == "https":
        return True
    return request.host.rsplit(":", 1)[0].strip("[]") in LOOPBACK_HOSTS
