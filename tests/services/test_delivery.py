"""The delivery engine against a real receiver on 127.0.0.1 whose answers change mid-test."""

from __future__ import annotations

import asyncio
import gc
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from standardwebhooks.webhooks import Webhook

from backend.services.shared.audit import RequestInfo
from backend.services.webhooks import events, ssrf, subscriptions
from backend.services.webhooks.engine import engine_for, run_pass
from backend.services.webhooks.http import RESPONSE_BODY_LIMIT
from backend.workers.webhook_delivery import GC_OBJECTS_PER_DELIVERY, prepare_garbage_collector
from tests.receiver import Answer
from tests.support import AuthActions, World


@pytest.fixture
def hooks_app(make_app):
    return make_app(webhooks_allowed_targets="127.0.0.1/32", webhooks_backoff_seconds=(0,), webhooks_max_attempts=3)


@pytest.fixture
def runtime(hooks_app):
    return hooks_app.extensions["questbridge"]


@pytest.fixture
def org(hooks_app):
    return World(hooks_app).organization("Hooks Org")


def subscribe(runtime, org, url, event_types=("*",), *, active=True, rotated_with_grace=None):
    """A subscription made through the service by the organization's admin. With `rotated_with_grace`
    its first secret is rotated with that grace (seconds) and returned as `previous_secret`."""
    box, origin = runtime.secretbox, RequestInfo()
    with runtime.db.transaction("authenticated", {"sub": str(org["admin"]["id"])}) as conn:
        created = subscriptions.create_subscription(
            conn,
            box,
            user_id=org["admin"]["id"],
            organization_id=org["id"],
            target_url=url,
            event_types=list(event_types),
            description="",
            origin=origin,
        )
        sub = {"id": created["id"], "secret": created["secret"]}
        if not active:
            subscriptions.update_subscription(conn, sub["id"], {"active": False}, origin)
        if rotated_with_grace is not None:
            rotated = subscriptions.rotate_secret(conn, box, sub["id"], rotated_with_grace, origin)
            sub |= {"secret": rotated["secret"], "previous_secret": created["secret"]}
    return sub


def expire_previous_secret(runtime, sub) -> None:
    """Time passing: the grace of the previous secret ends (the service only sets a future end)."""
    with runtime.db.transaction("service_role") as conn:
        conn.execute(
            "update public.webhook_subscriptions set previous_secret_expires_at = now() - interval '1 second'"
            " where id = %s",
            (sub["id"],),
        )


def emit(runtime, org, event_type="task.completed", data=None, count=1):
    with runtime.db.transaction("service_role") as conn:
        return [events.emit_event(conn, org["id"], event_type, data or {"n": i}) for i in range(count)]


def deliveries(runtime, **where):
    clause = " and ".join(f"{k} = %({k})s" for k in where) or "true"
    with runtime.db.transaction("service_role") as conn:
        return conn.execute(
            f"select * from public.webhook_deliveries where {clause} order by created_at", where
        ).fetchall()


def attempts_of(runtime, delivery_id):
    with runtime.db.transaction("service_role") as conn:
        return conn.execute(
            "select * from public.webhook_delivery_attempts where delivery_id = %s order by attempt", (delivery_id,)
        ).fetchall()


def test_success_is_signed_verifiable_and_logged(runtime, org, receiver):
    sub = subscribe(runtime, org, receiver.url + "/hook", ["task.completed"])
    [event_id] = emit(runtime, org, data={"task_id": "t1", "xp_awarded": 20})

    stats = run_pass(runtime)

    assert stats.as_dict() == {"claimed": 1, "delivered": 1, "retrying": 0, "dead": 0}
    [request] = receiver.requests
    [row] = deliveries(runtime)
    assert request.path == "/hook"
    assert request.headers["webhook-id"] == str(row["id"])
    assert request.headers["x-questbridge-event"] == "task.completed"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("Questbridge-Webhooks/")
    payload = Webhook(sub["secret"]).verify(request.body, request.headers)
    assert payload["id"] == str(event_id)
    assert payload["type"] == "task.completed"
    assert payload["organization_id"] == str(org["id"])
    assert payload["data"] == {"task_id": "t1", "xp_awarded": 20}
    assert payload["timestamp"].endswith("Z")
    assert row["status"] == "delivered" and row["attempts"] == 1 and row["delivered_at"] is not None
    [attempt] = attempts_of(runtime, row["id"])
    assert attempt["status_code"] == 200 and attempt["response_body"] == "ok" and attempt["error"] is None


