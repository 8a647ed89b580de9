"""Every failure is RFC 9457 problem+json, whatever raised it; request ids are echoed or generated."""

from __future__ import annotations

import re
import uuid

import pytest
from flask import jsonify

from tests.support import assert_problem

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture
def signed_in(app, world):
    user = world.user()
    response = app.test_client(use_cookies=False).post(
        "/api/auth/login", json={"email": user["email"], "password": user["password"]}
    )
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def test_unknown_route_is_404(client):
    body = assert_problem(client.get("/no/such/thing"), 404)
    assert body["type"] == "urn:questbridge:problem:not-found"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("put", "/healthz", {"GET", "HEAD", "OPTIONS"}),
        ("get", "/api/auth/login", {"POST", "OPTIONS"}),
        ("delete", "/api/organizations", {"GET", "HEAD", "POST", "OPTIONS"}),
    ],
)
def test_wrong_method_is_405_with_allow(client, method, path, allowed):
    response = getattr(client, method)(path)
    assert_problem(response, 405)
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allowed


@pytest.mark.parametrize(
    ("data", "content_type", "status", "field"),
    [
        (b'{"email": ', "application/json", 400, "body"),
        (b"\xff\xfe not utf-8", "application/json", 400, "body"),
        (b'["email", "password"]', "application/json", 400, "body"),
        (b'"a string"', "application/json", 400, "body"),
        (b"null", "application/json", 400, "body"),
        (b"email=a@b.test&password=x", "application/x-www-form-urlencoded", 415, None),
        (b'{"email": "a@b.test", "password": "x"}', "text/plain", 415, None),
        (b'{"email": "a@b.test", "password": "x"}', None, 415, None),
    ],
    ids=["truncated", "not-utf8", "array", "string", "null", "form", "text-plain", "no-content-type"],
)
def test_bad_bodies(client, data, content_type, status, field):
    headers = {"Content-Type": content_type} if content_type else {}
    body = assert_problem(client.post("/api/auth/login", data=data, headers=headers), status)
    if field:
        assert field in body["errors"]


def test_json_with_charset_and_vendor_types_are_accepted(client, world):
    user = world.user()
    for content_type in ("application/json; charset=utf-8", "application/vnd.api+json"):
        response = client.post(
            "/api/auth/login",
            data=f'{{"email": "{user["email"]}", "password": "{user["password"]}"}}',
            headers={"Content-Type": content_type},
        )
        assert response.status_code == 200, content_type


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"email": "a@b.test", "password": "x", "admin": True}, {"admin"}),
        ({"email": "a@b.test", "password": "x", "role": "x", "org": 1}, {"role", "org"}),
        ({}, {"email", "password"}),
    ],
)
def test_validation_errors_are_422_with_errors_per_field(client, body, errors):
    problem = assert_problem(client.post("/api/auth/login", json=body), 422)
    assert set(problem["errors"]) == errors
    assert all(isinstance(v, list) and v for v in problem["errors"].values())
    for field in errors:
        assert field in problem["detail"]


@pytest.mark.parametrize("size", [1024 * 1024 + 1, 3 * 1024 * 1024])
def test_body_over_one_mebibyte_is_413(client, size):
    data = b'{"email": "' + b"a" * size + b'"}'
    assert_problem(client.post("/api/auth/login", data=data, content_type="application/json"), 413)


def test_body_just_under_the_limit_is_read(client):
    data = b'{"email": "' + b"a" * (1024 * 1024 - 100) + b'"}'
    problem = assert_problem(client.post("/api/auth/login", data=data, content_type="application/json"), 422)
    assert "email" in problem["errors"]


@pytest.mark.parametrize("name", ["   ", "\t\n"])
def test_a_check_constraint_violation_is_422_naming_the_field(client, signed_in, name):
    problem = assert_problem(client.post("/api/organizations", json={"name": name}, headers=signed_in), 422)
    assert "name" in problem["errors"]


