"""The inbox processor's claims (SKIP LOCKED, leases, take-overs) and the row-level security of the
inbox tables, run as each role with raw SQL."""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import uuid

import psycopg
import pytest

from backend.config import PROJECT_ROOT, Config
from backend.db import set_identity
from backend.services.inbound import autograder, processor, receipt
from backend.services.inbound.handlers import HandlerError, Handlers
from backend.services.shared import audit
from backend.services.shared.audit import RequestInfo

SETTINGS = dataclasses.replace(processor.InboxSettings.from_config(Config()), backoff_seconds=(0,), lease_seconds=60)


def apply(conn, event):
    audit.record(conn, "test_inbox.applied", target_type="inbound_event", target_id=event.id)
    return "applied"


HANDLERS = Handlers({("tests", "thing.happened"): apply})


def add_events(db, count: int, organization_id=None) -> list:
    ids = []
    with db.transaction("service_role") as conn:
        for n in range(count):
            stored = receipt.store(
                conn,
                HANDLERS,
                source="tests",
                event_type="thing.happened",
                raw_body=f'{{"n": {n}}}',
                origin=RequestInfo(ip="192.0.2.1", user_agent="t"),
                provider_event_id=f"evt-{uuid.uuid4()}",
                organization_id=organization_id,
            )
            ids.append(stored.event_id)
    return ids


def applied(db) -> int:
    with db.transaction("service_role") as conn:
        return conn.execute(
            "select count(*) as n from public.audit_log where action = 'test_inbox.applied'"
        ).fetchone()["n"]


def test_concurrent_claims_never_overlap(db):
    add_events(db, 10)
    with db.connection() as first, db.connection() as second:
        with first.transaction():
            set_identity(first, "service_role", {})
            mine = processor.claim(first, "worker-a", 6, 60, 3)
            with second.transaction():
                set_identity(second, "service_role", {})
                theirs = processor.claim(second, "worker-b", 6, 60, 3)
    assert len(mine) == 6 and len(theirs) == 4
    assert not {e.id for e in mine} & {e.id for e in theirs}


def test_an_expired_lease_is_taken_over_and_the_old_holder_applies_nothing(db):
    [event_id] = add_events(db, 1)
    with db.transaction("service_role") as conn:
        [stale] = processor.claim(conn, "crashed-worker", 10, 60, 3)
        conn.execute("update public.inbound_events set lease_expires_at = now() - interval '1 second'")
    with db.transaction("service_role") as conn:
        [fresh] = processor.claim(conn, "new-worker", 10, 60, 3)
    assert fresh.id == stale.id == event_id and fresh.attempts == 2
    assert processor.process(db, stale, "crashed-worker", SETTINGS, HANDLERS) == "lost"
    assert applied(db) == 0
    assert processor.process(db, fresh, "new-worker", SETTINGS, HANDLERS) == "processed"
    assert applied(db) == 1


def test_an_event_whose_every_attempt_lost_its_processor_ends_dead(db):
    """A processor that dies holding the event (killed, out of memory) each time: after the last
    attempt the expired lease is not taken over again, and the event is dead."""
    [event_id] = add_events(db, 1)
    for attempt in range(1, 4):
        with db.transaction("service_role") as conn:
            [claimed] = processor.claim(conn, f"doomed-{attempt}", 10, 60, 3)
            assert claimed.attempts == attempt
            conn.execute("update public.inbound_events set lease_expires_at = now() - interval '1 second'")
    with db.transaction("service_role") as conn:
        assert processor.claim(conn, "survivor", 10, 60, 3) == []
        row = conn.execute("select status, error, leased_by from public.inbound_events where id = %s", (event_id,))
        row = row.fetchone()
    assert row["status"] == "dead" and row["leased_by"] is None and "lease expired" in row["error"]
    assert applied(db) == 0


