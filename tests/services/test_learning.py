"""The learning service called directly, as the CLI and workers do: xp, badges, races, RLS."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from backend.errors import Forbidden, NotFound
from backend.services import learning


@pytest.fixture
def member(org, world):
    return world.add_member(org)


@pytest.fixture
def as_user(db, world):
    """A transaction run as the given user, so RLS applies exactly as for their requests."""

    def _as(user):
        return db.transaction("authenticated", world.claims(user))

    return _as


def make_quest(as_user, org, xps=(10,), title="Onboarding"):
    """A quest with one task per xp value, written by the organization's admin."""
    admin = org["admin"]
    with as_user(admin) as conn:
        quest = learning.create_quest(conn, admin["id"], org["id"], title, "")
    tasks = []
    for n, xp in enumerate(xps):
        with as_user(admin) as conn:
            tasks.append(learning.create_task(conn, quest["id"], f"Task {n}", "knowledge", xp))
    return quest, tasks


def count(db, table, **where):
    clause = " and ".join(f"{column} = %({column})s" for column in where) or "true"
    with db.transaction("service_role") as conn:
        return conn.execute(f"select count(*) as n from public.{table} where {clause}", where).fetchone()["n"]


def test_admin_creates_quest_and_tasks(as_user, org):
    quest, tasks = make_quest(as_user, org, xps=(10, 20))
    assert quest["organization_id"] == org["id"]
    assert quest["created_by"] == org["admin"]["id"]
    with as_user(org["admin"]) as conn:
        assert learning.get_quest(conn, quest["id"])["task_count"] == 2
        assert [t["xp"] for t in tasks] == [10, 20]


def test_members_and_strangers_cannot_write_quests(as_user, world, org, member):
    quest, _ = make_quest(as_user, org)
    with as_user(member) as conn, pytest.raises(Forbidden):
        learning.create_quest(conn, member["id"], org["id"], "Mine")
    with as_user(member) as conn, pytest.raises(Forbidden):
        learning.create_task(conn, quest["id"], "Mine", "x", 1)
    stranger = world.organization("Elsewhere")["admin"]
    with as_user(stranger) as conn, pytest.raises(NotFound):
        learning.create_task(conn, quest["id"], "Mine", "x", 1)
    with as_user(stranger) as conn, pytest.raises(NotFound):
        learning.get_quest(conn, quest["id"])


def test_completion_xp_comes_from_the_task_and_is_awarded_once(db, as_user, org, member):
    _, (task, _other) = make_quest(as_user, org, xps=(70, 5))
    with as_user(member) as conn:
        first = learning.complete_task(conn, member["id"], task["id"])
    assert (first.xp_awarded, first.already_completed, first.quest_completed) == (70, False, False)
    assert first.completion["xp_awarded"] == 70
    with as_user(member) as conn:
        second = learning.complete_task(conn, member["id"], task["id"])
    assert (second.xp_awarded, second.already_completed, second.completion) == (0, True, None)
    assert second.total_xp == 70
    assert count(db, "task_completions", user_id=member["id"]) == 1


def test_concurrent_completions_of_one_task_award_xp_once(db, as_user, org, member):
    _, (task,) = make_quest(as_user, org, xps=(50,))
    workers = 6
    barrier = threading.Barrier(workers)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            with as_user(member) as conn:
                results.append(learning.complete_task(conn, member["id"], task["id"]))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(r.xp_awarded for r in results) == [0] * (workers - 1) + [50]
    assert [r.quest_completed for r in results].count(True) == 1
    assert count(db, "task_completions", user_id=member["id"]) == 1
    assert count(db, "badges", user_id=member["id"]) == 1
    assert count(db, "notifications", user_id=member["id"], type="badge_earned") == 1


def _waiting_on_a_lock(database_url, pid) -> bool:
    with psycopg.connect(database_url) as observer:
        row = observer.execute("select wait_event_type from pg_stat_activity where pid = %s", (pid,)).fetchone()
    return bool(row) and row[0] == "Lock"


def test_the_last_two_tasks_finished_at_once_still_earn_the_badge(db, database_url, as_user, org, member):
    """Two transactions each finish one of the last two tasks; neither may miss the other's."""
    _, (task_a, task_b) = make_quest(as_user, org, xps=(10, 20))
    other_result: list = []
    other_pid: list = []

    def finish_b():
        with as_user(member) as conn:
            other_pid.append(conn.info.backend_pid)
            other_result.append(learning.complete_task(conn, member["id"], task_b["id"]))

    with as_user(member) as conn:
        result_a = learning.complete_task(conn, member["id"], task_a["id"])
        assert result_a.quest_completed is False  # B is not done in this transaction's view
        other = threading.Thread(target=finish_b)
        other.start()
        # Commit A only once B has either finished on its own (the race the lock prevents) or is
        # waiting for A: both orders must end with the badge.
        deadline = time.monotonic() + 10
        while other.is_alive() and time.monotonic() < deadline:
            if other_pid and _waiting_on_a_lock(database_url, other_pid[0]):
                break
            time.sleep(0.02)
    other.join(timeout=30)

    assert other_result[0].quest_completed is True
    assert other_result[0].badge is not None
    assert other_result[0].total_xp == 30
    assert count(db, "badges", user_id=member["id"]) == 1
    assert count(db, "notifications", user_id=member["id"], type="badge_earned") == 1


