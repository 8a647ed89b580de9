"""LMS platforms over HTTP: registration per the contract, the tool object, uniqueness, who may see
and change them, field-named refusals, the SSRF guard on the platform's URLs, and Canvas's JSON."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.oauth.support import client_credentials
from tests.oauth.support import register as register_client
from tests.support import AuthActions, World, assert_problem, csrf_header, rows

PUBLIC = "https://93.184.215.14"  # a public address literal: no DNS needed
BASE = "http://127.0.0.1:8000"  # PUBLIC_URL's default: the base of the tool's URLs
AGS = "https://purl.imsglobal.org/spec/lti-ags/scope"
RESPONSE_FIELDS = {
    "id",
    "organization_id",
    "name",
    "issuer",
    "client_id",
    "deployment_ids",
    "auth_login_url",
    "auth_token_url",
    "key_set_url",
    "auth_token_audience",
    "created_at",
    "tool",
}


def registration(org, **overrides) -> dict:
    return {
        "organization_id": str(org["id"]),
        "name": "Canvas",
        "issuer": "https://canvas.instructure.com",
        "client_id": "10000000000042",
        "deployment_ids": ["5:d3a2"],
        "auth_login_url": f"{PUBLIC}/api/lti/authorize_redirect",
        "auth_token_url": f"{PUBLIC}/login/oauth2/token",
        "key_set_url": f"{PUBLIC}/api/lti/security/jwks",
    } | overrides


def register(client, headers, org, **overrides) -> dict:
    response = client.post("/api/lti/platforms", json=registration(org, **overrides), headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_register_answers_the_contract_body_with_the_tool_urls(client, admin_headers, org):
    platform = register(
        client, admin_headers, org, auth_token_audience="https://school.instructure.com/login/oauth2/token"
    )
    assert RESPONSE_FIELDS <= platform.keys()
    assert platform["organization_id"] == str(org["id"])
    assert platform["deployment_ids"] == ["5:d3a2"]
    assert platform["auth_token_audience"] == "https://school.instructure.com/login/oauth2/token"
    assert platform["created_at"].endswith("Z")
    assert platform["tool"] == {
        "login_url": f"{BASE}/lti/login",
        "launch_url": f"{BASE}/lti/launch",
        "jwks_url": f"{BASE}/lti/jwks.json",
        "redirect_uris": [f"{BASE}/lti/launch"],
        "deep_linking_url": f"{BASE}/lti/launch",
        "canvas_config_url": f"{BASE}/lti/canvas.json?platform_id={platform['id']}",
    }
    assert client.get(f"/api/lti/platforms/{platform['id']}", headers=admin_headers).get_json() == platform


def test_the_tool_urls_follow_public_url(make_app):
    app = make_app(public_url="https://quests.example.edu/")
    client = app.test_client()
    org = World(app).organization("Academy")
    platform = register(client, AuthActions(client).headers(org["admin"]), org)
    assert platform["tool"]["login_url"] == "https://quests.example.edu/lti/login"
    assert platform["tool"]["canvas_config_url"].startswith("https://quests.example.edu/lti/canvas.json?")


def test_audience_is_optional_and_deployments_may_start_empty(client, admin_headers, org):
    platform = register(client, admin_headers, org, deployment_ids=[])
    assert platform["auth_token_audience"] is None
    assert platform["deployment_ids"] == []


def test_list_get_update_delete(client, admin_headers, org, db):
    first = register(client, admin_headers, org)
    second = register(client, admin_headers, org, name="Moodle", issuer="https://moodle.example.edu", client_id="abc")
    listed = client.get(f"/api/lti/platforms?organization_id={org['id']}", headers=admin_headers).get_json()
    assert [p["id"] for p in listed["data"]] == [second["id"], first["id"]]
    assert listed["next_cursor"] is None
    assert all(p["tool"]["jwks_url"] == f"{BASE}/lti/jwks.json" for p in listed["data"])

    paged = client.get(f"/api/lti/platforms?organization_id={org['id']}&limit=1", headers=admin_headers).get_json()
    assert [p["id"] for p in paged["data"]] == [second["id"]]
    rest = client.get(
        f"/api/lti/platforms?organization_id={org['id']}&limit=1&cursor={paged['next_cursor']}", headers=admin_headers
    ).get_json()
    assert [p["id"] for p in rest["data"]] == [first["id"]]

    changed = client.put(
        f"/api/lti/platforms/{first['id']}",
        json={"name": "Canvas (prod)", "deployment_ids": ["5:d3a2", "7:ffee", "5:d3a2"], "auth_token_audience": "aud"},
        headers=admin_headers,
    )
    assert changed.status_code == 200, changed.get_json()
    body = changed.get_json()
    assert (body["name"], body["deployment_ids"], body["auth_token_audience"]) == (
        "Canvas (prod)",
        ["5:d3a2", "7:ffee"],
        "aud",
    )
    assert body["issuer"] == first["issuer"] and body["tool"] == first["tool"]
    cleared = client.put(
        f"/api/lti/platforms/{first['id']}", json={"auth_token_audience": None}, headers=admin_headers
    ).get_json()
    assert cleared["auth_token_audience"] is None and cleared["name"] == "Canvas (prod)"

    assert client.delete(f"/api/lti/platforms/{first['id']}", headers=admin_headers).status_code == 204
    assert_problem(client.get(f"/api/lti/platforms/{first['id']}", headers=admin_headers), 404)
    assert_problem(client.delete(f"/api/lti/platforms/{first['id']}", headers=admin_headers), 404)
    actions = [
        r["action"]
        for r in rows(db, "select action from public.audit_log where target_type = 'lti_platform' order by id")
    ]
    assert actions == [
        "lti_platform.created",
        "lti_platform.created",
        "lti_platform.updated",
        "lti_platform.updated",
        "lti_platform.deleted",
    ]


def test_issuer_and_client_id_are_unique(client, admin_headers, org):
    register(client, admin_headers, org)
    assert_problem(client.post("/api/lti/platforms", json=registration(org), headers=admin_headers), 409, "client_id")
    other = register(client, admin_headers, org, client_id="other")
    clash = client.put(f"/api/lti/platforms/{other['id']}", json={"client_id": "10000000000042"}, headers=admin_headers)
    assert_problem(clash, 409, "client_id")
    beta = register(client, admin_headers, org, issuer="https://canvas.beta.instructure.com")
    assert beta["client_id"] == "10000000000042"  # the same client id at another issuer is another platform


def test_the_same_pair_in_another_organization_is_a_conflict(client, org, world, auth):
    other_org = world.organization("Elsewhere")
    register(client, auth.headers(org["admin"]), org)
    response = client.post("/api/lti/platforms", json=registration(other_org), headers=auth.headers(other_org["admin"]))
    assert_problem(response, 409, "client_id")


def test_members_get_403_and_strangers_404(client, admin_headers, member_headers, stranger_headers, org):
    platform = register(client, admin_headers, org)
    path = f"/api/lti/platforms/{platform['id']}"
    for method, body in (("get", None), ("put", {"name": "Mine"}), ("delete", None)):
        assert_problem(getattr(client, method)(path, json=body, headers=member_headers), 403)
        assert_problem(getattr(client, method)(path, json=body, headers=stranger_headers), 404)
    assert_problem(client.get(f"/api/lti/platforms/{uuid.uuid4()}", headers=admin_headers), 404)
    assert_problem(client.post("/api/lti/platforms", json=registration(org), headers=member_headers), 403)
    assert_problem(client.post("/api/lti/platforms", json=registration(org), headers=stranger_headers), 404)
    assert_problem(client.get(f"/api/lti/platforms?organization_id={org['id']}", headers=member_headers), 403)
    assert_problem(client.get(f"/api/lti/platforms?organization_id={org['id']}", headers=stranger_headers), 404)
    assert client.get(path, headers=admin_headers).get_json()["name"] == "Canvas"


def test_anonymous_callers_are_refused(client, admin_headers, org):
    platform = register(client, admin_headers, org)
    assert_problem(client.get(f"/api/lti/platforms/{platform['id']}"), 401)
    assert_problem(client.post("/api/lti/platforms", json=registration(org)), 401)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"issuer": "not a url"}, "issuer"),
        ({"issuer": None}, "issuer"),
        ({"client_id": ""}, "client_id"),
        ({"client_id": "x" * 256}, "client_id"),
        ({"deployment_ids": "5:d3a2"}, "deployment_ids"),
        ({"deployment_ids": [""]}, "deployment_ids"),
        ({"deployment_ids": [f"d{i}" for i in range(101)]}, "deployment_ids"),
        ({"auth_login_url": "ftp://93.184.215.14/auth"}, "auth_login_url"),
        ({"auth_token_url": "https://user:pw@93.184.215.14/token"}, "auth_token_url"),
        ({"key_set_url": ""}, "key_set_url"),
        ({"auth_token_audience": ""}, "auth_token_audience"),
        ({"organization_id": "nope"}, "organization_id"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_fields_are_named(client, admin_headers, org, change, field):
    response = client.post("/api/lti/platforms", json=registration(org) | change, headers=admin_headers)
    assert_problem(response, 422, field)


@pytest.mark.parametrize(
    "field", ["name", "issuer", "client_id", "deployment_ids", "auth_login_url", "auth_token_url", "key_set_url"]
)
def test_required_fields_are_named(client, admin_headers, org, field):
    body = registration(org)
    del body[field]
    assert_problem(client.post("/api/lti/platforms", json=body, headers=admin_headers), 422, field)


def test_an_empty_change_is_refused(client, admin_headers, org):
    platform = register(client, admin_headers, org)
    assert_problem(client.put(f"/api/lti/platforms/{platform['id']}", json={}, headers=admin_headers), 422)
    moved = client.put(
        f"/api/lti/platforms/{platform['id']}", json={"organization_id": str(uuid.uuid4())}, headers=admin_headers
    )
    assert_problem(moved, 422, "organization_id")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://10.0.0.5/jwks", "private"),
        ("https://127.0.0.1/jwks", "127.0.0.1"),
        ("https://localhost/jwks", "internal host name"),
    ],
)
@pytest.mark.parametrize("field", ["auth_login_url", "auth_token_url", "key_set_url"])
def test_internal_platform_urls_are_refused(client, admin_headers, org, db, field, url, reason):
    response = client.post("/api/lti/platforms", json=registration(org, **{field: url}), headers=admin_headers)
    body = assert_problem(response, 422, field)
    assert reason in body["errors"][field][0]
    platform = register(client, admin_headers, org, client_id="kept")
    changed = client.put(f"/api/lti/platforms/{platform['id']}", json={field: url}, headers=admin_headers)
    assert_problem(changed, 422, field)
    assert rows(db, f"select {field} from public.lti_platforms")[0][field] == platform[field]


def test_allowed_targets_admit_a_local_platform_and_https_can_be_required(make_app):
    local = make_app(webhooks_allowed_targets="127.0.0.1/32")
    client = local.test_client()
    org = World(local).organization("Academy")
    headers = AuthActions(client).headers(org["admin"])
    platform = register(client, headers, org, key_set_url="http://127.0.0.1:9001/jwks")
    assert platform["key_set_url"] == "http://127.0.0.1:9001/jwks"

    strict = make_app(webhooks_require_https=True)
    client = strict.test_client()
    org = World(strict).organization("Strict")
    headers = AuthActions(client).headers(org["admin"])
    response = client.post(
        "/api/lti/platforms", json=registration(org, key_set_url="http://93.184.215.14/jwks"), headers=headers
    )
    assert "https" in assert_problem(response, 422, "key_set_url")["errors"]["key_set_url"][0]


def test_cookie_sessions_need_the_csrf_token(client, auth, org):
    signed_in = auth.login(org["admin"]["email"])
    assert signed_in.status_code == 200
    refused = client.post("/api/lti/platforms", json=registration(org))
    assert_problem(refused, 403)
    accepted = client.post("/api/lti/platforms", json=registration(org), headers=csrf_header(signed_in))
    assert accepted.status_code == 201, accepted.get_json()


def test_oauth_tokens_cannot_manage_platforms(client, admin_headers, org):
    lms = register_client(client, admin_headers, org)
    token = client_credentials(client, lms).get_json()["access_token"]
    response = client.get(
        f"/api/lti/platforms?organization_id={org['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert_problem(response, 403, slug="oauth-token-not-accepted")


def test_canvas_json_is_the_developer_key_configuration(client, admin_headers, org):
    platform = register(client, admin_headers, org)
    response = client.get(platform["tool"]["canvas_config_url"].removeprefix(BASE))  # Canvas sends no session
    assert response.status_code == 200
    config = response.get_json()
    assert config["title"] and config["description"]
    assert config["oidc_initiation_url"] == platform["tool"]["login_url"]
    assert config["target_link_uri"] == platform["tool"]["launch_url"]
    assert config["public_jwk_url"] == platform["tool"]["jwks_url"]
    assert set(config["scopes"]) == {
        f"{AGS}/lineitem",
        f"{AGS}/lineitem.readonly",
        f"{AGS}/result.readonly",
        f"{AGS}/score",
    }
    (extension,) = config["extensions"]
    assert extension["platform"] == "canvas.instructure.com"
    assert extension["domain"] == urlsplit(BASE).netloc
    placements = extension["settings"]["placements"]
    assert {p["placement"] for p in placements} >= {"assignment_selection", "link_selection"}
    assert all(p["message_type"] == "LtiDeepLinkingRequest" for p in placements)
    assert all(p["target_link_uri"] == platform["tool"]["deep_linking_url"] for p in placements)
    assert parse_qs(urlsplit(platform["tool"]["canvas_config_url"]).query) == {"platform_id": [platform["id"]]}
    assert "Canvas" not in response.get_data(as_text=True)  # nothing of the registration is disclosed


def test_a_platform_id_must_be_known(client):
    assert_problem(client.get("/lti/canvas.json?platform_id=nope"), 422, "platform_id")
    assert_problem(client.get(f"/lti/canvas.json?platform_id={uuid.uuid4()}"), 404)


def test_the_tool_urls_and_canvas_json_come_before_the_platform(client, admin_headers, org):
    """The LMS hands out the client id only once the tool's URLs are pasted into it: the admin gets
    them, and Canvas its JSON, before any platform is registered here."""
    tool = client.get("/api/lti/tool", headers=admin_headers)
    assert tool.status_code == 200
    registered = register(client, admin_headers, org)["tool"]
    assert tool.get_json() == registered | {"canvas_config_url": f"{BASE}/lti/canvas.json"}
    unnamed = client.get("/lti/canvas.json")
    assert unnamed.status_code == 200
    assert unnamed.get_json() == client.get(registered["canvas_config_url"].removeprefix(BASE)).get_json()
    assert client.get("/api/lti/tool").status_code == 401
