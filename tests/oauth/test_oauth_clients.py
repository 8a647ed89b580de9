"""OAuth client registration by org admins: ids and secrets, redirect URI rules, grant types, PKCE
switch, secret rotation, deletion, access control and audit."""

from __future__ import annotations

import hashlib
import re

import pytest

from tests.oauth.support import (
    REDIRECT_URI,
    audit_actions,
    bearer,
    client_credentials,
    register,
    user_tokens,
)
from tests.support import assert_problem


def stored(db, client_id) -> dict:
    with db.transaction("service_role") as conn:
        return conn.execute("select * from public.oauth_clients where client_id = %s", (client_id,)).fetchone()


# -- creating ------------------------------------------------------------------------------------


def test_create_returns_a_random_id_and_a_secret_shown_once_and_stored_hashed(client, admin_headers, org, db):
    body = register(client, admin_headers, org)
    other = register(client, admin_headers, org)
    assert len(body["client_id"]) >= 16 and body["client_id"] != other["client_id"]
    assert re.fullmatch(r"qbcs_[A-Za-z0-9_-]{43}", body["client_secret"])  # 32 random bytes, base64url
    assert body["client_secret"] != other["client_secret"]
    assert body["organization_id"] == str(org["id"])
    assert body["pkce_required"] is True and body["client_type"] == "confidential"
    assert body["redirect_uris"] == [REDIRECT_URI]
    row = stored(db, body["client_id"])
    assert bytes(row["secret_hash"]) == hashlib.sha256(body["client_secret"].encode()).digest()
    assert body["client_secret"].encode() not in b"".join(str(v).encode() for v in row.values())
    shown = client.get(f"/api/oauth/clients/{body['client_id']}", headers=admin_headers).get_json()
    assert "client_secret" not in shown and "secret_hash" not in shown


def test_defaults_are_read_scopes_and_the_code_grant(client, admin_headers, org):
    response = client.post(
        "/api/oauth/clients",
        json={"organization_id": str(org["id"]), "name": "Moodle", "redirect_uris": [REDIRECT_URI]},
        headers=admin_headers,
    )
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["scopes"] == ["read:profile", "read:quests", "read:progress"]
    assert body["grant_types"] == ["authorization_code", "refresh_token"]
    assert body["principal_id"] is None


@pytest.mark.parametrize(
    "uri",
    [
        "https://lms.example.edu/callback",
        "https://lms.example.edu:8443/oauth/cb?tenant=7",
        "http://127.0.0.1/callback",
        "http://127.0.0.1:5000/callback",
        "http://[::1]/callback",
        "http://localhost/callback",
    ],
)
def test_accepted_redirect_uris(client, admin_headers, org, uri):
    assert register(client, admin_headers, org, redirect_uris=[uri])["redirect_uris"] == [uri]


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("http://lms.example.edu/callback", "must be https"),
        ("http://10.0.0.5/callback", "must be https"),
        ("https://lms.example.edu/callback#frag", "fragment"),
        ("https://*.example.edu/callback", "wildcards"),
        ("https://user:pw@lms.example.edu/callback", "credentials"),
        ("/relative/callback", "absolute"),
        ("javascript:alert(1)", "absolute"),
        ("lms.example.edu/callback", "absolute"),
        ("https://lms.example.edu/call back", "spaces"),
        ("https://lms.example.edu:99999/callback", "not a valid URL"),
    ],
)
def test_refused_redirect_uris_name_the_field(client, admin_headers, org, uri, why):
    body = {"organization_id": str(org["id"]), "name": "LMS", "redirect_uris": [REDIRECT_URI, uri]}
    problem = assert_problem(client.post("/api/oauth/clients", json=body, headers=admin_headers), 422, "redirect_uris")
    assert why in problem["errors"]["redirect_uris"][0] and "[1]" in problem["errors"]["redirect_uris"][0]


