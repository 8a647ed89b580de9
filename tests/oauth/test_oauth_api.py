"""The protected API with OAuth tokens: scopes, RLS as the token's user (or the client's principal),
webhook subscriptions with webhooks:manage, and the applications a user authorized."""

from __future__ import annotations

import pytest

from backend.services import learning
from tests.oauth.support import (
    authorize_query,
    bearer,
    client_credentials,
    pkce_pair,
    refresh,
    signed_in,
    user_tokens,
)
from tests.support import PROBLEM

TARGET = "https://93.184.215.14/questbridge"


@pytest.fixture
def course(app, world, org, learner):
    """Two quests in the org (one half done by the learner) and one in another org the learner is in too."""
    runtime = app.extensions["questbridge"]
    elsewhere = world.organization("Elsewhere")
    world.add_member(elsewhere, learner)
    made = {}
    for key, owner, title in (("first", org, "Intro"), ("second", org, "Advanced"), ("foreign", elsewhere, "Other")):
        with runtime.db.transaction("authenticated", world.claims(owner["admin"])) as conn:
            quest = learning.create_quest(conn, owner["admin"]["id"], owner["id"], title)
            tasks = [learning.create_task(conn, quest["id"], f"Task {i}", "craft", 10 * (i + 1)) for i in range(2)]
        made[key] = {"quest": quest, "tasks": tasks}
    with runtime.db.transaction("authenticated", world.claims(learner)) as conn:
        learning.complete_task(conn, learner["id"], made["first"]["tasks"][0]["id"])
        learning.complete_task(conn, learner["id"], made["foreign"]["tasks"][0]["id"])
    return made


def problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    return response


def token_for(app, client, lms, user, scope):
    return user_tokens(app, client, lms, user, scope=scope)["access_token"]


# -- /api/v1 ---------------------------------------------------------------------------------------------


def test_me_is_the_tokens_user_in_the_clients_organization(app, client, lms, learner, org):
    token = token_for(app, client, lms, learner, "read:profile")
    body = client.get("/api/v1/me", headers=bearer(token)).get_json()
    assert body["id"] == str(learner["id"]) and body["email"] == learner["email"]
    assert body["organization"] == {"id": str(org["id"]), "name": "Academy", "role": "member"}
    assert body["client_id"] == lms["client_id"] and body["scope"] == "read:profile"


def test_quests_are_the_clients_organizations_as_the_user_sees_them(app, client, lms, learner, course):
    token = token_for(app, client, lms, learner, "read:quests")
    body = client.get("/api/v1/quests", headers=bearer(token)).get_json()
    assert [q["title"] for q in body["data"]] == ["Advanced", "Intro"]  # not the other org's
    first_page = client.get("/api/v1/quests?limit=1", headers=bearer(token)).get_json()
    assert len(first_page["data"]) == 1 and first_page["next_cursor"]
    problem(client.get("/api/v1/quests?limit=0", headers=bearer(token)), 422)


def test_progress_is_the_users_own(app, client, lms, learner, course, world, org):
    token = token_for(app, client, lms, learner, "read:progress")
    body = client.get("/api/v1/progress", headers=bearer(token)).get_json()
    by_title = {row["title"]: row for row in body["data"]}
    assert by_title["Intro"]["tasks_completed"] == 1 and by_title["Intro"]["tasks_total"] == 2
    assert by_title["Intro"]["xp"] == 10 and by_title["Intro"]["completed"] is False
    assert by_title["Advanced"]["tasks_completed"] == 0
    assert "Other" not in by_title
    assert body["totals"] == {"total_xp": 10, "tasks_completed": 1, "badges": 0}
    # An org admin's token reads the admin's own progress, not the learners'.
    admin_token = token_for(app, client, lms, org["admin"], "read:progress")
    admin_body = client.get("/api/v1/progress", headers=bearer(admin_token)).get_json()
    assert admin_body["totals"]["tasks_completed"] == 0


@pytest.mark.parametrize(
    ("path", "scope"),
    [("/api/v1/me", "read:profile"), ("/api/v1/quests", "read:quests"), ("/api/v1/progress", "read:progress")],
)
def test_each_route_needs_its_scope(app, client, lms, learner, path, scope):
    other = "read:quests" if scope != "read:quests" else "read:profile"
    token = token_for(app, client, lms, learner, other)
    response = problem(client.get(path, headers=bearer(token)), 403)
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="questbridge", error="insufficient_scope", scope="{scope}"'
    )


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/quests", "/api/v1/progress"])
def test_the_api_takes_oauth_tokens_only(client, auth, learner, path):
    problem(client.get(path), 401)
    problem(client.get(path, headers=auth.headers(learner)), 401)  # a user's own JWT is not a client's token
    problem(client.get(path, headers=bearer("not-a-jwt")), 401)


