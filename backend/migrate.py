"""Forward-only SQL migrations: one transaction per file, versions recorded, runners serialized."""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.rows import tuple_row

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
FILENAME = re.compile(r"^(\d{14})_([a-z0-9_]+)\.sql\Z")
# Any fixed 64-bit number shared by every runner; pg_advisory_lock serializes them.
ADVISORY_LOCK_KEY = 0x5142_4D49_4752_4154  # "QBMIGRAT"

BOOKKEEPING = """
create schema if not exists questbridge_meta;
revoke all on schema questbridge_meta from public;
create table if not exists questbridge_meta.schema_migrations (
    version text primary key,
    name text not null,
    checksum text not null,
    applied_at timestamptz not null default now()
);
"""


class MigrationError(RuntimeError):
    """A migration could not be applied; the message names the file."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text()

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = FILENAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named YYYYMMDDHHMMSS_what.sql")
        migrations.append(Migration(match.group(1), match.group(2), path))
    for earlier, later in itertools.pairwise(migrations):
        if earlier.version == later.version:
            raise MigrationError(f"{earlier.path.name}, {later.path.name}: two migration files share a version")
    return migrations


def applied_versions(conn: psycopg.Connection) -> dict[str, str]:
    cur = conn.cursor(row_factory=tuple_row)
    if cur.execute("select to_regclass('questbridge_meta.schema_migrations')").fetchone()[0] is None:
        return {}
    rows = cur.execute("select version, checksum from questbridge_meta.schema_migrations").fetchall()
    return dict(rows)


def pending(conn: psycopg.Connection, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    done = applied_versions(conn)
    return [m for m in discover(directory) if m.version not in done]


def upgrade(conninfo: str, directory: Path = MIGRATIONS_DIR, log=print) -> list[Migration]:
    """Apply every pending migration in order; return the ones applied by this call."""
    migrations = discover(directory)
    applied: list[Migration] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        try:
            conn.execute(BOOKKEEPING)
            done = applied_versions(conn)
            for migration in migrations:
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise MigrationError(
                            f"{migration.path.name}: changed after it was applied; "
                            "migrations are forward-only, add a new file instead"
                        )
                    continue
                _apply(conn, migration)
                applied.append(migration)
                log(f"applied {migration.path.name}")
        finally:
            if not conn.closed:
                conn.execute("select pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    return applied


def _apply(conn: psycopg.Connection, migration: Migration) -> None:
    try:
        with conn.transaction():
            conn.execute(migration.sql.encode())
            conn.execute(
                "insert into questbridge_meta.schema_migrations (version, name, checksum) values (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
    except psycopg.Error as exc:
        diag = exc.diag
        where = f" (at: {diag.context.strip()})" if diag and diag.context else ""
        position = f" near character {diag.statement_position}" if diag and diag.statement_position else ""
        message = (diag.message_primary if diag and diag.message_primary else str(exc)).strip()
        raise MigrationError(f"{migration.path.name}: {message}{position}{where}") from exc
