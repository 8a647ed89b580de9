"""Periodic clean-up of expired rows; one runner at a time across every process and machine."""

from __future__ import annotations

import structlog

from backend.db import Database
from backend.services import accounts, rate_limit

log = structlog.get_logger(__name__)

# pg_try_advisory_xact_lock key for the clean-up job ("QBCLEAN").
CLEANUP_LOCK_KEY = 0x5142_434C_4541_4E00


def cleanup(db: Database) -> dict | None:
    """Delete expired sessions, reset tokens and rate-limit windows; None if another runner has it."""
    with db.transaction("service_role") as conn:
        got_lock = conn.execute("select pg_try_advisory_xact_lock(%s) as ok", (CLEANUP_LOCK_KEY,)).fetchone()["ok"]
        if not got_lock:
            return None
        expired = accounts.delete_expired(conn)
        counters = rate_limit.delete_expired(conn)
    result = {"sessions": expired["sessions"], "reset_tokens": expired["reset_tokens"], "rate_limit_windows": counters}
    log.info("cleanup_done", **result)
    return result