def test_the_apis_refusals_say_why_and_challenge_for_a_token(client, auth, learner):
    missing = problem(client.get("/api/v1/me"), 401)
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="questbridge"'
    assert missing.get_json()["detail"] == "send an OAuth access token: Authorization: Bearer <token>"
    signed_in = problem(client.get("/api/v1/me", headers=auth.headers(learner)), 401)
    assert signed_in.headers["WWW-Authenticate"] == 'Bearer realm="questbridge", error="invalid_token"'
    assert signed_in.get_json()["detail"] == "this API takes OAuth access tokens, not user sign-ins"


def test_a_client_credentials_token_reads_as_the_organization_principal(client, lms, org, course):
    token = client_credentials(client, lms).get_json()["access_token"]
    me = client.get("/api/v1/me", headers=bearer(token)).get_json()
    assert me["id"] == lms["principal_id"] and me["organization"]["role"] == "member"
    quests = client.get("/api/v1/quests", headers=bearer(token)).get_json()
    assert [q["title"] for q in quests["data"]] == ["Advanced", "Intro"]
    problem(client.get("/api/v1/progress", headers=bearer(token)), 403)


def test_a_token_never_sees_more_than_its_user(app, client, lms, learner, course, db):
    """RLS runs as the user: a learner who leaves the organization loses what the token showed."""
    token = token_for(app, client, lms, learner, "read:quests read:progress")
    assert client.get("/api/v1/quests", headers=bearer(token)).status_code == 200
    with db.transaction("service_role") as conn:
        conn.execute(
            "delete from public.memberships where user_id = %s and organization_id = %s",
            (learner["id"], lms["organization_id"]),
        )
    problem(client.get("/api/v1/quests", headers=bearer(token)), 404)
    problem(client.get("/api/v1/progress", headers=bearer(token)), 404)


def test_oauth_tokens_are_refused_by_routes_that_name_no_scope(app, client, lms, learner, org):
    token = token_for(app, client, lms, learner, "read:profile read:quests")
    for path in ("/api/auth/me", f"/api/quests?organization_id={org['id']}", "/api/notifications"):
        body = problem(client.get(path, headers=bearer(token)), 403).get_json()
        assert body["type"].endswith("oauth-token-not-accepted")
    problem(
        client.post("/api/quests", json={"organization_id": str(org["id"]), "title": "x"}, headers=bearer(token)), 403
    )


# -- webhook subscriptions with webhooks:manage ----------------------------------------------------------------


def test_an_admins_token_with_webhooks_manage_manages_subscriptions(app, client, lms, org):
    token = token_for(app, client, lms, org["admin"], "webhooks:manage")
    body = {"organization_id": str(org["id"]), "target_url": TARGET, "event_types": ["quest.completed"]}
    created = client.post("/api/webhooks/subscriptions", json=body, headers=bearer(token))
    assert created.status_code == 201, created.get_json()
    subscription = created.get_json()
    listed = client.get(f"/api/webhooks/subscriptions?organization_id={org['id']}", headers=bearer(token))
    assert [s["id"] for s in listed.get_json()["data"]] == [subscription["id"]]
    assert client.get("/api/webhooks/event-types", headers=bearer(token)).status_code == 200
    path = f"/api/webhooks/subscriptions/{subscription['id']}"
    assert client.put(path, json={"active": False}, headers=bearer(token)).status_code == 200
    # The test send takes the token too (here it stops at the disabled subscription, sending nothing).
    tested = client.post("/api/webhooks/test", json={"subscription_id": subscription["id"]}, headers=bearer(token))
    assert tested.status_code == 409, tested.get_json()
    assert client.delete(path, headers=bearer(token)).status_code == 204


def test_webhook_routes_need_the_scope(app, client, lms, org):
    token = token_for(app, client, lms, org["admin"], "read:profile read:quests")
    response = problem(
        client.get(f"/api/webhooks/subscriptions?organization_id={org['id']}", headers=bearer(token)), 403
    )
    assert 'scope="webhooks:manage"' in response.headers["WWW-Authenticate"]


def test_webhooks_manage_gives_a_member_no_admin_rights(app, client, lms, learner, org, world, db):
    """A member is never granted the scope; a token that still names it (issued while its user was an
    admin) does not make a member an admin either."""
    tokens = user_tokens(app, client, lms, learner, scope="read:profile webhooks:manage")
    assert tokens["scope"] == "read:profile"
    problem(
        client.get(f"/api/webhooks/subscriptions?organization_id={org['id']}", headers=bearer(tokens["access_token"])),
        403,
    )

    demoted = world.add_member(org, role="admin")
    token = token_for(app, client, lms, demoted, "webhooks:manage")
    with db.transaction("service_role") as conn:
        conn.execute("update public.memberships set role = 'member' where user_id = %s", (demoted["id"],))
    problem(client.get(f"/api/webhooks/subscriptions?organization_id={org['id']}", headers=bearer(token)), 403)
    body = {"organization_id": str(org["id"]), "target_url": TARGET, "event_types": ["quest.completed"]}
    problem(client.post("/api/webhooks/subscriptions", json=body, headers=bearer(token)), 403)


