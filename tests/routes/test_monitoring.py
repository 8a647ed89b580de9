"""Monitoring endpoints, the audit log and /metrics, against real deliveries to a real receiver."""

from __future__ import annotations

import re
import uuid

import pytest

from backend.services.webhooks import engine, events, signing
from backend.services.webhooks.subscriptions import SECRET_PURPOSE
from tests.receiver import Answer
from tests.support import AuthActions, World


@pytest.fixture
def mon_app(make_app):
    return make_app(webhooks_allowed_targets="127.0.0.1/32", webhooks_backoff_seconds=(0,), webhooks_max_attempts=2)


@pytest.fixture
def env(mon_app):
    world = World(mon_app)
    client = mon_app.test_client()
    org, other = world.organization("Mon"), world.organization("Other")
    member = world.add_member(org)
    actions = AuthActions(client)
    return {
        "app": mon_app,
        "runtime": mon_app.extensions["questbridge"],
        "world": world,
        "client": client,
        "org": org,
        "other": other,
        "admin": actions.headers(org["admin"]),
        "member": actions.headers(member),
        "other_admin": actions.headers(other["admin"]),
    }


def subscribe(runtime, org, url):
    sub_id = uuid.uuid4()
    with runtime.db.transaction("service_role") as conn:
        conn.execute(
            "insert into public.webhook_subscriptions (id, organization_id, target_url, event_types, secret_encrypted)"
            " values (%s, %s, %s, array['*'], %s)",
            (sub_id, org["id"], url, runtime.secretbox.encrypt(signing.generate_secret(), SECRET_PURPOSE)),
        )
    return sub_id


def emit(runtime, org, count=1, event_type="task.completed"):
    with runtime.db.transaction("service_role") as conn:
        for i in range(count):
            events.emit_event(conn, org["id"], event_type, {"n": i})


def test_delivery_metrics_count_states_retries_and_latency(env, receiver):
    runtime, org = env["runtime"], env["org"]
    subscribe(runtime, org, receiver.url + "/ok")
    failing = subscribe(runtime, org, receiver.url + "/fail")
    receiver.answer = Answer(status=200)
    emit(runtime, org, count=3)
    with runtime.db.transaction("service_role") as conn:
        conn.execute(
            "update public.webhook_subscriptions set target_url = %s where id = %s", ("http://127.0.0.1:9/x", failing)
        )
    engine.run_pass(runtime)
    emit(env["runtime"], env["other"], count=2)  # another organization's queue must not be counted

    response = env["client"].get(f"/v1/monitoring/webhooks/metrics?organization_id={org['id']}", headers=env["admin"])

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["delivered"] == 3 and body["dead"] == 3 and body["pending"] == 0 and body["retrying"] == 0
    assert body["failed"] == 6  # 3 dead deliveries x 2 attempts
    assert body["avg_retry_count"] == pytest.approx(0.5)  # (3 x 0 + 3 x 1) / 6
    assert body["p50_latency_ms"] is not None and 0 <= body["p50_latency_ms"] <= body["p99_latency_ms"] < 60_000


def test_timeseries_has_a_bucket_per_minute_with_the_latest_attempts(env, receiver):
    runtime, org = env["runtime"], env["org"]
    subscribe(runtime, org, receiver.url)
    emit(runtime, org, count=2)
    engine.run_pass(runtime)

    response = env["client"].get(
        f"/v1/monitoring/webhooks/timeseries?organization_id={org['id']}&minutes=10", headers=env["admin"]
    )

    data = response.get_json()["data"]
    assert len(data) == 10
    assert [row["t"] for row in data] == sorted(row["t"] for row in data)
    assert sum(row["delivered"] for row in data[-2:]) == 2
    assert any(row["success_rate"] == 1.0 for row in data[-2:])


