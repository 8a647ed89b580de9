"""Admission of a presented API key: its secret, allowlist and limits, the UTC day and the burst
bucket (GCRA), counted in one statement (run as service_role)."""

from __future__ import annotations

import hmac
import ipaddress
import math
import uuid
from dataclasses import dataclass

import psycopg

from backend import metrics
from backend.db import queries_beside
from backend.services.keys.format import ParsedKey

SQL = queries_beside(__file__)


def ip_allowed(allowlist: list, client_ip: str | None) -> bool:
    """An empty allowlist admits every address; otherwise the client must be inside one network."""
    if not allowlist:
        return True
    if client_ip is None:
        return False
    address = ipaddress.ip_address(client_ip)
    return any(address.version == network.version and address in network for network in allowlist)


@dataclass(frozen=True)
class Limits:
    per_day: int
    per_minute: int


def limits_for(tiers: dict, tier: str) -> Limits:
    return Limits(per_day=tiers[tier]["per_day"], per_minute=tiers[tier]["per_minute"])


@dataclass(frozen=True)
class Usage:
    """Where a key lineage stands: its requests on this UTC day, and its burst bucket (GCRA)."""

    limits: Limits
    day_requests: int
    burst_level: float  # requests' worth in the burst bucket at `now`; drains at per_minute / 60 a second
    now: float  # the database's clock, unix seconds: the one clock every process shares
    admitted: bool = True

    def window(self, name: str) -> tuple[int, int, int]:
        """(limit, remaining, reset as unix seconds) of the "daily" or the "burst" window. The
        burst resets when its bucket has drained empty: the whole burst is available again."""
        if name == "burst":
            limit = self.limits.per_minute
            # 1e-9: a level that is a whole number in exact arithmetic may be a hair above it in floats.
            remaining = max(0, min(limit, math.floor(limit - self.burst_level + 1e-9)))
            return limit, remaining, math.ceil(self._reset_at(name))
        limit = self.limits.per_day
        return limit, max(0, limit - self.day_requests), math.ceil(self._reset_at(name))

    def _reset_at(self, name: str) -> float:
        if name == "burst":
            return self.now + self.burst_level * 60 / self.limits.per_minute
        return (int(self.now) // 86400 + 1) * 86400

    @property
    def binding_window(self) -> str:
        """The window with fewer requests left ("daily" on a tie): the one that refuses next."""
        return "burst" if self.window("burst")[1] < self.window("daily")[1] else "daily"

    def seconds_until_reset(self, name: str) -> int:
        return max(1, math.ceil(self._reset_at(name) - self.now))

    def seconds_until_admitted(self, name: str) -> int:
        """How long a request refused by this window waits: the burst admits the next request as
        soon as one request's worth has drained, long before the bucket is empty."""
        if name == "burst":
            per_minute = self.limits.per_minute
            return max(1, math.ceil((self.burst_level + 1 - per_minute) * 60 / per_minute))
        return self.seconds_until_reset(name)


def drained(level: float, seconds: float, per_minute: int) -> float:
    """A burst bucket's level `seconds` after it held `level`."""
    return max(0.0, level - seconds * per_minute / 60)


@dataclass(frozen=True)
class ApiKey:
    """An authenticated key, as the external routes use it."""

    id: uuid.UUID
    key_id: str
    lineage_id: uuid.UUID
    organization_id: uuid.UUID
    tier: str


@dataclass(frozen=True)
class Admission:
    """The outcome of presenting a key. `usage` is set whenever the key was identified by its
    secret (for the rate-limit headers); `refusal` is None when the request may go on."""

    key: ApiKey | None
    usage: Usage | None
    refusal: str | None  # unknown_key, wrong_secret, revoked, expired, ip_not_allowed, rate_limited


def admit(
    conn: psycopg.Connection, presented: ParsedKey, client_ip: str | None, tiers: dict, *, count: bool = True
) -> Admission:
    """Verify a parsed key, its allowlist and its limits, counting the request (run as service_role).

    `count=False` skips the rate-limit statement (benchmark baseline only): the request is admitted
    and no usage is recorded.
    """
    row = conn.execute(SQL["find_key"], {"key_id": presented.key_id}).fetchone()
    if row is None:
        return Admission(None, None, "unknown_key")
    digest = presented.digest
    current = hmac.compare_digest(digest, bytes(row["secret_hash"]))
    previous = row["previous_secret_hash"] is not None and hmac.compare_digest(
        digest, bytes(row["previous_secret_hash"])
    )
    if not (current or (previous and row["previous_secret_valid"])):
        return Admission(None, None, "wrong_secret")
    key = ApiKey(row["id"], row["key_id"], row["lineage_id"], row["organization_id"], row["tier"])
    limits = limits_for(tiers, row["tier"])
    level = drained(row["burst_level"], row["burst_seconds_ago"], limits.per_minute)
    standing = Usage(limits, row["day_requests"], level, row["now_epoch"])
    if row["revoked"]:
        return Admission(key, standing, "revoked")
    if row["expired"]:
        return Admission(key, standing, "expired")
    if not ip_allowed(row["ip_allowlist"], client_ip):
        return Admission(key, standing, "ip_not_allowed")
    if row["touch_due"]:
        conn.execute(SQL["touch_last_used"], {"id": row["id"]})
    if not count:
        return Admission(key, None, None)
    hit = conn.execute(
        SQL["hit"],
        {
            "lineage_id": row["lineage_id"],
            "organization_id": row["organization_id"],
            "ip": client_ip,
            "per_day": limits.per_day,
            "per_minute": limits.per_minute,
        },
    ).fetchone()
    usage = Usage(limits, hit["day_requests"], hit["burst_level"], hit["now_epoch"], admitted=hit["admitted"])
    if not hit["admitted"]:
        metrics.RATE_LIMIT_HITS.labels("api_key").inc()
    return Admission(key, usage, None if hit["admitted"] else "rate_limited")