def test_a_token_manages_only_its_clients_organization(app, client, lms, org, world, admin_headers):
    """The admin of Academy is an admin of Other too; Academy's client never reaches Other."""
    other = world.organization("Other", admin=org["admin"])
    body = {"organization_id": str(other["id"]), "target_url": TARGET, "event_types": ["quest.completed"]}
    theirs = client.post("/api/webhooks/subscriptions", json=body, headers=admin_headers).get_json()
    token = bearer(token_for(app, client, lms, org["admin"], "webhooks:manage"))

    listed = f"/api/webhooks/subscriptions?organization_id={other['id']}"
    assert client.get(listed, headers=admin_headers).status_code == 200  # the user's own session reaches it
    problem(client.get(listed, headers=token), 404)  # as to anyone outside Other
    problem(client.post("/api/webhooks/subscriptions", json=body, headers=token), 404)
    for method, path in (
        ("get", f"/api/webhooks/subscriptions/{theirs['id']}"),
        ("put", f"/api/webhooks/subscriptions/{theirs['id']}"),
        ("post", f"/api/webhooks/subscriptions/{theirs['id']}/rotate-secret"),
        ("delete", f"/api/webhooks/subscriptions/{theirs['id']}"),
    ):
        json = {"active": False} if method == "put" else {}
        problem(getattr(client, method)(path, json=json, headers=token), 404)
    assert client.get(f"/api/webhooks/subscriptions/{theirs['id']}", headers=admin_headers).get_json()["active"]


def test_users_own_tokens_still_manage_webhooks_unscoped(client, admin_headers, org):
    response = client.get(f"/api/webhooks/subscriptions?organization_id={org['id']}", headers=admin_headers)
    assert response.status_code == 200


def test_revocation_takes_effect_at_the_webhook_routes_at_once(app, client, lms, org):
    tokens = user_tokens(app, client, lms, org["admin"], scope="webhooks:manage")
    path = f"/api/webhooks/subscriptions?organization_id={org['id']}"
    assert client.get(path, headers=bearer(tokens["access_token"])).status_code == 200
    client.post(
        "/api/oauth/revoke",
        data={"token": tokens["access_token"]},
        auth=(lms["client_id"], lms["client_secret"]),
    )
    problem(client.get(path, headers=bearer(tokens["access_token"])), 401)


# -- the applications a user authorized -------------------------------------------------------------------------


def test_users_list_and_revoke_the_applications_they_authorized(app, client, lms, learner, auth, db, org):
    tokens = user_tokens(app, client, lms, learner, scope="read:profile read:quests")
    headers = auth.headers(learner)
    listed = client.get("/api/oauth/authorizations", headers=headers).get_json()
    assert [(a["client_id"], a["client_name"], a["scopes"]) for a in listed["data"]] == [
        (lms["client_id"], lms["name"], ["read:profile", "read:quests"])
    ]
    assert listed["next_cursor"] is None
    assert client.get("/api/oauth/authorizations", headers=auth.headers(org["admin"])).get_json()["data"] == []

    assert client.delete(f"/api/oauth/authorizations/{lms['client_id']}", headers=headers).status_code == 204
    problem(client.get("/api/v1/me", headers=bearer(tokens["access_token"])), 401)
    assert refresh(client, lms, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert client.get("/api/oauth/authorizations", headers=headers).get_json()["data"] == []
    problem(client.delete(f"/api/oauth/authorizations/{lms['client_id']}", headers=headers), 404)
    with db.transaction("service_role") as conn:
        entry = conn.execute(
            "select actor_id, organization_id, target_id, metadata from public.audit_log"
            " where action = 'oauth_consent.revoked'"
        ).fetchone()
    assert entry["actor_id"] == learner["id"] and entry["target_id"] == lms["client_id"]
    assert entry["organization_id"] == org["id"]
    assert entry["metadata"] == {"grants_revoked": 1, "access_tokens_revoked": 1}


def test_revoking_forgets_the_consent(app, client, lms, learner, auth):
    user_tokens(app, client, lms, learner)
    client.delete(f"/api/oauth/authorizations/{lms['client_id']}", headers=auth.headers(learner))
    _verifier, challenge = pkce_pair()
    page = signed_in(app, learner).get("/api/oauth/authorize?" + authorize_query(lms, challenge))
    assert page.status_code == 200  # the consent page again


def test_one_user_cannot_revoke_anothers_authorization(app, client, lms, learner, world, org, auth):
    tokens = user_tokens(app, client, lms, learner)
    other = world.add_member(org)
    problem(client.delete(f"/api/oauth/authorizations/{lms['client_id']}", headers=auth.headers(other)), 404)
    assert client.get("/api/v1/me", headers=bearer(tokens["access_token"])).status_code == 200


def test_authorizations_need_a_signed_in_user(app, client, lms, learner):
    problem(client.get("/api/oauth/authorizations"), 401)
    token = token_for(app, client, lms, learner, "read:profile")
    problem(client.get("/api/oauth/authorizations", headers=bearer(token)), 403)
    problem(client.delete(f"/api/oauth/authorizations/{lms['client_id']}", headers=bearer(token)), 403)
