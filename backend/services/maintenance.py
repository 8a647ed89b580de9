"""Periodic clean-up of expired rows; one runner at a time across every process and machine."""

from __future__ import annotations

import structlog

from backend.db import Database
from backend.services.accounts import invitations, users
from backend.services.shared import rate_limit
from backend.services.webhooks import retention

log = structlog.get_logger(__name__)

# pg_try_advisory_xact_lock keys of the jobs ("QBCLEAN", "QBRETAIN").
CLEANUP_LOCK_KEY = 0x5142_434C_4541_4E00
RETENTION_LOCK_KEY = 0x5142_5245_5441_494E


def cleanup(db: Database) -> dict | None:
    """Delete expired sessions, reset tokens, old invitations and rate-limit windows; None if another
    runner has it."""
    with db.transaction("service_role") as conn:
        got_lock = conn.execute("select pg_try_advisory_xact_lock(%s) as ok", (CLEANUP_LOCK_KEY,)).fetchone()["ok"]
        if not got_lock:
            return None
        expired = users.delete_expired(conn)
        old_invitations = invitations.delete_expired(conn)
        counters = rate_limit.delete_expired(conn)
    result = {
        "sessions": expired["sessions"],
        "reset_tokens": expired["reset_tokens"],
        "invitations": old_invitations,
        "rate_limit_windows": counters,
    }
    log.info("cleanup_done", **result)
    return result


def webhook_retention(db: Database, days: int) -> int | None:
    """Delete finished webhook events (with deliveries and attempts) older than `days`."""
    with db.transaction("service_role") as conn:
        if not conn.execute("select pg_try_advisory_xact_lock(%s) as ok", (RETENTION_LOCK_KEY,)).fetchone()["ok"]:
            return None
        deleted = retention.delete_old(conn, days)
    log.info("webhook_retention_done", events_deleted=deleted, days=days)
    return deleted