def test_only_matching_active_subscriptions_get_a_delivery(runtime, org, receiver):
    subscribe(runtime, org, receiver.url + "/a", ["quest.completed"])
    subscribe(runtime, org, receiver.url + "/b", ["task.completed", "quest.completed"])
    subscribe(runtime, org, receiver.url + "/c", ["quest.completed"], active=False)
    emit(runtime, org, "quest.completed")
    emit(runtime, org, "task.submitted")

    run_pass(runtime)

    assert sorted(r.path for r in receiver.requests) == ["/a", "/b"]


def test_500_then_success_retries_with_the_same_webhook_id(runtime, org, receiver):
    sub = subscribe(runtime, org, receiver.url)
    receiver.script([Answer(status=500, body=b"boom")])
    emit(runtime, org)

    run_pass(runtime)

    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    for request in (first, second):
        Webhook(sub["secret"]).verify(request.body, request.headers)
    [row] = deliveries(runtime)
    assert row["status"] == "delivered" and row["attempts"] == 2
    log = attempts_of(runtime, row["id"])
    assert [(a["attempt"], a["status_code"]) for a in log] == [(1, 500), (2, 200)]
    assert log[0]["error"] == "HTTP 500" and log[0]["response_body"] == "boom"


def test_always_failing_goes_dead_after_the_last_attempt(runtime, org, receiver):
    subscribe(runtime, org, receiver.url)
    receiver.answer = Answer(status=503, body=b"down")
    emit(runtime, org)

    stats = run_pass(runtime)

    [row] = deliveries(runtime)
    assert row["status"] == "dead" and row["attempts"] == 3 and row["last_status_code"] == 503
    assert len(receiver.requests) == 3
    assert stats.dead == 1 and stats.retrying == 2


def test_backoff_schedule_sets_the_next_attempt(make_app, receiver):
    app = make_app(webhooks_allowed_targets="127.0.0.1/32", webhooks_backoff_seconds=(60, 120), webhooks_max_attempts=5)
    runtime = app.extensions["questbridge"]
    org = World(app).organization()
    subscribe(runtime, org, receiver.url)
    receiver.answer = Answer(status=500)
    emit(runtime, org)

    run_pass(runtime)

    [row] = deliveries(runtime)
    assert row["status"] == "retrying" and row["attempts"] == 1
    wait = (row["next_attempt_at"] - datetime.now(UTC)).total_seconds()
    assert 60 * 0.8 - 2 <= wait <= 60 * 1.2, wait
    assert len(receiver.requests) == 1


def test_timeout_counts_as_a_failure(make_app, receiver):
    app = make_app(
        webhooks_allowed_targets="127.0.0.1/32",
        webhooks_backoff_seconds=(300,),
        webhooks_total_timeout=0.5,
    )
    runtime = app.extensions["questbridge"]
    org = World(app).organization()
    subscribe(runtime, org, receiver.url)
    receiver.answer = Answer(delay=2)
    emit(runtime, org)

    run_pass(runtime)

    [row] = deliveries(runtime)
    assert row["status"] == "retrying"
    assert "timed out" in row["last_error"]
    assert row["last_status_code"] is None