@pytest.mark.parametrize(
    ("changes", "field", "why"),
    [
        ({"grant_types": ["implicit"]}, "grant_types", "OAuth 2.1 removed"),
        ({"grant_types": ["authorization_code", "password"]}, "grant_types", "OAuth 2.1 removed"),
        ({"grant_types": ["device_code"]}, "grant_types", "is not one of"),
        ({"grant_types": ["refresh_token"]}, "grant_types", "only with authorization_code"),
        ({"grant_types": []}, "grant_types", None),
        ({"grant_types": "authorization_code"}, "grant_types", None),
        ({"scopes": ["admin:everything"]}, "scopes", "is not one of"),
        ({"scopes": []}, "scopes", None),
        ({"redirect_uris": []}, "redirect_uris", "needs at least one"),
        ({"redirect_uris": [f"https://lms.example.edu/{i}" for i in range(11)]}, "redirect_uris", None),
        ({"name": ""}, "name", None),
        ({"name": "   "}, "name", None),
        ({"name": "x" * 201}, "name", None),
        ({"name": "a\x00b"}, "name", None),
        ({"client_type": "secret"}, "client_type", None),
        ({"pkce_required": "no"}, "pkce_required", None),
        ({"organization_id": "not-a-uuid"}, "organization_id", None),
        (
            {"client_type": "public", "grant_types": ["authorization_code", "client_credentials"]},
            "grant_types",
            "public",
        ),
        ({"client_type": "public", "pkce_required": False}, "pkce_required", "only for confidential"),
    ],
)
def test_bad_registrations_are_4xx_naming_the_field(client, admin_headers, org, changes, field, why):
    body = {
        "organization_id": str(org["id"]),
        "name": "LMS",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
    } | changes
    problem = assert_problem(client.post("/api/oauth/clients", json=body, headers=admin_headers), 422, field)
    if why:
        assert why in str(problem["errors"][field])


def test_a_body_that_is_not_json_is_refused(client, admin_headers):
    response = client.post("/api/oauth/clients", data="name=x", headers=admin_headers, content_type="text/plain")
    assert_problem(response, 415)
    assert_problem(client.post("/api/oauth/clients", json=[1], headers=admin_headers), 400, "body")


def test_a_public_client_has_no_secret_and_must_use_pkce(client, admin_headers, org, db):
    body = register(
        client, admin_headers, org, client_type="public", grant_types=["authorization_code", "refresh_token"]
    )
    assert body["client_secret"] is None and body["client_type"] == "public" and body["pkce_required"] is True
    assert stored(db, body["client_id"])["secret_hash"] is None
    response = client.patch(
        f"/api/oauth/clients/{body['client_id']}", json={"pkce_required": False}, headers=admin_headers
    )
    assert_problem(response, 422, "pkce_required")
    response = client.post(f"/api/oauth/clients/{body['client_id']}/rotate-secret", headers=admin_headers)
    assert_problem(response, 409, "client_type")


def test_client_credentials_clients_get_a_principal_member_of_the_organization(client, admin_headers, org, db):
    body = register(client, admin_headers, org)
    assert body["principal_id"]
    with db.transaction("service_role") as conn:
        membership = conn.execute(
            "select m.role, p.display_name, p.email from public.memberships m"
            " join public.profiles p on p.id = m.user_id where m.user_id = %s and m.organization_id = %s",
            (body["principal_id"], org["id"]),
        ).fetchone()
        password = conn.execute(
            "select 1 from public.local_credentials where user_id = %s", (body["principal_id"],)
        ).fetchone()
    assert membership["role"] == "member" and membership["display_name"] == body["name"]
    assert membership["email"].endswith(".invalid")
    assert password is None  # nobody can sign in as it


# -- PKCE switch ---------------------------------------------------------------------------------


def test_switching_pkce_off_is_allowed_for_confidential_clients_and_audited(client, admin_headers, org, db):
    body = register(client, admin_headers, org)
    response = client.patch(
        f"/api/oauth/clients/{body['client_id']}", json={"pkce_required": False}, headers=admin_headers
    )
    assert response.status_code == 200 and response.get_json()["pkce_required"] is False
    assert stored(db, body["client_id"])["pkce_required"] is False
    changes = [e for e in audit_actions(db, org) if e["action"] == "oauth_client.pkce_changed"]
    assert changes == [
        {
            "action": "oauth_client.pkce_changed",
            "actor_id": org["admin"]["id"],
            "target_id": body["client_id"],
            "metadata": {"pkce_required": False},
        }
    ]
    client.patch(f"/api/oauth/clients/{body['client_id']}", json={"pkce_required": True}, headers=admin_headers)
    assert [e["metadata"] for e in audit_actions(db, org) if e["action"] == "oauth_client.pkce_changed"] == [
        {"pkce_required": False},
        {"pkce_required": True},
    ]