def test_a_handler_error_is_recorded_and_retried(db):
    calls = []

    def flaky(conn, event):
        calls.append(event.attempts)
        if len(calls) < 2:
            raise HandlerError("the partner API said no")
        return "done"

    handlers = Handlers({("tests", "flaky.thing"): flaky})
    with db.transaction("service_role") as conn:
        stored = receipt.store(
            conn,
            handlers,
            source="tests",
            event_type="flaky.thing",
            raw_body="{}",
            origin=RequestInfo(),
            idempotency_key="k",
        )
    assert processor.run_pass(db, SETTINGS, handlers)["failed"] == 1
    with db.transaction("service_role") as conn:
        row = conn.execute("select status, error from public.inbound_events").fetchone()
    assert row == {"status": "failed", "error": "the partner API said no"}
    assert processor.run_pass(db, SETTINGS, handlers)["processed"] == 1
    assert calls == [1, 2]
    assert stored.created


def test_handlers_are_registered_at_wiring_time_and_the_inbox_imports_none(app):
    """create_app registers the autograder's handler; receipt and the processor know no handler by
    name, so a new one is registered without editing them (and nothing imports in a cycle)."""
    handlers = app.extensions["questbridge"].inbox_handlers
    assert handlers.get(autograder.SOURCE, autograder.EVENT_TYPE) is autograder.apply_grade
    assert handlers.get("tests", "thing.happened") is None
    for name in ("handlers", "processor", "receipt", "admin"):
        path = PROJECT_ROOT / "backend" / "services" / "inbound" / f"{name}.py"
        tree = ast.parse(path.read_text())
        imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names]
        assert "autograder" not in imported, path


def test_store_is_idempotent_on_both_keys(db):
    with db.transaction("service_role") as conn:
        store = functools.partial(receipt.store, conn, HANDLERS, raw_body="{}", origin=RequestInfo())
        first = store(source="tests", event_type="thing.happened", provider_event_id="e1")
        again = store(source="tests", event_type="thing.happened", provider_event_id="e1")
        keyed = store(source="tests", event_type="thing.happened", idempotency_key="h")
        keyed_again = store(source="tests", event_type="thing.happened", idempotency_key="h")
        other_source = store(source="others", event_type="x.y", provider_event_id="e1")
    assert first.created and not again.created and again.event_id == first.event_id
    assert keyed.created and not keyed_again.created and keyed_again.event_id == keyed.event_id
    assert other_source.created and other_source.status == "ignored"


# -- row-level security -------------------------------------------------------------------------


@pytest.fixture
def two_orgs(world, db):
    a, b = world.organization("A"), world.organization("B")
    member = world.add_member(a)
    platform = world.user()
    with db.transaction("service_role") as conn:
        conn.execute("update public.profiles set platform_admin = true where id = %s", (platform["id"],))
        for org in (a, b, None):
            receipt.record_failure(conn, "tests", "forged", RequestInfo(ip="192.0.2.1"), org and org["id"])
    add_events(db, 1, a["id"])
    add_events(db, 1, b["id"])
    add_events(db, 1, None)
    return a, b, member, platform


def _visible(db, world, user, table) -> list:
    with db.transaction("authenticated", world.claims(user)) as conn:
        return [r["organization_id"] for r in conn.execute(f"select organization_id from public.{table}").fetchall()]


@pytest.mark.parametrize("table", ["inbound_events", "inbound_verification_failures"])
def test_each_role_reads_only_what_it_may(db, world, two_orgs, table):
    a, b, member, platform = two_orgs
    assert _visible(db, world, a["admin"], table) == [a["id"]]
    assert _visible(db, world, b["admin"], table) == [b["id"]]
    assert _visible(db, world, member, table) == []
    assert sorted(map(str, _visible(db, world, platform, table))) == sorted([str(a["id"]), str(b["id"]), "None"])
    with db.transaction("anon") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(f"select * from public.{table}")


@pytest.mark.parametrize(
    "statement",
    [
        "update public.inbound_events set status = 'processed'",
        "delete from public.inbound_events",
        "insert into public.inbound_events (source, type, raw_body, body_sha256) values ('x', 't', '{}', %(hash)s)",
        "update public.inbound_verification_failures set reason = 'x'",
        "delete from public.inbound_verification_failures",
        "insert into public.inbound_verification_failures (source, reason) values ('x', 'y')",
    ],
)
def test_users_never_write_the_inbox(db, world, two_orgs, statement):
    a = two_orgs[0]
    with (
        db.transaction("authenticated", world.claims(a["admin"])) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(statement, {"hash": hashlib.sha256(b"").digest()})
