"""Sessions: /api/auth/me by bearer and by cookie, logout, and unknown sessions."""

from __future__ import annotations

import pytest

from tests.routes.identity import audit_rows, lifetimes, sign_in
from tests.support import DEFAULT_PASSWORD, assert_problem

# --- sessions, logout and /me ------------------------------------------------------------------


def test_me_by_bearer_and_by_cookie_lists_organizations_with_roles(client, world, auth):
    user = world.user()
    first = world.organization("Alpha School", admin=user)
    second = world.organization("Beta Works")
    world.add_member(second, user, role="member")
    world.organization("Not mine")

    by_bearer = client.application.test_client().get("/api/auth/me", headers=auth.headers(user))
    assert auth.login(user["email"]).status_code == 200
    by_cookie = client.get("/api/auth/me")

    expected = [
        {"id": str(first["id"]), "name": "Alpha School", "role": "admin"},
        {"id": str(second["id"]), "name": "Beta Works", "role": "member"},
    ]
    for response in (by_bearer, by_cookie):
        assert response.status_code == 200
        body = response.get_json()
        assert body["id"] == str(user["id"])
        assert body["email"] == user["email"]
        assert body["organizations"] == expected


def test_me_without_credentials_is_401(client):
    problem = assert_problem(client.get("/api/auth/me"), 401, slug="unauthorized")
    assert problem["detail"]


def test_logout_revokes_the_cookie_session(client, world, auth, db):
    user = world.user()
    auth.login(user["email"])
    cookie = client.get_cookie("qb_session").value
    assert client.get("/api/auth/me").status_code == 200

    response = client.post("/api/auth/logout", headers=auth.csrf)

    assert response.status_code == 204
    assert client.get_cookie("qb_session") is None
    assert_problem(client.get("/api/auth/me"), 401)
    # The old cookie value itself is dead server-side, not only forgotten by this browser.
    replay = client.application.test_client()
    replay.set_cookie("qb_session", cookie)
    assert_problem(replay.get("/api/auth/me"), 401)
    assert [r["action"] for r in audit_rows(db, "auth.logout")] == ["auth.logout"]


@pytest.mark.parametrize("header", [None, "Bearer not.a.jwt", "Basic abc"])
def test_logout_without_a_session_is_204(client, header):
    headers = {"Authorization": header} if header else {}
    assert client.post("/api/auth/logout", headers=headers).status_code == 204


def test_an_unknown_session_cookie_is_401(client):
    client.set_cookie("qb_session", "forged-session-value")
    assert_problem(client.get("/api/auth/me"), 401)


@pytest.mark.parametrize(("environ", "seconds"), [({}, 7 * 86400), ({"SESSION_TTL_SECONDS": "900"}, 900)])
def test_a_session_lasts_as_long_as_SESSION_TTL_SECONDS_says(make_app, world, environ, seconds):
    app = make_app(environ=environ)
    db = app.extensions["questbridge"].db
    user = world.user()
    browser = app.test_client()

    response = sign_in(browser, user["email"], DEFAULT_PASSWORD)

    assert response.status_code == 200
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("qb_session="))
    assert f"Max-Age={seconds}" in cookie
    assert lifetimes(db, "auth_sessions", user["id"]) == [pytest.approx(seconds, abs=1)]
    assert browser.get("/api/auth/me").status_code == 200
    # Past its lifetime the session authenticates nothing, however the browser kept its cookie.
    with db.transaction("service_role") as conn:
        conn.execute(
            "update public.auth_sessions set created_at = created_at - make_interval(secs => %s),"
            " expires_at = expires_at - make_interval(secs => %s) where user_id = %s",
            (seconds + 1, seconds + 1, user["id"]),
        )
    assert_problem(browser.get("/api/auth/me"), 401)
