"""Organizations and members over real HTTP: creation, cursor pagination, invitations and who may do what."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.support import assert_problem, walk_pages

INVITATION_LINK = re.compile(r"/admin/invitation#token=([A-Za-z0-9_-]+)")


@pytest.fixture
def login(app):
    """Bearer headers for a user, from a cookie-less client."""

    def _login(user: dict) -> dict:
        response = app.test_client(use_cookies=False).post(
            "/api/auth/login", json={"email": user["email"], "password": user["password"]}
        )
        assert response.status_code == 200, response.get_json()
        return {"Authorization": f"Bearer {response.get_json()['access_token']}"}

    return _login


@pytest.fixture
def org_with_people(world, login):
    admin = world.user()
    org = world.organization("Riverside Academy", admin=admin)
    member = world.add_member(org)
    stranger = world.user()
    return {
        "org": org,
        "admin": admin,
        "member": member,
        "stranger": stranger,
        "as_admin": login(admin),
        "as_member": login(member),
        "as_stranger": login(stranger),
    }


def audit_actions(db) -> list[str]:
    with db.transaction("service_role") as conn:
        return [r["action"] for r in conn.execute("select action from public.audit_log order by id").fetchall()]


# --- create and list ---------------------------------------------------------------------------


def test_create_makes_the_caller_its_admin(client, world, login, db):
    user = world.user()
    headers = login(user)

    response = client.post("/api/organizations", json={"name": "  Northwind Labs  "}, headers=headers)

    assert response.status_code == 201
    org = response.get_json()
    assert org["name"] == "Northwind Labs"
    assert org["role"] == "admin"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", org["created_at"])
    uuid.UUID(org["id"])
    members = client.get(f"/api/organizations/{org['id']}/members", headers=headers).get_json()["data"]
    assert [(m["user_id"], m["role"]) for m in members] == [(str(user["id"]), "admin")]
    me = client.get("/api/auth/me", headers=headers).get_json()
    assert me["organizations"] == [{"id": org["id"], "name": "Northwind Labs", "role": "admin"}]
    assert "organization.created" in audit_actions(db)


@pytest.mark.parametrize(
    "body",
    [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 201}, {"name": 7}, {"name": None}],
    ids=["missing", "empty", "blank", "too-long", "number", "null"],
)
def test_create_with_a_bad_name_is_422_naming_it(client, world, login, body):
    headers = login(world.user())
    assert_problem(client.post("/api/organizations", json=body, headers=headers), 422, "name")
    assert client.get("/api/organizations", headers=headers).get_json()["data"] == []


def test_create_requires_sign_in(client):
    assert_problem(client.post("/api/organizations", json={"name": "Anon Org"}), 401)


def test_list_shows_only_the_callers_organizations(client, world, login):
    user = world.user()
    mine = world.organization("Mine", admin=user)
    joined = world.organization("Joined")
    world.add_member(joined, user)
    world.organization("Someone else's")

    body = client.get("/api/organizations", headers=login(user)).get_json()

    assert body["next_cursor"] is None
    assert {(o["id"], o["role"]) for o in body["data"]} == {(str(mine["id"]), "admin"), (str(joined["id"]), "member")}


@pytest.mark.parametrize("limit", [1, 2, 3, 7])
def test_list_pages_with_a_cursor_newest_first(client, world, login, limit):
    user = world.user()
    headers = login(user)
    created = [
        client.post("/api/organizations", json={"name": f"Org {n}"}, headers=headers).get_json()["id"] for n in range(7)
    ]

    listed, pages = walk_pages(client, "/api/organizations", headers, limit)
    seen = [o["id"] for o in listed]

    assert seen == list(reversed(created))
    assert pages == -(-7 // limit)  # the last page carries no cursor, even when it is full


def test_a_repeated_query_parameter_keeps_its_first_value(client, world, login):
    user = world.user()
    for n in range(3):
        world.organization(f"Org {n}", admin=user)
    body = client.get("/api/organizations?limit=2&limit=999", headers=login(user)).get_json()
    assert len(body["data"]) == 2


def test_list_defaults_to_fifty(client, world, login):
    user = world.user()
    for n in range(51):
        world.organization(f"Org {n:02}", admin=user)
    body = client.get("/api/organizations", headers=login(user)).get_json()
    assert len(body["data"]) == 50
    assert body["next_cursor"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "W10"}, "cursor"),  # base64 of "[]"
        ({"cursor": "x" * 600}, "cursor"),
    ],
)
def test_list_with_bad_paging_is_422_naming_the_parameter(client, world, login, query, field):
    assert_problem(client.get("/api/organizations", query_string=query, headers=login(world.user())), 422, field)


# --- members -----------------------------------------------------------------------------------


def test_an_invited_existing_user_sees_the_organization_only_once_they_accept(
    client, world, login, org_with_people, capsys
):
    ctx = org_with_people
    newcomer = world.user(email="Existing.Person@example.test")
    as_newcomer = login(newcomer)

    response = client.post(
        f"/api/organizations/{ctx['org']['id']}/members",
        json={"email": "existing.person@EXAMPLE.test", "role": "admin"},
        headers=ctx["as_admin"],
    )

    assert response.status_code == 201
    body = response.get_json()
    assert (body["email"], body["role"], body["status"]) == ("existing.person@EXAMPLE.test", "admin", "pending")
    assert "user_id" not in body and str(newcomer["id"]) not in response.get_data(as_text=True)
    assert "To: existing.person@EXAMPLE.test" in capsys.readouterr().err  # an account gets the same email
    me = client.get("/api/auth/me", headers=as_newcomer).get_json()
    assert me["organizations"] == []
    [offer] = me["invitations"]
    assert client.post(f"/api/invitations/{offer['id']}/accept", headers=as_newcomer).status_code == 200
    orgs = client.get("/api/auth/me", headers=as_newcomer).get_json()["organizations"]
    assert orgs == [{"id": str(ctx["org"]["id"]), "name": "Riverside Academy", "role": "admin"}]


def test_admin_invites_a_new_user_by_email(client, org_with_people, capsys, db):
    ctx = org_with_people

    response = client.post(
        f"/api/organizations/{ctx['org']['id']}/members",
        json={"email": "fresh.face@example.test", "role": "member"},
        headers=ctx["as_admin"],
    )

    assert response.status_code == 201
    body = response.get_json()
    assert (body["email"], body["status"], body["invitation_sent"]) == ("fresh.face@example.test", "pending", True)
    printed = capsys.readouterr().err
    assert "To: fresh.face@example.test" in printed
    token = INVITATION_LINK.search(printed).group(1)
    assert token not in response.get_data(as_text=True)
    assert (
        client.post(
            "/api/auth/login", json={"email": "fresh.face@example.test", "password": "anything at all"}
        ).status_code
        == 401
    )
    with db.transaction("service_role") as conn:
        assert conn.execute("select 1 from public.profiles where email = 'fresh.face@example.test'").fetchone() is None
    listed = client.get(f"/api/organizations/{ctx['org']['id']}/members", headers=ctx["as_admin"]).get_json()
    assert "fresh.face@example.test" not in [m["email"] for m in listed["data"]]
    invited = client.get(f"/api/organizations/{ctx['org']['id']}/invitations", headers=ctx["as_admin"]).get_json()
    assert [i["email"] for i in invited["data"]] == ["fresh.face@example.test"]
    assert "invitation.created" in audit_actions(db)


@pytest.mark.parametrize("spelling", ["same", "upper"])
def test_adding_a_member_twice_is_409(client, org_with_people, spelling):
    ctx = org_with_people
    email = ctx["member"]["email"] if spelling == "same" else ctx["member"]["email"].upper()
    response = client.post(
        f"/api/organizations/{ctx['org']['id']}/members",
        json={"email": email, "role": "member"},
        headers=ctx["as_admin"],
    )
    assert_problem(response, 409, "email")


def test_inviting_the_same_new_email_twice_renews_the_invitation_with_a_fresh_link(client, org_with_people, capsys):
    ctx = org_with_people
    url = f"/api/organizations/{ctx['org']['id']}/members"
    first = client.post(url, json={"email": "twice@example.test", "role": "member"}, headers=ctx["as_admin"])
    second = client.post(url, json={"email": "TWICE@example.test", "role": "admin"}, headers=ctx["as_admin"])

    assert first.status_code == second.status_code == 201
    assert first.get_json()["id"] == second.get_json()["id"]
    assert second.get_json()["role"] == "admin"
    printed = capsys.readouterr().err
    assert printed.count("To: twice@example.test") == 2  # the invitation keeps its first spelling
    old, new = INVITATION_LINK.findall(printed)
    assert_problem(client.post("/api/invitations/lookup", json={"token": old}), 400, "token")
    assert client.post("/api/invitations/lookup", json={"token": new}).get_json()["role"] == "admin"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "role": "member"}, "email"),
        ({"email": "two@@example.test", "role": "member"}, "email"),
        ({"email": "", "role": "member"}, "email"),
        ({"email": "a" * 250 + "@example.test", "role": "member"}, "email"),
        ({"role": "member"}, "email"),
        ({"email": "ok@example.test", "role": "owner"}, "role"),
        ({"email": "ok@example.test", "role": "ADMIN"}, "role"),
        ({"email": "ok@example.test"}, "role"),
        ({"email": "ok@example.test", "role": "member", "extra": 1}, "extra"),
    ],
)
def test_bad_member_body_is_422_naming_the_field(client, org_with_people, body, field, capsys):
    ctx = org_with_people
    response = client.post(f"/api/organizations/{ctx['org']['id']}/members", json=body, headers=ctx["as_admin"])
    assert_problem(response, 422, field)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("caller", "status"),
    [("as_member", 403), ("as_stranger", 404)],
)
def test_only_admins_add_members(client, org_with_people, caller, status, capsys):
    ctx = org_with_people
    response = client.post(
        f"/api/organizations/{ctx['org']['id']}/members",
        json={"email": "sneaky@example.test", "role": "admin"},
        headers=ctx[caller],
    )
    assert_problem(response, status)
    assert capsys.readouterr().err == ""
    members = client.get(f"/api/organizations/{ctx['org']['id']}/members", headers=ctx["as_admin"]).get_json()["data"]
    assert "sneaky@example.test" not in [m["email"] for m in members]


def test_unknown_organization_is_404(client, org_with_people):
    ctx = org_with_people
    missing = uuid.uuid4()
    assert_problem(
        client.post(
            f"/api/organizations/{missing}/members",
            json={"email": "a@b.test", "role": "member"},
            headers=ctx["as_admin"],
        ),
        404,
    )
    assert_problem(client.get(f"/api/organizations/{missing}/members", headers=ctx["as_admin"]), 404)


@pytest.mark.parametrize(("caller", "status"), [("as_admin", 200), ("as_member", 200), ("as_stranger", 404)])
def test_members_list_is_for_members(client, org_with_people, caller, status):
    ctx = org_with_people
    response = client.get(f"/api/organizations/{ctx['org']['id']}/members", headers=ctx[caller])
    assert response.status_code == status
    if status == 200:
        listed = {(m["user_id"], m["role"]) for m in response.get_json()["data"]}
        assert listed == {(str(ctx["admin"]["id"]), "admin"), (str(ctx["member"]["id"]), "member")}


def test_members_list_pages(client, world, org_with_people):
    ctx = org_with_people
    for _ in range(3):
        world.add_member(ctx["org"])
    url = f"/api/organizations/{ctx['org']['id']}/members"
    first = client.get(url, query_string={"limit": 3}, headers=ctx["as_admin"]).get_json()
    second = client.get(
        url, query_string={"limit": 3, "cursor": first["next_cursor"]}, headers=ctx["as_admin"]
    ).get_json()
    assert len(first["data"]) == 3 and len(second["data"]) == 2
    assert second["next_cursor"] is None
    everyone = {m["user_id"] for m in first["data"] + second["data"]}
    assert len(everyone) == 5


# --- password reset requests -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caller", "target", "status"),
    [
        ("as_admin", "member", 202),
        ("as_admin", "stranger", 404),  # not a member of this organization
        ("as_admin", "nobody", 404),
        ("as_member", "admin", 403),
        ("as_stranger", "member", 404),
    ],
)
def test_who_may_request_a_password_reset(client, org_with_people, caller, target, status, capsys):
    ctx = org_with_people
    target_id = uuid.uuid4() if target == "nobody" else ctx[target]["id"]

    response = client.post(
        f"/api/organizations/{ctx['org']['id']}/members/{target_id}/password-reset", headers=ctx[caller]
    )

    assert response.status_code == status
    mailed = capsys.readouterr().err
    if status == 202:
        assert response.get_json() == {"status": "sent"}
        assert f"To: {ctx[target]['email']}" in mailed
    else:
        assert_problem(response, status)
        assert mailed == ""


def test_password_reset_for_an_unknown_organization_is_404(client, org_with_people):
    ctx = org_with_people
    response = client.post(
        f"/api/organizations/{uuid.uuid4()}/members/{ctx['member']['id']}/password-reset", headers=ctx["as_admin"]
    )
    assert_problem(response, 404)


@pytest.mark.parametrize("path", ["/api/organizations/not-a-uuid/members", "/api/organizations/123/members"])
def test_malformed_organization_id_is_404(client, org_with_people, path):
    assert_problem(client.get(path, headers=org_with_people["as_admin"]), 404)


def test_password_resets_for_one_user_are_capped_per_hour(client, world, auth):
    from backend.services.accounts.organizations import RESETS_PER_USER_PER_HOUR

    org = world.organization()
    member = world.add_member(org)
    headers = auth.headers(org["admin"])
    url = f"/api/organizations/{org['id']}/members/{member['id']}/password-reset"
    for _ in range(RESETS_PER_USER_PER_HOUR):
        assert client.post(url, headers=headers).status_code == 202
    response = client.post(url, headers=headers)
    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    assert int(response.headers["Retry-After"]) >= 1
