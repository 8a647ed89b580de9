"""The OAuth authorization flow's sign-in page: a browser without a session signs in here, then
goes back to the authorization endpoint it came from (backend/oauth_pages.py renders the form)."""

from __future__ import annotations

import secrets

from flask import Blueprint, redirect, request

from backend import oauth_pages as pages
from backend.csrf import cross_site_reason, csrf_token_ok
from backend.runtime import current_runtime
from backend.signin import password_sign_in, remember_login_device, set_session_cookie

bp = Blueprint("oauth_login", __name__)


@bp.get(pages.LOGIN_PATH)
def login_page():
    target = pages.safe_next(request.args.get("next"))
    if target is not None and pages.session_cookie():
        with current_runtime().db.transaction("service_role") as conn:
            signed_in = pages.find_session(conn) is not None
        if signed_in:
            return redirect(target, 302)
    return pages.login_page()


@bp.post(pages.LOGIN_PATH)
def login():
    if cross_site_reason():
        # Login CSRF: the nonce cookie its token is bound to can be planted by a sibling origin
        # (cookies ignore ports; Domain= reaches from a subdomain), so the browser's word counts.
        return pages.login_page(
            403, "Sign in from this page itself, not from another site.", nonce=secrets.token_urlsafe(24)
        )
    nonce = request.cookies.get(pages.login_nonce_cookie())
    if not csrf_token_ok("oauth-login", nonce, request.form.get("csrf_token")):
        return pages.login_page(400, "The sign-in form expired; please try again.", nonce=secrets.token_urlsafe(24))
    email = (request.form.get("email") or "").strip()
    password = request.form.get("password") or ""
    if not 3 <= len(email) <= 254 or not 1 <= len(password) <= 1024 or "\x00" in email + password:
        return pages.login_page(422, "Enter your email address and password.", email=email[:254].replace("\x00", ""))
    result = password_sign_in(email, password)
    if result.throttled:
        response = pages.login_page(429, "Too many failed sign-ins; try again later.", email=email)
        response.headers["Retry-After"] = str(result.retry_after)
        return response
    if result.user is None:
        return pages.login_page(401, "Invalid email or password.", email=email)
    target = pages.safe_next(request.form.get("next"))
    response = (
        redirect(target, 303)
        if target
        else pages.message("You are signed in", "You can close this page and return to the application.", 200)
    )
    response.headers.update(pages.NO_STORE)
    set_session_cookie(response, result.session.token)
    remember_login_device(response, result.device_cookie)
    response.delete_cookie(
        pages.login_nonce_cookie(),
        path=pages.LOGIN_PATH,
        httponly=True,
        samesite="Lax",
        secure=current_runtime().config.session_cookie_secure,
    )
    return response
