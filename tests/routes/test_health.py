"""Liveness and readiness against real databases: current, behind on migrations, or unreachable."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from backend import migrate
from backend.db import with_database
from tests.support import PROBLEM


def test_healthz_answers_without_the_database(make_app):
    app = make_app(database_url="postgresql://nobody@127.0.0.1:1/nothing?connect_timeout=1")
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_ok_on_a_migrated_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "pending_migrations": []}


def test_readyz_is_503_when_a_migration_is_pending(make_app, scratch_database):
    url = scratch_database()
    migrate.upgrade(url, log=lambda *_: None)
    newest = migrate.discover()[-1]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("delete from questbridge_meta.schema_migrations where version = %s", (newest.version,))
    app = make_app(database_url=url)

    response = app.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["pending_migrations"] == [newest.path.name]
    assert body["database"] == "ok"
    assert response.headers["Retry-After"]

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "insert into questbridge_meta.schema_migrations (version, name, checksum) values (%s, %s, %s)",
            (newest.version, newest.name, newest.checksum),
        )
    assert app.test_client().get("/readyz").status_code == 200


def test_readyz_is_503_on_an_empty_database(make_app, scratch_database):
    app = make_app(database_url=scratch_database())
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["pending_migrations"] == [m.path.name for m in migrate.discover()]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://nobody@127.0.0.1:1/nothing",  # nothing listens there
        "missing-database",  # a database that does not exist on the test server
    ],
)
@pytest.mark.timeout(20)  # a probe that waits out the pool's 30 s checkout timeout is as bad as down
def test_readyz_is_503_when_the_database_is_unreachable(make_app, database_url, url):
    if url == "missing-database":
        url = with_database(database_url, f"qb_missing_{uuid.uuid4().hex[:8]}")
    app = make_app(database_url=url)

    response = app.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["database"] == "unreachable"
    assert "nobody" not in response.get_data(as_text=True)  # no connection string in the answer
