"""PUT /api/auth/me: a signed-in user sets their given and family names (what OpenID Connect relying
parties such as Moodle read); a cookie request proves it comes from our pages like any other."""

from __future__ import annotations

import pytest

from tests.oauth.support import bearer, register, user_tokens
from tests.support import assert_problem, csrf_header


def test_a_user_sets_and_clears_their_names(client, world, auth):
    user = world.user()
    headers = auth.headers(user)
    response = client.put("/api/auth/me", json={"given_name": "  Ada ", "family_name": "Lovelace"}, headers=headers)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert response.get_json() == {"id": str(user["id"]), "given_name": "Ada", "family_name": "Lovelace"}
    me = client.get("/api/auth/me", headers=headers).get_json()
    assert (me["given_name"], me["family_name"]) == ("Ada", "Lovelace")
    cleared = client.put("/api/auth/me", json={"given_name": "", "family_name": None}, headers=headers)
    assert cleared.get_json() == {"id": str(user["id"]), "given_name": None, "family_name": None}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"family_name": "Lovelace"}, "given_name"),
        ({"given_name": "Ada"}, "family_name"),
        ({"given_name": "A" * 101, "family_name": "Lovelace"}, "given_name"),
        ({"given_name": "Ada", "family_name": 7}, "family_name"),
        ({"given_name": "Ada", "family_name": "Lovelace", "email": "x@example.org"}, "email"),
    ],
)
def test_bad_names_are_refused_by_field(client, world, auth, body, field):
    assert_problem(client.put("/api/auth/me", json=body, headers=auth.headers(world.user())), 422, field)


def test_signed_out_is_401(client):
    assert client.put("/api/auth/me", json={"given_name": "Ada", "family_name": "L"}).status_code == 401


def test_a_cookie_request_needs_the_csrf_token(app, world):
    user = world.user()
    browser = app.test_client()
    signed_in = browser.post("/api/auth/login", json={"email": user["email"], "password": user["password"]})
    body = {"given_name": "Ada", "family_name": "Lovelace"}
    assert_problem(browser.put("/api/auth/me", json=body), 403)
    assert browser.put("/api/auth/me", json=body, headers=csrf_header(signed_in)).status_code == 200


def test_an_oauth_access_token_cannot_change_names(app, client, admin_headers, org, world):
    learner = world.add_member(org)
    token = user_tokens(app, client, register(client, admin_headers, org), learner, scope="read:profile")
    response = client.put(
        "/api/auth/me", json={"given_name": "Eve", "family_name": "X"}, headers=bearer(token["access_token"])
    )
    assert_problem(response, 403)
