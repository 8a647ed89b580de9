"""Retention of outbound webhooks: finished events and their deliveries go after a number of days."""

from __future__ import annotations

import psycopg

from backend.db import queries_beside

SQL = queries_beside(__file__)


def delete_old(conn: psycopg.Connection, days: int) -> int:
    """Drop finished events (and their deliveries and attempts) older than `days`; how many events went."""
    return conn.execute(SQL["delete_old"], {"days": days}).rowcount
