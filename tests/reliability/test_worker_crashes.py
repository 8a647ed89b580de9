"""kill -9 the standalone delivery worker again and again while it drains 5,000 deliveries.

Nothing accepted is lost: every delivery reaches the receiver and ends `delivered`. The only
duplicates are deliveries a killed worker had in flight (leased, maybe sent, outcome not yet
written); they carry the same `webhook-id` and the same signed bytes, so a receiver dedupes them.
A dead worker's leases are taken over as soon as they expire: within the lease plus one poll.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from tests.receiver import Answer, Receiver
from tests.reliability.conftest import child_env, query, seed_deliveries, subscribe, wait_until
from tests.support import World

DELIVERIES = 5000
KILLS = 3
KILL_EVERY = 1000  # received requests between kills
LEASE_SECONDS = 5
POLL_SECONDS = 1.0  # EngineSettings.poll_seconds: how often an idle engine looks for expired leases
RECOVERY_SLACK = 3.0  # resends 2.2 s after lease expiry were seen at load average 17 on 2 cores
AFTERMATH = timedelta(milliseconds=300)  # a request the victim wrote just before it died may land later
CLOCK_SKEW = timedelta(milliseconds=50)  # lease times are the database's now(), sends the receiver's clock
# The receiver takes 20 ms and the worker keeps 32 in flight: at most 1,600 deliveries a second,
# so each kill lands mid-drain whatever the machine.
CONCURRENCY = 32
RECEIVER_DELAY = 0.02


@pytest.fixture
def receiver():
    server = Receiver().start()
    server.answer = Answer(delay=RECEIVER_DELAY)
    yield server
    server.stop()


@pytest.mark.timeout(150)
def test_kill_9_during_a_drain_loses_nothing_and_duplicates_only_what_was_in_flight(
    make_app, database_url, children, receiver, tmp_path
):
    app = make_app(webhooks_allowed_targets="127.0.0.1/32")
    runtime = app.extensions["questbridge"]
    org = World(app).organization("Crash Org")
    subscription, secret = subscribe(runtime.db, runtime.secretbox, org["id"], receiver.url + "/hook")
    seed_deliveries(runtime.db, org["id"], subscription, DELIVERIES)
    env = child_env(
        database_url,
        runtime.config.secret_key,
        tmp_path / "data",
        WEBHOOKS_LEASE_SECONDS=LEASE_SECONDS,
        WEBHOOKS_CONCURRENCY=CONCURRENCY,
    )

    # (killed at, replacement ready at, {delivery id: lease expiry} of what the victim held, the victim's ports)
    kills = []
    worker = children.worker(env)
    for k in range(KILLS):
        threshold = (k + 1) * KILL_EVERY
        wait_until(lambda t=threshold: len(receiver.requests) >= t, 60, what=f"{threshold} requests, kill {k + 1}")
        worker.freeze()
        victim_ports = worker.local_ports_to(receiver.port)
        worker.kill()
        killed_at = datetime.now(UTC)
        time.sleep(AFTERMATH.total_seconds())  # the server finishes any statement the dead client had sent
        held = query(
            database_url,
            "select id, lease_expires_at from public.webhook_deliveries where status = 'delivering'",
        )
        assert held, "the kill landed between claims; nothing was in flight"
        assert DELIVERIES - delivered(database_url) > len(held), "the kill came after the drain"
        worker = children.worker(env)
        kills.append((killed_at, datetime.now(UTC), {r["id"]: r["lease_expires_at"] for r in held}, victim_ports))

    wait_until(lambda: delivered(database_url) == DELIVERIES, 90, interval=0.25, what="every delivery delivered")
    worker.stop()

    rows = {r["id"]: r for r in query(database_url, "select id, status, attempts from public.webhook_deliveries")}
    assert len(rows) == DELIVERIES and {r["status"] for r in rows.values()} == {"delivered"}

    # Nothing lost: every delivery arrived, signed, under its own id.
    received = defaultdict(list)
    with receiver._lock:
        requests = list(receiver.requests)
    for request in requests:
        received[request.headers["webhook-id"]].append(request)
    assert set(received) == {str(i) for i in rows}
    verifier = Webhook(secret)
    for request in requests:
        verifier.verify(request.body, request.headers)

    # Duplicates: only deliveries a killed worker held, resent with the same id and bytes.
    held_by_killed = set().union(*(set(map(str, held)) for _, _, held, _ in kills))
    duplicated = {i for i, got in received.items() if len(got) > 1}
    assert duplicated <= held_by_killed
    for delivery_id in duplicated:
        assert len({r.body for r in received[delivery_id]}) == 1
        assert rows[_uuid(delivery_id)]["attempts"] >= 2
    # A delivery claimed once was sent once; only a kill makes a second attempt.
    assert {i for i, r in rows.items() if r["attempts"] > 1} <= {_uuid(i) for i in held_by_killed}

    # The receiver's clock tells when a held delivery was sent again: never while its lease was live,
    # and within one poll of its expiry (or of the replacement's start, if later) unless the next
    # kill came first. What the victim wrote just before it died may be read by a busy receiver
    # later still; its connections tell those requests apart from the replacement's.
    bound = timedelta(seconds=POLL_SECONDS + RECOVERY_SLACK)
    recoveries = []
    for k, (killed_at, ready_at, held, victim_ports) in enumerate(kills):
        next_kill = kills[k + 1][0] if k + 1 < len(kills) else None
        latest = killed_at
        after_aftermath = (killed_at + AFTERMATH).timestamp()
        late = sum(1 for r in requests if by_victim(r, victim_ports, ready_at) and r.at > after_aftermath)
        for delivery_id, lease_expires_at in held.items():
            sent_at = sorted(
                datetime.fromtimestamp(r.at, UTC)
                for r in received[str(delivery_id)]
                if not by_victim(r, victim_ports, ready_at)
            )
            during_lease = [t for t in sent_at if killed_at < t < lease_expires_at - CLOCK_SKEW]
            assert not during_lease, f"{delivery_id} was sent again while the dead worker's lease was live"
            retaken = next((t for t in sent_at if t >= lease_expires_at - CLOCK_SKEW), None)
            assert retaken is not None, f"{delivery_id} was never sent after its lease expired"
            deadline = max(lease_expires_at, ready_at) + bound
            if next_kill is None or deadline < next_kill:
                assert retaken <= deadline, (
                    f"the lease of {delivery_id} expired at {lease_expires_at} and was taken over only at {retaken}"
                )
            latest = max(latest, retaken)
        recoveries.append(
            {
                "held": len(held),
                "victim_requests_read_late": late,
                "replacement_ready_s": round((ready_at - killed_at).total_seconds(), 2),
                "all_resent_s": round((latest - killed_at).total_seconds(), 2),
            }
        )
    print(
        f"\n{len(requests)} requests for {DELIVERIES} deliveries, {len(duplicated)} duplicates; per kill: "
        f"{recoveries}; bound: lease {LEASE_SECONDS} s + poll {POLL_SECONDS:g} s after the kill"
    )


def by_victim(request, victim_ports: set[int], ready_at: datetime) -> bool:
    """Sent by a killed worker: on one of its connections, and read before its replacement could send."""
    return request.peer_port in victim_ports and request.at < ready_at.timestamp()


def delivered(database_url: str) -> int:
    return query(database_url, "select count(*) as n from public.webhook_deliveries where status = 'delivered'")[0]["n"]


def _uuid(value: str) -> uuid.UUID:
    return uuid.UUID(value)
