"""Periodic clean-up of expired rows; one runner at a time across every process and machine."""

from __future__ import annotations

import structlog

from backend.db import Database
from backend.services.accounts import invitations, resets, sessions
from backend.services.shared import rate_limit
from backend.services.webhooks import retention

log = structlog.get_logger(__name__)

# Advisory lock keys of the jobs ("QBCLEAN", "QBRETAIN").
CLEANUP_LOCK_KEY = 0x5142_434C_4541_4E00
RETENTION_LOCK_KEY = 0x5142_5245_5441_494E


def cleanup(db: Database) -> dict | None:
    """Delete expired sessions, reset tokens, old invitations and rate-limit windows; None if another
    runner has it."""

    def clean(conn) -> dict:
        return {
            "sessions": sessions.delete_expired(conn),
            "reset_tokens": resets.delete_expired(conn),
            "invitations": invitations.delete_expired(conn),
            "rate_limit_windows": rate_limit.delete_expired(conn),
        }

    result = db.try_singleton(CLEANUP_LOCK_KEY, clean)
    if result is not None:
        log.info("cleanup_done", **result)
    return result


def webhook_retention(db: Database, days: int) -> int | None:
    """Delete finished webhook events (with deliveries and attempts) older than `days`."""
    deleted = db.try_singleton(RETENTION_LOCK_KEY, lambda conn: retention.delete_old(conn, days))
    if deleted is not None:
        log.info("webhook_retention_done", events_deleted=deleted, days=days)
    return deleted
