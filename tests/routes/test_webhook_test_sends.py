"""POST /api/webhooks/test: queued for the delivery engine, never sent by the request, capped per
organization. A real receiver on 127.0.0.1 (which can hold requests until released) and a real
engine in a thread of its own; two organizations."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from standardwebhooks.webhooks import Webhook

from tests.receiver import Answer
from tests.support import AuthActions, World, room_in_the_window, running_engine

ENGINE_AGENT = "engine-under-test/1.0"  # the running engine's User-Agent: who sent an attempt


@pytest.fixture
def make_hooks_app(make_app):
    def _make(**overrides):
        return make_app(webhooks_allowed_targets="127.0.0.1/32", webhooks_backoff_seconds=(0,), **overrides)

    return _make


class Tenant:
    """An organization with its admin's bearer headers, talking to the app through a test client."""

    def __init__(self, app, name: str):
        self.app = app
        self.world = World(app)
        self.org = self.world.organization(name)
        self.client = app.test_client()
        self.headers = AuthActions(self.client).headers(self.org["admin"])

    def subscribe(self, url: str, event_types=("*",)) -> dict:
        body = {"organization_id": str(self.org["id"]), "target_url": url, "event_types": list(event_types)}
        response = self.client.post("/api/webhooks/subscriptions", json=body, headers=self.headers)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def send_test(self, subscription_id, headers: dict | None = None):
        # A client per call: test sends are made from several threads at once.
        return self.app.test_client().post(
            "/api/webhooks/test", json={"subscription_id": str(subscription_id)}, headers=headers or self.headers
        )

    def delivery(self, delivery_id) -> dict:
        response = self.client.get(f"/api/webhooks/deliveries/{delivery_id}", headers=self.headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def test_deliveries(self) -> list[dict]:
        with self.world.runtime.db.transaction("service_role") as conn:
            return conn.execute(
                "select id, status from public.webhook_deliveries"
                " where organization_id = %s and event_type = 'webhook.test' order by created_at",
                (self.org["id"],),
            ).fetchall()


def wait_until(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)
    return value


def assert_too_many(response, detail: str) -> int:
    assert response.status_code == 429, response.get_json()
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == 429 and detail in problem["detail"], problem
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    return retry_after


def test_a_test_send_is_queued_for_the_engines_and_never_sent_by_the_request(make_hooks_app, receiver):
    """With no engine running nothing reaches the receiver: the answer is 202 with the delivery
    to follow. The next engine to run sends it, signed, to that one subscription."""
    app = make_hooks_app(webhooks_test_wait_seconds=0.5)
    academy = Tenant(app, "Academy")
    target = academy.subscribe(receiver.url + "/target")
    academy.subscribe(receiver.url + "/other")

    response = academy.send_test(target["id"])

    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["status"] == "pending" and "attempt" not in body
    assert response.headers["Location"] == f"/api/webhooks/deliveries/{body['delivery_id']}"
    assert receiver.requests == []
    logged = academy.delivery(body["delivery_id"])
    assert logged["event_type"] == "webhook.test" and logged["status"] == "pending"
    assert logged["subscription_id"] == target["id"] and logged["attempts_log"] == []

    with running_engine(app.extensions["questbridge"], user_agent=ENGINE_AGENT):
        wait_until(lambda: academy.delivery(body["delivery_id"])["status"] == "delivered", what="the delivery")

    [request] = receiver.requests
    assert request.path == "/target"
    assert request.headers["user-agent"] == ENGINE_AGENT
    assert request.headers["webhook-id"] == body["delivery_id"]
    event = Webhook(target["secret"]).verify(request.body, request.headers)
    assert event["type"] == "webhook.test" and event["id"] == body["event_id"]
    assert event["data"]["subscription_id"] == target["id"]


def test_a_fast_receiver_gets_the_engines_attempt_back_in_the_answer(make_hooks_app, receiver):
    app = make_hooks_app(webhooks_test_wait_seconds=8.0)
    academy = Tenant(app, "Academy")
    target = academy.subscribe(receiver.url + "/target")
    receiver.answer = Answer(body=b"received, thanks")

    with running_engine(app.extensions["questbridge"], user_agent=ENGINE_AGENT):
        response = academy.send_test(target["id"])

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "delivered"
    attempt = body["attempt"]
    assert attempt["attempt"] == 1 and attempt["status_code"] == 200 and attempt["error"] is None
    assert attempt["response_body"] == "received, thanks" and attempt["duration_ms"] >= 0
    assert attempt["started_at"].endswith("Z")
    [request] = receiver.requests
    assert request.headers["user-agent"] == ENGINE_AGENT  # the engine sent it, not the request
    assert request.headers["webhook-id"] == body["delivery_id"]
    assert json.loads(request.body)["type"] == "webhook.test"
    assert academy.delivery(body["delivery_id"])["attempts_log"][0]["status_code"] == 200


def test_a_failed_test_send_is_not_retried_and_leaves_room_for_the_next(make_hooks_app, receiver):
    """A test is tried once: a failing endpoint gets no retries of it piling up (they would come due
    together), and the failed test no longer counts against the organization's in-flight cap."""
    app = make_hooks_app(webhooks_test_wait_seconds=8.0, webhooks_test_max_in_flight=1, webhooks_max_attempts=5)
    academy = Tenant(app, "Academy")
    target = academy.subscribe(receiver.url)
    receiver.answer = Answer(status=500, body=b"broken")

    with running_engine(app.extensions["questbridge"]):
        failed = academy.send_test(target["id"])
        assert failed.status_code == 200, failed.get_json()
        assert failed.get_json()["status"] == "dead"
        assert failed.get_json()["attempt"]["status_code"] == 500
        receiver.answer = Answer(status=200)
        fixed = academy.send_test(target["id"])

    assert fixed.status_code == 200 and fixed.get_json()["status"] == "delivered"
    assert [d["status"] for d in academy.test_deliveries()] == ["dead", "delivered"]
    assert len(receiver.requests) == 2  # one attempt each, no retry


def test_a_slow_receiver_gets_a_202_while_it_still_holds_the_request(make_hooks_app, receiver):
    """The receiver takes 14 s: the request is answered (202, the delivery to follow) while the
    engine's request is still open on the receiver; the attempt lands in the delivery log later."""
    app = make_hooks_app(webhooks_test_wait_seconds=0.5)
    academy = Tenant(app, "Academy")
    target = academy.subscribe(receiver.url)
    release = threading.Event()
    receiver.answer = Answer(release=release, delay=14)

    with running_engine(app.extensions["questbridge"]), ThreadPoolExecutor(1) as pool:
        try:
            answer = pool.submit(academy.send_test, target["id"])
            wait_until(lambda: receiver.held == 1, what="the engine's request to reach the receiver")
            response = answer.result(timeout=10)  # today's code answers only after the receiver does
            assert receiver.answered == 0, "answered only after the receiver"
        finally:
            release.set()
        assert response.status_code == 202, response.get_json()
        body = response.get_json()
        assert body["status"] in ("pending", "delivering") and "attempt" not in body
        wait_until(lambda: academy.delivery(body["delivery_id"])["status"] == "delivered", what="the delivery")

    [attempt] = academy.delivery(body["delivery_id"])["attempts_log"]
    assert attempt["status_code"] == 200


def test_one_process_lets_few_requests_wait_and_answers_the_others_at_once(make_hooks_app, receiver):
    """WEBHOOKS_TEST_MAX_WAITING=1: while one test send waits for its attempt, another answers 202
    at once; the one that waited gets its attempt once the receiver answers."""
    app = make_hooks_app(webhooks_test_wait_seconds=8.0, webhooks_test_max_waiting=1)
    academy = Tenant(app, "Academy")
    college = Tenant(app, "College")
    slow = academy.subscribe(receiver.url + "/slow")
    fast = college.subscribe(receiver.url + "/fast")
    release = threading.Event()
    receiver.script([Answer(release=release, delay=14)])

    with running_engine(app.extensions["questbridge"]), ThreadPoolExecutor(1) as pool:
        try:
            waiting = pool.submit(academy.send_test, slow["id"])
            wait_until(lambda: receiver.held == 1, what="the first test send to reach the receiver")
            other = college.send_test(fast["id"])
            assert not waiting.done()
        finally:
            release.set()
        waited = waiting.result(timeout=30)

    assert other.status_code == 202, other.get_json()
    assert waited.status_code == 200, waited.get_json()
    assert waited.get_json()["attempt"]["status_code"] == 200


def test_an_organization_has_few_test_sends_in_flight_then_429_with_retry_after(make_hooks_app, receiver):
    app = make_hooks_app(webhooks_test_wait_seconds=0, webhooks_test_max_in_flight=3, webhooks_total_timeout=15.0)
    academy = Tenant(app, "Academy")
    college = Tenant(app, "College")
    target = academy.subscribe(receiver.url)
    theirs = college.subscribe(receiver.url)
    release = threading.Event()
    receiver.answer = Answer(release=release, delay=14)

    with running_engine(app.extensions["questbridge"]):
        try:
            first = [academy.send_test(target["id"]) for _ in range(3)]
            assert [r.status_code for r in first] == [202] * 3
            wait_until(lambda: receiver.held == 3, what="three test sends on the receiver")

            refused = academy.send_test(target["id"])
            retry_after = assert_too_many(refused, "already has 3 test events waiting or being sent")
            assert retry_after == 15
            # The cap is the organization's: another one still tests its endpoint.
            assert college.send_test(theirs["id"]).status_code == 202
            wait_until(lambda: receiver.held == 4, what="the other organization's test send")
        finally:
            release.set()
        wait_until(
            lambda: [d["status"] for d in academy.test_deliveries()] == ["delivered"] * 3, what="three deliveries"
        )
        # Once they are done there is room again.
        assert academy.send_test(target["id"]).status_code == 202

    assert len(academy.test_deliveries()) == 4  # the refused request queued nothing


def test_sixteen_test_sends_at_once_admit_exactly_the_in_flight_cap(make_hooks_app, receiver):
    """The admission is atomic: sixteen concurrent requests cannot all slip under the cap."""
    app = make_hooks_app(webhooks_test_wait_seconds=0, webhooks_test_max_in_flight=3, pool_max_size=16)
    academy = Tenant(app, "Academy")
    target = academy.subscribe(receiver.url)
    start = threading.Barrier(16)

    def send():
        start.wait(10)
        return academy.send_test(target["id"])

    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda _: send(), range(16)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202] * 3 + [429] * 13, [r.get_json() for r in responses]
    for response in responses:
        if response.status_code == 429:
            assert_too_many(response, "waiting or being sent")
    assert [d["status"] for d in academy.test_deliveries()] == ["pending"] * 3
    assert receiver.requests == []


