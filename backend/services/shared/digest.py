"""How secrets we issue are stored: tokens, API keys and client secrets are kept only as a digest."""

from __future__ import annotations

import hashlib
import secrets


def secret_digest(value: str) -> bytes:
    """SHA-256 of a secret we generated with at least 256 random bits: guessing it is hopeless
    already, so a slow password hash would add nothing but cost on every request that presents it."""
    return hashlib.sha256(value.encode()).digest()


def new_token() -> str:
    """A bearer secret of 256 random bits (a session cookie, a reset or invitation link)."""
    return secrets.token_urlsafe(32)
