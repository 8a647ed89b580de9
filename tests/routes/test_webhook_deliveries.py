"""The delivery log over HTTP: listing and filters, attempt detail, redelivery one by one and in bulk."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from backend.services.webhooks import events
from tests.support import assert_problem, walk_pages

TARGET = "https://93.184.215.14/questbridge"
DELIVERY_FIELDS = {
    "id",
    "event_id",
    "subscription_id",
    "event_type",
    "status",
    "attempts",
    "next_attempt_at",
    "last_status_code",
    "last_error",
    "created_at",
    "delivered_at",
}


@pytest.fixture
def subscription(client, admin_headers, org):
    return subscribe(client, admin_headers, org, ["*"])


def subscribe(client, headers, org, event_types):
    body = {"organization_id": str(org["id"]), "target_url": TARGET, "event_types": event_types}
    response = client.post("/api/webhooks/subscriptions", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def emit(db, org, event_type, data=None):
    """An event as the learning domain raises it: emit_event in a system transaction."""
    with db.transaction("service_role") as conn:
        return events.emit_event(conn, org["id"], event_type, data or {"n": 1})


def delivery_of(db, event_id, subscription) -> dict:
    with db.transaction("service_role") as conn:
        return conn.execute(
            "select * from public.webhook_deliveries where event_id = %s and subscription_id = %s",
            (event_id, subscription["id"]),
        ).fetchone()


def set_delivery(db, delivery_id, **columns) -> None:
    assignments = psycopg.sql.SQL(", ").join(
        psycopg.sql.SQL("{} = {}").format(psycopg.sql.Identifier(name), psycopg.sql.Placeholder(name))
        for name in columns
    )
    statement = psycopg.sql.SQL("update public.webhook_deliveries set {} where id = {}").format(
        assignments, psycopg.sql.Placeholder("id")
    )
    with db.transaction("service_role") as conn:
        conn.execute(statement, columns | {"id": delivery_id})


def listed(client, headers, query) -> list[dict]:
    response = client.get(f"/api/webhooks/deliveries?{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]


# -- listing -------------------------------------------------------------------------------------


def test_emitted_events_appear_in_the_delivery_log(client, admin_headers, org, db):
    completions = subscribe(client, admin_headers, org, ["task.completed"])
    everything = subscribe(client, admin_headers, org, ["*"])
    task_event = emit(db, org, "task.completed")
    quest_event = emit(db, org, "quest.completed")

    rows = listed(client, admin_headers, f"subscription_id={completions['id']}")
    assert len(rows) == 1
    row = rows[0]
    assert set(row) >= DELIVERY_FIELDS
    assert row["event_id"] == str(task_event)
    assert row["subscription_id"] == completions["id"]
    assert row["event_type"] == "task.completed"
    assert row["status"] == "pending"
    assert row["attempts"] == 0
    assert row["last_status_code"] is None
    assert row["delivered_at"] is None
    assert row["created_at"].endswith("Z")

    everything_rows = listed(client, admin_headers, f"subscription_id={everything['id']}")
    assert {r["event_id"] for r in everything_rows} == {str(task_event), str(quest_event)}
    assert len(listed(client, admin_headers, f"organization_id={org['id']}")) == 3


def test_filters_by_status_and_event_type(client, admin_headers, org, db, subscription):
    first, second, third = (emit(db, org, name) for name in ("task.completed", "task.completed", "badge.earned"))
    set_delivery(db, delivery_of(db, first, subscription)["id"], status="dead", attempts=5, last_error="timeout")
    set_delivery(db, delivery_of(db, third, subscription)["id"], status="delivered", last_status_code=200)

    by_org = f"organization_id={org['id']}"
    dead = listed(client, admin_headers, f"{by_org}&status=dead")
    assert [(r["event_id"], r["attempts"], r["last_error"]) for r in dead] == [(str(first), 5, "timeout")]
    assert [r["event_id"] for r in listed(client, admin_headers, f"{by_org}&status=pending")] == [str(second)]
    assert [r["event_id"] for r in listed(client, admin_headers, f"{by_org}&event_type=badge.earned")] == [str(third)]
    both = f"subscription_id={subscription['id']}&{by_org}&status=pending&event_type=task.completed"
    assert [r["event_id"] for r in listed(client, admin_headers, both)] == [str(second)]
    assert listed(client, admin_headers, f"{by_org}&status=retrying") == []
    assert listed(client, admin_headers, f"{by_org}&event_type=partner.unknown") == []


def test_the_log_pages_newest_first(client, admin_headers, org, db, subscription):
    emitted = [emit(db, org, "task.completed") for _ in range(5)]
    listed, pages = walk_pages(
        client, f"/api/webhooks/deliveries?subscription_id={subscription['id']}", admin_headers, 2
    )
    seen = [row["event_id"] for row in listed]
    assert pages == 3
    assert seen == [str(event_id) for event_id in reversed(emitted)]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "organization_id"),
        ("status=dead", "organization_id"),
        ("organization_id=nope", "organization_id"),
        ("subscription_id=nope", "subscription_id"),
        ("organization_id={org}&status=failed", "status"),
        ("organization_id={org}&status=", "status"),
        ("organization_id={org}&event_type=", "event_type"),
        ("organization_id={org}&limit=201", "limit"),
        ("organization_id={org}&cursor=***", "cursor"),
        ("organization_id={org}&colour=red", "colour"),
    ],
)
def test_bad_queries_are_422_naming_the_field(client, admin_headers, org, query, field):
    response = client.get("/api/webhooks/deliveries?" + query.format(org=org["id"]), headers=admin_headers)
    assert_problem(response, 422, field)


def test_organizations_do_not_see_each_other_s_deliveries(client, admin_headers, org, db, subscription, world, auth):
    emit(db, org, "task.completed")
    other = world.organization("Other")
    other_headers = auth.headers(other["admin"])
    other_subscription = subscribe(client, other_headers, other, ["*"])
    emit(db, other, "task.completed")
    emit(db, other, "quest.completed")

    ours = listed(client, admin_headers, f"organization_id={org['id']}")
    assert [r["subscription_id"] for r in ours] == [subscription["id"]]
    theirs = listed(client, other_headers, f"organization_id={other['id']}")
    assert {r["subscription_id"] for r in theirs} == {other_subscription["id"]}
    # Asking for the other organization's subscription inside one's own organization finds nothing.
    mixed = f"organization_id={org['id']}&subscription_id={other_subscription['id']}"
    assert_problem(client.get(f"/api/webhooks/deliveries?{mixed}", headers=admin_headers), 404)


# -- detail --------------------------------------------------------------------------------------


def test_detail_has_the_attempts_log_and_the_payload(client, admin_headers, org, db, subscription):
    event_id = emit(db, org, "quest.completed", {"quest_id": "q-1", "total_xp": 80})
    delivery = delivery_of(db, event_id, subscription)
    started = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    with db.transaction("service_role") as conn:
        for attempt, status_code, error, body in (
            (2, None, "connection refused", None),
            (1, 503, None, "try later"),
        ):
            conn.execute(
                "insert into public.webhook_delivery_attempts"
                " (delivery_id, organization_id, attempt, started_at, duration_ms, status_code, error, response_body)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    delivery["id"],
                    org["id"],
                    attempt,
                    started + timedelta(minutes=attempt),
                    40 + attempt,
                    status_code,
                    error,
                    body,
                ),
            )
    set_delivery(db, delivery["id"], status="retrying", attempts=2, last_error="connection refused")

    response = client.get(f"/api/webhooks/deliveries/{delivery['id']}", headers=admin_headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) >= DELIVERY_FIELDS | {"attempts_log", "payload"}
    assert body["id"] == str(delivery["id"])
    assert (body["status"], body["attempts"], body["last_error"]) == ("retrying", 2, "connection refused")
    assert body["attempts_log"] == [
        {
            "attempt": 1,
            "started_at": "2026-11-22T09:01:00Z",
            "duration_ms": 41,
            "status_code": 503,
            "error": None,
            "response_body": "try later",
        },
        {
            "attempt": 2,
            "started_at": "2026-11-22T09:02:00Z",
            "duration_ms": 42,
            "status_code": None,
            "error": "connection refused",
            "response_body": None,
        },
    ]
    payload = body["payload"]
    assert payload["id"] == str(event_id)
    assert payload["type"] == "quest.completed"
    assert payload["organization_id"] == str(org["id"])
    assert payload["data"] == {"quest_id": "q-1", "total_xp": 80}


def test_a_delivery_without_attempts_has_an_empty_log(client, admin_headers, org, db, subscription):
    delivery = delivery_of(db, emit(db, org, "task.completed"), subscription)
    body = client.get(f"/api/webhooks/deliveries/{delivery['id']}", headers=admin_headers).get_json()
    assert body["attempts_log"] == []


def test_deleting_the_subscription_removes_its_deliveries(client, admin_headers, org, db, subscription):
    delivery = delivery_of(db, emit(db, org, "task.completed"), subscription)
    assert client.delete(f"/api/webhooks/subscriptions/{subscription['id']}", headers=admin_headers).status_code == 204
    assert_problem(client.get(f"/api/webhooks/deliveries/{delivery['id']}", headers=admin_headers), 404)


# -- redelivery ----------------------------------------------------------------------------------


def test_redeliver_starts_over_with_the_same_id(client, admin_headers, org, db, subscription):
    delivery = delivery_of(db, emit(db, org, "task.completed"), subscription)
    later = datetime.now(UTC) + timedelta(hours=1)
    set_delivery(
        db,
        delivery["id"],
        status="dead",
        attempts=5,
        last_error="HTTP 500",
        next_attempt_at=later,
        last_status_code=500,
    )
    with psycopg.connect(db.conninfo, autocommit=True) as listener:
        listener.execute("listen questbridge_deliveries")
        response = client.post(f"/api/webhooks/deliveries/{delivery['id']}/redeliver", headers=admin_headers)
        assert response.status_code == 202, response.get_json()
        assert response.get_json() == {"id": str(delivery["id"]), "status": "pending"}
        woken = list(listener.notifies(timeout=5, stop_after=1))
    assert [n.channel for n in woken] == ["questbridge_deliveries"]

    row = delivery_of(db, delivery["event_id"], subscription)
    assert row["id"] == delivery["id"]
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 0, None)
    assert row["next_attempt_at"] <= datetime.now(UTC)
    assert row["lease_expires_at"] is None
    assert row["leased_by"] is None


def test_the_attempts_log_keeps_time_order_across_a_redelivery(client, admin_headers, org, db, subscription):
    delivery = delivery_of(db, emit(db, org, "task.completed"), subscription)
    start = datetime.now(UTC) - timedelta(hours=1)
    # Two failed attempts, then a redelivery whose first attempt (numbered 1 again) succeeded.
    with db.transaction("service_role") as conn:
        for attempt, minutes, status in ((2, 2, 500), (1, 30, 200), (1, 0, 503)):
            conn.execute(
                "insert into public.webhook_delivery_attempts"
                " (delivery_id, organization_id, attempt, started_at, duration_ms, status_code)"
                " values (%s, %s, %s, %s, 5, %s)",
                (delivery["id"], org["id"], attempt, start + timedelta(minutes=minutes), status),
            )
    body = client.get(f"/api/webhooks/deliveries/{delivery['id']}", headers=admin_headers).get_json()
    assert [(a["attempt"], a["status_code"]) for a in body["attempts_log"]] == [(1, 503), (2, 500), (1, 200)]


def test_redeliver_a_delivered_one(client, admin_headers, org, db, subscription):
    delivery = delivery_of(db, emit(db, org, "task.completed"), subscription)
    set_delivery(db, delivery["id"], status="delivered", attempts=1, delivered_at=datetime.now(UTC))
    response = client.post(f"/api/webhooks/deliveries/{delivery['id']}/redeliver", json={}, headers=admin_headers)
    assert response.status_code == 202, response.get_json()
    row = delivery_of(db, delivery["event_id"], subscription)
    assert (row["status"], row["attempts"], row["delivered_at"]) == ("pending", 0, None)


def test_redeliver_refuses_while_delivering(client, admin_headers, org, db, subscription):
    delivery = delivery_of(db, emit(db, org, "task.completed"), subscription)
    lease = datetime.now(UTC) + timedelta(seconds=60)
    set_delivery(db, delivery["id"], status="delivering", attempts=2, lease_expires_at=lease, leased_by="worker-1")
    response = client.post(f"/api/webhooks/deliveries/{delivery['id']}/redeliver", headers=admin_headers)
    assert_problem(response, 409, "status")
    row = delivery_of(db, delivery["event_id"], subscription)
    assert (row["status"], row["attempts"], row["leased_by"]) == ("delivering", 2, "worker-1")


def test_redeliver_takes_no_body(client, admin_headers, org, db, subscription):
    delivery = delivery_of(db, emit(db, org, "task.completed"), subscription)
    set_delivery(db, delivery["id"], status="dead", attempts=5)
    url = f"/api/webhooks/deliveries/{delivery['id']}/redeliver"
    assert_problem(client.post(url, json={"attempts": 3}, headers=admin_headers), 422, "attempts")
    assert delivery_of(db, delivery["event_id"], subscription)["status"] == "dead"


def _dead_delivery(db, org, subscription, created_at) -> dict:
    delivery = delivery_of(db, emit(db, org, "task.completed"), subscription)
    set_delivery(db, delivery["id"], status="dead", attempts=5, last_error="HTTP 500", created_at=created_at)
    return delivery


def test_bulk_redeliver_counts_only_dead_deliveries_in_range(client, admin_headers, org, db, subscription):
    day = datetime(2026, 11, 20, tzinfo=UTC)
    before_range = _dead_delivery(db, org, subscription, day - timedelta(hours=1))
    in_range = [_dead_delivery(db, org, subscription, day + timedelta(hours=h)) for h in (0, 5)]
    at_until = _dead_delivery(db, org, subscription, day + timedelta(days=1))  # until is exclusive
    delivered = delivery_of(db, emit(db, org, "task.completed"), subscription)
    set_delivery(db, delivered["id"], status="delivered", created_at=day + timedelta(hours=2))
    other = subscribe(client, admin_headers, org, ["*"])
    other_dead = _dead_delivery(db, org, other, day + timedelta(hours=3))

    url = f"/api/webhooks/subscriptions/{subscription['id']}/redeliver-dead"
    body = {"since": "2026-11-20T00:00:00Z", "until": "2026-11-21T00:00:00+00:00"}
    response = client.post(url, json=body, headers=admin_headers)
    assert response.status_code == 202, response.get_json()
    assert response.get_json() == {"count": 2}

    def status(delivery, sub=subscription):
        row = delivery_of(db, delivery["event_id"], sub)
        return row["status"], row["attempts"]

    assert [status(d) for d in in_range] == [("pending", 0), ("pending", 0)]
    assert status(before_range) == ("dead", 5)
    assert status(at_until) == ("dead", 5)
    assert status(delivered)[0] == "delivered"
    assert status(other_dead, other) == ("dead", 5)

    # Without bounds: every remaining dead delivery of the subscription; naive times are UTC.
    assert client.post(url, json={"until": "2026-11-20T00:00:00"}, headers=admin_headers).get_json() == {"count": 1}
    assert client.post(url, headers=admin_headers).get_json() == {"count": 1}
    assert status(at_until) == ("pending", 0)
    assert client.post(url, headers=admin_headers).get_json() == {"count": 0}


def test_bulk_redeliver_of_a_whole_organization(
    client, admin_headers, member_headers, stranger_headers, org, db, subscription, world, auth
):
    day = datetime(2026, 11, 20, tzinfo=UTC)
    other = subscribe(client, admin_headers, org, ["*"])
    mine = [_dead_delivery(db, org, sub, day + timedelta(hours=1)) for sub in (subscription, other)]
    early = _dead_delivery(db, org, subscription, day - timedelta(days=1))
    elsewhere = world.organization("Elsewhere")
    theirs_sub = subscribe(client, auth.headers(elsewhere["admin"]), elsewhere, ["*"])
    theirs = _dead_delivery(db, elsewhere, theirs_sub, day + timedelta(hours=1))
    url = "/api/webhooks/deliveries/redeliver-dead"

    assert_problem(client.post(url, json={}, headers=admin_headers), 422, "organization_id")
    assert_problem(client.post(url, json={"organization_id": str(org["id"])}, headers=member_headers), 403)
    assert_problem(client.post(url, json={"organization_id": str(org["id"])}, headers=stranger_headers), 404)
    body = {"organization_id": str(org["id"]), "since": "2026-11-20T00:00:00Z"}
    response = client.post(url, json=body, headers=admin_headers)
    assert response.status_code == 202 and response.get_json() == {"count": 2}
    assert [delivery_of(db, d["event_id"], s)["status"] for d, s in zip(mine, (subscription, other), strict=True)] == [
        "pending",
        "pending",
    ]
    assert delivery_of(db, early["event_id"], subscription)["status"] == "dead"
    assert delivery_of(db, theirs["event_id"], theirs_sub)["status"] == "dead"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": 12}, "until"),
        ({"since": "2026-11-21T00:00:00Z", "until": "2026-11-20T00:00:00Z"}, "until"),
        ({"since": "2026-11-21T00:00:00Z", "until": "2026-11-21T00:00:00Z"}, "until"),
        ({"status": "retrying"}, "status"),
    ],
)
def test_bulk_redeliver_refuses_bad_bodies(client, admin_headers, org, db, subscription, body, field):
    dead = _dead_delivery(db, org, subscription, datetime.now(UTC))
    url = f"/api/webhooks/subscriptions/{subscription['id']}/redeliver-dead"
    assert_problem(client.post(url, json=body, headers=admin_headers), 422, field)
    assert delivery_of(db, dead["event_id"], subscription)["status"] == "dead"


def test_redelivery_is_audited(client, admin_headers, org, db, subscription):
    dead = _dead_delivery(db, org, subscription, datetime.now(UTC))
    client.post(f"/api/webhooks/deliveries/{dead['id']}/redeliver", headers=admin_headers)
    _dead_delivery(db, org, subscription, datetime.now(UTC))
    client.post(f"/api/webhooks/subscriptions/{subscription['id']}/redeliver-dead", headers=admin_headers)
    with db.transaction("service_role") as conn:
        entries = conn.execute(
            "select actor_id, action, target_id, metadata from public.audit_log"
            " where organization_id = %s and action like 'webhook_%%redeliver%%' order by id",
            (org["id"],),
        ).fetchall()
    assert [(e["action"], e["target_id"]) for e in entries] == [
        ("webhook_delivery.redelivered", str(dead["id"])),
        ("webhook_subscription.dead_redelivered", subscription["id"]),
    ]
    assert {e["actor_id"] for e in entries} == {org["admin"]["id"]}
    assert entries[1]["metadata"] == {"count": 1, "since": None, "until": None}


# -- who may do what -----------------------------------------------------------------------------


def _requests(delivery, subscription, org):
    return [
        ("get", f"/api/webhooks/deliveries?organization_id={org['id']}"),
        ("get", f"/api/webhooks/deliveries?subscription_id={subscription['id']}"),
        ("get", f"/api/webhooks/deliveries/{delivery['id']}"),
        ("post", f"/api/webhooks/deliveries/{delivery['id']}/redeliver"),
        ("post", f"/api/webhooks/subscriptions/{subscription['id']}/redeliver-dead"),
    ]


@pytest.mark.parametrize("index", range(5))
def test_access_is_for_the_organization_s_admins(
    client, org, db, subscription, admin_headers, member_headers, stranger_headers, index
):
    delivery = delivery_of(db, emit(db, org, "task.completed"), subscription)
    set_delivery(db, delivery["id"], status="dead", attempts=5)
    method, url = _requests(delivery, subscription, org)[index]
    assert_problem(getattr(client, method)(url, headers=stranger_headers), 404)
    assert_problem(getattr(client, method)(url, headers=member_headers), 403)
    assert_problem(getattr(client, method)(url), 401)
    assert delivery_of(db, delivery["event_id"], subscription)["status"] == "dead"
    assert getattr(client, method)(url, headers=admin_headers).status_code in (200, 202)


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/webhooks/deliveries/not-a-uuid"),
        ("post", "/api/webhooks/deliveries/not-a-uuid/redeliver"),
        ("post", "/api/webhooks/subscriptions/not-a-uuid/redeliver-dead"),
        ("get", f"/api/webhooks/deliveries/{uuid.uuid4()}"),
        ("post", f"/api/webhooks/deliveries/{uuid.uuid4()}/redeliver"),
        ("post", f"/api/webhooks/subscriptions/{uuid.uuid4()}/redeliver-dead"),
        ("get", f"/api/webhooks/deliveries?subscription_id={uuid.uuid4()}"),
    ],
)
def test_unknown_ids_are_404(client, admin_headers, method, url):
    assert_problem(getattr(client, method)(url, headers=admin_headers), 404)