@pytest.fixture
def app_with_probe_routes(make_app):
    """An app with routes that hit the database in ways no public route can on purpose."""
    app = make_app()
    runtime = app.extensions["questbridge"]

    @app.post("/_test/duplicate-profile")
    def duplicate_profile():
        with runtime.db.transaction("service_role") as conn:
            for _ in range(2):
                user_id = uuid.uuid4()
                conn.execute("insert into auth.users (id, email) values (%s, %s)", (user_id, "dup@example.test"))
                conn.execute(
                    "insert into public.profiles (id, email) values (%s, %s)"
                    " on conflict (id) do update set email = excluded.email",
                    (user_id, "Dup@Example.test"),
                )
        return jsonify(ok=True)

    @app.post("/_test/unmapped-unique")
    def unmapped_unique():
        with runtime.db.transaction("service_role") as conn:
            token_hash = b"same-hash"
            user_id = uuid.uuid4()
            conn.execute("insert into auth.users (id, email) values (%s, %s)", (user_id, "u@example.test"))
            for _ in range(2):
                conn.execute(
                    "insert into public.auth_sessions (user_id, token_hash, expires_at) values (%s, %s, now())",
                    (user_id, token_hash),
                )
        return jsonify(ok=True)

    @app.post("/_test/rls-refusal")
    def rls_refusal():
        claims = {"sub": str(uuid.uuid4()), "role": "authenticated"}
        with runtime.db.transaction("authenticated", claims) as conn:
            conn.execute(
                "insert into public.organizations (id, name, created_by) values (%s, 'x', %s)",
                (uuid.uuid4(), uuid.uuid4()),
            )
        return jsonify(ok=True)

    @app.get("/_test/boom")
    def boom():
        raise RuntimeError("kaboom: internal detail /srv/secret/path password=hunter2")

    @app.get("/_test/sql-error")
    def sql_error():
        with runtime.db.transaction("service_role") as conn:
            conn.execute("select * from public.no_such_table")
        return jsonify(ok=True)

    return app


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/_test/duplicate-profile", 409, "email"),
        ("/_test/unmapped-unique", 409, None),
        ("/_test/rls-refusal", 403, None),
    ],
)
def test_database_errors_map_to_api_errors(app_with_probe_routes, path, status, field):
    problem = assert_problem(app_with_probe_routes.test_client().post(path), status)
    if field:
        assert field in problem["errors"]
    assert "psycopg" not in str(problem) and "INSERT" not in str(problem).upper()


@pytest.mark.parametrize("path", ["/_test/boom", "/_test/sql-error"])
def test_a_500_reveals_nothing_of_the_failure(app_with_probe_routes, path, capfd):
    response = app_with_probe_routes.test_client().get(path)

    problem = assert_problem(response, 500)
    text = response.get_data(as_text=True)
    for leak in ("Traceback", "kaboom", "hunter2", "/srv/secret", "no_such_table", ".py"):
        assert leak not in text
    assert problem["type"] == "urn:questbridge:problem:internal-error"
    capfd.readouterr()


def test_a_500_is_logged_with_its_request_id(make_app, capfd):
    app = make_app()

    @app.get("/_test/boom")
    def boom():
        raise RuntimeError("kaboom")

    response = app.test_client().get("/_test/boom", headers={"X-Request-ID": "trace-me-123"})
    assert response.status_code == 500
    out = capfd.readouterr().out
    assert "unhandled_error" in out
    assert "trace-me-123" in out
    assert "kaboom" in out  # operators see the cause; clients do not


@pytest.mark.parametrize(
    "incoming",
    ["abc-123", "req_01HZX:part.2", "A" * 128, str(uuid.uuid4())],
)
def test_a_valid_request_id_is_echoed(client, incoming):
    for path in ("/healthz", "/missing"):
        response = client.get(path, headers={"X-Request-ID": incoming})
        assert response.headers["X-Request-ID"] == incoming


@pytest.mark.parametrize(
    "incoming",
    [None, "", "has spaces", "A" * 129, "semi;colon", "ünïcode", "<script>"],
)
def test_a_missing_or_invalid_request_id_is_replaced(client, incoming):
    headers = {"X-Request-ID": incoming} if incoming is not None else {}
    response = client.get("/healthz", headers=headers)
    generated = response.headers["X-Request-ID"]
    assert UUID4.match(generated)
    assert generated != incoming
    assert client.get("/healthz").headers["X-Request-ID"] != generated


def test_request_id_is_on_error_responses_and_responses_are_nosniff(client):
    response = client.post("/api/auth/login", data=b"[", content_type="application/json")
    assert UUID4.match(response.headers["X-Request-ID"])
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/organizations", {"name": "a\u0000b"}, "name"),
        ("/api/auth/login", {"email": "x@y.z", "password": "p\u0000"}, "password"),
    ],
)
def test_nul_characters_are_refused_naming_the_field(client, auth, world, path, body, field):
    headers = auth.headers(world.user())
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert field in response.get_json()["errors"]


LONE = "\ud800"  # valid in a JSON string as an escape, but it has no UTF-8 form for Postgres