def test_410_gone_kills_the_delivery_and_disables_the_subscription(runtime, org, receiver):
    sub = subscribe(runtime, org, receiver.url)
    receiver.answer = Answer(status=410, body=b"gone")
    emit(runtime, org)

    run_pass(runtime)

    [row] = deliveries(runtime)
    assert row["status"] == "dead" and row["attempts"] == 1
    with runtime.db.transaction("service_role") as conn:
        subscription = conn.execute(
            "select active, disabled_reason from public.webhook_subscriptions where id = %s", (sub["id"],)
        ).fetchone()
        notices = conn.execute(
            "select user_id, type from public.notifications where organization_id = %s", (org["id"],)
        ).fetchall()
        audited = conn.execute(
            "select count(*) as n from public.audit_log"
            " where action = 'webhook_subscription.disabled' and target_id = %s",
            (str(sub["id"]),),
        ).fetchone()["n"]
    assert subscription == {"active": False, "disabled_reason": "the endpoint answered 410 Gone"}
    assert notices == [{"user_id": org["admin"]["id"], "type": "webhook_disabled"}]
    assert audited == 1

    emit(runtime, org)
    run_pass(runtime)
    assert len(receiver.requests) == 1  # nothing more goes to a disabled subscription


@pytest.mark.parametrize("retry_after", ["120", "RFC1123"])
def test_429_retry_after_is_honoured(runtime, org, receiver, retry_after):
    if retry_after == "RFC1123":
        retry_after = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    subscribe(runtime, org, receiver.url)
    receiver.answer = Answer(status=429, headers={"Retry-After": retry_after})
    emit(runtime, org)

    run_pass(runtime)

    [row] = deliveries(runtime)
    assert row["status"] == "retrying"
    wait = (row["next_attempt_at"] - datetime.now(UTC)).total_seconds()
    assert 110 <= wait <= 121, wait


def test_redirects_are_not_followed(runtime, org, receiver):
    subscribe(runtime, org, receiver.url + "/old")
    receiver.answer = Answer(status=302, headers={"Location": receiver.url + "/new"})
    emit(runtime, org)

    run_pass(runtime)

    assert {r.path for r in receiver.requests} == {"/old"}
    [row] = deliveries(runtime)
    assert row["status"] == "dead" and "redirect" in row["last_error"]


def test_a_rolled_back_emit_sends_nothing(runtime, org, receiver):
    subscribe(runtime, org, receiver.url)
    with pytest.raises(RuntimeError), runtime.db.transaction("service_role") as conn:
        events.emit_event(conn, org["id"], "task.completed", {})
        raise RuntimeError("the domain change failed")

    stats = run_pass(runtime)

    assert stats.claimed == 0 and receiver.requests == [] and deliveries(runtime) == []


def test_rotation_sends_both_signatures_during_the_grace_period(runtime, org, receiver):
    sub = subscribe(runtime, org, receiver.url, rotated_with_grace=3600)
    emit(runtime, org)

    run_pass(runtime)

    [request] = receiver.requests
    assert len(request.headers["webhook-signature"].split()) == 2
    Webhook(sub["secret"]).verify(request.body, request.headers)
    Webhook(sub["previous_secret"]).verify(request.body, request.headers)


def test_an_expired_previous_secret_no_longer_signs(runtime, org, receiver):
    sub = subscribe(runtime, org, receiver.url, rotated_with_grace=3600)
    expire_previous_secret(runtime, sub)
    emit(runtime, org)

    run_pass(runtime)

    [request] = receiver.requests
    assert len(request.headers["webhook-signature"].split()) == 1
    Webhook(sub["secret"]).verify(request.body, request.headers)


@pytest.mark.parametrize("url", ["http://10.0.0.1/hook", "http://127.0.0.2:9/hook", "http://169.254.169.254/"])
def test_internal_targets_are_refused_at_send(runtime, org, receiver, url):
    subscribe(runtime, org, url)
    emit(runtime, org)

    run_pass(runtime)

    [row] = deliveries(runtime)
    assert row["last_error"].startswith("refused:")
    assert row["status"] == "dead"


