"""Encryption at rest for secrets we must be able to use again (webhook signing secrets).

AES-256-GCM with a key derived from SECRET_KEY by HKDF-SHA256. Stored form:
b"qb1" + 12-byte nonce + ciphertext-and-tag; the purpose is bound as associated data so a value
encrypted for one use cannot be replayed as another.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"qb1"
NONCE_BYTES = 12


class SecretBoxError(ValueError):
    """A stored secret could not be decrypted (wrong SECRET_KEY, or tampered with)."""


class SecretBox:
    def __init__(self, secret_key: str):
        if not secret_key:
            raise ValueError("SECRET_KEY is required to encrypt secrets at rest")
        key = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=b"questbridge secretbox",
            info=b"questbridge secrets at rest v1",
        ).derive(secret_key.encode())
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str, purpose: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode(), purpose.encode())

    def decrypt(self, stored: bytes, purpose: str) -> str:
        stored = bytes(stored)
        if not stored.startswith(VERSION) or len(stored) < len(VERSION) + NONCE_BYTES + 16:
            raise SecretBoxError("not a value this box encrypted")
        nonce = stored[len(VERSION) : len(VERSION) + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, stored[len(VERSION) + NONCE_BYTES :], purpose.encode()).decode()
        except InvalidTag:
            raise SecretBoxError("the secret cannot be decrypted with this SECRET_KEY") from None
