"""Receivers that hang, reset connections, answer slowly, throttle with Retry-After or flap.

The engine runs its real loop (`run_forever`) against six receivers at once. Each delivery ends
exactly where the retry policy puts it, attempt by attempt: the receiver's record of what it
answered, the delivery's attempt log and its final state agree, and no retry comes sooner than the
backoff or Retry-After allows. Meanwhile a healthy subscription's steady stream never waits for
them: the bad ones hold fewer slots than the concurrency bound, so no healthy delivery takes as
long as one hanging request.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import threading
import time
from datetime import timedelta

import pytest

from backend.services.webhooks import events
from backend.services.webhooks.engine import engine_for
from tests.reliability.conftest import Reply, ScriptedReceiver, query, subscribe, wait_until
from tests.support import World

MAX_ATTEMPTS = 3
BACKOFF = (0, 1)
JITTER = 0.2  # EngineSettings.jitter
TOTAL_TIMEOUT = 2.0
POLL_SECONDS = 0.25
CONCURRENCY = 12
HANG = TOTAL_TIMEOUT + 1.5
SLOW = 0.5
RETRY_AFTER = 2
BAD_EVENTS = 4  # task.completed: one delivery to each misbehaving receiver
HEALTHY_EVENTS = 60  # task.submitted, one every HEALTHY_INTERVAL, while the bad ones play out
HEALTHY_INTERVAL = 0.1
SLACK = 2.0  # a 2-core machine under heavy load: how late a due retry may start beyond the poll interval


def _flapping():
    flips = itertools.count()
    return lambda webhook_id, n: Reply(status=500 if next(flips) % 2 == 0 else 200)


def _throttled(webhook_id, n):
    if n == 1:
        return Reply(status=429, headers={"Retry-After": str(RETRY_AFTER)})
    if n == 2:
        return Reply(status=503, headers={"Retry-After": str(RETRY_AFTER)})
    return Reply()


SCRIPTS = {
    "healthy": (lambda webhook_id, n: Reply(), ["task.submitted"]),
    "slow": (lambda webhook_id, n: Reply(delay=SLOW), ["task.completed"]),
    "hanging": (lambda webhook_id, n: Reply(delay=HANG), ["task.completed"]),
    "resetting": (lambda webhook_id, n: Reply(reset=True), ["task.completed"]),
    "throttled": (_throttled, ["task.completed"]),
    "flapping": (None, ["*"]),
}


@pytest.fixture
def receivers():
    started = {name: ScriptedReceiver(script or _flapping()) for name, (script, _) in SCRIPTS.items()}
    yield started
    for receiver in started.values():
        receiver.stop()


def succeeded(reply: Reply) -> bool:
    return not reply.reset and reply.delay < TOTAL_TIMEOUT and 200 <= reply.status < 300


def expected_end(replies: list[Reply]) -> tuple[str, int]:
    """The retry policy, stated independently of the engine: (final status, attempts)."""
    for attempt, reply in enumerate(replies, 1):
        if succeeded(reply):
            return "delivered", attempt
        if attempt == MAX_ATTEMPTS:
            return "dead", attempt
    return "unfinished", len(replies)


def earliest_retry(reply: Reply, attempt: int) -> float:
    """Seconds after an attempt ended before the next may start."""
    delay = BACKOFF[min(attempt - 1, len(BACKOFF) - 1)] * (1 - JITTER)
    if reply.status in (429, 503) and "Retry-After" in reply.headers:
        delay = max(delay, float(reply.headers["Retry-After"]))
    return delay


def latest_retry(reply: Reply, attempt: int) -> float:
    delay = BACKOFF[min(attempt - 1, len(BACKOFF) - 1)] * (1 + JITTER)
    if reply.status in (429, 503) and "Retry-After" in reply.headers:
        delay = max(delay, float(reply.headers["Retry-After"]))
    return delay + POLL_SECONDS + SLACK


@pytest.mark.timeout(120)
def test_each_misbehaving_receiver_ends_as_the_policy_says_and_slows_no_one_else(make_app, receivers):
    app = make_app(webhooks_allowed_targets="127.0.0.1/32")
    runtime = app.extensions["questbridge"]
    org = World(app).organization("Misbehaving Org")
    subscriptions = {
        subscribe(runtime.db, runtime.secretbox, org["id"], receivers[name].url + "/hook", types)[0]: name
        for name, (_, types) in SCRIPTS.items()
    }

    stop = threading.Event()

    async def run_engine():
        halt = asyncio.Event()
        async with engine_for(
            runtime,
            backoff_seconds=BACKOFF,
            max_attempts=MAX_ATTEMPTS,
            total_timeout=TOTAL_TIMEOUT,
            poll_seconds=POLL_SECONDS,
            concurrency=CONCURRENCY,
            batch_size=CONCURRENCY,
        ) as engine:
            loop = asyncio.create_task(engine.run_forever(halt))
            while not stop.is_set():
                await asyncio.sleep(0.05)
            halt.set()
            await loop

    engine = threading.Thread(target=asyncio.run, args=(run_engine(),), daemon=True)
    engine.start()
    try:
        with runtime.db.transaction("service_role") as conn:
            for n in range(BAD_EVENTS):
                events.emit_event(conn, org["id"], "task.completed", {"n": n})
        for n in range(HEALTHY_EVENTS):
            with runtime.db.transaction("service_role") as conn:
                events.emit_event(conn, org["id"], "task.submitted", {"n": n})
            time.sleep(HEALTHY_INTERVAL)
        wait_until(
            lambda: (
                query(
                    runtime.db.conninfo,
                    "select count(*) as n from public.webhook_deliveries where status not in ('delivered', 'dead')",
                )[0]["n"]
                == 0
            ),
            60,
            interval=0.2,
            what="every delivery to end delivered or dead",
        )
    finally:
        stop.set()
        engine.join(TOTAL_TIMEOUT + 10)
    assert not engine.is_alive()

    rows = query(
        runtime.db.conninfo,
        "select d.id, d.subscription_id, d.status, d.attempts, d.delivered_at, e.created_at as emitted_at"
        " from public.webhook_deliveries d join public.webhook_events e on e.id = d.event_id",
    )
    logged = {}
    for entry in query(
        runtime.db.conninfo,
        "select delivery_id, attempt, started_at, duration_ms, status_code, error"
        " from public.webhook_delivery_attempts order by delivery_id, attempt",
    ):
        logged.setdefault(entry["delivery_id"], []).append(entry)
    served = {name: receiver.by_delivery() for name, receiver in receivers.items()}

    ends: dict[str, list] = {name: [] for name in SCRIPTS}
    for row in rows:
        name = subscriptions[row["subscription_id"]]
        replies = [s.reply for s in served[name].get(str(row["id"]), [])]
        log = logged.get(row["id"], [])
        # One request per logged attempt, numbered 1..n, and the end the policy gives.
        assert [e["attempt"] for e in log] == list(range(1, len(replies) + 1)), (name, row, replies)
        assert (row["status"], row["attempts"]) == expected_end(replies), (name, row, replies)
        ends[name].append((row["status"], row["attempts"]))
        for entry, reply in zip(log, replies, strict=True):
            if succeeded(reply):
                assert entry["status_code"] == reply.status and entry["error"] is None
            elif reply.reset:
                assert entry["status_code"] is None and entry["error"], entry
                assert not entry["error"].startswith(("internal error", "timed out")), entry
            elif reply.delay >= TOTAL_TIMEOUT:
                assert entry["status_code"] is None and entry["error"].startswith("timed out"), entry
            else:
                assert entry["status_code"] == reply.status and entry["error"] == f"HTTP {reply.status}"
        # No retry sooner than the backoff or Retry-After allows, and none much later.
        for previous, following, reply in zip(log, log[1:], replies, strict=False):
            ended = previous["started_at"] + timedelta(milliseconds=previous["duration_ms"])
            waited = (following["started_at"] - ended).total_seconds()
            assert earliest_retry(reply, previous["attempt"]) - 0.05 <= waited, (name, previous, following)
            assert waited <= latest_retry(reply, previous["attempt"]), (name, previous, following)

    assert ends["healthy"] == [("delivered", 1)] * HEALTHY_EVENTS
    assert ends["slow"] == [("delivered", 1)] * BAD_EVENTS
    assert ends["hanging"] == [("dead", MAX_ATTEMPTS)] * BAD_EVENTS
    assert ends["resetting"] == [("dead", MAX_ATTEMPTS)] * BAD_EVENTS
    assert ends["throttled"] == [("delivered", 3)] * BAD_EVENTS
    flapping = {end for end in ends["flapping"]}
    assert len(ends["flapping"]) == BAD_EVENTS + HEALTHY_EVENTS and flapping <= {
        ("delivered", 1),
        ("delivered", 2),
        ("delivered", 3),
        ("dead", 3),
    }

    # The healthy stream flowed while requests hung: it never waited as long as one hanging request.
    hanging_from = min(s.at for got in served["hanging"].values() for s in got)
    hanging_until = max(s.at for got in served["hanging"].values() for s in got) + TOTAL_TIMEOUT
    healthy = [r for r in rows if subscriptions[r["subscription_id"]] == "healthy"]
    during = [r for r in healthy if hanging_from <= r["emitted_at"].timestamp() <= hanging_until]
    assert len(during) >= HEALTHY_EVENTS // 2
    latencies = sorted((r["delivered_at"] - r["emitted_at"]).total_seconds() for r in healthy)
    assert latencies[-1] < TOTAL_TIMEOUT, latencies
    print(
        f"\nhealthy emit-to-delivered while {BAD_EVENTS} requests hung and {BAD_EVENTS} were slow "
        f"(concurrency {CONCURRENCY}): p50 {statistics.median(latencies) * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms; flapping ends: {sorted(flapping)}"
    )