@pytest.fixture
def course(client, auth, world):
    org = world.organization()
    headers = auth.headers(org["admin"])
    quest = client.post("/api/quests", json={"organization_id": str(org["id"]), "title": "Q"}, headers=headers)
    quest_id = quest.get_json()["id"]
    task = client.post(
        f"/api/quests/{quest_id}/tasks", json={"title": "T", "pillar": "craft", "xp": 5}, headers=headers
    )
    key = client.post(
        "/v1/admin/external/keys",
        json={"organization_id": str(org["id"]), "name": "k", "tier": "starter"},
        headers=headers,
    ).get_json()["api_key"]
    return {"org": str(org["id"]), "quest": quest_id, "task": task.get_json()["id"], "headers": headers, "key": key}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/auth/login", {"email": "x@y.z", "password": "p" + LONE}, "password"),
        ("/api/auth/login", {"email": LONE + "x@y.z", "password": "p"}, "email"),
        ("/api/auth/password-reset", {"token": "t" + LONE, "password": "a new long password"}, "token"),
        ("/api/organizations", {"name": "a" + LONE}, "name"),
        ("/api/quests", {"organization_id": "{org}", "title": LONE}, "title"),
        ("/api/quests/{quest}/tasks", {"title": LONE, "pillar": "craft", "xp": 1}, "title"),
        ("/api/tasks/{task}/submissions", {"content": "x" + LONE}, "content"),
        (
            "/api/webhooks/subscriptions",
            {"organization_id": "{org}", "target_url": "https://93.184.215.14/" + LONE, "event_types": ["*"]},
            "target_url",
        ),
        ("/v1/admin/external/keys", {"organization_id": "{org}", "name": LONE, "tier": "starter"}, "name"),
        (
            "/api/oauth/clients",
            {"organization_id": "{org}", "name": LONE, "redirect_uris": ["https://lms.example.edu/cb"]},
            "name",
        ),
        ("/v1/external/events", {"event_type": "partner.x", "data": {"a": [LONE]}}, "data"),
        ("/v1/external/events", {"event_type": "partner.x", "data": {LONE: 1}}, "data"),
        ("/v1/external/events", {"event_type": "partner.x", LONE: 1}, "body"),
    ],
)
def test_unpaired_surrogates_are_refused_naming_the_field(client, course, path, body, field):
    body = {name: value.format(**course) if value in ("{org}",) else value for name, value in body.items()}
    headers = course["headers"] | {"X-API-Key": course["key"]}
    response = client.post(path.format(**course), json=body, headers=headers)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert "surrogates" in response.get_json()["errors"][field][0]


def _cursor(*values) -> str:
    import base64
    import json

    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor("2026-01-01T00:00:00+00:00", "not-a-uuid"),
        _cursor("2026-01-01T00:00:00+00:00", "123"),  # an audit-log id, not an organization's
        _cursor("2026-01-01T00:00:00+00:00", "\uff11\uff12\uff13"),  # fullwidth digits
        _cursor("2026-01-01T00:00:00", "6a2f41a3-c54c-4c01-9d5b-c5a7e28b3f39"),  # no time zone
        _cursor("yesterday", "6a2f41a3-c54c-4c01-9d5b-c5a7e28b3f39"),
        _cursor("2026-01-01T00:00:00+00:00"),
        "not base64 at all!",
    ],
)
def test_a_forged_cursor_is_refused_naming_cursor(client, auth, world, cursor):
    response = client.get("/api/organizations", query_string={"cursor": cursor}, headers=auth.headers(world.user()))
    assert response.status_code == 422
    assert "cursor" in response.get_json()["errors"]


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor("2026-01-01T00:00:00+00:00", "6a2f41a3-c54c-4c01-9d5b-c5a7e28b3f39"),
        _cursor("2026-01-01T00:00:00+00:00", "9" * 30),
        _cursor("2026-01-01T00:00:00+00:00", "-5"),
        _cursor("2026-01-01T00:00:00+00:00", 7),
    ],
)
def test_a_forged_audit_cursor_is_refused_naming_cursor(client, auth, world, cursor):
    org = world.organization()
    response = client.get(
        "/api/audit",
        query_string={"organization_id": str(org["id"]), "cursor": cursor},
        headers=auth.headers(org["admin"]),
    )
    assert response.status_code == 422, response.get_json()
    assert "cursor" in response.get_json()["errors"]


def test_absurdly_deep_json_is_a_bad_request_not_a_crash(client, auth, world):
    body = "[" * 100_000 + "]" * 100_000
    response = client.post(
        "/api/organizations",
        data=body,
        headers={**auth.headers(world.user()), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "body" in response.get_json()["errors"]
