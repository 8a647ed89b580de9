"""Outbound webhook subscriptions over HTTP: catalog, create, SSRF guard, secrets, rotation, access."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from backend.services.webhooks import signing, subscriptions
from tests.support import assert_problem, walk_pages

TARGET = "https://93.184.215.14/questbridge"  # a public address literal: no DNS needed


def subscribe(client, headers, org, **overrides):
    body = {"organization_id": str(org["id"]), "target_url": TARGET, "event_types": ["quest.completed"]} | overrides
    response = client.post("/api/webhooks/subscriptions", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def stored_row(db, subscription_id) -> dict:
    with db.transaction("service_role") as conn:
        return conn.execute("select * from public.webhook_subscriptions where id = %s", (subscription_id,)).fetchone()


def audit_entries(db, org) -> list[dict]:
    with db.transaction("service_role") as conn:
        return conn.execute(
            "select actor_id, action, target_id, metadata from public.audit_log where organization_id = %s order by id",
            (org["id"],),
        ).fetchall()


# -- the catalog ---------------------------------------------------------------------------------


def test_event_types_lists_the_catalog(client, admin_headers):
    response = client.get("/api/webhooks/event-types", headers=admin_headers)
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert [item["type"] for item in data] == [
        "task.completed",
        "task.submitted",
        "quest.completed",
        "badge.earned",
        "submission.graded",
        "user.registered",
        "webhook.test",
    ]
    for item in data:
        assert item["description"]
        assert item["example"]["type"] == item["type"]
        assert item["example"]["timestamp"].endswith("Z")


def test_event_types_needs_a_signed_in_user(client):
    assert_problem(client.get("/api/webhooks/event-types"), 401)


# -- creating ------------------------------------------------------------------------------------


def test_create_with_a_list_of_event_types(client, admin_headers, org, db):
    before = datetime.now(UTC)
    body = subscribe(
        client,
        admin_headers,
        org,
        event_types=["task.completed", "quest.completed", "task.completed"],
        description="LMS sync",
    )
    assert body["organization_id"] == str(org["id"])
    assert body["target_url"] == TARGET
    assert body["event_types"] == ["task.completed", "quest.completed"]  # deduplicated, order kept
    assert body["description"] == "LMS sync"
    assert body["active"] is True
    assert body["secret"].startswith("whsec_")
    assert signing.secret_key(body["secret"])  # a usable Standard Webhooks secret
    assert datetime.fromisoformat(body["created_at"]) >= before - timedelta(seconds=5)
    assert body["created_at"].endswith("Z")
    row = stored_row(db, body["id"])
    assert row["event_types"] == ["task.completed", "quest.completed"]
    assert row["created_by"] == org["admin"]["id"]


def test_create_with_a_single_event_type(client, admin_headers, org):
    body = {"organization_id": str(org["id"]), "target_url": TARGET, "event_type": "badge.earned"}
    response = client.post("/api/webhooks/subscriptions", json=body, headers=admin_headers)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["event_types"] == ["badge.earned"]


@pytest.mark.parametrize(
    "event_types",
    [
        ["task.completed"],  # catalog
        ["partner.course_synced"],  # custom dotted name pushed through /v1/external/events
        ["lms.grade.posted_v2"],
        ["*"],
        ["*", "quest.completed", "partner.course_synced"],
        [f"p{i}.x" for i in range(subscriptions.MAX_EVENT_TYPES)],
    ],
)
def test_accepted_event_type_names(client, admin_headers, org, event_types):
    body = subscribe(client, admin_headers, org, event_types=event_types)
    assert body["event_types"] == event_types


@pytest.mark.parametrize(
    "name",
    [
        "Task.Completed",
        "task",
        "task.",
        ".task",
        "task..completed",
        "task completed",
        "task-completed",
        "",
        "**",
        "a." + "b" * 127,
        "task.completed\x00",
        "task.completed\n",
    ],
)
def test_invalid_event_type_names_are_refused(client, admin_headers, org, name, db):
    for body in ({"event_types": ["quest.completed", name]}, {"event_type": name}):
        payload = {"organization_id": str(org["id"]), "target_url": TARGET} | body
        response = client.post("/api/webhooks/subscriptions", json=payload, headers=admin_headers)
        assert_problem(response, 422, next(iter(body)))
    with db.transaction("service_role") as conn:
        assert conn.execute("select count(*) as n from public.webhook_subscriptions").fetchone()["n"] == 0


@pytest.mark.parametrize(
    ("name", "namespace"),
    [
        ("tasks.completed", "task"),
        ("taks.completed", "task"),
        ("task_.x", "task"),
        ("quests.x", "quest"),
        ("bagde.earned", "badge"),
        ("webhooks.test", "webhook"),
        ("web_hook.test", "webhook"),
        ("webh00k.test", "webhook"),
        ("task.archived", "task"),  # in our namespace but not in the catalog: nobody can send it
        ("questbridge.notice", "questbridge"),
    ],
)
def test_custom_names_that_imitate_our_namespaces_are_refused(client, admin_headers, org, db, name, namespace):
    for body, field in (({"event_types": ["quest.completed", name]}, "1"), ({"event_type": name}, "0")):
        payload = {"organization_id": str(org["id"]), "target_url": TARGET} | body
        problem = assert_problem(client.post("/api/webhooks/subscriptions", json=payload, headers=admin_headers), 422)
        [(field_name, messages)] = problem["errors"].items()
        assert field_name == "event_types" if "event_types" in body else field_name == "event_type"
        [message] = messages[field] if isinstance(messages, dict) else messages
        assert f"namespace {namespace}." in message and name in message
    subscription = subscribe(client, admin_headers, org)
    path = f"/api/webhooks/subscriptions/{subscription['id']}"
    assert_problem(client.put(path, json={"event_types": [name]}, headers=admin_headers), 422, "event_types")
    assert stored_row(db, subscription["id"])["event_types"] == ["quest.completed"]


def test_every_catalog_type_and_partner_names_stay_subscribable(client, admin_headers, org):
    names = [item["type"] for item in client.get("/api/webhooks/event-types", headers=admin_headers).get_json()["data"]]
    created = subscribe(client, admin_headers, org, event_types=[*names, "partner.course_synced", "taskforce.created"])
    assert created["event_types"] == [*names, "partner.course_synced", "taskforce.created"]
    assert subscribe(client, admin_headers, org, event_types=["*"])["event_types"] == ["*"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"event_type": "task.completed"}, "event_types"),  # both event_types and event_type
        ({"event_types": None}, "event_types"),
        ({"event_types": []}, "event_types"),
        ({"event_types": [f"p{i}.x" for i in range(subscriptions.MAX_EVENT_TYPES + 1)]}, "event_types"),
        ({"event_types": "task.completed"}, "event_types"),  # a string where a list belongs
        ({"event_types": [7]}, "event_types"),
        ({"target_url": None}, "target_url"),
        ({"target_url": ""}, "target_url"),
        ({"target_url": 42}, "target_url"),
        ({"target_url": "https://93.184.215.14/\x00"}, "target_url"),
        ({"target_url": "https://93.184.215.14/" + "a" * 2048}, "target_url"),
        ({"target_url": "ftp://93.184.215.14/"}, "target_url"),
        ({"target_url": "https://user:pass@93.184.215.14/"}, "target_url"),
        ({"target_url": "https://hooks.invalid/"}, "target_url"),  # does not resolve
        ({"organization_id": "not-a-uuid"}, "organization_id"),
        ({"description": "d" * 501}, "description"),
        ({"description": "nul\x00"}, "description"),
        ({"active": False}, "active"),  # unknown fields are refused, not ignored
        ({"secret": "whsec_Y2hvb3NlLW15LW93bg=="}, "secret"),
    ],
)
def test_bad_bodies_are_422_naming_the_field(client, admin_headers, org, overrides, field):
    body = {"organization_id": str(org["id"]), "target_url": TARGET, "event_types": ["quest.completed"]} | overrides
    body = {name: value for name, value in body.items() if value is not None}
    assert_problem(client.post("/api/webhooks/subscriptions", json=body, headers=admin_headers), 422, field)


def test_create_in_an_unknown_organization_is_404(client, admin_headers):
    body = {"organization_id": str(uuid.uuid4()), "target_url": TARGET, "event_type": "quest.completed"}
    assert_problem(client.post("/api/webhooks/subscriptions", json=body, headers=admin_headers), 404)


def test_non_json_body_is_refused(client, admin_headers):
    response = client.post("/api/webhooks/subscriptions", data="target_url=x", headers=admin_headers)
    assert_problem(response, 415)


# -- the SSRF guard ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://2130706433/", "loopback"),
        ("http://[::ffff:10.0.0.1]/", "private"),
        ("http://10.1.2.3:8080/hook", "private"),
        ("http://[::1]/", "loopback"),
        ("http://localhost:8080/", "internal host name"),
        ("http://0x7f.1/", "loopback"),
    ],
)
def test_internal_targets_are_refused_at_registration(client, admin_headers, org, db, url, reason):
    body = {"organization_id": str(org["id"]), "target_url": url, "event_type": "quest.completed"}
    problem = assert_problem(client.post("/api/webhooks/subscriptions", json=body, headers=admin_headers), 422)
    assert list(problem["errors"]) == ["target_url"]
    assert reason in problem["errors"]["target_url"][0]
    with db.transaction("service_role") as conn:
        assert conn.execute("select count(*) as n from public.webhook_subscriptions").fetchone()["n"] == 0


@pytest.mark.parametrize("answer", ["10.9.8.7", "127.0.0.1", "169.254.169.254", "fd00::5"])
def test_a_name_pointing_inward_is_refused_without_saying_where_it_points(
    client, admin_headers, org, db, monkeypatch, answer
):
    """A tenant probing our internal DNS through the 422s (on create and on update) learns only
    that the name is not public."""
    from backend.services.webhooks import ssrf

    real_getaddrinfo = ssrf.socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        return real_getaddrinfo(answer if host == "db.corp.example" else host, port, *args, **kwargs)

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", getaddrinfo)
    inward = "https://db.corp.example/hook"
    body = {"organization_id": str(org["id"]), "target_url": inward, "event_type": "quest.completed"}
    created = assert_problem(client.post("/api/webhooks/subscriptions", json=body, headers=admin_headers), 422)
    subscription = subscribe(client, admin_headers, org)
    path = f"/api/webhooks/subscriptions/{subscription['id']}"
    updated = assert_problem(client.put(path, json={"target_url": inward}, headers=admin_headers), 422)
    for problem in (created, updated):
        assert problem["errors"] == {"target_url": ["db.corp.example resolves to a non-public address"]}
        assert answer not in json.dumps(problem)
    assert stored_row(db, subscription["id"])["target_url"] == TARGET


def test_operator_allowed_targets_may_be_internal(make_app, org):
    local = make_app(webhooks_allowed_targets="127.0.0.1/32")
    client = local.test_client(use_cookies=False)
    login = client.post("/api/auth/login", json={"email": org["admin"]["email"], "password": org["admin"]["password"]})
    headers = {"Authorization": f"Bearer {login.get_json()['access_token']}"}
    body = {
        "organization_id": str(org["id"]),
        "target_url": "http://127.0.0.1:8089/hook",
        "event_type": "task.completed",
    }
    response = client.post("/api/webhooks/subscriptions", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    # Only what the operator listed: other internal addresses stay refused.
    body["target_url"] = "http://10.0.0.1/hook"
    assert_problem(client.post("/api/webhooks/subscriptions", json=body, headers=headers), 422, "target_url")


def test_https_can_be_required(make_app, org):
    strict = make_app(webhooks_require_https=True)
    client = strict.test_client(use_cookies=False)
    login = client.post("/api/auth/login", json={"email": org["admin"]["email"], "password": org["admin"]["password"]})
    headers = {"Authorization": f"Bearer {login.get_json()['access_token']}"}
    body = {
        "organization_id": str(org["id"]),
        "target_url": "http://93.184.215.14/hook",
        "event_type": "task.completed",
    }
    problem = assert_problem(client.post("/api/webhooks/subscriptions", json=body, headers=headers), 422, "target_url")
    assert problem["errors"]["target_url"] == ["must use https"]
    body["target_url"] = "https://93.184.215.14/hook"
    assert client.post("/api/webhooks/subscriptions", json=body, headers=headers).status_code == 201


def test_an_update_rechecks_the_target(client, admin_headers, org, db):
    created = subscribe(client, admin_headers, org)
    url = f"/api/webhooks/subscriptions/{created['id']}"
    problem = assert_problem(
        client.put(url, json={"target_url": "http://169.254.169.254/"}, headers=admin_headers), 422
    )
    assert "metadata" in problem["errors"]["target_url"][0]
    assert stored_row(db, created["id"])["target_url"] == TARGET


# -- secrets -------------------------------------------------------------------------------------


def test_the_secret_is_shown_once_and_stored_encrypted(client, admin_headers, org, app, db):
    created = subscribe(client, admin_headers, org)
    secret = created["secret"]
    one = client.get(f"/api/webhooks/subscriptions/{created['id']}", headers=admin_headers)
    listed = client.get(f"/api/webhooks/subscriptions?organization_id={org['id']}", headers=admin_headers)
    for response in (one, listed):
        assert response.status_code == 200
        assert secret not in response.get_data(as_text=True)
        assert "whsec_" not in response.get_data(as_text=True)
    assert not any("secret" in name and "expires" not in name for name in one.get_json())
    assert one.get_json()["id"] == created["id"]
    assert one.get_json()["previous_secret_expires_at"] is None

    stored = bytes(stored_row(db, created["id"])["secret_encrypted"])
    assert secret.encode() not in stored
    assert signing.secret_key(secret) not in stored
    box = app.extensions["questbridge"].secretbox
    assert box.decrypt(stored, subscriptions.SECRET_PURPOSE) == secret


def test_rotation_with_grace_keeps_two_active_secrets(client, admin_headers, org, app, db):
    created = subscribe(client, admin_headers, org)
    url = f"/api/webhooks/subscriptions/{created['id']}/rotate-secret"
    before = datetime.now(UTC)
    response = client.post(url, json={"grace_seconds": 3600}, headers=admin_headers)
    assert response.status_code == 200, response.get_json()
    rotated = response.get_json()
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != created["secret"]
    expires_at = datetime.fromisoformat(rotated["previous_secret_expires_at"])
    assert before + timedelta(seconds=3590) < expires_at < before + timedelta(seconds=3610)

    box = app.extensions["questbridge"].secretbox
    row = stored_row(db, created["id"])
    now = datetime.now(UTC)
    assert subscriptions.active_secrets(box, row, now) == [rotated["secret"], created["secret"]]
    assert subscriptions.active_secrets(box, row, expires_at + timedelta(seconds=1)) == [rotated["secret"]]

    shown = client.get(f"/api/webhooks/subscriptions/{created['id']}", headers=admin_headers).get_json()
    assert shown["previous_secret_expires_at"] == rotated["previous_secret_expires_at"]
    assert rotated["secret"] not in json.dumps(shown)


def test_rotation_defaults_to_a_day_of_grace(client, admin_headers, org):
    created = subscribe(client, admin_headers, org)
    before = datetime.now(UTC)
    response = client.post(f"/api/webhooks/subscriptions/{created['id']}/rotate-secret", headers=admin_headers)
    assert response.status_code == 200, response.get_json()
    expires_at = datetime.fromisoformat(response.get_json()["previous_secret_expires_at"])
    assert before + timedelta(seconds=86390) < expires_at < before + timedelta(seconds=86410)


def test_rotation_without_grace_keeps_one_secret(client, admin_headers, org, app, db):
    created = subscribe(client, admin_headers, org)
    url = f"/api/webhooks/subscriptions/{created['id']}/rotate-secret"
    client.post(url, json={"grace_seconds": 3600}, headers=admin_headers)  # a previous secret to drop
    response = client.post(url, json={"grace_seconds": 0}, headers=admin_headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["previous_secret_expires_at"] is None
    row = stored_row(db, created["id"])
    assert row["previous_secret_encrypted"] is None
    box = app.extensions["questbridge"].secretbox
    assert subscriptions.active_secrets(box, row, datetime.now(UTC)) == [response.get_json()["secret"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"grace_seconds": -1}, "grace_seconds"),
        ({"grace_seconds": 604801}, "grace_seconds"),
        ({"grace_seconds": "60"}, "grace_seconds"),
        ({"grace_seconds": 1.5}, "grace_seconds"),
        ({"grace": 60}, "grace"),
    ],
)
def test_rotation_refuses_bad_grace(client, admin_headers, org, db, body, field):
    created = subscribe(client, admin_headers, org)
    url = f"/api/webhooks/subscriptions/{created['id']}/rotate-secret"
    assert_problem(client.post(url, json=body, headers=admin_headers), 422, field)
    assert stored_row(db, created["id"])["previous_secret_encrypted"] is None


def test_the_longest_grace_is_a_week(client, admin_headers, org):
    created = subscribe(client, admin_headers, org)
    url = f"/api/webhooks/subscriptions/{created['id']}/rotate-secret"
    assert client.post(url, json={"grace_seconds": 604800}, headers=admin_headers).status_code == 200


# -- reading, updating, deleting -----------------------------------------------------------------


def test_list_pages_through_the_organization_s_subscriptions(client, admin_headers, org):
    created = {subscribe(client, admin_headers, org)["id"] for _ in range(3)}
    listed, pages = walk_pages(client, f"/api/webhooks/subscriptions?organization_id={org['id']}", admin_headers, 2)
    seen = [item["id"] for item in listed]
    assert pages == 2
    assert sorted(seen) == sorted(created)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?organization_id=nope",
        "?organization_id=",
        "?organization_id={org}&limit=0",
        "?organization_id={org}&x=1",
        "?organization_id={org}&cursor=%%%",
    ],
)
def test_list_refuses_bad_queries(client, admin_headers, org, query):
    response = client.get("/api/webhooks/subscriptions" + query.format(org=org["id"]), headers=admin_headers)
    assert_problem(response, 422)


def test_update_changes_the_subscription(client, admin_headers, org, db):
    created = subscribe(client, admin_headers, org)
    url = f"/api/webhooks/subscriptions/{created['id']}"
    changes = {
        "target_url": "https://93.184.215.15/v2",
        "event_types": ["*", "*"],
        "active": False,
        "description": "paused for maintenance",
    }
    response = client.put(url, json=changes, headers=admin_headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["target_url"] == "https://93.184.215.15/v2"
    assert body["event_types"] == ["*"]
    assert body["active"] is False
    assert body["description"] == "paused for maintenance"
    assert datetime.fromisoformat(body["updated_at"]) >= datetime.fromisoformat(created["created_at"])
    assert "secret" not in body
    assert client.get(url, headers=admin_headers).get_json() == body
    # A partial update leaves the rest alone.
    body = client.put(url, json={"event_type": "task.completed"}, headers=admin_headers).get_json()
    assert body["event_types"] == ["task.completed"]
    assert body["target_url"] == "https://93.184.215.15/v2"
    assert body["active"] is False


def test_reactivating_clears_the_disabled_state(client, admin_headers, org, db):
    created = subscribe(client, admin_headers, org)
    with db.transaction("service_role") as conn:
        conn.execute(
            "update public.webhook_subscriptions set active = false, disabled_reason = 'endpoint answered 410 Gone',"
            " disabled_at = now(), failing_since = now() - interval '5 days' where id = %s",
            (created["id"],),
        )
    url = f"/api/webhooks/subscriptions/{created['id']}"
    disabled = client.get(url, headers=admin_headers).get_json()
    assert disabled["disabled_reason"] == "endpoint answered 410 Gone"
    assert disabled["disabled_at"] is not None
    body = client.put(url, json={"active": True}, headers=admin_headers).get_json()
    assert body["active"] is True
    assert body["disabled_reason"] is None
    assert body["disabled_at"] is None
    assert stored_row(db, created["id"])["failing_since"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, None),
        ({"active": "yes"}, "active"),
        ({"active": 1}, "active"),
        ({"event_types": []}, "event_types"),
        ({"event_types": ["Nope"]}, "event_types"),
        ({"event_types": ["a.b"], "event_type": "a.b"}, "event_types"),
        ({"target_url": "http://127.0.0.1/"}, "target_url"),
        ({"organization_id": str(uuid.uuid4())}, "organization_id"),  # a subscription cannot change hands
        ({"secret_encrypted": "x"}, "secret_encrypted"),
    ],
)
def test_update_refuses_bad_bodies(client, admin_headers, org, db, body, field):
    created = subscribe(client, admin_headers, org)
    response = client.put(f"/api/webhooks/subscriptions/{created['id']}", json=body, headers=admin_headers)
    assert_problem(response, 422, field)
    row = stored_row(db, created["id"])
    assert (row["active"], row["event_types"], row["target_url"]) == (True, ["quest.completed"], TARGET)


def test_delete_removes_the_subscription(client, admin_headers, org, db):
    created = subscribe(client, admin_headers, org)
    url = f"/api/webhooks/subscriptions/{created['id']}"
    response = client.delete(url, headers=admin_headers)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert stored_row(db, created["id"]) is None
    assert_problem(client.get(url, headers=admin_headers), 404)
    assert_problem(client.delete(url, headers=admin_headers), 404)


# -- who may do what -----------------------------------------------------------------------------

BY_ID = [
    ("get", "", None),
    ("put", "", {"active": False}),
    ("delete", "", None),
    ("post", "/rotate-secret", {"grace_seconds": 0}),
    ("post", "/redeliver-dead", {}),
]


@pytest.mark.parametrize(("method", "suffix", "body"), BY_ID)
def test_other_organizations_admins_get_404(client, admin_headers, stranger_headers, org, db, method, suffix, body):
    created = subscribe(client, admin_headers, org)
    url = f"/api/webhooks/subscriptions/{created['id']}{suffix}"
    stranger = assert_problem(getattr(client, method)(url, json=body, headers=stranger_headers), 404)
    # Indistinguishable from an id that does not exist.
    missing = f"/api/webhooks/subscriptions/{uuid.uuid4()}{suffix}"
    assert assert_problem(getattr(client, method)(missing, json=body, headers=stranger_headers), 404) == stranger
    row = stored_row(db, created["id"])
    assert row["active"] is True
    assert row["previous_secret_encrypted"] is None


@pytest.mark.parametrize(("method", "suffix", "body"), BY_ID)
def test_members_who_are_not_admins_get_403(client, admin_headers, member_headers, org, db, method, suffix, body):
    created = subscribe(client, admin_headers, org)
    url = f"/api/webhooks/subscriptions/{created['id']}{suffix}"
    assert_problem(getattr(client, method)(url, json=body, headers=member_headers), 403)
    assert stored_row(db, created["id"])["active"] is True


@pytest.mark.parametrize(("method", "suffix", "body"), BY_ID)
def test_anonymous_callers_get_401(client, admin_headers, org, method, suffix, body):
    created = subscribe(client, admin_headers, org)
    url = f"/api/webhooks/subscriptions/{created['id']}{suffix}"
    assert_problem(getattr(client, method)(url, json=body), 401)


@pytest.mark.parametrize(("method", "suffix", "body"), BY_ID)
def test_a_path_id_that_is_not_a_uuid_is_404(client, admin_headers, method, suffix, body):
    url = f"/api/webhooks/subscriptions/not-a-uuid{suffix}"
    assert_problem(getattr(client, method)(url, json=body, headers=admin_headers), 404)


def test_organizations_are_isolated(client, admin_headers, stranger_headers, member_headers, org, world, auth):
    subscribe(client, admin_headers, org)
    other = world.organization("Other")
    other_headers = auth.headers(other["admin"])
    subscribe(client, other_headers, other, target_url="https://93.184.215.16/other")

    ours = client.get(f"/api/webhooks/subscriptions?organization_id={org['id']}", headers=admin_headers).get_json()
    assert [item["organization_id"] for item in ours["data"]] == [str(org["id"])]
    assert_problem(client.get(f"/api/webhooks/subscriptions?organization_id={org['id']}", headers=other_headers), 404)
    assert_problem(client.get(f"/api/webhooks/subscriptions?organization_id={org['id']}", headers=member_headers), 403)
    body = {"organization_id": str(org["id"]), "target_url": TARGET, "event_type": "quest.completed"}
    assert_problem(client.post("/api/webhooks/subscriptions", json=body, headers=stranger_headers), 404)
    assert_problem(client.post("/api/webhooks/subscriptions", json=body, headers=member_headers), 403)


# -- the audit log -------------------------------------------------------------------------------


def test_changes_are_audited_without_secrets(client, admin_headers, org, db):
    created = subscribe(client, admin_headers, org, target_url=TARGET + "?token=receiver-token")
    url = f"/api/webhooks/subscriptions/{created['id']}"
    client.put(url, json={"event_types": ["*"], "active": False}, headers=admin_headers)
    rotated = client.post(url + "/rotate-secret", json={"grace_seconds": 60}, headers=admin_headers).get_json()
    client.delete(url, headers=admin_headers)

    entries = [entry for entry in audit_entries(db, org) if entry["action"].startswith("webhook_subscription.")]
    assert [entry["action"] for entry in entries] == [
        "webhook_subscription.created",
        "webhook_subscription.updated",
        "webhook_subscription.secret_rotated",
        "webhook_subscription.deleted",
    ]
    assert {entry["target_id"] for entry in entries} == {created["id"]}
    assert {entry["actor_id"] for entry in entries} == {org["admin"]["id"]}
    assert entries[0]["metadata"] == {"target_url": TARGET, "event_types": ["quest.completed"]}
    assert entries[1]["metadata"]["changed"] == ["active", "event_types"]
    assert entries[2]["metadata"] == {"grace_seconds": 60}
    logged = json.dumps([entry["metadata"] for entry in entries])
    for secret in (created["secret"], rotated["secret"]):
        assert secret not in logged
        assert secret.removeprefix("whsec_") not in logged
    assert "whsec_" not in logged
    assert "receiver-token" not in logged
