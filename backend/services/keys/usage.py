"""API-key usage: today's figures per tier, and the retention job that prunes old counters."""

from __future__ import annotations

import uuid

import psycopg
import structlog

from backend.db import Database, queries_beside

SQL = queries_beside(__file__)
log = structlog.get_logger(__name__)

USAGE_RETENTION_DAYS = 90
PRUNE_LOCK_KEY = 0x5142_4150_494B_4559  # "QBAPIKEY", the advisory lock of prune_usage


def usage_by_tier(conn: psycopg.Connection, organization_id: uuid.UUID | None = None) -> list[dict]:
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