def test_a_name_is_resolved_and_checked_at_every_send_and_the_checked_address_is_connected_to(
    runtime, org, receiver, monkeypatch
):
    """DNS rebinding: the name's answer changes between sends. Each send resolves it again, refuses
    an internal answer, and connects to the very address it checked (the receiver on 127.0.0.1,
    exempt in these tests, under a name that is not its own)."""
    answers = {"rebind.example": "127.0.0.1"}
    real_getaddrinfo = ssrf.socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return real_getaddrinfo(answers[host], port, *args, **kwargs)
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", getaddrinfo)
    port = receiver.url.rsplit(":", 1)[1]
    subscribe(runtime, org, f"http://rebind.example:{port}/hook")

    emit(runtime, org)
    assert run_pass(runtime).delivered == 1
    assert [r.path for r in receiver.requests] == ["/hook"]

    answers["rebind.example"] = "127.0.0.2"  # loopback, not exempt
    emit(runtime, org)
    stats = run_pass(runtime)  # this app retries at once: every attempt is refused
    assert stats.delivered == 0 and stats.retrying + stats.dead >= 1
    assert len(receiver.requests) == 1
    [failed] = [row for row in deliveries(runtime) if row["status"] != "delivered"]
    assert failed["last_error"] == "refused: rebind.example resolves to a non-public address"
    attempts = attempts_of(runtime, failed["id"])
    assert attempts and all("127.0.0.2" not in (a["error"] or "") for a in attempts)


def test_the_response_body_is_logged_up_to_4_kib(runtime, org, receiver):
    subscribe(runtime, org, receiver.url)
    receiver.answer = Answer(status=500, body=("é" * 3000 + "x" * 100_000).encode())
    [event_id] = emit(runtime, org)
    run_pass(runtime)
    [row] = deliveries(runtime, event_id=event_id)
    logged = attempts_of(runtime, row["id"])[0]["response_body"]
    assert logged.encode() == ("é" * 2048).encode()  # 4096 bytes of the answer, decoded
    assert len(logged.encode()) == RESPONSE_BODY_LIMIT == 4096


def test_two_engines_at_once_deliver_each_claim_exactly_once(runtime, org, receiver):
    subscribe(runtime, org, receiver.url)
    emit(runtime, org, count=150)

    async def both():
        async with engine_for(runtime, batch_size=20) as a, engine_for(runtime, batch_size=20) as b:
            return await asyncio.gather(a.run_once(), b.run_once())

    first, second = asyncio.run(both())

    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(ids) == 150 and len(set(ids)) == 150
    assert first.claimed + second.claimed == 150
    assert first.claimed > 0 and second.claimed > 0
    assert {r["status"] for r in deliveries(runtime)} == {"delivered"}


def test_a_crashed_engines_leases_are_reclaimed_and_delivered(runtime, org, receiver):
    subscribe(runtime, org, receiver.url)
    emit(runtime, org, count=5)

    async def claim_and_crash():
        async with engine_for(runtime, lease_seconds=1) as crashed:
            return await crashed.claim(10)  # claimed, then the process "dies" before sending

    assert len(asyncio.run(claim_and_crash())) == 5
    assert run_pass(runtime).claimed == 0  # leases still held
    time.sleep(1.2)

    stats = run_pass(runtime)

    assert stats.delivered == 5
    assert len(receiver.requests) == 5
    assert {r["attempts"] for r in deliveries(runtime)} == {2}