def test_recent_deliveries_filter_by_status_and_type(env, receiver):
    runtime, org = env["runtime"], env["org"]
    subscribe(runtime, org, receiver.url)
    emit(runtime, org, count=2, event_type="task.completed")
    emit(runtime, org, count=1, event_type="quest.completed")
    receiver.script([Answer(status=200)] * 3)
    engine.run_pass(runtime)
    emit(runtime, org, count=1, event_type="badge.earned")
    client, headers = env["client"], env["admin"]

    everything = client.get(f"/v1/monitoring/webhooks/recent?organization_id={org['id']}", headers=headers)
    pending = client.get(f"/v1/monitoring/webhooks/recent?organization_id={org['id']}&status=pending", headers=headers)
    quests = client.get(
        f"/v1/monitoring/webhooks/recent?organization_id={org['id']}&event_type=quest.completed", headers=headers
    )

    assert len(everything.get_json()["data"]) == 4
    assert [d["event_type"] for d in pending.get_json()["data"]] == ["badge.earned"]
    assert [d["status"] for d in quests.get_json()["data"]] == ["delivered"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/monitoring/webhooks/metrics",
        "/v1/monitoring/webhooks/timeseries",
        "/v1/monitoring/webhooks/recent",
        "/v1/monitoring/external/keys",
        "/api/audit",
    ],
)
def test_scope_rules(env, path):
    client, org = env["client"], env["org"]
    assert client.get(f"{path}?organization_id={org['id']}").status_code == 401
    assert client.get(f"{path}?organization_id={org['id']}", headers=env["member"]).status_code == 403
    assert client.get(f"{path}?organization_id={org['id']}", headers=env["other_admin"]).status_code == 404
    assert client.get(path, headers=env["member"]).status_code == 403  # administers nothing
    assert client.get(path, headers=env["admin"]).status_code == 200  # every organization they administer
    with env["runtime"].db.transaction("service_role") as conn:
        conn.execute("update public.profiles set platform_admin = true where id = %s", (org["admin"]["id"],))
    assert client.get(path, headers=env["admin"]).status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("organization_id=nope", "organization_id"),
        ("window_hours=0", "window_hours"),
        ("window_hours=abc", "window_hours"),
        ("surprise=1", "surprise"),
    ],
)
def test_bad_queries_name_the_field(env, query, field):
    response = env["client"].get(f"/v1/monitoring/webhooks/metrics?{query}", headers=env["admin"])
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


def test_without_organization_id_an_org_admin_sees_every_organization_they_administer(env, receiver):
    runtime, world = env["runtime"], env["world"]
    second = world.organization("Second", admin=env["org"]["admin"])
    for org, count in ((env["org"], 1), (second, 2), (env["other"], 4)):
        subscribe(runtime, org, receiver.url)
        emit(runtime, org, count=count)
    client = env["client"]
    body = client.get("/v1/monitoring/webhooks/metrics", headers=env["admin"]).get_json()
    assert body["pending"] == 3  # Mon and Second, never Other
    recent = client.get("/v1/monitoring/webhooks/recent", headers=env["admin"]).get_json()["data"]
    assert {d["organization_id"] for d in recent} == {str(env["org"]["id"]), str(second["id"])}


def test_platform_admins_see_every_organization(env, receiver):
    runtime = env["runtime"]
    subscribe(runtime, env["org"], receiver.url)
    subscribe(runtime, env["other"], receiver.url)
    emit(runtime, env["org"])
    emit(runtime, env["other"], count=2)
    with runtime.db.transaction("service_role") as conn:
        conn.execute("update public.profiles set platform_admin = true where id = %s", (env["org"]["admin"]["id"],))

    body = env["client"].get("/v1/monitoring/webhooks/metrics", headers=env["admin"]).get_json()
    scoped = (
        env["client"]
        .get(f"/v1/monitoring/webhooks/metrics?organization_id={env['org']['id']}", headers=env["admin"])
        .get_json()
    )

    assert body["pending"] == 3 and scoped["pending"] == 1


def test_audit_log_lists_security_actions_without_secrets(env, receiver):
    client, org, headers = env["client"], env["org"], env["admin"]
    created = client.post(
        "/api/webhooks/subscriptions",
        json={"organization_id": str(org["id"]), "target_url": receiver.url, "event_types": ["*"]},
        headers=headers,
    ).get_json()
    rotated = client.post(f"/api/webhooks/subscriptions/{created['id']}/rotate-secret", json={}, headers=headers)
    client.post(
        f"/api/organizations/{org['id']}/members",
        json={"email": "joiner@example.org", "role": "member"},
        headers=headers,
    )
    client.post("/api/auth/login", json={"email": org["admin"]["email"], "password": "wrong password!"})

    response = client.get(f"/api/audit?organization_id={org['id']}", headers=headers)

    assert response.status_code == 200
    entries = response.get_json()["data"]
    actions = [e["action"] for e in entries]
    for action in ("webhook_subscription.created", "webhook_subscription.secret_rotated", "invitation.created"):
        assert action in actions
    text = response.get_data(as_text=True)
    assert created["secret"] not in text and rotated.get_json()["secret"] not in text
    assert all(e["actor_email"] == org["admin"]["email"] for e in entries if e["action"].startswith("webhook"))
    only_rotations = client.get(
        f"/api/audit?organization_id={org['id']}&action=webhook_subscription.secret_rotated", headers=headers
    ).get_json()["data"]
    assert [e["action"] for e in only_rotations] == ["webhook_subscription.secret_rotated"]
    # Sign-ins belong to no organization: its admins see those of its members, and no one else's.
    assert "auth.login_failed" in actions and "auth.login_succeeded" in actions
    stranger = World(env["app"]).user()
    client.post("/api/auth/login", json={"email": stranger["email"], "password": "wrong password!"})
    again = client.get(f"/api/audit?organization_id={org['id']}&action=auth", headers=headers).get_json()["data"]
    targets = {e["target_id"] for e in again}
    assert str(org["admin"]["id"]) in targets
    assert str(stranger["id"]) not in targets and str(env["other"]["admin"]["id"]) not in targets
    with env["runtime"].db.transaction("service_role") as conn:
        conn.execute("update public.profiles set platform_admin = true where id = %s", (org["admin"]["id"],))
    everything = [e["action"] for e in client.get("/api/audit?limit=200", headers=headers).get_json()["data"]]
    assert "auth.login_failed" in everything and "auth.login_succeeded" in everything


