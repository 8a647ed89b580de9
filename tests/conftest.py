"""Test fixtures: a real Postgres (embedded, or TEST_DATABASE_URL), migrated once into a template.

Each test run clones its own database from a template built by the real migration runner, so
parallel runs on one server never meet; tests are isolated by emptying every table afterwards.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql

from backend import create_app, migrate
from backend.config import PROJECT_ROOT, Config
from backend.db import Database, embedded_server_uri, with_database
from backend.services.accounts import users as accounts
from backend.services.shared.passwords import PasswordHasher
from backend.services.webhooks import engine as delivery

RUN = f"qb_t{os.getpid()}"
DEFAULT_PASSWORD = "correct horse battery staple"


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
def make_config(database_url, tmp_path):
    def _make(**overrides) -> Config:
        environ = {"QB_ENV": "test", "TEST_DATABASE_URL": database_url}
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


def room_in_the_window(need_seconds: float, window_seconds: int = 60) -> None:
    """Sleep into the next fixed window when fewer than `need_seconds` are left of this one, so that
    what a test counts lands in one window. UTC days start on a minute boundary, so room in the
    minute is room in the day too."""
    left = window_seconds - time.time() % window_seconds
    if left < need_seconds:
        time.sleep(left + 0.05)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app) -> Database:
    return app.extensions["questbridge"].db


class World:
    """Builds users, organizations and memberships directly through the services (service_role)."""

    def __init__(self, app):
        self.app = app
        self.runtime = app.extensions["questbridge"]
        self.hasher: PasswordHasher = self.runtime.hasher

    def user(self, email: str | None = None, password: str = DEFAULT_PASSWORD, **kwargs) -> dict:
        email = email or f"user-{uuid.uuid4().hex[:10]}@example.test"
        with self.runtime.db.transaction("service_role") as conn:
            user_id = accounts.create_user(conn, self.hasher, email, password, **kwargs)
        return {"id": user_id, "email": email, "password": password}

    def organization(self, name: str = "Org", admin: dict | None = None) -> dict:
        admin = admin or self.user()
        org_id = uuid.uuid4()
        with self.runtime.db.transaction("service_role") as conn:
            conn.execute(
                "insert into public.organizations (id, name, created_by) values (%s, %s, %s)",
                (org_id, name, admin["id"]),
            )
        return {"id": org_id, "name": name, "admin": admin}

    def add_member(self, org: dict, user: dict | None = None, role: str = "member") -> dict:
        user = user or self.user()
        with self.runtime.db.transaction("service_role") as conn:
            conn.execute(
                "insert into public.memberships (organization_id, user_id, role) values (%s, %s, %s)",
                (org["id"], user["id"], role),
            )
        return user

    def allow(self, org: dict, tiers=("starter", "pro", "enterprise"), max_api_keys: int = 100) -> dict:
        """Set what the organization may hold in API keys, as a platform admin would."""
        with self.runtime.db.transaction("service_role") as conn:
            conn.execute(
                "update public.organization_limits set allowed_tiers = %s, max_api_keys = %s"
                " where organization_id = %s",
                (list(tiers), max_api_keys, org["id"]),
            )
        return org

    def claims(self, user: dict) -> dict:
        return {"sub": str(user["id"]), "role": "authenticated", "aud": "authenticated", "email": user["email"]}


@pytest.fixture
def world(app) -> World:
    return World(app)


class AuthActions:
    """Logs users in through the real endpoint and hands back Authorization headers."""

    def __init__(self, client):
        self.client = client
        # Bearer logins go through a cookie-less client so the main client stays anonymous.
        self._bearer_client = client.application.test_client(use_cookies=False)
        self.csrf: dict = {}  # the X-CSRF-Token header of the main client's session, once signed in

    def login(self, email: str, password: str = DEFAULT_PASSWORD):
        """Log in with the main client: its cookie jar keeps the session cookie, and `csrf` the
        header its unsafe requests must carry, as the admin UI sends it."""
        response = self.client.post("/api/auth/login", json={"email": email, "password": password})
        if response.status_code == 200:
            self.csrf = csrf_header(response)
        return response

    def headers(self, user: dict) -> dict:
        response = self._bearer_client.post(
            "/api/auth/login", json={"email": user["email"], "password": user.get("password", DEFAULT_PASSWORD)}
        )
        assert response.status_code == 200, response.get_json()
        return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def csrf_header(signed_in) -> dict:
    """The X-CSRF-Token header for the session a sign-in answer (login, password change) set."""
    return {"X-CSRF-Token": signed_in.get_json()["csrf_token"]}


@pytest.fixture
def auth(client) -> AuthActions:
    return AuthActions(client)


@contextmanager
def running_engine(runtime, **settings) -> Iterator[None]:
    """A delivery engine in a thread of its own, as a worker runs it (run_forever, woken by NOTIFY),
    for the duration of the block; `settings` override the app's EngineSettings."""
    settings = {"poll_seconds": 0.2} | settings
    started, failed = threading.Event(), []
    control: dict = {}

    async def run() -> None:
        control["loop"], control["stop"] = asyncio.get_running_loop(), asyncio.Event()
        async with delivery.engine_for(runtime, **settings) as engine:
            started.set()
            await engine.run_forever(control["stop"])

    def main() -> None:
        try:
            asyncio.run(run())
        except BaseException as exc:
            failed.append(exc)
            started.set()

    thread = threading.Thread(target=main, name="test-delivery-engine", daemon=True)
    thread.start()
    assert started.wait(30), "the delivery engine did not start"
    if failed:
        raise failed[0]
    try:
        yield
    finally:
        control["loop"].call_soon_threadsafe(control["stop"].set)
        thread.join(60)
        assert not thread.is_alive(), "the delivery engine did not stop"
        if failed:
            raise failed[0]
