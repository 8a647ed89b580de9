"""How inbound webhooks are verified: the autograder's hex HMAC, Standard Webhooks, Stripe-style
and plain hmac-hex. Every check compares in constant time against every configured secret.

A refusal carries a `reason` that is safe to log and to show: it never contains a secret or a
signature.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from backend.services.webhooks import signing

DEFAULT_TOLERANCE_SECONDS = 300
UNIX_SECONDS = re.compile(r"[0-9]{1,12}")  # ASCII digits only: str.isdigit() also takes "²"


class SignatureRefused(ValueError):
    """The request is not authentic; `reason` says which check failed."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class StaleTimestamp(SignatureRefused):
    """Authentic but outside the freshness window (too old, or too far in the future)."""


@dataclass(frozen=True)
class Source:
    """A configured INBOUND_SOURCES entry."""

    name: str
    scheme: str
    secrets: tuple
    organization_id: str | None = None
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS
    signature_header: str = "X-Signature"

    @classmethod
    def from_config(cls, name: str, spec: dict) -> Source:
        return cls(
            name=name,
            scheme=spec["scheme"],
            secrets=tuple(spec["secrets"]),
            organization_id=spec.get("organization_id"),
            tolerance_seconds=spec.get("tolerance_seconds", DEFAULT_TOLERANCE_SECONDS),
            signature_header=spec.get("signature_header", "X-Signature"),
        )


@dataclass(frozen=True)
class Verified:
    """What a successful verification establishes about the request."""

    sent_at: int | None = None  # the signed timestamp, when the scheme has one
    message_id: str | None = None  # the signed message id (Standard Webhooks' webhook-id)


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name, from Flask's headers or a plain dict."""
    name = name.lower()
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def hex_hmac(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _any_matches(expected: Iterable[str], offered: Iterable[str]) -> bool:
    """Constant-time comparison of every candidate against every expected value (no early exit
    that would reveal which secret matched)."""
    matched = False
    offered = [candidate.encode() for candidate in offered]
    for value in expected:
        for candidate in offered:
            matched |= hmac.compare_digest(value.encode(), candidate)
    return matched


def check_fresh(sent_at: float, tolerance: int, now: float | None = None) -> None:
    now = time.time() if now is None else now
    if sent_at < now - tolerance:
        raise StaleTimestamp(f"the timestamp is more than {tolerance} seconds old")
    if sent_at > now + tolerance:
        raise StaleTimestamp(f"the timestamp is more than {tolerance} seconds in the future")


def verify_hmac_hex(body: bytes, signature: str | None, secrets: Iterable[str]) -> Verified:
    """`<hex HMAC-SHA256(secret, raw body)>`, optionally prefixed `sha256=` (the autograder, hmac-hex)."""
    if not signature or not signature.strip():
        raise SignatureRefused("the signature header is missing")
    offered = signature.strip()
    if offered.lower().startswith("sha256="):
        offered = offered[len("sha256=") :]
    offered = offered.lower()
    if not _any_matches((hex_hmac(secret, body) for secret in secrets), [offered]):
        raise SignatureRefused("the signature does not match")
    return Verified()


def parse_stripe_header(value: str) -> tuple[int, list[str]]:
    """`t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=…]` -> (t, the v1 signatures)."""
    timestamp, signatures = None, []
    for item in value.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not UNIX_SECONDS.fullmatch(timestamp):
        raise SignatureRefused("Stripe-Signature has no t=<unix seconds>")
    if not signatures:
        raise SignatureRefused("Stripe-Signature has no v1 signature")
    return int(timestamp), signatures


def stripe_signature(secret: str, timestamp: int, body: bytes) -> str:
    """Stripe's v1: hex HMAC-SHA256 keyed with the endpoint secret as given, over "<t>.<body>"."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify_stripe(
    body: bytes, stripe_signature_header: str | None, secrets: Iterable[str], tolerance: int, now: float | None = None
) -> Verified:
    """Stripe's scheme: any v1 matching any secret, then the timestamp within `tolerance` either way."""
    if not stripe_signature_header or not stripe_signature_header.strip():
        raise SignatureRefused("the Stripe-Signature header is missing")
    timestamp, offered = parse_stripe_header(stripe_signature_header)
    if not _any_matches((stripe_signature(secret, timestamp, body) for secret in secrets), offered):
        raise SignatureRefused("no v1 signature matches")
    check_fresh(timestamp, tolerance, now)
    return Verified(sent_at=timestamp)


def verify_standard(
    body: bytes, headers: Mapping[str, str], secrets: Iterable[str], tolerance: int, now: float | None = None
) -> Verified:
    """Standard Webhooks, through the same verify() our receivers use."""
    try:
        signing.verify(body, headers, list(secrets), tolerance=tolerance, now=now)
    except signing.VerificationError as exc:
        reason = str(exc)
        if "timestamp is too" in reason:
            raise StaleTimestamp(reason) from None
        raise SignatureRefused(reason) from None
    return Verified(sent_at=int(header(headers, "webhook-timestamp")), message_id=header(headers, "webhook-id"))


def verify_source(source: Source, body: bytes, headers: Mapping[str, str], now: float | None = None) -> Verified:
    """Verify a request to POST /api/inbound/<source> by the source's scheme."""
    if source.scheme == "standard-webhooks":
        return verify_standard(body, headers, source.secrets, source.tolerance_seconds, now)
    if source.scheme == "stripe":
        return verify_stripe(body, header(headers, "Stripe-Signature"), source.secrets, source.tolerance_seconds, now)
    if source.scheme == "hmac-hex":
        return verify_hmac_hex(body, header(headers, source.signature_header), source.secrets)
    raise ValueError(f"unknown scheme {source.scheme!r}")
