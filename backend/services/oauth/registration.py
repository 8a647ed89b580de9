"""What an OAuth client may register: its grants, scopes and type, and redirect URIs that are
https, or http on a loopback address where any port matches (RFC 8252 7.3), and are otherwise
compared exactly."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from backend.errors import ValidationFailed
from backend.services.oauth import CLIENT_TYPES, GRANT_TYPES, SCOPES

MAX_REDIRECT_URIS = 10
MAX_REDIRECT_URI_LENGTH = 2048
REMOVED_GRANTS = ("implicit", "password")


def _is_loopback(hostname: str | None) -> bool:
    if not hostname:
        return False
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def redirect_uri_problem(uri: str) -> str | None:
    """Why a redirect URI cannot be registered, or None when it can."""
    if len(uri) > MAX_REDIRECT_URI_LENGTH:
        return f"must be at most {MAX_REDIRECT_URI_LENGTH} characters"
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in uri):
        return "must not contain spaces or control characters"
    if any(ord(ch) > 0x7E or ch in '"<>\\^`{|}' for ch in uri):
        return "must be ASCII, with other characters percent-encoded"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 (raises ValueError for a malformed port)
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be an absolute https URL"
    if "#" in uri:
        return "must not have a fragment"
    if parts.username is not None or parts.password is not None:
        return "must not contain credentials"
    if "*" in parts.netloc:
        return "must not contain wildcards: register every URI exactly"
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return "must be https (http is allowed only for loopback: 127.0.0.1, [::1] or localhost)"
    return None


def redirect_uri_matches(registered: list[str] | tuple[str, ...], candidate: str) -> bool:
    """Exact string match; for a registered http loopback URI, any port of the same URI matches."""
    if candidate in registered:
        return True
    try:
        asked = urlsplit(candidate)
        asked.port  # noqa: B018
    except ValueError:
        return False
    if asked.scheme != "http" or not _is_loopback(asked.hostname) or "#" in candidate or asked.username is not None:
        return False
    for uri in registered:
        known = urlsplit(uri)
        if (
            known.scheme == "http"
            and _is_loopback(known.hostname)
            and known.hostname == asked.hostname
            and known.path == asked.path
            and known.query == asked.query
        ):
            return True
    return False


def check_redirect_uris(uris: list[str], grant_types) -> list[str]:
    """The URIs, deduplicated in order, or ValidationFailed naming the first that cannot be
    registered, or saying that a client of the authorization_code grant needs one."""
    uris = list(dict.fromkeys(uris))
    if len(uris) > MAX_REDIRECT_URIS:
        raise ValidationFailed.field("redirect_uris", f"must list at most {MAX_REDIRECT_URIS} URIs")
    for index, uri in enumerate(uris):
        problem = redirect_uri_problem(uri)
        if problem:
            raise ValidationFailed.field("redirect_uris", f"[{index}] {problem}")
    if "authorization_code" in grant_types and not uris:
        raise ValidationFailed.field("redirect_uris", "the authorization_code grant needs at least one redirect URI")
    return uris


def check_pkce(client_type: str, pkce_required: bool) -> None:
    if not pkce_required and client_type != "confidential":
        raise ValidationFailed.field("pkce_required", "can be switched off only for confidential clients")


def check_registration(data: dict) -> dict:
    """The registration, deduplicated, or ValidationFailed naming the field that breaks a rule."""
    grant_types = list(dict.fromkeys(data["grant_types"]))
    for name in grant_types:
        if name in REMOVED_GRANTS:
            raise ValidationFailed.field(
                "grant_types", f"{name!r} is not supported: OAuth 2.1 removed the implicit and password grants"
            )
        if name not in GRANT_TYPES:
            raise ValidationFailed.field("grant_types", f"{name!r} is not one of {', '.join(GRANT_TYPES)}")
    if "refresh_token" in grant_types and "authorization_code" not in grant_types:
        raise ValidationFailed.field("grant_types", "refresh_token comes only with authorization_code")
    scopes = list(dict.fromkeys(data["scopes"]))
    for scope in scopes:
        if scope not in SCOPES:
            raise ValidationFailed.field("scopes", f"{scope!r} is not one of {', '.join(SCOPES)}")
    if data["client_type"] not in CLIENT_TYPES:
        raise ValidationFailed.field("client_type", "must be confidential or public")
    redirect_uris = check_redirect_uris(data["redirect_uris"], grant_types)
    if data["client_type"] == "public" and "client_credentials" in grant_types:
        raise ValidationFailed.field("grant_types", "a public client cannot use client_credentials")
    check_pkce(data["client_type"], data["pkce_required"])
    return data | {"grant_types": grant_types, "scopes": scopes, "redirect_uris": redirect_uris}
