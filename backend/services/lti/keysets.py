"""The platforms' public key sets (their JWKS URL), fetched through the webhook SSRF policy and
cached per platform in memory: a `kid` not in the cached set refetches it once, and such refetches
happen at most once every REFETCH_SECONDS per platform, so forged tokens naming random kids cannot
make us hammer the platform.

The connection goes to the address the policy checked (no second DNS answer can move it), with
the TLS name and Host of the URL; redirects are not followed.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import jwt

from backend.services.webhooks import ssrf

MAX_BYTES = 256 * 1024
TIMEOUT_SECONDS = 5.0
REFETCH_SECONDS = 10.0  # a platform that rotates its key is refetched at once; a flood of kids is not


class KeySetError(Exception):
    """The platform's key set could not be had, or holds no usable key of that kid."""


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def fetch_json(url: str, policy: ssrf.TargetPolicy) -> dict:
    """GET `url` as JSON through the SSRF policy; KeySetError says why not."""
    try:
        target, addresses = ssrf.check(url, policy)
    except ssrf.TargetRefused as refused:
        raise KeySetError(f"the key set URL is refused: {refused}") from None
    parts = urlsplit(target.url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    port = target.port or (443 if target.scheme == "https" else 80)
    kind = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = kind(target.host, port, str(addresses[0]), TIMEOUT_SECONDS)
    try:
        connection.request("GET", path, headers={"Accept": "application/json"})
        response = connection.getresponse()
        body = response.read(MAX_BYTES + 1)
    except (OSError, http.client.HTTPException) as exc:
        raise KeySetError(f"the key set could not be fetched: {exc}") from None
    finally:
        connection.close()
    if response.status != 200:
        raise KeySetError(f"the key set URL answered HTTP {response.status}")
    if len(body) > MAX_BYTES:
        raise KeySetError("the key set is larger than 256 KiB")
    try:
        document = json.loads(body)
    except ValueError:
        raise KeySetError("the key set is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeySetError("the key set has no keys list")
    return document


@dataclass
class _Cached:
    url: str
    keys: dict  # kid -> PyJWK
    fetched_at: float


class KeySets:
    """Platform key sets by platform id, each kept `ttl_seconds`."""

    def __init__(self, policy: ssrf.TargetPolicy, ttl_seconds: float):
        self.policy = policy
        self.ttl_seconds = ttl_seconds
        self._cache: dict = {}
        self._refetched: dict = {}  # platform id -> when a kid the cache lacked last refetched it
        self._lock = threading.Lock()

    def _load(self, platform_id, url: str) -> _Cached:
        document = fetch_json(url, self.policy)
        keys = {}
        for entry in document["keys"]:
            if not isinstance(entry, dict) or entry.get("kty") != "RSA" or not entry.get("kid"):
                continue
            if entry.get("use", "sig") != "sig" or entry.get("alg", "RS256") != "RS256":
                continue
            try:
                keys[entry["kid"]] = jwt.PyJWK(entry, algorithm="RS256")
            except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
                continue
        cached = _Cached(url, keys, time.monotonic())
        with self._lock:
            self._cache[platform_id] = cached
        return cached

    def _may_refetch(self, platform_id, now: float) -> bool:
        """Whether a kid the cache lacks may refetch the platform's set now (and claim the slot)."""
        with self._lock:
            if now - self._refetched.get(platform_id, float("-inf")) < REFETCH_SECONDS:
                return False
            self._refetched[platform_id] = now
            return True

    def key(self, platform_id, url: str, kid: str) -> jwt.PyJWK:
        """The platform's RS256 key `kid`: from the cache while fresh, else fetched; a kid the
        cached set lacks refetches the set once (at most once every REFETCH_SECONDS)."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(platform_id)
        fresh = cached is not None and cached.url == url and now - cached.fetched_at < self.ttl_seconds
        if not fresh:
            cached = self._load(platform_id, url)
        elif kid not in cached.keys and self._may_refetch(platform_id, now):
            cached = self._load(platform_id, url)
        key = cached.keys.get(kid)
        if key is None:
            raise KeySetError(f"the platform's key set has no RS256 signing key with kid {kid!r}")
        return key