def test_audit_log_pages_with_a_cursor(env):
    client, org, headers = env["client"], env["org"], env["admin"]
    for i in range(5):
        client.post(
            f"/api/organizations/{org['id']}/members",
            json={"email": f"m{i}@example.org", "role": "member"},
            headers=headers,
        )
    first = client.get(f"/api/audit?organization_id={org['id']}&limit=3", headers=headers).get_json()
    second = client.get(
        f"/api/audit?organization_id={org['id']}&limit=3&cursor={first['next_cursor']}", headers=headers
    ).get_json()
    ids = [e["id"] for e in first["data"] + second["data"]]
    assert len(first["data"]) == 3 and first["next_cursor"]
    assert len(ids) == len(set(ids)) >= 5


def _sample(text: str, name: str, labels: str = "") -> float:
    """The sum of the samples of `name` whose labels include every `key="value"` in `labels`."""
    wanted = set(re.findall(r'\w+="[^"]*"', labels))
    total = 0.0
    for match in re.finditer(rf"^{re.escape(name)}(?:\{{([^}}]*)\}})? ([0-9.e+-]+)$", text, re.MULTILINE):
        if wanted <= set(re.findall(r'\w+="[^"]*"', match.group(1) or "")):
            total += float(match.group(2))
    return total


def test_prometheus_metrics_move_after_a_delivery(env, receiver):
    runtime, org, client = env["runtime"], env["org"], env["client"]
    subscribe(runtime, org, receiver.url)
    before = client.get("/metrics").get_data(as_text=True)
    emit(runtime, org, count=2)
    pending = client.get("/metrics").get_data(as_text=True)
    engine.run_pass(runtime)

    after = client.get("/metrics").get_data(as_text=True)

    assert _sample(pending, "questbridge_webhook_queue_depth", 'status="pending"') == 2
    assert _sample(after, "questbridge_webhook_queue_depth", 'status="pending"') == 0
    assert _sample(after, "questbridge_webhook_queue_depth", 'status="delivered"') == 2
    delivered = 'outcome="delivered"'
    assert (
        _sample(after, "questbridge_webhook_deliveries_total", delivered)
        - _sample(before, "questbridge_webhook_deliveries_total", delivered)
        == 2
    )
    assert (
        _sample(after, "questbridge_webhook_emit_to_delivered_seconds_count")
        - _sample(before, "questbridge_webhook_emit_to_delivered_seconds_count")
        == 2
    )
    assert 'route="/metrics"' in after and "questbridge_http_request_duration_seconds_bucket" in after


def test_rate_limit_refusals_are_counted(make_app):
    app = make_app(login_max_failures_per_email=1)
    client = app.test_client()
    from backend.services.shared import rate_limit

    runtime = app.extensions["questbridge"]
    before = _sample(
        client.get("/metrics").get_data(as_text=True), "questbridge_rate_limit_hits_total", 'limiter="test"'
    )
    with runtime.db.transaction("service_role") as conn:
        assert rate_limit.hit(conn, "test:bucket", 1, 60).allowed
        assert not rate_limit.hit(conn, "test:bucket", 1, 60).allowed
    after = _sample(
        client.get("/metrics").get_data(as_text=True), "questbridge_rate_limit_hits_total", 'limiter="test"'
    )
    assert after - before == 1