def test_registering_without_pkce_is_audited(client, admin_headers, org, db):
    body = register(client, admin_headers, org, pkce_required=False)
    assert [e["target_id"] for e in audit_actions(db, org) if e["action"] == "oauth_client.pkce_changed"] == [
        body["client_id"]
    ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [({}, "_schema"), ({"redirect_uris": ["http://evil.example/cb"]}, "redirect_uris"), ({"name": 5}, "name")],
)
def test_bad_changes_are_refused(client, admin_headers, org, changes, field):
    body = register(client, admin_headers, org)
    response = client.patch(f"/api/oauth/clients/{body['client_id']}", json=changes, headers=admin_headers)
    assert_problem(response, 422, field)


def test_redirect_uris_and_name_can_change(client, admin_headers, org):
    body = register(client, admin_headers, org)
    response = client.patch(
        f"/api/oauth/clients/{body['client_id']}",
        json={"name": "Canvas (prod)", "redirect_uris": ["https://canvas.example.edu/login/oauth2/callback"]},
        headers=admin_headers,
    )
    assert response.status_code == 200
    assert response.get_json()["name"] == "Canvas (prod)"
    assert response.get_json()["redirect_uris"] == ["https://canvas.example.edu/login/oauth2/callback"]


# -- rotation and deletion ------------------------------------------------------------------------


def test_rotating_the_secret_retires_the_old_one_at_once(client, admin_headers, org, db):
    body = register(client, admin_headers, org)
    response = client.post(f"/api/oauth/clients/{body['client_id']}/rotate-secret", headers=admin_headers)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    rotated = response.get_json()
    assert rotated["client_secret"] != body["client_secret"] and rotated["client_id"] == body["client_id"]
    assert client_credentials(client, body).status_code == 401
    assert client_credentials(client, body | {"client_secret": rotated["client_secret"]}).status_code == 200
    assert "oauth_client.secret_rotated" in [e["action"] for e in audit_actions(db, org)]


def test_deleting_a_client_stops_its_tokens_and_removes_its_principal(app, client, admin_headers, org, world, db):
    body = register(client, admin_headers, org)
    user = world.add_member(org)
    user_token = user_tokens(app, client, body, user)["access_token"]
    machine_token = client_credentials(client, body).get_json()["access_token"]
    for token in (user_token, machine_token):
        assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    assert client.delete(f"/api/oauth/clients/{body['client_id']}", headers=admin_headers).status_code == 204
    for token in (user_token, machine_token):
        assert_problem(client.get("/api/v1/me", headers=bearer(token)), 401)
    assert_problem(client.get(f"/api/oauth/clients/{body['client_id']}", headers=admin_headers), 404)
    with db.transaction("service_role") as conn:
        assert conn.execute("select 1 from auth.users where id = %s", (body["principal_id"],)).fetchone() is None
    assert [e["action"] for e in audit_actions(db, org)] == [
        "oauth_client.created",
        "oauth_consent.granted",
        "oauth_client.token_issued",  # the machine token, audited as its principal
        "oauth_client.deleted",
    ]


# -- who may manage clients ----------------------------------------------------------------------


