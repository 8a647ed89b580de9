"""Postgres goes down and comes back while gunicorn and the delivery worker run against it.

A client submits work (each submission emits `task.submitted` in its transaction) before, during
and after the outage. Nothing that was accepted is lost: every submission that exists has its
event delivered to the receiver. Both processes reconnect on their own: once the server is back,
every request succeeds again and the worker's LISTEN sessions are re-established.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass

import pytest

from tests.conftest import DEFAULT_PASSWORD, World
from tests.receiver import Receiver
from tests.reliability.conftest import NO_ANSWER, child_env, http_json, query, subscribe, wait_until

OUTAGE_SECONDS = 3.0
# Requests in the first moments after the restart may still meet a connection that died with the
# old server; after this long, every request must succeed.
SETTLE_SECONDS = 1.0
POSTERS = 3  # clients posting at once, so the outage catches requests at every stage
POST_INTERVAL = 0.05


@dataclass
class Post:
    started: float
    finished: float
    status: int | None  # None: no answer (connection refused or closed)
    submission_id: str | None = None


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


def listening(url: str) -> set:
    """The channels sessions LISTEN on (a listening session's last statement is its LISTEN)."""
    return {r["query"] for r in query(url, "select query from pg_stat_activity where query like 'listen %%'")}


def undelivered(url: str) -> int:
    return query(url, "select count(*) as n from public.webhook_deliveries where status <> 'delivered'")[0]["n"]


def _poster(url: str, task_id, token: str, stop: threading.Event, posts: list) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    for n in range(2000):
        if stop.is_set():
            return
        started = time.monotonic()
        try:
            status, body = http_json("POST", f"{url}/api/tasks/{task_id}/submissions", {"content": f"n{n}"}, headers)
        except NO_ANSWER:
            posts.append(Post(started, time.monotonic(), None))
        else:
            posts.append(Post(started, time.monotonic(), status, body["id"] if status == 201 else None))
        time.sleep(POST_INTERVAL)


@pytest.mark.timeout(180)
def test_web_and_worker_reconnect_after_a_postgres_restart_and_lose_nothing(
    make_app, private_postgres, children, receiver, tmp_path
):
    url = private_postgres.database("questbridge")
    app = make_app(database_url=url)
    runtime = app.extensions["questbridge"]
    world = World(app)
    org = world.organization("Restart Org")
    with runtime.db.transaction("service_role") as conn:
        quest = conn.execute(
            "insert into public.quests (organization_id, title) values (%s, 'Q') returning id", (org["id"],)
        ).fetchone()["id"]
        task = conn.execute(
            "insert into public.tasks (quest_id, organization_id, title, pillar, xp)"
            " values (%s, %s, 'T', 'code', 10) returning id",
            (quest, org["id"]),
        ).fetchone()["id"]
    subscribe(runtime.db, runtime.secretbox, org["id"], receiver.url + "/hook", ["task.submitted"])
    runtime.db.close()  # the test's own pool must not hold connections across the restart

    env = child_env(url, runtime.config.secret_key, tmp_path / "data", WEBHOOKS_LEASE_SECONDS=5)
    web = children.gunicorn(env, workers=2)
    worker = children.worker(env)
    status, login = http_json(
        "POST", web.url + "/api/auth/login", {"email": org["admin"]["email"], "password": DEFAULT_PASSWORD}
    )
    assert status == 200, login

    server_started = query(url, "select pg_postmaster_start_time() as t")[0]["t"]
    web_workers = web.worker_pids()
    posts: list[Post] = []
    stop = threading.Event()
    posters = [
        threading.Thread(target=_poster, args=(web.url, task, login["access_token"], stop, posts), daemon=True)
        for _ in range(POSTERS)
    ]
    for poster in posters:
        poster.start()
    try:
        wait_until(lambda: len(receiver.requests) >= 10, 30, what="deliveries before the outage")
        down_at = time.monotonic()
        private_postgres.stop()
        time.sleep(OUTAGE_SECONDS)
        private_postgres.start()
        up_at = time.monotonic()
        wait_until(
            lambda: sum(1 for p in posts if p.started > up_at + SETTLE_SECONDS and p.status == 201) >= 30,
            60,
            what="accepted posts after the restart",
        )
    finally:
        stop.set()
        for poster in posters:
            poster.join(15)
    # The same processes recovered by themselves: none exited and none was replaced.
    assert worker.alive() and web.alive() and web.worker_pids() == web_workers

    # Nothing accepted is lost: every submission that committed (whether or not its client heard
    # the 201) has exactly one event, and its delivery reached the receiver and is `delivered`.
    stored = {str(r["id"]) for r in query(url, "select id from public.submissions")}
    accepted = {p.submission_id for p in posts if p.status == 201}
    assert accepted <= stored
    wait_until(lambda: undelivered(url) == 0, 60, interval=0.2, what="every delivery to be delivered")
    deliveries = query(
        url,
        "select d.id, e.payload -> 'data' ->> 'submission_id' as submission_id"
        " from public.webhook_events e join public.webhook_deliveries d on d.event_id = e.id",
    )
    assert sorted(d["submission_id"] for d in deliveries) == sorted(stored)
    received = Counter(r.headers["webhook-id"] for r in list(receiver.requests))
    assert set(received) == {str(d["id"]) for d in deliveries}
    duplicates = sum(n - 1 for n in received.values())

    # The server really restarted; requests caught by it failed as 503s (with Retry-After), never
    # another error; those that came while it was down waited for a connection or failed.
    assert query(url, "select pg_postmaster_start_time() > %s as restarted", (server_started,))[0]["restarted"]
    during = [p for p in posts if down_at < p.started < up_at]
    assert {p.status for p in posts} <= {201, 503}

    # Both processes reconnected on their own: after a moment, every request succeeds again, and
    # the worker listens again for new deliveries and inbound events.
    after = [p for p in posts if p.started > up_at + SETTLE_SECONDS]
    assert after and [p.status for p in after] == [201] * len(after)
    wait_until(
        lambda: listening(url) >= {"listen questbridge_deliveries", "listen questbridge_inbox"},
        10,
        what=lambda: f"the worker to LISTEN again; its log:\n{worker.log()[-3000:]}",
    )
    print(
        f"\n{len(posts)} posts, {len(accepted)} accepted; during the {OUTAGE_SECONDS:g} s outage: "
        f"{[(p.status, round(p.finished - p.started, 2)) for p in during]}; "
        f"first {SETTLE_SECONDS:g} s after: {[p.status for p in posts if 0 < p.started - up_at <= SETTLE_SECONDS]}; "
        f"{len(stored)} submissions stored and delivered, {duplicates} duplicate webhook requests"
    )
