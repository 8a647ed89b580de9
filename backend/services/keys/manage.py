"""API keys of the external API: the key format, admission (secret, allowlist, rate limits), rotation and usage.

A key reads `qbk_<key_id>_<secret>_<crc>`: a 16-hex public key id, 32 random bytes in base62 and a
CRC-32 of everything before it, so scanners and `parse_key` reject a mistyped or made-up key
offline. Only the SHA-256 of the whole key is stored; it is shown once, at creation or rotation.
Org admins manage keys as themselves (RLS decides); admission runs as service_role.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import re
import secrets
import string
import uuid
import zlib
from dataclasses import dataclass

import psycopg
import structlog

from backend import metrics
from backend.db import Database, as_service_role, queries_beside
from backend.errors import Conflict, Forbidden, NotFound, ValidationFailed
from backend.jsonutil import dumps
from backend.services.shared import audit
from backend.services.shared.audit import RequestInfo
from backend.services.shared.digest import secret_digest
from backend.services.shared.ownership import require_admin, require_admin_of
from backend.services.shared.pagination import page_params, paginate
from backend.services.webhooks import events

SQL = queries_beside(__file__)
log = structlog.get_logger(__name__)

KEY_PREFIX = "qbk_"
KEY_PATTERN = re.compile(r"qbk_([0-9a-f]{16})_([0-9A-Za-z]{43})_([0-9A-Za-z]{6})")
KEY_ID_PATTERN = re.compile(r"[0-9a-f]{16}")
SECRET_BYTES = 32
TIERS = ("starter", "pro", "enterprise")
DEFAULT_GRACE_SECONDS = 86400
MAX_GRACE_SECONDS = 7 * 86400
MAX_ALLOWLIST_ENTRIES = 100
MAX_NAME_LENGTH = 200
MAX_KEYS_LIMIT = 10000  # the highest max_api_keys a platform admin may set (organization_limits_max_api_keys_range)
USAGE_RETENTION_DAYS = 90
PRUNE_LOCK_KEY = 0x5142_4150_494B_4559  # "QBAPIKEY", the advisory lock of prune_usage
MAX_EVENT_TYPE_LENGTH = 128
MAX_EVENT_DATA_BYTES = 64 * 1024
MAX_EVENT_DATA_DEPTH = 32

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_SECRET_DIGITS = math.ceil(SECRET_BYTES * 8 / math.log2(62))  # 43
_CRC_DIGITS = 6  # 62**6 > 2**32


# -- the key format ----------------------------------------------------------------------------


class MalformedKey(ValueError):
    """The value cannot be a key we issued; nothing was looked up."""


@dataclass(frozen=True)
class ParsedKey:
    key_id: str
    value: str


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


def ip_allowed(allowlist: list, client_ip: str | None) -> bool:
    """An empty allowlist admits every address; otherwise the client must be inside one network."""
    if not allowlist:
        return True
    if client_ip is None:
        return False
    address = ipaddress.ip_address(client_ip)
    return any(address.version == network.version and address in network for network in allowlist)


# -- rate-limit windows: the UTC day and the burst bucket --------------------------------------


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


# -- admission ---------------------------------------------------------------------------------


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
    digest = secret_digest(presented.value)
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


# -- management by org admins ------------------------------------------------------------------


def _present(row: dict) -> dict:
    """A key as the API shows it: public key id, allowlist as strings, no internal row id."""
    shown = {name: value for name, value in row.items() if name != "id"}
    shown["ip_allowlist"] = [str(network) for network in row["ip_allowlist"]]
    return shown


def _authorize(conn: psycopg.Connection, key_id: str):
    """The organization of a key the caller administers: 404 for strangers and unknown ids, 403 for members."""
    if not KEY_ID_PATTERN.fullmatch(key_id):
        raise NotFound("API key not found")
    return require_admin_of(conn, SQL["key_organization"], {"key_id": key_id}, "API key")


def create_key(
    conn: psycopg.Connection,
    user_id,
    organization_id,
    name: str,
    tier: str,
    ip_allowlist: list,
    origin: RequestInfo,
) -> dict:
    """A new key; the returned `api_key` is the only time it is ever shown. The organization's
    limits (a platform admin's, never its own) decide the tiers it may issue and how many keys it
    may hold: 403 naming the limit."""
    require_admin(conn, organization_id)
    with as_service_role(conn):
        limits = conn.execute(SQL["lock_limits"], {"organization_id": organization_id}).fetchone()
        _refuse_tier_outside(limits["allowed_tiers"], tier)
        # After the lock, in a statement of its own: it sees every key committed before the lock.
        held = conn.execute(SQL["live_keys"], {"organization_id": organization_id}).fetchone()["keys"]
    if held >= limits["max_api_keys"]:
        raise Forbidden(
            f"this organization may hold at most {limits['max_api_keys']} API keys and holds {held}: "
            "revoke one, or ask a platform admin to raise max_api_keys",
            slug="api-key-limit",
            errors={"organization_id": [f"holds {held} of its {limits['max_api_keys']} API keys"]},
            extra={"limit": "max_api_keys", "max_api_keys": limits["max_api_keys"], "api_keys": held},
        )
    row_id = uuid.uuid4()
    key = new_key()
    conn.execute(
        SQL["insert_key"],
        {
            "id": row_id,
            "key_id": key.key_id,
            "organization_id": organization_id,
            "lineage_id": row_id,
            "name": name,
            "tier": tier,
            "ip_allowlist": ip_allowlist,
            "secret_hash": secret_digest(key.value),
            "created_by": user_id,
        },
    )
    audit.record(
        conn,
        "api_key.created",
        organization_id=organization_id,
        target_type="api_key",
        target_id=key.key_id,
        metadata={"name": name, "tier": tier, "ip_allowlist": [str(n) for n in ip_allowlist]},
        origin=origin,
    )
    return get_key(conn, key.key_id) | {"api_key": key.value}


def get_key(conn: psycopg.Connection, key_id: str) -> dict:
    _authorize(conn, key_id)
    row = conn.execute(SQL["get_key"], {"key_id": key_id}).fetchone()
    if row is None:
        raise NotFound("API key not found")
    return _present(row)


def list_keys(
    conn: psycopg.Connection, organization_id, limit: int, cursor: str | None
) -> tuple[list[dict], str | None]:
    """Keys of one organization, or of every organization the caller administers (RLS), newest first."""
    if organization_id is not None:
        require_admin(conn, organization_id)
    params = page_params(cursor, limit) | {"organization_id": organization_id}
    rows, next_cursor = paginate(conn.execute(SQL["list_keys"], params).fetchall(), limit)
    return [_present(row) for row in rows], next_cursor


def update_key(conn: psycopg.Connection, key_id: str, changes: dict, origin: RequestInfo) -> dict:
    """Rename a key or replace its allowlist (an empty list admits every address)."""
    organization_id = _authorize(conn, key_id)
    params = {"key_id": key_id, "name": changes.get("name"), "ip_allowlist": changes.get("ip_allowlist")}
    if conn.execute(SQL["update_key"], params).fetchone() is None:
        raise Conflict("the API key is revoked", errors={"key_id": ["is revoked"]})
    metadata: dict = {"changed": sorted(name for name in ("name", "ip_allowlist") if params[name] is not None)}
    if params["ip_allowlist"] is not None:
        metadata["ip_allowlist"] = [str(n) for n in params["ip_allowlist"]]
    audit.record(
        conn,
        "api_key.updated",
        organization_id=organization_id,
        target_type="api_key",
        target_id=key_id,
        metadata=metadata,
        origin=origin,
    )
    return get_key(conn, key_id)


def revoke_key(conn: psycopg.Connection, key_id: str, origin: RequestInfo) -> None:
    """Stop a key at once, with the keys it replaced that are still in their grace period."""
    organization_id = _authorize(conn, key_id)
    revoked = [row["key_id"] for row in conn.execute(SQL["revoke_key"], {"key_id": key_id}).fetchall()]
    if revoked:
        audit.record(
            conn,
            "api_key.revoked",
            organization_id=organization_id,
            target_type="api_key",
            target_id=key_id,
            metadata={"revoked": sorted(revoked)},
            origin=origin,
        )


def rotate_key(
    conn: psycopg.Connection,
    user_id,
    key_id: str,
    preserve_key_id: bool,
    grace_seconds: int,
    origin: RequestInfo,
) -> dict:
    """A new secret, under the same key id or a new one; the old key keeps working for grace_seconds.

    Same key id: the current secret moves to the previous slot (a second rotation within the grace
    period ends the first one's old secret). New key id: the old key row is locked, a replacement
    with the same organization, name, tier, allowlist and quota is created, and the old key id
    expires after the grace period; rotating a key that was already replaced is a 409.
    """
    if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
        raise ValidationFailed.field("grace_seconds", f"must be between 0 and {MAX_GRACE_SECONDS}")
    organization_id = _authorize(conn, key_id)
    with as_service_role(conn):
        standing = conn.execute(SQL["key_tier_allowed"], {"key_id": key_id}).fetchone()
        if not standing["allowed"]:
            _refuse_tier_outside(standing["allowed_tiers"], standing["tier"], rotating=True)
        if preserve_key_id:
            key = new_key(key_id)
            row = conn.execute(
                SQL["rotate_secret"],
                {"key_id": key_id, "grace_seconds": grace_seconds, "secret_hash": secret_digest(key.value)},
            ).fetchone()
            if row is None:
                _refuse_rotation(conn, key_id)
        else:
            old = conn.execute(SQL["lock_key"], {"key_id": key_id}).fetchone()
            if old["revoked_at"] is not None or old["replaced_by"] is not None:
                _refuse_rotation(conn, key_id)
            key = new_key()
            conn.execute(
                SQL["insert_replacement"],
                {
                    "id": uuid.uuid4(),
                    "key_id": key.key_id,
                    "secret_hash": secret_digest(key.value),
                    "created_by": user_id,
                    "old_id": old["id"],
                },
            )
            row = conn.execute(
                SQL["retire_replaced"], {"id": old["id"], "replaced_by": key.key_id, "grace_seconds": grace_seconds}
            ).fetchone()
    audit.record(
        conn,
        "api_key.rotated",
        organization_id=organization_id,
        target_type="api_key",
        target_id=key_id,
        metadata={"preserve_key_id": preserve_key_id, "new_key_id": key.key_id, "grace_seconds": grace_seconds},
        origin=origin,
    )
    return get_key(conn, key.key_id) | {
        "api_key": key.value,
        "previous_key_id": key_id,
        "previous_expires_at": row["previous_expires_at"],
    }


def _refuse_tier_outside(allowed_tiers: list[str], tier: str, *, rotating: bool = False) -> None:
    if tier in allowed_tiers:
        return
    allowed = ", ".join(allowed_tiers)
    what = (
        f"this organization may no longer issue {tier} keys (allowed: {allowed}): create a key of an allowed "
        "tier and revoke this one"
        if rotating
        else f"this organization may issue {allowed} keys, not {tier}: a platform admin sets allowed_tiers"
    )
    raise Forbidden(
        what,
        slug="api-key-limit",
        errors={"tier": [f"is not one this organization may issue ({allowed})"]},
        extra={"limit": "allowed_tiers", "allowed_tiers": list(allowed_tiers)},
    )


def _refuse_rotation(conn: psycopg.Connection, key_id: str):
    row = conn.execute(SQL["get_key"], {"key_id": key_id}).fetchone()
    if row["revoked_at"] is not None:
        raise Conflict("a revoked API key cannot be rotated", errors={"key_id": ["is revoked"]})
    raise Conflict(
        f"the API key was already rotated to {row['replaced_by']}; rotate that key instead",
        errors={"key_id": [f"was replaced by {row['replaced_by']}"]},
        extra={"replaced_by": row["replaced_by"]},
    )


# -- what an organization may hold: limits set by platform admins ------------------------------


def get_limits(conn: psycopg.Connection, organization_id) -> dict:
    """{organization_id, allowed_tiers, max_api_keys, api_keys (held now), updated_at}, for the
    organization's admins and platform admins: 404 for strangers, 403 for members."""
    row = conn.execute(SQL["get_limits"], {"organization_id": organization_id}).fetchone()
    if row is None:
        require_admin(conn, organization_id)
        raise NotFound("organization not found")
    with as_service_role(conn):
        held = conn.execute(SQL["live_keys"], {"organization_id": organization_id}).fetchone()["keys"]
    return row | {"api_keys": held}


def set_limits(
    conn: psycopg.Connection,
    organization_id,
    allowed_tiers: list[str] | None,
    max_api_keys: int | None,
    origin: RequestInfo,
) -> dict:
    """Change the tiers an organization may issue and the keys it may hold (None keeps a value).
    Platform admins only (or the system). Keys it already holds keep working and keep their tier;
    lowering a limit only stops new keys (and rotations of keys of a tier no longer allowed)."""
    caller = conn.execute(SQL["may_set_limits"]).fetchone()
    if not caller["allowed"]:
        raise Forbidden("only platform admins may set an organization's limits", slug="platform-admin-required")
    before = conn.execute(SQL["lock_limits"], {"organization_id": organization_id}).fetchone()
    if before is None:
        raise NotFound("organization not found")
    params = {"organization_id": organization_id, "allowed_tiers": allowed_tiers, "max_api_keys": max_api_keys}
    row = conn.execute(SQL["set_limits"], params).fetchone()
    with as_service_role(conn):  # a platform admin need not belong to the organization whose log this is
        audit.record(
            conn,
            "organization.limits_changed",
            organization_id=organization_id,
            target_type="organization",
            target_id=organization_id,
            metadata={
                "allowed_tiers": {"from": before["allowed_tiers"], "to": row["allowed_tiers"]},
                "max_api_keys": {"from": before["max_api_keys"], "to": row["max_api_keys"]},
            },
            origin=origin,
            actor_id=caller["user_id"],
        )
        held = conn.execute(SQL["live_keys"], {"organization_id": organization_id}).fetchone()["keys"]
    return row | {"api_keys": held}


# -- pushed events -----------------------------------------------------------------------------


def check_event_type(name: str) -> str | None:
    """Why a partner may not push this event type, or None when it may."""
    if len(name) > MAX_EVENT_TYPE_LENGTH or not events.EVENT_TYPE.match(name):
        return "must be a dotted lowercase name like partner.course_synced (a-z, 0-9, _; at most 128 characters)"
    return events.custom_type_problem(name)


def check_event_data(data: dict) -> None:
    """Refuse (naming `data`) what is not plain JSON, nests too deep or is too large to store."""
    if not _plain(data, 1):
        raise ValidationFailed.field(
            "data", f"must be plain JSON nested at most {MAX_EVENT_DATA_DEPTH} levels (no NaN or Infinity)"
        )
    if len(dumps(data).encode()) > MAX_EVENT_DATA_BYTES:
        raise ValidationFailed.field(
            "data", f"must be at most {MAX_EVENT_DATA_BYTES} bytes as compact JSON", status=413
        )


def _plain(value, depth: int) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict | list):
        if depth > MAX_EVENT_DATA_DEPTH:
            return False
        items = value.values() if isinstance(value, dict) else value
        return all(_plain(item, depth + 1) for item in items)
    return True


def push_event(conn: psycopg.Connection, key: ApiKey, client_ip: str | None, event_type: str, data: dict):
    """Store a partner's event for the key's organization and fan it out to subscriptions listing it.

    Run as service_role, like admission: the key, not a user, is the caller.
    """
    event_id = events.emit_event(conn, key.organization_id, event_type, data)
    conn.execute(
        SQL["insert_pushed_event"],
        {"event_id": event_id, "organization_id": key.organization_id, "api_key_id": key.id, "client_ip": client_ip},
    )
    return event_id


def get_pushed_event(conn: psycopg.Connection, key: ApiKey, event_id) -> dict:
    """An event pushed through the external API by any key of the same organization (run as service_role)."""
    row = conn.execute(
        SQL["get_pushed_event"], {"event_id": event_id, "organization_id": key.organization_id}
    ).fetchone()
    if row is None:
        raise NotFound("event not found")
    return row


# -- monitoring and retention ------------------------------------------------------------------


def usage_by_tier(conn: psycopg.Connection, organization_id=None) -> list[dict]:
    """Per tier today (UTC): {tier, keys, requests_today, unique_consumers, rate_limit_hits}.

    For one organization, or for all of them (organization_id=None) as far as the transaction's
    role sees: every organization as service_role, the caller's admin organizations as a user.
    """
    return conn.execute(SQL["usage_by_tier"], {"organization_id": organization_id}).fetchall()


def prune_usage(db: Database, keep_days: int = USAGE_RETENTION_DAYS) -> int | None:
    """Delete usage older than keep_days (a scheduler job); None when another process is doing it."""
    deleted = db.try_singleton(
        PRUNE_LOCK_KEY, lambda conn: conn.execute(SQL["prune_usage"], {"keep_days": keep_days}).rowcount
    )
    if deleted is not None:
        log.info("api_key_usage_pruned", rows=deleted, keep_days=keep_days)
    return deleted
