"""Postgres goes down and comes back while gunicorn and the worker run against it.

Clients submit work (each submission emits `task.submitted` in its transaction) and an autograder
posts signed grades, before, during and after the outage. Nothing that was accepted is lost:
every submission that exists has its event delivered to the receiver, and every grade answered
202 (or 409, naming the event its lost first try stored) is applied exactly once. Both processes
reconnect on their own: once the server is back, every request succeeds again and the worker's
LISTEN sessions are re-established.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass

import pytest

from tests.reliability.conftest import (
    NO_ANSWER,
    child_env,
    http_json,
    query,
    seed_submissions,
    seed_tasks,
    subscribe,
    wait_until,
)
from tests.support import DEFAULT_PASSWORD, World

OUTAGE_SECONDS = 3.0
# Requests in the first moments after the restart may still meet a connection that died with the
# old server; after this long, every request must succeed.
SETTLE_SECONDS = 1.0
POSTERS = 3  # clients posting at once, so the outage catches requests at every stage
POST_INTERVAL = 0.05
SECRET = "restart-autograder-secret"
GRADES = 150


@dataclass
class Post:
    started: float
    finished: float
    status: int | None  # None: no answer (connection refused or closed)
    submission_id: str | None = None


@dataclass
class Grade:
    submission_id: str
    score: int
    answers: list  # (status or None, event id or None) per try
    tries: list  # (started, finished) per try, time.monotonic()


def _grader(url: str, grades: list[Grade], stop: threading.Event) -> None:
    """Post each grade until it is answered 202 or 409, sending the same signed bytes again after
    a 503 or a lost connection, as an autograder would."""
    for grade in grades:
        raw = json.dumps(
            {"submission_id": grade.submission_id, "score": grade.score, "max_score": 10, "timestamp": int(time.time())}
        ).encode()
        headers = {"X-Autograder-Signature": hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()}
        while not stop.is_set():
            started = time.monotonic()
            try:
                status, body = http_json("POST", url + "/api/webhooks/autograder/", raw, headers, timeout=20)
            except NO_ANSWER:
                status, body = None, None
            grade.tries.append((started, time.monotonic()))
            grade.answers.append((status, (body or {}).get("event_id")))
            if status in (202, 409):
                break
            time.sleep(POST_INTERVAL)
        time.sleep(POST_INTERVAL)


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
    student = world.add_member(org)
    task, graded_task = seed_tasks(runtime.db, org["id"], ("T", "Graded"))
    to_grade = seed_submissions(runtime.db, org["id"], graded_task, student["id"], GRADES)
    grades = [Grade(submission, n % 11, [], []) for n, submission in enumerate(to_grade)]
    subscribe(runtime.db, runtime.secretbox, org["id"], receiver.url + "/hook", ["task.submitted"])
    runtime.db.close()  # the test's own pool must not hold connections across the restart

    env = child_env(
        url,
        runtime.config.secret_key,
        tmp_path / "data",
        WEBHOOKS_LEASE_SECONDS=5,
        AUTOGRADER_WEBHOOK_SECRETS=SECRET,
        INBOUND_RATE_LIMIT_PER_HOUR=100_000,
    )
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
    posters.append(threading.Thread(target=_grader, args=(web.url, grades, stop), daemon=True))
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
        wait_until(
            lambda: grades[-1].answers and grades[-1].answers[-1][0] in (202, 409), 60, what="every grade answered"
        )
    finally:
        stop.set()
        for poster in posters:
            poster.join(15)
    # The same processes recovered by themselves: none exited and none was replaced.
    assert worker.alive() and web.alive() and web.worker_pids() == web_workers

    # Nothing accepted is lost: every submission that committed (whether or not its client heard
    # the 201) has exactly one event, and its delivery reached the receiver and is `delivered`.
    stored = {str(r["id"]) for r in query(url, "select id from public.submissions where task_id = %s", (task,))}
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
    assert {status for grade in grades for status, _ in grade.answers} <= {202, 409, 503, None}
    in_flight = [(s, f) for grade in grades for s, f in grade.tries if s < up_at and f > down_at]
    assert in_flight, "no grade was posted during the outage"

    # Every grade was finally accepted, and each is applied exactly once: one event per
    # submission, processed in one attempt or more, the one every 202 or 409 named.
    assert [grade.answers[-1][0] in (202, 409) for grade in grades] == [True] * GRADES

    def applied() -> int:
        return query(url, "select count(*) as n from public.inbound_events where status = 'processed'")[0]["n"]

    wait_until(lambda: applied() == GRADES, 60, interval=0.2, what="every grade to be applied")
    inbound = {
        str(r["subject_id"]): str(r["id"]) for r in query(url, "select id, subject_id from public.inbound_events")
    }
    assert len(inbound) == GRADES and set(inbound) == {g.submission_id for g in grades}
    for grade in grades:
        assert {event for status, event in grade.answers if status in (202, 409)} == {inbound[grade.submission_id]}
    graded = query(url, "select id, status, score from public.submissions where task_id = %s", (graded_task,))
    assert {(str(r["id"]), r["status"], int(r["score"])) for r in graded} == {
        (g.submission_id, "graded", g.score) for g in grades
    }
    notified = query(url, "select count(*) as n from public.notifications where type = 'assignment_graded'")
    assert notified[0]["n"] == GRADES

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
        f"{len(stored)} submissions stored and delivered, {duplicates} duplicate webhook requests; "
        f"{GRADES} grades applied once, answers {dict(Counter(s for g in grades for s, _ in g.answers))}"
    )
