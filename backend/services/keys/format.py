"""The API key format: `qbk_<key_id>_<secret>_<crc>`, checked offline, and the digest that is stored.

A 16-hex public key id, 32 random bytes in base62 and a CRC-32 of everything before it, so scanners
and `parse_key` reject a mistyped or made-up key without a lookup. Only the SHA-256 is kept."""

from __future__ import annotations

import hmac
import math
import re
import secrets
import string
import zlib
from dataclasses import dataclass

from backend.services.shared.digest import secret_digest

KEY_PREFIX = "qbk_"
KEY_PATTERN = re.compile(r"qbk_([0-9a-f]{16})_([0-9A-Za-z]{43})_([0-9A-Za-z]{6})")
KEY_ID_PATTERN = re.compile(r"[0-9a-f]{16}")
SECRET_BYTES = 32

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_SECRET_DIGITS = math.ceil(SECRET_BYTES * 8 / math.log2(62))  # 43
_CRC_DIGITS = 6  # 62**6 > 2**32


class MalformedKey(ValueError):
    """The value cannot be a key we issued; nothing was looked up."""


@dataclass(frozen=True)
class ParsedKey:
    key_id: str
    value: str

    @property
    def digest(self) -> bytes:
        """What the database keeps of the key: the SHA-256 of the whole value."""
        return secret_digest(self.value)


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, remainder = divmod(number, 62)
        digits.append(_BASE62[remainder])
    return "".join(reversed(digits))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CRC_DIGITS)


def new_key(key_id: str | None = None) -> ParsedKey:
    """A fresh key: a new key id unless one is kept (rotation with preserve_key_id), a new secret always."""
    key_id = key_id or secrets.token_hex(8)
    secret = _base62(int.from_bytes(secrets.token_bytes(SECRET_BYTES)), _SECRET_DIGITS)
    body = f"{KEY_PREFIX}{key_id}_{secret}"
    return ParsedKey(key_id, f"{body}_{_checksum(body)}")


def parse_key(value: str) -> ParsedKey:
    """The key id of a well-formed key with a matching checksum, else MalformedKey. No I/O."""
    match = KEY_PATTERN.fullmatch(value)
    if match is None:
        raise MalformedKey("is not a Questbridge API key (qbk_<key id>_<secret>_<checksum>)")
    if not hmac.compare_digest(match.group(3), _checksum(value[: match.start(3) - 1])):
        raise MalformedKey("has a wrong checksum: it was mistyped or truncated")
    return ParsedKey(match.group(1), value)
