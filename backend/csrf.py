"""Cross-site request forgery: the tokens our own pages carry, the browser's word on where a
request came from, and the refusals of unsafe cookie-authenticated requests and of sign-ins
another site started."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from flask import current_app, request

from backend.errors import Forbidden
from backend.net import transport_scheme
from backend.runtime import current_runtime

CSRF_HEADER = "X-CSRF-Token"


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