def test_run_forever_delivers_on_notify(runtime, org, receiver):
    subscribe(runtime, org, receiver.url)

    async def scenario():
        stop = asyncio.Event()
        async with engine_for(runtime, poll_seconds=30) as engine:
            task = asyncio.create_task(engine.run_forever(stop))
            await asyncio.sleep(0.3)  # the engine is idle and listening
            started = time.monotonic()
            await asyncio.to_thread(emit, runtime, org)
            while not receiver.requests and time.monotonic() - started < 5:
                await asyncio.sleep(0.01)
            elapsed = time.monotonic() - started
            await asyncio.sleep(0.2)
            stop.set()
            await task
            return elapsed

    elapsed = asyncio.run(scenario())

    assert len(receiver.requests) == 1
    assert elapsed < 5  # woken by NOTIFY, not the 30 s poll
    assert deliveries(runtime)[0]["status"] == "delivered"


def test_a_claim_takes_at_most_its_limit_a_crashed_engines_work_first(runtime, org, receiver):
    subscribe(runtime, org, receiver.url)
    emit(runtime, org, count=6)

    async def scenario():
        async with engine_for(runtime, lease_seconds=1) as crashed:
            taken = await crashed.claim(2)  # then this engine "dies"
        await asyncio.sleep(1.2)
        async with engine_for(runtime) as engine:
            return taken, await engine.claim(3)

    taken, claims = asyncio.run(scenario())

    assert len(taken) == 2 and len(claims) == 3
    assert {c["id"] for c in taken} <= {c["id"] for c in claims}
    assert sorted(c["attempts"] for c in claims) == [1, 2, 2]


def _wait_for(predicate, timeout=10.0):
    async def waiting():
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.01)

    return waiting()


def test_what_is_claimed_ahead_is_given_back_when_the_engine_stops(runtime, org, receiver):
    """Two in flight, two claimed ahead: on stop the two in flight finish and are recorded, the
    two claimed ahead go back as they were (pending, no attempt counted, no lease)."""
    subscribe(runtime, org, receiver.url)
    receiver.answer = Answer(delay=0.5)
    emit(runtime, org, count=5)

    async def scenario():
        stop = asyncio.Event()
        async with engine_for(runtime, concurrency=2, batch_size=2, poll_seconds=0.1) as engine:
            task = asyncio.create_task(engine.run_forever(stop))
            await _wait_for(lambda: len(receiver.requests) == 2)
            held = deliveries(runtime, status="delivering")
            stop.set()
            await task
            return held

    held = asyncio.run(scenario())

    assert len(held) == 4  # two sending, two claimed ahead
    assert len(receiver.requests) == 2
    rows = deliveries(runtime)
    assert sorted(r["status"] for r in rows) == ["delivered"] * 2 + ["pending"] * 3
    for row in rows:
        if row["status"] == "pending":
            assert row["attempts"] == 0 and row["leased_by"] is None and row["lease_expires_at"] is None
    assert [len(attempts_of(runtime, r["id"])) for r in rows if r["status"] == "delivered"] == [1, 1]


def test_a_delivery_claimed_ahead_is_given_back_before_its_lease_could_run_out(runtime, org, receiver):
    """Lease 26 s, sends of at most 15 s: a claim may wait 1 s for a free slot. The one slot is
    busy for 2.5 s, so the delivery claimed ahead is given back (and claimed again) rather than
    sent late in its lease; each delivery is sent once and counts one attempt."""
    subscribe(runtime, org, receiver.url)
    receiver.script([Answer(delay=2.5)])
    emit(runtime, org, count=2)
    released = []

    async def scenario():
        stop = asyncio.Event()
        settings = {"concurrency": 1, "batch_size": 1, "lease_seconds": 26, "total_timeout": 15.0}
        # A 30 s poll: the engine looks again when the claim ahead is due back, not at the poll.
        async with engine_for(runtime, poll_seconds=30, **settings) as engine:
            assert engine.hold_seconds() == 1.0
            release = engine.release

            async def counting_release(claims):
                released.extend(c["id"] for c in claims)
                await release(claims)

            engine.release = counting_release
            task = asyncio.create_task(engine.run_forever(stop))
            await _wait_for(lambda: len(receiver.requests) == 2)
            await asyncio.sleep(0.2)
            stop.set()
            await task

    asyncio.run(scenario())

    rows = deliveries(runtime)
    assert [r["status"] for r in rows] == ["delivered", "delivered"]
    assert [r["attempts"] for r in rows] == [1, 1]
    assert len(receiver.requests) == 2
    assert released and set(released) == {rows[1]["id"]}


