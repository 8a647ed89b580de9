"""The OAuth server's HTML pages: sign-in, consent and messages, server-rendered (autoescaped
Jinja), CSRF-protected with tokens bound to the session (or, before sign-in, to a nonce cookie),
never framed, never cached. Both the authorization endpoint (routes/oauth.py) and the sign-in
page (routes/oauth_login.py) answer with them."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import make_response, render_template, request, url_for

from backend.csrf import csrf_token
from backend.runtime import current_runtime
from backend.services.accounts import sessions
from backend.services.oauth import SCOPES, clients

AUTHORIZE_PATH = "/api/oauth/authorize"
LOGIN_PATH = "/api/oauth/login"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def page(template: str, status: int = 200, *, form_targets: tuple[str, ...] = (), framed_by: str = "", **context):
    """A server-rendered page that no one may frame (unless `framed_by` names who may: an LMS
    frames the launch's pages) or cache, with a per-response style nonce."""
    nonce = secrets.token_urlsafe(16)
    response = make_response(render_template(template, csp_nonce=nonce, **context), status)
    # form-action also governs where the form's answer may redirect: the client's redirect URI.
    form_action = " ".join(("'self'", *form_targets))
    ancestors = framed_by or "'none'"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; form-action {form_action}; "
        f"frame-ancestors {ancestors}; base-uri 'none'"
    )
    if not framed_by:
        response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers.update(NO_STORE)
    return response


def message(heading: str, text: str, status: int, detail: str | None = None, framed_by: str = ""):
    return page(
        "oauth/message.html",
        status,
        framed_by=framed_by,
        heading=heading,
        message=text,
        detail=detail,
        is_error=status >= 400,
    )


def login_nonce_cookie() -> str:
    # Its path is the login form's, so it cannot take __Host-; __Secure- still keeps plain-http
    # pages from planting one.
    return "__Secure-qb_oauth_login" if current_runtime().config.session_cookie_secure else "qb_oauth_login"


def safe_next(value: str | None) -> str | None:
    """`next` only ever leads back to our own authorization endpoint (no open redirect)."""
    if not value or len(value) > 8192 or "\\" in value or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path != AUTHORIZE_PATH or parts.fragment:
        return None
    return AUTHORIZE_PATH + (f"?{parts.query}" if parts.query else "")


def session_cookie() -> str | None:
    return request.cookies.get(current_runtime().config.session_cookie_name) or None


def find_session(conn) -> dict | None:
    """The browser's live session, from its session cookie, or None."""
    cookie = session_cookie()
    return sessions.find_session(conn, cookie) if cookie else None


def malformed_page(name: str):
    return message(
        "This authorization request cannot be completed",
        f"The {name} parameter is too long or holds characters it may not contain.",
        400,
        detail="Error: invalid_request. Tell the application's developer; nothing was shared.",
    )


def refusal_page(session: dict, client, role: str | None) -> object | None:
    """A page for users who may not authorize this client, or None."""
    if session["must_change_password"]:
        return message(
            "Change your password first",
            "You must choose a new password before connecting applications to your account.",
            403,
        )
    if role is None:
        return message(
            "This application belongs to another organization",
            f"{client.name} was registered by an organization that {session['email']} is not a member of.",
            403,
            detail="Sign out and sign in with the account of that organization, or ask its admins.",
        )
    return None


def consent_page(conn, grant, session: dict, scopes: list[str]):
    client = grant.request.client
    data = grant.request.payload.data
    params = [
        (name, data[name])
        for name in (
            "response_type",
            "client_id",
            "redirect_uri",
            "state",
            "nonce",
            "code_challenge",
            "code_challenge_method",
        )
        if data.get(name)
    ]
    params.append(("scope", " ".join(scopes)))
    redirect_parts = urlsplit(grant.redirect_uri)
    redirect_origin = f"{redirect_parts.scheme}://{redirect_parts.netloc}"
    return page(
        "oauth/consent.html",
        form_targets=(redirect_origin,),
        client_name=client.name,
        organization_name=clients.organization_name(conn, client.organization_id),
        user_email=session["email"],
        scopes=[{"name": scope, "description": SCOPES[scope]} for scope in scopes],
        redirect_host=redirect_parts.netloc,
        action=url_for("oauth.authorize_decision"),
        csrf_token=csrf_token("oauth-consent", session_cookie()),
        params=params,
    )


def login_page(status: int = 200, text: str | None = None, email: str | None = None, nonce: str | None = None):
    """The sign-in form, its CSRF token bound to a nonce cookie (there is no session yet)."""
    nonce = nonce or request.cookies.get(login_nonce_cookie()) or secrets.token_urlsafe(24)
    response = page(
        "oauth/login.html",
        status,
        action=url_for("oauth_login.login"),
        csrf_token=csrf_token("oauth-login", nonce),
        next=safe_next(request.values.get("next")),
        message=text,
        email=email,
    )
    response.set_cookie(
        login_nonce_cookie(),
        nonce,
        httponly=True,
        samesite="Lax",
        secure=current_runtime().config.session_cookie_secure,
        path=LOGIN_PATH,
    )
    return response
