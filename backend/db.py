"""The Postgres pool, transactions that carry an identity, named SQL blocks and the embedded server."""

from __future__ import annotations

import json
import re
import select
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from backend.config import Config

ROLES = ("anon", "authenticated", "service_role")
EMBEDDED_DATABASE = "questbridge"
# A system connection serves one short statement at a time: a gunicorn worker's request threads
# (4 by default) share these few, and Postgres's connection budget stays small.
SYSTEM_POOL_MAX_SIZE = 4

_embedded_lock = threading.Lock()
T = TypeVar("T")


def embedded_server_uri(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL under data_dir/postgres and return its admin URI.

    The server is left running on exit (cleanup_mode=None) so the next run, and every gunicorn
    worker, reuses it instead of paying the start-up again.
    """
    with _embedded_lock, warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver copes.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import pgserver

        pgdata = data_dir / "postgres"
        pgdata.mkdir(parents=True, exist_ok=True)
        return pgserver.get_server(pgdata, cleanup_mode=None).get_uri()


def with_database(uri: str, dbname: str) -> str:
    """The same server URI pointing at another database."""
    return psycopg.conninfo.make_conninfo(uri, dbname=dbname)


def ensure_database(admin_uri: str, dbname: str) -> None:
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(psycopg.sql.SQL("create database {}").format(psycopg.sql.Identifier(dbname)))


def resolve_database_url(config: Config) -> str:
    """DATABASE_URL when set, otherwise the embedded server's `questbridge` database."""
    if config.database_url:
        return config.database_url
    admin_uri = embedded_server_uri(config.data_dir)
    ensure_database(admin_uri, EMBEDDED_DATABASE)
    return with_database(admin_uri, EMBEDDED_DATABASE)


def _has_something_to_read(conn: psycopg.Connection | psycopg.AsyncConnection) -> bool:
    if conn.closed:
        raise psycopg.OperationalError("the connection is closed")
    readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    return bool(readable)


def check_idle_connection(conn: psycopg.Connection) -> None:
    """The pool's checkout check, without a round trip per request: an idle connection has
    nothing to read unless the server ended it (a restart or failover sends FATAL and closes the
    socket), so only a connection with something to read is tried for real; a dead one raises and
    the pool replaces it before any request meets it."""
    if _has_something_to_read(conn):
        ConnectionPool.check_connection(conn)


async def check_idle_async_connection(conn: psycopg.AsyncConnection) -> None:
    """check_idle_connection for the delivery engine's async pool."""
    if _has_something_to_read(conn):
        await AsyncConnectionPool.check_connection(conn)


class Database:
    """A connection pool whose units of work are transactions run as a Supabase role."""

    def __init__(self, conninfo: str, min_size: int = 1, max_size: int = 10):
        self.conninfo = conninfo
        self.pool = ConnectionPool(
            conninfo,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True, "row_factory": dict_row},
            open=False,
            name="questbridge",
            # A connection that died while idle in the pool (Postgres restarted or failed over, a
            # proxy dropped it) is replaced at checkout rather than failing the request that drew it.
            check=check_idle_connection,
        )
        self.system_pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=min(max_size, SYSTEM_POOL_MAX_SIZE),
            kwargs={"autocommit": True, "row_factory": dict_row},
            configure=_run_as_service_role,
            open=False,
            name="questbridge-system",
            check=check_idle_connection,
        )
        self._opened = False
        self._system_opened = False
        self._open_lock = threading.Lock()

    def open(self) -> None:
        with self._open_lock:
            if not self._opened:
                self.pool.open(wait=False)
                self._opened = True

    def close(self) -> None:
        with self._open_lock:
            if self._opened:
                self.pool.close()
                self._opened = False
            if self._system_opened:
                self.system_pool.close()
                self._system_opened = False

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A raw pooled connection for work that manages its own transactions (LISTEN, locks)."""
        self.open()
        with self.pool.connection() as conn:
            yield conn

    @contextmanager
    def system_connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection whose whole session runs as service_role, in autocommit.

        One statement on it is one transaction as the system, in one round trip: no BEGIN, no
        role setting, no COMMIT. For hot paths whose units of work are single statements (receipt
        of inbound webhooks); `conn.transaction()` on it groups statements as usual. Its pool opens
        on first use, so processes that never need it hold none of its connections.
        """
        with self._open_lock:
            if not self._system_opened:
                self.system_pool.open(wait=False)
                self._system_opened = True
        with self.system_pool.connection() as conn:
            yield conn

    @contextmanager
    def transaction(self, role: str, claims: dict | None = None) -> Iterator[psycopg.Connection]:
        """One transaction run as `role` with `request.jwt.claims` set, committed on success.

        User requests pass role="authenticated" (or "anon") so RLS decides; system work passes
        role="service_role" explicitly. The login role itself is never used for queries.
        """
        with self.connection() as conn, conn.transaction():
            set_identity(conn, role, claims)
            yield conn

    def try_singleton(self, lock_key: int, job: Callable[[psycopg.Connection], T]) -> T | None:
        """`job(conn)` in one service_role transaction that holds the advisory lock `lock_key`, so one
        runner at a time works across every process and machine; None, job not run, if another holds it.

        The lock is transaction-level: it goes with the commit, and a crashed runner never keeps it.
        """
        with self.transaction("service_role") as conn:
            if not conn.execute("select pg_try_advisory_xact_lock(%s) as ok", (lock_key,)).fetchone()["ok"]:
                return None
            return job(conn)


