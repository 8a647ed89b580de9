"""Rate limits in Postgres: fixed windows and paced (GCRA) buckets, exact under concurrency, clean-up."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from backend.services.shared import rate_limit
from tests.support import room_in_the_window

# A window long enough that no test run straddles two of them.
WINDOW = 10 * 365 * 86400


def bucket() -> str:
    return f"test:{uuid.uuid4().hex}"


@pytest.fixture
def pool_app(make_app):
    return make_app(pool_max_size=16)


@pytest.fixture
def service(pool_app):
    db = pool_app.extensions["questbridge"].db

    def _run(fn, *args):
        with db.transaction("service_role") as conn:
            return fn(conn, *args)

    return _run


@pytest.mark.parametrize(("threads", "limit"), [(16, 1), (16, 7), (16, 15), (8, 30)])
def test_concurrent_hits_admit_exactly_the_limit(pool_app, threads, limit):
    db = pool_app.extensions["questbridge"].db
    name = bucket()
    barrier = threading.Barrier(threads)
    decisions, errors = [], []

    def hit():
        try:
            with db.transaction("service_role") as conn:
                barrier.wait(10)  # every thread holds a connection and an open transaction here
                decisions.append(rate_limit.hit(conn, name, limit, WINDOW))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    workers = [threading.Thread(target=hit) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)

    assert errors == []
    admitted = [d for d in decisions if d.allowed]
    assert len(admitted) == min(limit, threads)
    assert sorted(d.remaining for d in admitted) == list(range(max(0, limit - threads), limit))
    with db.transaction("service_role") as conn:
        count = conn.execute("select count from public.rate_limit_counters where bucket = %s", (name,)).fetchone()
    assert count["count"] == min(limit, threads)


def test_hit_counts_down_then_refuses_with_a_retry_after(service):
    room_in_the_window(2)
    name = bucket()
    decisions = [service(rate_limit.hit, name, 3, 60) for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0, 0]
    refused = decisions[-1]
    assert refused.limit == 3
    assert 1 <= refused.retry_after <= 60
    assert refused.reset_at % 60 == 0 and refused.reset_at > time.time()


@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_of_zero_admits_nothing(service, limit):
    decision = service(rate_limit.hit, bucket(), limit, 60)
    assert not decision.allowed
    assert decision.remaining == 0


def test_buckets_are_independent(service):
    room_in_the_window(2)
    first, second = bucket(), bucket()
    assert service(rate_limit.hit, first, 1, 60).allowed
    assert not service(rate_limit.hit, first, 1, 60).allowed
    assert service(rate_limit.hit, second, 1, 60).allowed


def test_add_counts_without_a_limit_into_the_window_hit_counts_in(service):
    room_in_the_window(2)
    name = bucket()
    assert [service(rate_limit.add, name, 60) for _ in range(3)] == [1, 2, 3]
    assert not service(rate_limit.hit, name, 2, 60).allowed
    decision = service(rate_limit.hit, name, 4, 60)
    assert decision.allowed
    assert decision.remaining == 0


def test_a_new_window_starts_from_zero(service, pool_app):
    room_in_the_window(2)
    name = bucket()
    db = pool_app.extensions["questbridge"].db
    for _ in range(2):
        service(rate_limit.hit, name, 2, 60)
    assert not service(rate_limit.hit, name, 2, 60).allowed
    # Move the full window into the past, as if a minute had gone by.
    with db.transaction("service_role") as conn:
        conn.execute(
            "update public.rate_limit_counters set window_start = window_start - interval '60 seconds' "
            "where bucket = %s",
            (name,),
        )
    assert service(rate_limit.hit, name, 2, 60).allowed


@pytest.mark.parametrize("limit", [5, 1])  # counted, then (limit 1, second hit) refused
def test_a_count_not_waiting_for_the_disk_says_so_for_its_own_transaction_only(pool_app, limit):
    db = pool_app.extensions["questbridge"].db
    name = bucket()
    with db.transaction("service_role") as conn:
        rate_limit.hit(conn, name, limit, WINDOW)
        assert conn.execute("show synchronous_commit").fetchone()["synchronous_commit"] == "on"
    for _ in range(2):
        with db.transaction("service_role") as conn:
            rate_limit.hit(conn, name, limit, WINDOW, wait_for_disk=False)
            assert conn.execute("show synchronous_commit").fetchone()["synchronous_commit"] == "off"
        with db.transaction("service_role") as conn:
            assert conn.execute("show synchronous_commit").fetchone()["synchronous_commit"] == "on"
    with db.system_connection() as conn:  # one autocommit statement: its own transaction, nothing after
        assert not rate_limit.hit(conn, name, 1, WINDOW, wait_for_disk=False).allowed
        assert conn.execute("show synchronous_commit").fetchone()["synchronous_commit"] == "on"


def test_windows_are_aligned_to_their_length():
    start, reset_at = rate_limit._window(60, now=1_000_000_030.5)
    assert start == datetime.fromtimestamp(1_000_000_020, UTC)
    assert reset_at == 1_000_000_080


def test_delete_expired_removes_only_old_windows(service, pool_app):
    db = pool_app.extensions["questbridge"].db
    old, current = bucket(), bucket()
    with db.transaction("service_role") as conn:
        conn.execute(
            "insert into public.rate_limit_counters (bucket, window_start, count) values (%s, %s, 5)",
            (old, datetime.now(UTC) - timedelta(days=3)),
        )
    service(rate_limit.hit, current, 5, 60)

    assert service(rate_limit.delete_expired) == 1

    with db.transaction("service_role") as conn:
        left = [r["bucket"] for r in conn.execute("select bucket from public.rate_limit_counters").fetchall()]
    assert left == [current]


# -- paced buckets (GCRA) ----------------------------------------------------------------------


@pytest.mark.parametrize(("threads", "burst"), [(16, 1), (16, 5), (8, 30)])
def test_concurrent_paced_attempts_admit_exactly_the_burst(pool_app, threads, burst):
    db = pool_app.extensions["questbridge"].db
    name = bucket()
    barrier = threading.Barrier(threads)
    decisions = []

    def attempt():
        with db.transaction("service_role") as conn:
            barrier.wait(10)
            decisions.append(rate_limit.pace(conn, name, burst, 3600))

    workers = [threading.Thread(target=attempt) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)

    admitted = [d for d in decisions if d.allowed]
    assert len(decisions) == threads
    assert len(admitted) == min(burst, threads)
    assert sorted(d.remaining for d in admitted) == list(range(max(0, burst - threads), burst))
    assert all(d.retry_after <= 3600 for d in decisions if not d.allowed)


def test_a_paced_bucket_admits_its_burst_then_one_per_interval(service):
    name = bucket()
    decisions = [service(rate_limit.pace, name, 3, 1) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions[:3]] == [2, 1, 0]
    assert decisions[3].retry_after == 1  # the next slot, not the whole allowance (3 s away)
    assert decisions[3].reset_at >= time.time() + 2
    time.sleep(1.05)
    assert [service(rate_limit.pace, name, 3, 1).allowed for _ in range(2)] == [True, False]


def test_a_refused_attempt_does_not_push_the_next_slot_back(service):
    name = bucket()
    assert service(rate_limit.pace, name, 1, 2).allowed
    refusals = [service(rate_limit.pace, name, 1, 2) for _ in range(20)]
    assert not any(d.allowed for d in refusals)
    assert refusals[-1].retry_after <= 2


def test_giving_back_an_attempt_frees_its_slot(service):
    name = bucket()
    assert service(rate_limit.pace, name, 1, 3600).allowed
    assert not service(rate_limit.pace, name, 1, 3600).allowed
    service(rate_limit.give_back, name, 3600)
    assert service(rate_limit.pace, name, 1, 3600).allowed


def test_delete_expired_removes_paced_buckets_that_are_whole_again(service, pool_app):
    db = pool_app.extensions["questbridge"].db
    whole, busy = bucket(), bucket()
    with db.transaction("service_role") as conn:
        conn.execute(
            "insert into public.rate_limit_paces (bucket, arrival_at) values (%s, now() - interval '1 second')",
            (whole,),
        )
    service(rate_limit.pace, busy, 2, 3600)

    assert service(rate_limit.delete_expired) == 1

    with db.transaction("service_role") as conn:
        left = [r["bucket"] for r in conn.execute("select bucket from public.rate_limit_paces").fetchall()]
    assert left == [busy]
