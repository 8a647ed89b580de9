"""Standard Webhooks signatures: `whsec_` secrets, v1 HMAC-SHA256 over "<id>.<timestamp>.<body>".

Senders call `signature_header`; receivers (and our tests) call `verify`, which any Standard
Webhooks library agrees with.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import secrets as _secrets
import time
from collections.abc import Iterable, Mapping

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
SECRET_BYTES = 32
DEFAULT_TOLERANCE_SECONDS = 300


class VerificationError(ValueError):
    """The webhook is not authentic or not fresh; the message says which check failed."""


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(SECRET_BYTES)).decode()


@functools.lru_cache(maxsize=4096)
def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret (the base64-decoded part after the prefix); memoized, as
    every delivery of a subscription is signed with the same few secrets."""
    encoded = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is whsec_ followed by base64") from None
    if not key:
        raise ValueError("a webhook secret must not be empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature."""
    signed = f"{msg_id}.{int(timestamp)}.".encode() + body
    digest = hmac.digest(secret_key(secret), signed, "sha256")
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one space-separated signature per active secret."""
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets)


def headers(secrets: Iterable[str], msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets, msg_id, timestamp, body),
    }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Iterable[str] | str,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Raise VerificationError unless one v1 signature matches one secret and the timestamp is fresh."""
    if isinstance(secrets, str):
        secrets = [secrets]
    msg_id = _header(headers, "webhook-id")
    timestamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    if not msg_id or not timestamp or not signatures:
        raise VerificationError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise VerificationError("webhook-timestamp is not a unix time in seconds") from None
    now = time.time() if now is None else now
    if sent_at < now - tolerance:
        raise VerificationError("webhook-timestamp is too old")
    if sent_at > now + tolerance:
        raise VerificationError("webhook-timestamp is too far in the future")
    offered = [value for version, _, value in (part.partition(",") for part in signatures.split()) if version == "v1"]
    for secret in secrets:
        expected = sign(secret, msg_id, sent_at, body).partition(",")[2]
        if any(hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in offered):
            return
    raise VerificationError("no signature matches")