def test_the_engines_connections_are_service_role_for_their_whole_session(runtime):
    async def roles():
        async with engine_for(runtime) as engine, engine.pool.connection() as conn:
            cur = await conn.execute("select current_user as role, current_setting('enable_bitmapscan') as bitmap")
            return await cur.fetchone()

    assert asyncio.run(roles()) == {"role": "service_role", "bitmap": "off"}


def test_cookies_a_receiver_sets_never_travel_with_later_deliveries(runtime, org, receiver, monkeypatch, hooks_app):
    """Two organizations' endpoints on one host: a Set-Cookie from one is not sent to the other
    (nor back to the first)."""
    real_getaddrinfo = ssrf.socket.getaddrinfo
    names = {"partner.example", "partner-a.partner.example"}

    def getaddrinfo(host, port, *args, **kwargs):
        return real_getaddrinfo("127.0.0.1" if host in names else host, port, *args, **kwargs)

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", getaddrinfo)
    port = receiver.url.rsplit(":", 1)[1]
    other = World(hooks_app).organization("Other Org")
    subscribe(runtime, org, f"http://partner-a.partner.example:{port}/a")
    subscribe(runtime, other, f"http://partner.example:{port}/b")
    receiver.answer = Answer(headers={"Set-Cookie": "session=org-a-secret; Domain=partner.example; Path=/"})

    async def scenario():
        async with engine_for(runtime) as engine:
            for _ in range(2):
                await asyncio.to_thread(emit, runtime, org)
                await asyncio.to_thread(emit, runtime, other)
                await engine.run_once()

    asyncio.run(scenario())

    assert len(receiver.requests) == 4
    assert [r.headers.get("cookie") for r in receiver.requests] == [None] * 4


def test_cron_endpoint_requires_the_secret_and_runs_a_pass(make_app, receiver):
    app = make_app(webhooks_allowed_targets="127.0.0.1/32", cron_secret="cron-" + "s" * 30)
    runtime = app.extensions["questbridge"]
    org = World(app).organization()
    subscribe(runtime, org, receiver.url)
    emit(runtime, org, count=2)
    client = app.test_client()

    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
        response = client.post("/api/webhooks/retry", headers=headers)
        assert response.status_code == 401
        assert response.mimetype == "application/problem+json"

    response = client.post("/api/webhooks/retry", headers={"Authorization": "Bearer cron-" + "s" * 30})

    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in ("claimed", "delivered", "retrying", "dead")} == {
        "claimed": 2,
        "delivered": 2,
        "retrying": 0,
        "dead": 0,
    }
    assert len(receiver.requests) == 2


def test_members_may_not_send_test_events(hooks_app, runtime, org, receiver):
    client = hooks_app.test_client()
    member = World(hooks_app).add_member(org)
    target = subscribe(runtime, org, receiver.url)
    response = client.post(
        "/api/webhooks/test", json={"subscription_id": str(target["id"])}, headers=AuthActions(client).headers(member)
    )
    assert response.status_code == 403
    assert receiver.requests == []


def test_deliveries_of_a_disabled_subscription_die_without_a_request(runtime, org, receiver):
    sub = subscribe(runtime, org, receiver.url)
    emit(runtime, org)
    with runtime.db.transaction("service_role") as conn:
        conn.execute("update public.webhook_subscriptions set active = false where id = %s", (sub["id"],))

    run_pass(runtime)

    [row] = deliveries(runtime)
    assert row["status"] == "dead" and row["attempts"] == 1
    assert row["last_error"] == "the subscription is disabled"
    assert receiver.requests == []


