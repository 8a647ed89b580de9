"""The pool's checkout check: no round trip for a healthy idle connection, a dead one caught."""

from __future__ import annotations

import time

import psycopg
import pytest

from backend.db import Database, check_idle_connection


def last_statement(admin: psycopg.Connection, pid: int) -> str:
    return admin.execute("select query from pg_stat_activity where pid = %s", (pid,)).fetchone()[0]


def test_a_healthy_idle_connection_passes_without_a_round_trip(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn, psycopg.connect(database_url) as admin:
        conn.execute("select 'marker' as last_statement")
        check_idle_connection(conn)
        assert last_statement(admin, conn.info.backend_pid) == "select 'marker' as last_statement"


def test_a_connection_the_server_ended_is_refused(database_url):
    with (
        psycopg.connect(database_url, autocommit=True) as conn,
        psycopg.connect(database_url, autocommit=True) as admin,
    ):
        admin.execute("select pg_terminate_backend(%s)", (conn.info.backend_pid,))
        deadline = time.monotonic() + 5
        with pytest.raises(psycopg.OperationalError):
            while time.monotonic() < deadline:  # the FATAL message reaches the socket a moment later
                check_idle_connection(conn)
                time.sleep(0.01)
        assert time.monotonic() < deadline, "the ended connection was never noticed"


def test_a_system_connection_runs_as_service_role_and_commits_each_statement(database_url):
    db = Database(database_url, min_size=1, max_size=2)
    try:
        with db.system_connection() as conn:
            row = conn.execute("select current_user, session_user, current_setting('role') as role").fetchone()
            assert row["current_user"] == "service_role" and row["role"] == "service_role"
            assert row["session_user"] != "service_role"  # the login role, never used for queries
            identity = conn.execute("select auth.role() as role, auth.uid() as uid").fetchone()
            assert identity == {"role": "service_role", "uid": None}  # as set_identity gives a transaction
            assert conn.autocommit
            conn.execute("create temporary table system_marks (n int)")
            conn.execute("insert into system_marks values (1)")
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE  # committed, not open
        with db.connection() as conn:  # the main pool's sessions keep the login role
            assert conn.execute("select current_user = session_user as same").fetchone()["same"]
    finally:
        db.close()
    assert db.system_pool.closed