def test_an_organization_queues_few_test_sends_a_minute(make_hooks_app, receiver):
    """Ten a minute, each answered with its own attempt and sent once; the eleventh is refused."""
    app = make_hooks_app(webhooks_test_wait_seconds=8.0, webhooks_test_max_in_flight=20, webhooks_test_per_minute=10)
    academy = Tenant(app, "Academy")
    target = academy.subscribe(receiver.url)
    room_in_the_window(40)

    with running_engine(app.extensions["questbridge"], poll_seconds=0.002):
        answers = [academy.send_test(target["id"]) for _ in range(10)]
        refused = academy.send_test(target["id"])

    assert [a.status_code for a in answers] == [200] * 10, [a.get_json() for a in answers]
    bodies = [a.get_json() for a in answers]
    assert {b["status"] for b in bodies} == {"delivered"}
    assert [r.headers["webhook-id"] for r in receiver.requests] == [b["delivery_id"] for b in bodies]
    assert len(set(receiver_ids := [r.headers["webhook-id"] for r in receiver.requests])) == len(receiver_ids) == 10
    assert assert_too_many(refused, "at most 10 test events a minute") <= 60
    assert len(academy.test_deliveries()) == 10


def test_nobody_tests_another_organizations_subscription_or_spends_its_budget(make_hooks_app, receiver):
    app = make_hooks_app(webhooks_test_wait_seconds=0, webhooks_test_per_minute=2)
    academy = Tenant(app, "Academy")
    college = Tenant(app, "College")
    target = academy.subscribe(receiver.url)
    member = AuthActions(academy.client).headers(academy.world.add_member(academy.org))
    room_in_the_window(20)

    unknown = college.send_test("0f0f0f0f-0000-4000-8000-00000000dead")
    for _ in range(5):
        stranger = college.send_test(target["id"])
        assert stranger.status_code == 404 and stranger.mimetype == "application/problem+json"
        assert stranger.get_json() == unknown.get_json()  # the same answer as for an id that does not exist
    assert academy.send_test(target["id"], headers=member).status_code == 403
    malformed = academy.send_test("nope")
    assert malformed.status_code == 422 and "subscription_id" in malformed.get_json()["errors"]
    assert academy.test_deliveries() == [] and receiver.requests == []

    # None of that spent the organization's two a minute.
    assert [academy.send_test(target["id"]).status_code for _ in range(2)] == [202, 202]
    assert_too_many(academy.send_test(target["id"]), "at most 2 test events a minute")


def test_a_disabled_subscription_is_refused_with_409_and_spends_nothing(make_hooks_app, receiver):
    app = make_hooks_app(webhooks_test_wait_seconds=0, webhooks_test_per_minute=1)
    academy = Tenant(app, "Academy")
    target = academy.subscribe(receiver.url)
    path = f"/api/webhooks/subscriptions/{target['id']}"
    room_in_the_window(20)
    assert academy.client.put(path, json={"active": False}, headers=academy.headers).status_code == 200

    for _ in range(3):
        refused = academy.send_test(target["id"])
        assert refused.status_code == 409 and refused.mimetype == "application/problem+json"
        assert refused.get_json()["detail"] == "the subscription is disabled; enable it before testing"
    assert academy.test_deliveries() == []

    assert academy.client.put(path, json={"active": True}, headers=academy.headers).status_code == 200
    assert academy.send_test(target["id"]).status_code == 202
    assert_too_many(academy.send_test(target["id"]), "at most 1 test event a minute")
