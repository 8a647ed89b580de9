"""Argon2id password hashing with a constant-time answer for unknown accounts."""

from __future__ import annotations

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# RFC 9106's second recommended option (argon2id, 64 MiB, t=3, p=4) in production and development;
# tests use the library's cheapest profile so the suite stays fast.
_STRONG = argon2.PasswordHasher.from_parameters(argon2.profiles.RFC_9106_LOW_MEMORY)
_CHEAP = argon2.PasswordHasher.from_parameters(argon2.profiles.CHEAPEST)

MIN_LENGTH = 10
MAX_LENGTH = 256


class PasswordHasher:
    def __init__(self, cheap: bool = False):
        self._hasher = _CHEAP if cheap else _STRONG
        # Verified when the account does not exist, so both answers take the same time.
        self._dummy_hash = self._hasher.hash("questbridge-timing-equalizer")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._dummy_hash, password) and bool(password_hash)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


def password_problem(password: str, email: str | None = None) -> str | None:
    """Why a new password is unacceptable, or None."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    if email and password.strip().lower() == email.strip().lower():
        return "must not be your email address"
    if len(set(password)) < 4:
        return "is too simple"
    return None
