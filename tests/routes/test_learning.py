"""The learning API over HTTP: quests, tasks, submissions, completions and notifications."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest

from backend.services import learning
from backend.services.shared.pagination import encode_cursor
from tests.support import assert_problem, walk_pages


@pytest.fixture
def member(org, world):
    return world.add_member(org)


@pytest.fixture
def member_headers(member, auth):
    return auth.headers(member)


def create_quest(client, headers, org, **overrides):
    body = {"organization_id": str(org["id"]), "title": "Onboarding", "description": "First steps"} | overrides
    response = client.post("/api/quests", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def create_task(client, headers, quest, **overrides):
    body = {"title": "Say hello", "pillar": "community", "xp": 10} | overrides
    response = client.post(f"/api/quests/{quest['id']}/tasks", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def complete(client, headers, task):
    return client.post(f"/api/tasks/{task['id']}/complete", headers=headers)


# --- authentication -------------------------------------------------------------------------

ANY_ID = "00000000-0000-4000-8000-000000000000"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/quests"),
        ("get", "/api/quests"),
        ("get", f"/api/quests/{ANY_ID}"),
        ("post", f"/api/quests/{ANY_ID}/tasks"),
        ("get", f"/api/quests/{ANY_ID}/tasks"),
        ("post", f"/api/tasks/{ANY_ID}/submissions"),
        ("post", f"/api/tasks/{ANY_ID}/complete"),
        ("get", "/api/notifications"),
        ("post", f"/api/notifications/{ANY_ID}/read"),
    ],
)
def test_every_endpoint_requires_login(client, method, path):
    response = getattr(client, method)(path, json={} if method == "post" else None)
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# --- quests ---------------------------------------------------------------------------------


def test_admin_creates_a_quest(client, org, admin_headers):
    response = client.post(
        "/api/quests",
        json={"organization_id": str(org["id"]), "title": "  Onboarding  ", "description": "First steps"},
        headers=admin_headers,
    )
    assert response.status_code == 201
    quest = response.get_json()
    uuid.UUID(quest["id"])
    assert quest["organization_id"] == str(org["id"])
    assert quest["title"] == "Onboarding"
    assert quest["description"] == "First steps"
    assert quest["created_by"] == str(org["admin"]["id"])
    assert quest["task_count"] == 0
    assert quest["created_at"].endswith("Z")

    fetched = client.get(f"/api/quests/{quest['id']}", headers=admin_headers)
    assert fetched.status_code == 200
    assert fetched.get_json() == quest


def test_quest_description_is_optional(client, org, admin_headers):
    response = client.post(
        "/api/quests", json={"organization_id": str(org["id"]), "title": "Bare"}, headers=admin_headers
    )
    assert response.status_code == 201
    assert response.get_json()["description"] == ""


def test_member_cannot_create_a_quest(client, org, member_headers, admin_headers):
    response = client.post(
        "/api/quests",
        json={"organization_id": str(org["id"]), "title": "Mine", "description": ""},
        headers=member_headers,
    )
    assert_problem(response, 403)
    assert client.get("/api/quests", headers=admin_headers).get_json()["data"] == []


def test_stranger_cannot_create_a_quest_in_another_organization(client, org, stranger_headers):
    response = client.post(
        "/api/quests",
        json={"organization_id": str(org["id"]), "title": "Mine", "description": ""},
        headers=stranger_headers,
    )
    assert_problem(response, 404)


def test_quest_in_an_unknown_organization_is_not_found(client, admin_headers):
    response = client.post(
        "/api/quests",
        json={"organization_id": str(uuid.uuid4()), "title": "Lost", "description": ""},
        headers=admin_headers,
    )
    assert_problem(response, 404)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": None}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": 42}, "title"),
        ({"title": "nul\x00byte"}, "title"),
        ({"description": 7}, "description"),
        ({"description": "x" * 10001}, "description"),
        ({"organization_id": "not-a-uuid"}, "organization_id"),
        ({"organization_id": None}, "organization_id"),
        ({"xp": 10}, "xp"),
    ],
)
def test_quest_body_is_validated(client, org, admin_headers, change, field):
    body = {"organization_id": str(org["id"]), "title": "Onboarding", "description": ""} | change
    response = client.post("/api/quests", json=body, headers=admin_headers)
    assert_problem(response, 422, field)


@pytest.mark.parametrize("missing", ["organization_id", "title"])
def test_quest_required_fields(client, org, admin_headers, missing):
    body = {"organization_id": str(org["id"]), "title": "Onboarding"}
    del body[missing]
    assert_problem(client.post("/api/quests", json=body, headers=admin_headers), 422, missing)


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("title=Onboarding", "application/x-www-form-urlencoded", 415),
        ("{not json", "application/json", 400),
        ('["a", "list"]', "application/json", 400),
        ("", "application/json", 422),
    ],
)
def test_quest_body_must_be_a_json_object(client, admin_headers, data, content_type, status):
    response = client.post("/api/quests", data=data, content_type=content_type, headers=admin_headers)
    assert_problem(response, status)


def test_members_list_only_their_organizations_quests(client, world, auth, org, admin_headers, member_headers):
    mine = create_quest(client, admin_headers, org, title="Ours")
    other_org = world.organization("Elsewhere")
    other_headers = auth.headers(other_org["admin"])
    theirs = create_quest(client, other_headers, other_org, title="Theirs")

    assert [q["id"] for q in client.get("/api/quests", headers=member_headers).get_json()["data"]] == [mine["id"]]
    assert [q["id"] for q in client.get("/api/quests", headers=other_headers).get_json()["data"]] == [theirs["id"]]

    filtered = client.get(f"/api/quests?organization_id={org['id']}", headers=member_headers)
    assert [q["id"] for q in filtered.get_json()["data"]] == [mine["id"]]
    assert_problem(client.get(f"/api/quests?organization_id={other_org['id']}", headers=member_headers), 404)


def test_multi_org_user_filters_quests_by_organization(client, world, auth, org, admin_headers):
    other_org = world.organization("Second")
    both = world.add_member(org)
    world.add_member(other_org, both)
    first = create_quest(client, admin_headers, org)
    second = create_quest(client, auth.headers(other_org["admin"]), other_org)
    headers = auth.headers(both)

    everything = client.get("/api/quests", headers=headers).get_json()["data"]
    assert {q["id"] for q in everything} == {first["id"], second["id"]}
    only_second = client.get(f"/api/quests?organization_id={other_org['id']}", headers=headers).get_json()["data"]
    assert [q["id"] for q in only_second] == [second["id"]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("organization_id=nope", "organization_id"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("cursor=garbage", "cursor"),
        ("colour=blue", "colour"),
    ],
)
def test_quest_list_query_is_validated(client, admin_headers, query, field):
    assert_problem(client.get(f"/api/quests?{query}", headers=admin_headers), 422, field)


def test_a_forged_cursor_is_a_client_error(client, admin_headers):
    forged = encode_cursor(datetime(2030, 1, 1, tzinfo=UTC), "not-a-uuid")
    assert_problem(client.get(f"/api/quests?cursor={forged}", headers=admin_headers), 422)


def test_quest_list_pages_newest_first(client, org, admin_headers):
    created = [create_quest(client, admin_headers, org, title=f"Quest {n}")["id"] for n in range(5)]
    items, pages = walk_pages(client, "/api/quests", admin_headers, limit=2)
    assert pages == 3
    assert [q["id"] for q in items] == list(reversed(created))


def test_quest_of_another_organization_is_not_found(client, org, admin_headers, stranger_headers):
    quest = create_quest(client, admin_headers, org)
    assert_problem(client.get(f"/api/quests/{quest['id']}", headers=stranger_headers), 404)
    assert_problem(client.get(f"/api/quests/{uuid.uuid4()}", headers=admin_headers), 404)
    assert_problem(client.get("/api/quests/not-a-uuid", headers=admin_headers), 404)


def test_quest_counts_its_tasks(client, org, admin_headers, member_headers):
    quest = create_quest(client, admin_headers, org)
    create_task(client, admin_headers, quest)
    create_task(client, admin_headers, quest)
    assert client.get(f"/api/quests/{quest['id']}", headers=member_headers).get_json()["task_count"] == 2


# --- tasks ----------------------------------------------------------------------------------


def test_admin_adds_a_task(client, org, admin_headers):
    quest = create_quest(client, admin_headers, org)
    response = client.post(
        f"/api/quests/{quest['id']}/tasks",
        json={"title": "Say hello", "pillar": " community ", "xp": 25, "description": "In the forum"},
        headers=admin_headers,
    )
    assert response.status_code == 201
    task = response.get_json()
    uuid.UUID(task["id"])
    assert task["quest_id"] == quest["id"]
    assert task["organization_id"] == str(org["id"])
    assert (task["title"], task["pillar"], task["xp"], task["description"]) == (
        "Say hello",
        "community",
        25,
        "In the forum",
    )
    assert task["completed"] is False
    assert task["created_at"].endswith("Z")


@pytest.mark.parametrize("xp", [0, 100000])
def test_task_xp_bounds_are_accepted(client, org, admin_headers, xp):
    quest = create_quest(client, admin_headers, org)
    assert create_task(client, admin_headers, quest, xp=xp)["xp"] == xp


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"xp": -1}, "xp"),
        ({"xp": 100001}, "xp"),
        ({"xp": "10"}, "xp"),
        ({"xp": 1.5}, "xp"),
        ({"xp": True}, "xp"),
        ({"xp": None}, "xp"),
        ({"pillar": ""}, "pillar"),
        ({"pillar": "x" * 65}, "pillar"),
        ({"pillar": ["a"]}, "pillar"),
        ({"title": " "}, "title"),
        ({"description": None}, "description"),
        ({"quest_id": str(uuid.uuid4())}, "quest_id"),
    ],
)
def test_task_body_is_validated(client, org, admin_headers, change, field):
    quest = create_quest(client, admin_headers, org)
    body = {"title": "Say hello", "pillar": "community", "xp": 10} | change
    assert_problem(client.post(f"/api/quests/{quest['id']}/tasks", json=body, headers=admin_headers), 422, field)
    assert client.get(f"/api/quests/{quest['id']}", headers=admin_headers).get_json()["task_count"] == 0


@pytest.mark.parametrize("missing", ["title", "pillar", "xp"])
def test_task_required_fields(client, org, admin_headers, missing):
    quest = create_quest(client, admin_headers, org)
    body = {"title": "Say hello", "pillar": "community", "xp": 10}
    del body[missing]
    assert_problem(client.post(f"/api/quests/{quest['id']}/tasks", json=body, headers=admin_headers), 422, missing)


def test_who_may_add_tasks(client, org, admin_headers, member_headers, stranger_headers):
    quest = create_quest(client, admin_headers, org)
    body = {"title": "Say hello", "pillar": "community", "xp": 10}
    assert_problem(client.post(f"/api/quests/{quest['id']}/tasks", json=body, headers=member_headers), 403)
    assert_problem(client.post(f"/api/quests/{quest['id']}/tasks", json=body, headers=stranger_headers), 404)
    assert_problem(client.post(f"/api/quests/{uuid.uuid4()}/tasks", json=body, headers=admin_headers), 404)
    assert_problem(client.post("/api/quests/123/tasks", json=body, headers=admin_headers), 404)
    assert client.get(f"/api/quests/{quest['id']}", headers=admin_headers).get_json()["task_count"] == 0


def test_tasks_list_oldest_first_in_pages(client, org, admin_headers, member_headers, stranger_headers):
    quest = create_quest(client, admin_headers, org)
    other = create_quest(client, admin_headers, org, title="Other")
    created = [create_task(client, admin_headers, quest, title=f"Task {n}")["id"] for n in range(5)]
    create_task(client, admin_headers, other)

    items, pages = walk_pages(client, f"/api/quests/{quest['id']}/tasks", member_headers, limit=2)
    assert pages == 3
    assert [t["id"] for t in items] == created

    assert_problem(client.get(f"/api/quests/{quest['id']}/tasks", headers=stranger_headers), 404)
    assert_problem(client.get(f"/api/quests/{uuid.uuid4()}/tasks", headers=member_headers), 404)


def test_task_list_shows_what_the_caller_completed(client, org, admin_headers, member_headers):
    quest = create_quest(client, admin_headers, org)
    done = create_task(client, admin_headers, quest, title="Done")
    create_task(client, admin_headers, quest, title="Open")
    assert complete(client, member_headers, done).status_code == 200

    mine = client.get(f"/api/quests/{quest['id']}/tasks", headers=member_headers).get_json()["data"]
    assert {t["title"]: t["completed"] for t in mine} == {"Done": True, "Open": False}
    admins = client.get(f"/api/quests/{quest['id']}/tasks", headers=admin_headers).get_json()["data"]
    assert {t["title"]: t["completed"] for t in admins} == {"Done": False, "Open": False}


# --- submissions ----------------------------------------------------------------------------


def test_member_submits_work(client, org, member, admin_headers, member_headers):
    task = create_task(client, admin_headers, create_quest(client, admin_headers, org))
    response = client.post(f"/api/tasks/{task['id']}/submissions", json={"content": "My essay"}, headers=member_headers)
    assert response.status_code == 201
    submission = response.get_json()
    uuid.UUID(submission["id"])
    assert submission["status"] == "submitted"
    assert submission["task_id"] == task["id"]
    assert submission["organization_id"] == str(org["id"])
    assert submission["user_id"] == str(member["id"])
    assert submission["content"] == "My essay"
    assert submission["created_at"].endswith("Z")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "content"),
        ({"content": ""}, "content"),
        ({"content": None}, "content"),
        ({"content": 12}, "content"),
        ({"content": "x" * 100001}, "content"),
        ({"content": "a\x00b"}, "content"),
        ({"content": "ok", "status": "graded"}, "status"),
    ],
)
def test_submission_body_is_validated(client, db, org, admin_headers, member_headers, body, field):
    task = create_task(client, admin_headers, create_quest(client, admin_headers, org))
    assert_problem(client.post(f"/api/tasks/{task['id']}/submissions", json=body, headers=member_headers), 422, field)
    with db.transaction("service_role") as conn:
        assert conn.execute("select count(*) as n from public.submissions").fetchone()["n"] == 0


def test_submission_to_another_organizations_task_is_not_found(client, org, admin_headers, stranger_headers):
    task = create_task(client, admin_headers, create_quest(client, admin_headers, org))
    body = {"content": "sneaky"}
    assert_problem(client.post(f"/api/tasks/{task['id']}/submissions", json=body, headers=stranger_headers), 404)
    assert_problem(client.post(f"/api/tasks/{uuid.uuid4()}/submissions", json=body, headers=admin_headers), 404)
    assert_problem(client.post("/api/tasks/nope/submissions", json=body, headers=admin_headers), 404)


# --- completions ----------------------------------------------------------------------------


def test_completing_a_task_awards_its_xp_once(client, db, org, member, admin_headers, member_headers):
    quest = create_quest(client, admin_headers, org)
    task = create_task(client, admin_headers, quest, xp=30)
    create_task(client, admin_headers, quest, xp=5)

    first = complete(client, member_headers, task)
    assert first.status_code == 200
    body = first.get_json()
    assert body["xp_awarded"] == 30
    assert body["already_completed"] is False
    assert body["quest_completed"] is False
    assert body["badge"] is None
    assert (body["tasks_completed"], body["tasks_total"], body["total_xp"]) == (1, 2, 30)
    assert body["completed_at"].endswith("Z")

    again = complete(client, member_headers, task)
    assert again.status_code == 200
    assert again.get_json()["xp_awarded"] == 0
    assert again.get_json()["already_completed"] is True
    assert again.get_json()["total_xp"] == 30

    with db.transaction("service_role") as conn:
        rows = conn.execute(
            "select xp_awarded from public.task_completions where user_id = %s", (member["id"],)
        ).fetchall()
    assert rows == [{"xp_awarded": 30}]


def test_completion_takes_no_body(client, org, admin_headers, member_headers):
    task = create_task(client, admin_headers, create_quest(client, admin_headers, org), xp=30)
    response = client.post(f"/api/tasks/{task['id']}/complete", json={"xp": 100000}, headers=member_headers)
    assert_problem(response, 422, "xp")
    response = client.post(f"/api/tasks/{task['id']}/complete", json={}, headers=member_headers)
    assert response.get_json()["xp_awarded"] == 30


def test_completing_another_organizations_task_is_not_found(client, org, admin_headers, stranger_headers):
    task = create_task(client, admin_headers, create_quest(client, admin_headers, org))
    assert_problem(complete(client, stranger_headers, task), 404)
    assert_problem(complete(client, admin_headers, {"id": uuid.uuid4()}), 404)
    assert_problem(complete(client, admin_headers, {"id": "12"}), 404)


def test_concurrent_completions_award_xp_once(app, db, org, member, admin_headers, member_headers):
    setup = app.test_client()
    task = create_task(setup, admin_headers, create_quest(setup, admin_headers, org), xp=40)
    threads_count = 6
    barrier = threading.Barrier(threads_count)
    results: list = []

    def run():
        client = app.test_client()
        barrier.wait()
        response = complete(client, member_headers, task)
        results.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=run) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert [status for status, _ in results] == [200] * threads_count
    assert sorted(body["xp_awarded"] for _, body in results) == [0] * (threads_count - 1) + [40]
    assert sum(not body["already_completed"] for _, body in results) == 1
    with db.transaction("service_role") as conn:
        count = conn.execute(
            "select count(*) as n from public.task_completions where user_id = %s", (member["id"],)
        ).fetchone()["n"]
    assert count == 1


def test_finishing_a_quest_earns_one_badge_and_one_notification(client, db, org, member, admin_headers, member_headers):
    quest = create_quest(client, admin_headers, org, title="Onboarding")
    first = create_task(client, admin_headers, quest, xp=10)
    last = create_task(client, admin_headers, quest, xp=20)

    assert complete(client, member_headers, first).get_json()["quest_completed"] is False
    assert client.get("/api/notifications", headers=member_headers).get_json()["data"] == []

    finished = complete(client, member_headers, last).get_json()
    assert finished["quest_completed"] is True
    assert finished["total_xp"] == 30
    assert finished["badge"]["quest_id"] == quest["id"]
    assert finished["badge"]["user_id"] == str(member["id"])

    repeat = complete(client, member_headers, last).get_json()
    assert repeat["quest_completed"] is False
    assert repeat["badge"] is None

    notifications = client.get("/api/notifications", headers=member_headers).get_json()["data"]
    assert len(notifications) == 1
    notification = notifications[0]
    assert notification["type"] == "badge_earned"
    assert notification["organization_id"] == str(org["id"])
    assert notification["data"] == {"badge_id": finished["badge"]["id"], "quest_id": quest["id"]}
    assert "Onboarding" in notification["title"]
    assert notification["read_at"] is None

    with db.transaction("service_role") as conn:
        badges = conn.execute("select quest_id, user_id from public.badges").fetchall()
    assert badges == [{"quest_id": uuid.UUID(quest["id"]), "user_id": member["id"]}]


def test_each_learner_earns_their_own_badge(client, world, auth, db, org, admin_headers, member_headers):
    quest = create_quest(client, admin_headers, org)
    task = create_task(client, admin_headers, quest)
    other_headers = auth.headers(world.add_member(org))

    assert complete(client, member_headers, task).get_json()["quest_completed"] is True
    assert complete(client, other_headers, task).get_json()["quest_completed"] is True
    assert complete(client, admin_headers, task).get_json()["quest_completed"] is True
    with db.transaction("service_role") as conn:
        assert conn.execute("select count(*) as n from public.badges").fetchone()["n"] == 3
        assert conn.execute("select count(*) as n from public.notifications").fetchone()["n"] == 3


# --- notifications --------------------------------------------------------------------------


def _notify(db, world, user, org, title):
    with db.transaction("authenticated", world.claims(user)) as conn:
        return learning.notify(conn, user["id"], org["id"], "badge_earned", title)


def test_notifications_are_private(client, db, world, auth, org, member, member_headers):
    other = world.add_member(org)
    other_headers = auth.headers(other)
    mine = _notify(db, world, member, org, "For the member")
    theirs = _notify(db, world, other, org, "For the other")

    listed = client.get("/api/notifications", headers=member_headers).get_json()
    assert [n["id"] for n in listed["data"]] == [str(mine["id"])]
    assert listed["next_cursor"] is None
    assert [n["id"] for n in client.get("/api/notifications", headers=other_headers).get_json()["data"]] == [
        str(theirs["id"])
    ]

    assert_problem(client.post(f"/api/notifications/{theirs['id']}/read", headers=member_headers), 404)
    assert client.get("/api/notifications", headers=other_headers).get_json()["data"][0]["read_at"] is None


def test_marking_a_notification_read(client, db, world, org, member, member_headers):
    older = _notify(db, world, member, org, "Older")
    newer = _notify(db, world, member, org, "Newer")

    response = client.post(f"/api/notifications/{older['id']}/read", headers=member_headers)
    assert response.status_code == 200
    read = response.get_json()
    assert read["id"] == str(older["id"])
    assert read["read_at"].endswith("Z")

    again = client.post(f"/api/notifications/{older['id']}/read", json={}, headers=member_headers)
    assert again.status_code == 200
    assert again.get_json()["read_at"] == read["read_at"]

    unread = client.get("/api/notifications?unread=true", headers=member_headers).get_json()["data"]
    assert [n["id"] for n in unread] == [str(newer["id"])]
    everything = client.get("/api/notifications?unread=false", headers=member_headers).get_json()["data"]
    assert [n["id"] for n in everything] == [str(newer["id"]), str(older["id"])]


def test_bad_notification_requests(client, member_headers):
    assert_problem(client.post(f"/api/notifications/{uuid.uuid4()}/read", headers=member_headers), 404)
    assert_problem(client.post("/api/notifications/abc/read", headers=member_headers), 404)
    assert_problem(client.get("/api/notifications?unread=perhaps", headers=member_headers), 422, "unread")
    assert_problem(client.get("/api/notifications?page=2", headers=member_headers), 422, "page")
    response = client.post(f"/api/notifications/{uuid.uuid4()}/read", json={"read": True}, headers=member_headers)
    assert_problem(response, 422, "read")


def test_notifications_page_newest_first(client, db, world, org, member, member_headers):
    created = [str(_notify(db, world, member, org, f"Note {n}")["id"]) for n in range(5)]
    items, pages = walk_pages(client, "/api/notifications", member_headers, limit=2)
    assert pages == 3
    assert [n["id"] for n in items] == list(reversed(created))
