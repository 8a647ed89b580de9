"""An organization keeps an admin under real concurrency: two admins remove (or demote) each other
in parallel transactions, as their requests would, and one of them must fail."""

from __future__ import annotations

import threading
import time

import pytest
from psycopg import errors

from backend.db import set_identity
from tests.sql.conftest import claims

DEMOTE = "update public.memberships set role = 'member' where organization_id = %s and user_id = %s"
REMOVE = "delete from public.memberships where organization_id = %s and user_id = %s"


def waiting_for_a_lock(db, pid: int) -> bool:
    with db.connection() as conn:
        row = conn.execute("select wait_event_type from pg_stat_activity where pid = %s", (pid,)).fetchone()
    return row is not None and row["wait_event_type"] == "Lock"


def race(db, org, first_step, second_step) -> tuple[bool, dict]:
    """Run first_step in one transaction and, before it commits, second_step in another; each step
    is (statement, actor, target). Whether the second had to wait, and how it ended."""
    outcome: dict = {}
    with db.connection() as one, db.connection() as two:

        def second():
            statement, actor, target = second_step
            try:
                with two.transaction():
                    set_identity(two, "authenticated", claims(actor["id"]))
                    outcome["rows"] = two.execute(statement, (org["id"], target["id"])).rowcount
            except errors.CheckViolation as exc:
                outcome["refused"] = exc.diag.constraint_name

        racer = threading.Thread(target=second)
        with one.transaction():
            statement, actor, target = first_step
            set_identity(one, "authenticated", claims(actor["id"]))
            assert one.execute(statement, (org["id"], target["id"])).rowcount == 1
            racer.start()
            deadline = time.monotonic() + 5
            while racer.is_alive() and time.monotonic() < deadline:
                if waiting_for_a_lock(db, two.info.backend_pid):
                    break
                time.sleep(0.02)
            blocked = racer.is_alive()
        racer.join(10)
    return blocked, outcome


def admins_of(db, org) -> list:
    with db.transaction("service_role") as conn:
        rows = conn.execute(
            "select user_id from public.memberships where organization_id = %s and role = 'admin'", (org["id"],)
        ).fetchall()
    return [r["user_id"] for r in rows]


def test_two_admins_removing_each_other_at_once_leave_one_admin(db, world):
    first = world.user()
    org = world.organization(admin=first)
    second = world.add_member(org, role="admin")

    blocked, outcome = race(db, org, (REMOVE, first, second), (REMOVE, second, first))

    assert blocked, "the second removal ran alongside the first instead of waiting for it"
    assert outcome == {"refused": "memberships_keep_an_admin"}
    assert admins_of(db, org) == [first["id"]]


@pytest.mark.parametrize("demote_first", [True, False], ids=["demote-then-remove", "remove-then-demote"])
def test_a_demotion_and_a_removal_at_once_leave_one_admin(db, world, demote_first):
    first = world.user()
    org = world.organization(admin=first)
    second = world.add_member(org, role="admin")
    demotion, removal = (DEMOTE, first, first), (REMOVE, first, second)

    blocked, outcome = race(db, org, *((demotion, removal) if demote_first else (removal, demotion)))

    assert blocked
    assert outcome == {"refused": "memberships_keep_an_admin"}
    assert len(admins_of(db, org)) == 1
