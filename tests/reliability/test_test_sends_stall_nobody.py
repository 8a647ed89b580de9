"""Sixteen test sends at once to a receiver that takes 14 s leave another organization's requests
as they were.

gunicorn serves the app (two workers of four threads, the production shape) and the standalone
worker runs the delivery engine. Organization A sends sixteen `POST /api/webhooks/test` at once to
its endpoint, which holds every request until the test releases it (14 s at most). While the
receiver still holds every one of A's requests: all of A's calls have been answered (the in-flight
cap's worth 202, the rest 429 with Retry-After), organization B's ordinary requests are answered
normally, no web process has a connection to the receiver, and the web processes hold no more
database connections than their pools allow. Nothing here measures time: what is asserted is what
had happened by the time the receiver was released, and how many connections there were.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, wait

import psutil
import pytest
import requests
from standardwebhooks.webhooks import Webhook

from backend.db import SYSTEM_POOL_MAX_SIZE
from tests.receiver import Answer
from tests.reliability.conftest import child_env, query, wait_until
from tests.support import World

BURST = 16
IN_FLIGHT = 3  # WEBHOOKS_TEST_MAX_IN_FLIGHT's default
WEB_WORKERS, THREADS, POOL_MAX = 2, 4, 2
# What the web processes may hold at most: each worker's request pool and system pool.
WEB_CONNECTIONS_BOUND = WEB_WORKERS * (POOL_MAX + min(POOL_MAX, SYSTEM_POOL_MAX_SIZE))


def call(method: str, url: str, token: str, body=None) -> requests.Response:
    # A bound, not an assertion: today's code would keep these waiting behind the receiver.
    return requests.request(method, url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def login(url: str, user: dict) -> str:
    response = requests.post(
        url + "/api/auth/login", json={"email": user["email"], "password": user["password"]}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def connections(database_url: str) -> dict[str, int]:
    rows = query(
        database_url,
        "select application_name as name, count(*) as n from pg_stat_activity"
        " where datname = current_database() group by application_name",
    )
    return {row["name"]: row["n"] for row in rows}


def receiver_connections(pids: list[int], port: int) -> int:
    return sum(
        1
        for pid in pids
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )


@pytest.mark.timeout(180)
def test_sixteen_test_sends_to_a_slow_receiver_leave_another_organizations_requests_answered(
    make_app, database_url, children, receiver, tmp_path
):
    app = make_app()
    world = World(app)
    a = world.organization("A Academy")
    b = world.organization("B College")
    env = child_env(
        database_url, app.extensions["questbridge"].config.secret_key, tmp_path / "data", WEBHOOKS_TOTAL_TIMEOUT=30
    )
    worker = children.worker(env | {"PGAPPNAME": "qb-worker"})
    web = children.gunicorn(
        env | {"PGAPPNAME": "qb-web", "GUNICORN_THREADS": str(THREADS), "DB_POOL_MAX_SIZE": str(POOL_MAX)},
        workers=WEB_WORKERS,
    )
    a_token, b_token = login(web.url, a["admin"]), login(web.url, b["admin"])
    created = call(
        "POST",
        web.url + "/api/webhooks/subscriptions",
        a_token,
        {"organization_id": str(a["id"]), "target_url": receiver.url + "/slow", "event_types": ["*"]},
    )
    assert created.status_code == 201, created.text
    subscription = created.json()
    quest = call("POST", web.url + "/api/quests", b_token, {"organization_id": str(b["id"]), "title": "Intro"})
    assert quest.status_code == 201, quest.text
    release = threading.Event()
    receiver.answer = Answer(release=release, delay=14)  # a receiver that takes 14 s, unless released
    before = connections(database_url)

    def b_requests():
        return [
            ("GET", "/api/auth/me", None),
            ("GET", f"/api/quests?organization_id={b['id']}", None),
            ("POST", "/api/quests", {"organization_id": str(b["id"]), "title": "Another"}),
            ("GET", f"/api/webhooks/subscriptions?organization_id={b['id']}", None),
        ] * 3

    with ThreadPoolExecutor(BURST + 12) as pool:
        try:
            test_url, test_send = web.url + "/api/webhooks/test", {"subscription_id": subscription["id"]}
            tests = [pool.submit(call, "POST", test_url, a_token, test_send) for _ in range(BURST)]
            wait_until(lambda: receiver.held >= IN_FLIGHT, 30, what="A's test sends to reach the receiver")
            ordinary = [pool.submit(call, method, web.url + path, b_token, body) for method, path, body in b_requests()]

            # Everything is answered while the receiver still holds A's requests.
            done, _ = wait(tests + ordinary, timeout=12)
            answered_while_held = receiver.answered == 0 and not release.is_set()
            held = receiver.held
            during = connections(database_url)
            web_to_receiver = receiver_connections(web.worker_pids(), receiver.port)
            worker_to_receiver = receiver_connections([worker.pid], receiver.port)
        finally:
            release.set()
        assert len(done) == len(tests) + len(ordinary), (
            f"{len(done)} of {len(tests) + len(ordinary)} requests answered while the receiver held A's"
        )
        assert answered_while_held
        assert held == IN_FLIGHT

    for future, (method, path, _) in zip(ordinary, b_requests(), strict=True):
        response = future.result()
        assert response.status_code == (201 if method == "POST" else 200), (path, response.text)
        if path == "/api/auth/me":
            assert response.json()["email"] == b["admin"]["email"]
        elif method == "GET" and path.startswith("/api/quests"):
            assert "Intro" in {q["title"] for q in response.json()["data"]}

    answers = [future.result() for future in tests]
    assert Counter(r.status_code for r in answers) == {202: IN_FLIGHT, 429: BURST - IN_FLIGHT}
    for response in answers:
        if response.status_code == 429:
            assert response.headers["Content-Type"] == "application/problem+json"
            assert int(response.headers["Retry-After"]) >= 1
    queued = {r.json()["delivery_id"] for r in answers if r.status_code == 202}

    # The engine held the receiver's connections, never a web process; the web processes' database
    # connections stayed within their pools (a pool per request would have added one per request).
    assert web_to_receiver == 0
    assert worker_to_receiver == IN_FLIGHT
    assert during.get("qb-web", 0) <= WEB_CONNECTIONS_BOUND, during

    def finished():
        rows = query(
            database_url,
            "select id::text, status from public.webhook_deliveries where event_type = 'webhook.test'",
        )
        return {row["id"] for row in rows if row["status"] == "delivered"} == queued and len(rows) == IN_FLIGHT

    wait_until(finished, 30, what="the three test deliveries to be delivered")
    assert {r.headers["webhook-id"] for r in receiver.requests} == queued
    for request in receiver.requests:
        assert Webhook(subscription["secret"]).verify(request.body, request.headers)["type"] == "webhook.test"
    print(f"\ndatabase connections by process before the burst: {before}; while the receiver held A's: {during}")