def test_badge_needs_every_task(db, as_user, org, member):
    quest, tasks = make_quest(as_user, org, xps=(1, 2, 3))
    outcomes = []
    for task in tasks:
        with as_user(member) as conn:
            outcomes.append(learning.complete_task(conn, member["id"], task["id"]))
    assert [o.quest_completed for o in outcomes] == [False, False, True]
    assert [(o.tasks_completed, o.tasks_total) for o in outcomes] == [(1, 3), (2, 3), (3, 3)]
    assert outcomes[-1].badge["quest_id"] == quest["id"]
    assert outcomes[-1].notification["type"] == "badge_earned"
    assert outcomes[-1].notification["data"] == {
        "badge_id": str(outcomes[-1].badge["id"]),
        "quest_id": str(quest["id"]),
    }
    assert count(db, "badges", user_id=member["id"]) == 1


def test_a_task_added_after_the_badge_does_not_award_another(db, as_user, org, member):
    quest, (task,) = make_quest(as_user, org)
    with as_user(member) as conn:
        assert learning.complete_task(conn, member["id"], task["id"]).badge is not None
    with as_user(org["admin"]) as conn:
        extra = learning.create_task(conn, quest["id"], "Bonus", "knowledge", 5)
    with as_user(member) as conn:
        again = learning.complete_task(conn, member["id"], extra["id"])
    # The learner did finish the quest again, but the badge, its notification and the events that
    # announce the finish (quest.completed with badge.earned, once per learner and quest) stay single.
    assert again.quest_completed is True
    assert (again.badge, again.notification) == (None, None)
    assert count(db, "badges", user_id=member["id"]) == 1
    assert count(db, "notifications", user_id=member["id"]) == 1
    assert count(db, "webhook_events", organization_id=org["id"], type="quest.completed") == 1
    assert count(db, "webhook_events", organization_id=org["id"], type="badge.earned") == 1
    assert count(db, "webhook_events", organization_id=org["id"], type="task.completed") == 2


def test_rls_refuses_a_badge_for_an_unfinished_quest(as_user, org, member):
    """The policy behind complete_task: the service cannot be talked into an early badge."""
    quest, _ = make_quest(as_user, org, xps=(1, 2))
    with as_user(member) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(
            learning.SQL["insert_badge"],
            {"quest_id": quest["id"], "organization_id": org["id"], "user_id": member["id"]},
        )


def test_tasks_written_in_one_transaction_page_without_gaps(as_user, org):
    """Same created_at for all: the id breaks the tie so no task is skipped or repeated."""
    admin = org["admin"]
    with as_user(admin) as conn:
        quest = learning.create_quest(conn, admin["id"], org["id"], "Batch")
        created = {learning.create_task(conn, quest["id"], f"T{n}", "p", n)["id"] for n in range(7)}
    seen, cursor = [], None
    with as_user(admin) as conn:
        while True:
            rows, cursor = learning.list_tasks(conn, quest["id"], 3, cursor)
            seen.extend(row["id"] for row in rows)
            if cursor is None:
                break
    assert len(seen) == 7
    assert set(seen) == created


def test_notifications_belong_to_their_user(as_user, org, member, world):
    other = world.add_member(org)
    with as_user(member) as conn:
        note = learning.notify(conn, member["id"], org["id"], "badge_earned", "Mine")
    with as_user(member) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        learning.notify(conn, other["id"], org["id"], "badge_earned", "For someone else")
    with as_user(other) as conn:
        assert learning.list_notifications(conn, other["id"], 10, None) == ([], None)
        # Even naming the owner explicitly, RLS hides the row.
        assert learning.list_notifications(conn, member["id"], 10, None) == ([], None)
        with pytest.raises(NotFound):
            learning.mark_notification_read(conn, other["id"], note["id"])
        with pytest.raises(NotFound):
            learning.mark_notification_read(conn, member["id"], note["id"])
    with as_user(member) as conn:
        assert learning.mark_notification_read(conn, member["id"], note["id"])["read_at"] is not None
        assert learning.list_notifications(conn, member["id"], 10, None, unread_only=True) == ([], None)


def test_demo_seed_creates_a_completable_quest(app, db):
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    with db.transaction("service_role") as conn:
        tasks = conn.execute(
            "select t.title, t.xp, q.title as quest from public.tasks t join public.quests q on q.id = t.quest_id"
        ).fetchall()
    assert {t["quest"] for t in tasks} == {"Getting started"}
    assert sorted(t["xp"] for t in tasks) == [10, 20, 50]
