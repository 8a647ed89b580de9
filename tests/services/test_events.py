"""emit_event: the outbox rows written in the caller's transaction, and the domain routes that emit."""

import uuid

import pytest

from backend.services.webhooks import events
from tests.mail import INVITATION_LINK


def delivered_types(runtime, sub_id=None):
    with runtime.db.transaction("service_role") as conn:
        rows = conn.execute(
            "select d.event_type, e.payload from public.webhook_deliveries d"
            " join public.webhook_events e on e.id = d.event_id"
            " where %(sub)s::uuid is null or d.subscription_id = %(sub)s order by e.created_at, d.event_type",
            {"sub": sub_id},
        ).fetchall()
    return rows


@pytest.fixture
def runtime(app):
    return app.extensions["questbridge"]


def test_emit_fans_out_to_matching_subscriptions_only(runtime, world):
    org, other = world.organization(), world.organization()
    wildcard = world.subscription(org, ["*"])
    exact = world.subscription(org, ["task.completed"])
    unrelated = world.subscription(org, ["quest.completed"])
    elsewhere = world.subscription(other, ["*"])

    with runtime.db.transaction("service_role") as conn:
        event_id = events.emit_event(conn, org["id"], "task.completed", {"x": 1})

    rows = delivered_types(runtime)
    assert len(rows) == 2
    assert {r["payload"]["id"] for r in rows} == {str(event_id)}
    assert len(delivered_types(runtime, wildcard)) == len(delivered_types(runtime, exact)) == 1
    assert delivered_types(runtime, unrelated) == delivered_types(runtime, elsewhere) == []


def test_emit_from_a_learners_transaction_keeps_their_identity_afterwards(runtime, world):
    org = world.organization()
    learner = world.add_member(org)
    world.subscription(org, ["*"])

    with runtime.db.transaction("authenticated", world.claims(learner)) as conn:
        events.emit_event(conn, org["id"], "task.submitted", {})
        # back to the learner: subscriptions stay invisible to them
        assert conn.execute("select count(*) as n from public.webhook_subscriptions").fetchone()["n"] == 0
        assert conn.execute("select auth.uid() as id").fetchone()["id"] == learner["id"]

    assert [r["event_type"] for r in delivered_types(runtime)] == ["task.submitted"]


def test_invalid_type_is_refused():
    with pytest.raises(ValueError, match="dotted"):
        events.emit_event(None, uuid.uuid4(), "Task Completed", {})


def test_completing_the_last_task_emits_task_quest_and_badge_events(client, runtime, world, auth):
    org = world.organization()
    learner = world.add_member(org)
    admin_headers, learner_headers = auth.headers(org["admin"]), auth.headers(learner)
    world.subscription(org, ["*"])
    quest = client.post(
        "/api/quests", json={"organization_id": str(org["id"]), "title": "Q", "description": ""}, headers=admin_headers
    ).get_json()
    tasks = [
        client.post(
            f"/api/quests/{quest['id']}/tasks", json={"title": f"T{i}", "pillar": "p", "xp": 5}, headers=admin_headers
        ).get_json()
        for i in range(2)
    ]

    submission = client.post(
        f"/api/tasks/{tasks[0]['id']}/submissions", json={"content": "work"}, headers=learner_headers
    )
    assert submission.status_code == 201
    assert client.post(f"/api/tasks/{tasks[0]['id']}/complete", headers=learner_headers).status_code == 200
    assert client.post(f"/api/tasks/{tasks[0]['id']}/complete", headers=learner_headers).status_code == 200
    assert client.post(f"/api/tasks/{tasks[1]['id']}/complete", headers=learner_headers).status_code == 200

    rows = delivered_types(runtime)
    assert sorted(r["event_type"] for r in rows) == [
        "badge.earned",
        "quest.completed",
        "task.completed",
        "task.completed",
        "task.submitted",
    ]
    by_type = {r["event_type"]: r["payload"] for r in rows}
    assert by_type["task.submitted"]["data"]["submission_id"] == submission.get_json()["id"]
    assert by_type["quest.completed"]["data"] == {
        "quest_id": quest["id"],
        "user_id": str(learner["id"]),
        "total_xp": 10,
    }
    assert by_type["badge.earned"]["data"]["quest_id"] == quest["id"]
    for payload in by_type.values():
        assert payload["organization_id"] == str(org["id"])
        assert payload["timestamp"].endswith("Z")


def test_a_member_accepting_an_invitation_emits_user_registered(client, runtime, world, auth, capsys):
    org = world.organization()
    world.subscription(org, ["user.registered"])
    response = client.post(
        f"/api/organizations/{org['id']}/members",
        json={"email": "new.learner@example.org", "role": "member"},
        headers=auth.headers(org["admin"]),
    )
    assert response.status_code == 201
    assert delivered_types(runtime) == []  # an invitation is no member yet
    token = INVITATION_LINK.search(capsys.readouterr().err).group(2)

    accepted = client.post("/api/invitations/accept", json={"token": token, "password": "a brand new passphrase 42"})

    assert accepted.status_code == 200
    [row] = delivered_types(runtime)
    assert row["event_type"] == "user.registered"
    assert row["payload"]["data"] == {
        "user_id": accepted.get_json()["user"]["id"],
        "email": "new.learner@example.org",
        "role": "member",
    }