def test_a_subscription_failing_for_five_days_is_disabled(runtime, org, receiver):
    sub = subscribe(runtime, org, receiver.url)
    healthy = subscribe(runtime, org, receiver.url + "/healthy")
    with runtime.db.transaction("service_role") as conn:
        conn.execute(
            "update public.webhook_subscriptions set failing_since = now() - interval '4 days' where id = %s",
            (healthy["id"],),
        )
        conn.execute(
            "update public.webhook_subscriptions set failing_since = now() - interval '5 days 1 minute' where id = %s",
            (sub["id"],),
        )
    receiver.answer = Answer(status=500)
    emit(runtime, org)

    run_pass(runtime)

    with runtime.db.transaction("service_role") as conn:
        rows = {
            r["id"]: r
            for r in conn.execute("select id, active, disabled_reason, failing_since from public.webhook_subscriptions")
        }
    assert rows[sub["id"]]["active"] is False
    assert rows[sub["id"]]["disabled_reason"] == "every delivery failed for 5 days"
    assert rows[healthy["id"]]["active"] is True  # failing for 4 days only


def test_failures_mark_the_subscription_failing_and_a_success_clears_it(runtime, org, receiver):
    failing = subscribe(runtime, org, receiver.url + "/failing")
    recovering = subscribe(runtime, org, receiver.url + "/recovering")
    with runtime.db.transaction("service_role") as conn:
        conn.execute(
            "update public.webhook_subscriptions set failing_since = now() - interval '1 day' where id = %s",
            (recovering["id"],),
        )
    emit(runtime, org, "task.completed")
    receiver.answer = Answer(status=200)
    with runtime.db.transaction("service_role") as conn:
        conn.execute(
            "update public.webhook_subscriptions set target_url = %s where id = %s",
            ("http://127.0.0.1:9/refused", failing["id"]),
        )

    run_pass(runtime)

    with runtime.db.transaction("service_role") as conn:
        found = conn.execute("select id, failing_since from public.webhook_subscriptions").fetchall()
    rows = {r["id"]: r["failing_since"] for r in found}
    assert rows[failing["id"]] is not None
    assert rows[recovering["id"]] is None


def test_retention_deletes_only_old_finished_events(runtime, org, receiver):
    from backend.services import maintenance

    subscribe(runtime, org, receiver.url)
    old_done, old_pending, recent = (emit(runtime, org)[0] for _ in range(3))
    with runtime.db.transaction("service_role") as conn:
        conn.execute(
            "update public.webhook_events set created_at = now() - interval '31 days' where id = any(%s)",
            ([old_done, old_pending],),
        )
        conn.execute(
            "update public.webhook_deliveries set status = case when event_id = %s then 'pending' else 'delivered' end",
            (old_pending,),
        )

    assert maintenance.webhook_retention(runtime.db, 30) == 1

    with runtime.db.transaction("service_role") as conn:
        left = {r["id"] for r in conn.execute("select id from public.webhook_events")}
    assert left == {old_pending, recent}


def test_run_pass_works_from_a_thread_whose_event_loop_is_running(runtime, org, receiver):
    subscribe(runtime, org, receiver.url)
    emit(runtime, org)

    async def caller_with_a_running_loop():
        return run_pass(runtime)  # a synchronous call, as a sync framework would make

    assert asyncio.run(caller_with_a_running_loop()).delivered == 1


def test_a_delivering_process_keeps_the_collector_above_the_engines_working_set():
    before, frozen_before = gc.get_threshold(), gc.get_freeze_count()
    try:
        prepare_garbage_collector(256)
        assert gc.get_threshold() == (256 * GC_OBJECTS_PER_DELIVERY, before[1], before[2])
        assert gc.get_freeze_count() > frozen_before  # the startup heap is out of the collector's way
        prepare_garbage_collector(1)  # never below what it was
        assert gc.get_threshold()[0] == 256 * GC_OBJECTS_PER_DELIVERY
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