def test_api_key_refusals_and_issued_tokens_are_counted(make_app):
    from tests.oauth.support import client_credentials, register

    app = make_app(
        api_key_tiers={
            "starter": {"per_day": 1000, "per_minute": 1},
            "pro": {"per_day": 1, "per_minute": 1},
            "enterprise": {"per_day": 1, "per_minute": 1},
        }
    )
    client = app.test_client()
    org = World(app).organization()
    headers = AuthActions(client).headers(org["admin"])
    key = client.post(
        "/v1/admin/external/keys",
        json={"organization_id": str(org["id"]), "name": "k", "tier": "starter"},
        headers=headers,
    ).get_json()["api_key"]
    lms = register(client, headers, org)

    def metrics():
        return client.get("/metrics").get_data(as_text=True)

    before = metrics()
    statuses = [client.get("/v1/external/key", headers={"X-API-Key": key}).status_code for _ in range(3)]
    assert statuses == [200, 429, 429]
    assert client_credentials(client, lms).status_code == 200
    after = metrics()
    hits = 'limiter="api_key"'
    assert (
        _sample(after, "questbridge_rate_limit_hits_total", hits)
        - _sample(before, "questbridge_rate_limit_hits_total", hits)
        == 2
    )
    issued = 'grant_type="client_credentials"'
    name = "questbridge_oauth_tokens_issued_total"
    assert _sample(after, name, issued) - _sample(before, name, issued) == 1


def test_metrics_token_is_required_when_configured(make_app):
    client = make_app(metrics_token="m" * 40).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer " + "m" * 40}).status_code == 200


def test_api_key_usage_by_tier(env):
    client, org, headers = env["client"], env["org"], env["admin"]
    created = client.post(
        "/v1/admin/external/keys",
        json={"organization_id": str(org["id"]), "name": "LMS", "tier": "starter"},
        headers=headers,
    ).get_json()
    for _ in range(3):
        pushed = client.post(
            "/v1/external/events",
            json={"event_type": "lms.sync_done", "data": {}},
            headers={"X-API-Key": created["api_key"]},
        )
        assert pushed.status_code == 202, pushed.get_json()

    response = client.get(f"/v1/monitoring/external/keys?organization_id={org['id']}", headers=headers)

    rows = {row["tier"]: row for row in response.get_json()["data"]}
    assert rows["starter"]["keys"] == 1
    assert rows["starter"]["requests_today"] == 3
    assert rows["starter"]["unique_consumers"] == 1
    assert rows["starter"]["rate_limit_hits"] == 0


def test_inbound_metrics_move_after_an_inbound_event(make_app):
    import hashlib
    import hmac
    import json
    import time

    secret = "a" * 40
    app = make_app(autograder_webhook_secrets=(secret,))
    client = app.test_client()
    world = World(app)
    org = world.organization()
    learner = world.add_member(org)
    runtime = app.extensions["questbridge"]
    with runtime.db.transaction("authenticated", world.claims(org["admin"])) as conn:
        quest = conn.execute(
            "insert into public.quests (organization_id, title) values (%s, 'Q') returning id", (org["id"],)
        ).fetchone()
        task = conn.execute(
            "insert into public.tasks (quest_id, organization_id, title, pillar, xp) values (%s, %s, 'T', 'p', 1)"
            " returning id",
            (quest["id"], org["id"]),
        ).fetchone()
    with runtime.db.transaction("authenticated", world.claims(learner)) as conn:
        submission = conn.execute(
            "insert into public.submissions (task_id, organization_id, user_id, content) values (%s, %s, %s, 'x')"
            " returning id",
            (task["id"], org["id"], learner["id"]),
        ).fetchone()
    before = client.get("/metrics").get_data(as_text=True)
    body = json.dumps(
        {
            "submission_id": str(submission["id"]),
            "score": 8,
            "max_score": 10,
            "feedback": "ok",
            "timestamp": int(time.time()),
        }
    ).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()

    accepted = client.post(
        "/api/webhooks/autograder/",
        data=body,
        headers={"Content-Type": "application/json", "X-Autograder-Signature": signature},
    )
    refused = client.post(
        "/api/webhooks/autograder/",
        data=body,
        headers={"Content-Type": "application/json", "X-Autograder-Signature": "0" * 64},
    )
    after = client.get("/metrics").get_data(as_text=True)

    assert accepted.status_code == 202 and refused.status_code == 401
    received = "questbridge_inbound_events_received_total"
    assert (
        _sample(after, received, 'source="autograder",result="accepted"')
        - _sample(before, received, 'source="autograder",result="accepted"')
        == 1
    )
    assert (
        _sample(after, received, 'source="autograder",result="rejected"')
        - _sample(before, received, 'source="autograder",result="rejected"')
        == 1
    )
    assert _sample(after, "questbridge_inbound_events", 'status="pending"') == 1