def test_members_get_403_strangers_404_and_anonymous_401(client, admin_headers, org, world, auth):
    body = register(client, admin_headers, org)
    member = auth.headers(world.add_member(org))
    stranger = auth.headers(world.organization("Elsewhere")["admin"])
    path = f"/api/oauth/clients/{body['client_id']}"
    for method, url, kwargs in (
        ("get", path, {}),
        ("patch", path, {"json": {"name": "x"}}),
        ("delete", path, {}),
        ("post", f"{path}/rotate-secret", {}),
        ("get", f"/api/oauth/clients?organization_id={org['id']}", {}),
    ):
        assert_problem(getattr(client, method)(url, headers=member, **kwargs), 403)
        assert_problem(getattr(client, method)(url, headers=stranger, **kwargs), 404)
        assert_problem(getattr(client, method)(url, **kwargs), 401)
    registration = {"organization_id": str(org["id"]), "name": "x", "redirect_uris": [REDIRECT_URI]}
    assert_problem(client.post("/api/oauth/clients", json=registration, headers=member), 403)
    assert_problem(client.post("/api/oauth/clients", json=registration, headers=stranger), 404)


@pytest.mark.parametrize("client_id", ["nope", "qbc_" + "a" * 20, "a" * 65, "with space", "nul%00"])
def test_unknown_clients_are_404(client, admin_headers, client_id):
    assert_problem(client.get(f"/api/oauth/clients/{client_id}", headers=admin_headers), 404)


def test_list_is_the_organizations_clients_newest_first_with_a_cursor(client, admin_headers, org, world, auth):
    names = [register(client, admin_headers, org, name=f"LMS {i}")["name"] for i in range(3)]
    other = world.organization("Elsewhere")
    register(client, auth.headers(other["admin"]), other, name="Not ours")
    response = client.get(f"/api/oauth/clients?organization_id={org['id']}&limit=2", headers=admin_headers)
    first = response.get_json()
    assert [c["name"] for c in first["data"]] == names[::-1][:2]
    assert all("client_secret" not in c for c in first["data"])
    second = client.get(
        f"/api/oauth/clients?organization_id={org['id']}&limit=2&cursor={first['next_cursor']}", headers=admin_headers
    ).get_json()
    assert [c["name"] for c in second["data"]] == names[:1] and second["next_cursor"] is None
    # Without organization_id: every organization the caller administers, never another's.
    everything = client.get("/api/oauth/clients", headers=admin_headers).get_json()
    assert [c["name"] for c in everything["data"]] == names[::-1]
    assert_problem(
        client.get(f"/api/oauth/clients?organization_id={org['id']}&cursor=garbage", headers=admin_headers),
        422,
        "cursor",
    )


def test_creation_rotation_and_deletion_are_audited(client, admin_headers, org, db):
    body = register(client, admin_headers, org)
    client.post(f"/api/oauth/clients/{body['client_id']}/rotate-secret", headers=admin_headers)
    client.delete(f"/api/oauth/clients/{body['client_id']}", headers=admin_headers)
    entries = audit_actions(db, org)
    assert [e["action"] for e in entries] == [
        "oauth_client.created",
        "oauth_client.secret_rotated",
        "oauth_client.deleted",
    ]
    assert {e["target_id"] for e in entries} == {body["client_id"]}
    assert {e["actor_id"] for e in entries} == {org["admin"]["id"]}
    assert entries[0]["metadata"]["grant_types"] == body["grant_types"]
    assert body["client_secret"] not in str(entries)


def test_oauth_tokens_cannot_manage_clients(app, client, admin_headers, org):
    body = register(client, admin_headers, org)
    token = user_tokens(app, client, body, org["admin"])["access_token"]
    assert_problem(client.get(f"/api/oauth/clients/{body['client_id']}", headers=bearer(token)), 403)


def test_organization_id_may_be_left_out_by_the_admin_of_one_organization(client, admin_headers, org, world, auth):
    body = {"name": "Moodle", "redirect_uris": ["https://moodle.example.edu/admin/oauth2callback.php"]}
    created = client.post("/api/oauth/clients", json=body, headers=admin_headers)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["organization_id"] == str(org["id"])

    world.organization("Second", admin=org["admin"])
    problem = assert_problem(
        client.post("/api/oauth/clients", json=body, headers=admin_headers), 422, "organization_id"
    )
    assert "several" in problem["errors"]["organization_id"][0]
    member = auth.headers(world.add_member(org))
    problem = assert_problem(client.post("/api/oauth/clients", json=body, headers=member), 422, "organization_id")
    assert "no organization" in problem["errors"]["organization_id"][0]
