"""Test fixtures: a real Postgres (embedded, or TEST_DATABASE_URL), migrated once into a template.

Each test run clones its own database from a template built by the real migration runner, so
parallel runs on one server never meet; tests are isolated by emptying every table afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from backend import create_app, migrate
from backend.config import PROJECT_ROOT, Config
from backend.db import Database, embedded_server_uri, with_database
from tests.receiver import Receiver
from tests.support import AuthActions, World

RUN = f"qb_t{os.getpid()}"


def _admin_uri() -> str:
    return os.environ.get("TEST_DATABASE_URL") or embedded_server_uri(PROJECT_ROOT / ".data")


def _drop_stale_databases(conn: psycopg.Connection) -> None:
    """Databases left by earlier runs that were killed before their clean-up."""
    for (name,) in conn.execute("select datname from pg_database where datname ~ '^qb_t[0-9]+_'").fetchall():
        pid = int(name[4:].split("_", 1)[0])
        try:
            os.kill(pid, 0)
            continue  # that run is still going
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def database_url():
    admin_uri = _admin_uri()
    template, test_db = f"{RUN}_template", f"{RUN}_db"
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        _drop_stale_databases(conn)
        for name in (test_db, template):
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(template)))
    migrate.upgrade(with_database(admin_uri, template), log=lambda *_: None)
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        conn.execute(
            sql.SQL("create database {} template {}").format(sql.Identifier(test_db), sql.Identifier(template))
        )
    yield with_database(admin_uri, test_db)
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        for name in (test_db, template):
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def cleanup_statements(database_url) -> list[sql.Composed]:
    """DELETE from every table: on tables this small it is far faster than TRUNCATE, which
    replaces each table's files."""
    with psycopg.connect(database_url) as conn:
        tables = conn.execute(
            "select schemaname, tablename from pg_tables where schemaname = 'public' order by tablename"
        ).fetchall()
    names = [sql.Identifier("auth", "users")] + [sql.Identifier(s, t) for s, t in tables]
    return [sql.SQL("delete from {}").format(name) for name in names]


@pytest.fixture
def scratch_database(database_url):
    """Makes empty databases on the test server, named so a later run drops them after a crash."""
    created = []

    def _make() -> str:
        name = f"{RUN}_scratch_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        created.append(name)
        return with_database(database_url, name)

    yield _make
    with psycopg.connect(database_url, autocommit=True) as conn:
        for name in created:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture
def make_config(database_url, tmp_path):
    def _make(environ: dict | None = None, **overrides) -> Config:
        """A test Config: `environ` as the process environment would set it, `overrides` by field."""
        environ = {"QB_ENV": "test", "TEST_DATABASE_URL": database_url} | (environ or {})
        values = dict(
            secret_key="test-secret-key-" + "x" * 32,
            jwt_secret="test-jwt-secret-" + "y" * 32,
            data_dir=tmp_path / "data",
            log_format="json",
            log_level="WARNING",
            pool_max_size=8,
        )
        values.update(overrides)
        return Config.from_env(environ, **values)

    return _make


@pytest.fixture
def clean_database(database_url, cleanup_statements):
    yield
    with psycopg.connect(database_url) as conn, conn.transaction():
        for statement in cleanup_statements:
            conn.execute(statement)


@pytest.fixture
def make_app(make_config, clean_database):
    apps = []

    def _make(**overrides):
        app = create_app(make_config(**overrides))
        app.testing = True
        apps.append(app)
        return app

    yield _make
    for app in apps:
        app.extensions["questbridge"].db.close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app) -> Database:
    return app.extensions["questbridge"].db


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1 that records what it is sent and answers as told."""
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def world(app) -> World:
    return World(app)


@pytest.fixture
def auth(client) -> AuthActions:
    return AuthActions(client)


# An organization, and headers for its admin, a member and a stranger: route and OAuth tests share them.


@pytest.fixture
def org(world):
    return world.organization("Academy")


@pytest.fixture
def admin_headers(org, auth):
    return auth.headers(org["admin"])


@pytest.fixture
def member_headers(org, world, auth):
    return auth.headers(world.add_member(org))


@pytest.fixture
def stranger_headers(world, auth):
    """The admin of another organization."""
    return auth.headers(world.organization("Elsewhere")["admin"])