def _run_as_service_role(conn: psycopg.Connection) -> None:
    """A system connection's identity, for its whole session: what `set_identity(conn,
    "service_role", None)` gives a transaction."""
    set_identity(conn, "service_role", None, session=True)


def set_identity(conn: psycopg.Connection, role: str, claims: dict | None, session: bool = False) -> None:
    """SET LOCAL ROLE and request.jwt.claims for the rest of the current transaction (for the
    rest of the session with session=True).

    Two claims policies read on every row are also set on their own, so no check parses the JSON:
    `sub` as request.jwt.claim.sub (which auth.uid() reads first, as on Supabase) and an OAuth
    token's `client_organization_id` as request.client_organization_id.
    """
    if role not in ROLES:
        raise ValueError(f"unknown database role {role!r}")
    claims = dict(claims or {})
    claims.setdefault("role", role)
    conn.execute(
        "select set_config('role', %(role)s, %(local)s), set_config('request.jwt.claims', %(claims)s, %(local)s),"
        " set_config('request.jwt.claim.sub', %(sub)s, %(local)s),"
        " set_config('request.client_organization_id', %(client_organization_id)s, %(local)s)",
        {
            "local": not session,
            "role": role,
            "claims": json.dumps(claims, separators=(",", ":")),
            "sub": str(claims.get("sub") or ""),
            "client_organization_id": str(claims.get("client_organization_id") or ""),
        },
    )


@contextmanager
def as_service_role(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """Run system work inside the caller's transaction as service_role, then restore identity.

    For the few steps of a user's request that only the system may do (writing an invitation and
    its token hash) while staying atomic with the rest of the request.
    """
    row = conn.execute(
        "select current_setting('role') as role, current_setting('request.jwt.claims', true) as claims"
    ).fetchone()
    previous_claims = json.loads(row["claims"]) if row["claims"] else {}
    set_identity(conn, "service_role", {})
    try:
        yield conn
    finally:
        if not conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
            set_identity(conn, row["role"], previous_claims)


_BLOCK = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*--\s*$", re.MULTILINE)


def load_queries(path: str | Path) -> dict[str, str]:
    """Named SQL blocks (`-- name: claim_due --`) from a .sql file beside a service."""
    text = Path(path).read_text()
    parts = _BLOCK.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=False):
        if name in queries:
            raise ValueError(f"{path}: query {name!r} defined twice")
        queries[name] = body.strip()
    return queries


def queries_beside(module_file: str) -> dict[str, str]:
    """The named blocks of the .sql file that sits beside a service module."""
    return load_queries(Path(module_file).with_suffix(".sql"))
