"""API keys as org admins manage them (RLS decides): create, list, update, rotate, revoke; and the
limits platform admins set on what an organization may hold."""

from __future__ import annotations

import uuid

import psycopg

from backend.db import as_service_role, queries_beside
from backend.errors import Conflict, Forbidden, NotFound, ValidationFailed
from backend.services.keys import tiers
from backend.services.keys.format import KEY_ID_PATTERN, new_key
from backend.services.shared import audit
from backend.services.shared.audit import RequestInfo
from backend.services.shared.ownership import require_admin, require_admin_of
from backend.services.shared.pagination import page_params, paginate

SQL = queries_beside(__file__)

TIERS = tiers.TIERS
DEFAULT_GRACE_SECONDS = 86400
MAX_GRACE_SECONDS = 7 * 86400
MAX_ALLOWLIST_ENTRIES = 100
MAX_NAME_LENGTH = 200
MAX_KEYS_LIMIT = 10000  # the highest max_api_keys a platform admin may set (organization_limits_max_api_keys_range)


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
    *,
    user_id: uuid.UUID,
    organization_id: uuid.UUID,
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
            "secret_hash": key.digest,
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
    conn: psycopg.Connection, organization_id: uuid.UUID | None, limit: int, cursor: str | None
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
    *,
    user_id: uuid.UUID,
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
                {"key_id": key_id, "grace_seconds": grace_seconds, "secret_hash": key.digest},
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
                    "secret_hash": key.digest,
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


def get_limits(conn: psycopg.Connection, organization_id: uuid.UUID) -> dict:
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
    organization_id: uuid.UUID,
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
