"""Password changes: must_change_password, the current password, sessions ended, weak passwords, guessing."""

from __future__ import annotations

import jwt
import pytest

from tests.routes.identity import JWT_SECRET, NEW_PASSWORD, WEAK_PASSWORDS, audit_rows, bearer, sign_in, supabase_claims
from tests.support import DEFAULT_PASSWORD, assert_problem, csrf_header

# --- must_change_password ----------------------------------------------------------------------


@pytest.mark.parametrize("via", ["bearer", "cookie"])
def test_must_change_password_blocks_everything_but_me_and_password_change(make_app, world, via):
    app = make_app()
    client = app.test_client()
    user = world.user(must_change_password=True)

    login = client.post("/api/auth/login", json={"email": user["email"], "password": DEFAULT_PASSWORD})
    assert login.status_code == 200
    assert login.get_json()["must_change_password"] is True
    headers = bearer(login.get_json()["access_token"]) if via == "bearer" else csrf_header(login)
    if via == "bearer":
        client.delete_cookie("qb_session")

    blocked = client.get("/api/organizations", headers=headers)
    assert_problem(blocked, 403, slug="password-change-required")
    assert_problem(
        client.post("/api/organizations", json={"name": "X"}, headers=headers), 403, slug="password-change-required"
    )
    me = client.get("/api/auth/me", headers=headers)
    assert me.status_code == 200 and me.get_json()["must_change_password"] is True

    changed = client.post(
        "/api/auth/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        headers=headers,
    )
    assert changed.status_code == 200
    assert changed.get_json()["must_change_password"] is False
    new_headers = bearer(changed.get_json()["access_token"]) if via == "bearer" else csrf_header(changed)

    assert client.get("/api/organizations", headers=new_headers).status_code == 200
    assert client.get("/api/auth/me", headers=new_headers).get_json()["must_change_password"] is False
    assert sign_in(client, user["email"], DEFAULT_PASSWORD).status_code == 401
    assert sign_in(client, user["email"], NEW_PASSWORD).status_code == 200


def test_password_change_requires_the_current_password(client, world, auth):
    user = world.user()
    headers = auth.headers(user)
    response = client.post(
        "/api/auth/password", json={"current_password": "not it at all", "new_password": NEW_PASSWORD}, headers=headers
    )
    problem = assert_problem(response, 403)
    assert "current_password" in problem["errors"]
    assert sign_in(client, user["email"], DEFAULT_PASSWORD).status_code == 200


def test_password_change_revokes_other_sessions(make_app, world):
    app = make_app()
    user = world.user()
    laptop, phone = app.test_client(), app.test_client()
    signed_in = [sign_in(device, user["email"], DEFAULT_PASSWORD) for device in (laptop, phone)]
    assert [answer.status_code for answer in signed_in] == [200, 200]

    changed = laptop.post(
        "/api/auth/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        headers=csrf_header(signed_in[0]),
    )

    assert changed.status_code == 200
    assert laptop.get("/api/auth/me").status_code == 200  # the response set a fresh session cookie
    assert laptop.get("/api/auth/me", headers=bearer(changed.get_json()["access_token"])).status_code == 200
    assert_problem(phone.get("/api/auth/me"), 401)


def test_bearer_tokens_end_with_their_session(make_app, world, db):
    """A token is as good as its sign-in: a password change (here or by reset) or a sign-out ends
    the tokens issued before it, not only the cookies, long before they expire."""
    app = make_app()
    user = world.user()
    client = app.test_client(use_cookies=False)
    phone = sign_in(client, user["email"], DEFAULT_PASSWORD).get_json()["access_token"]
    laptop = sign_in(client, user["email"], DEFAULT_PASSWORD).get_json()["access_token"]
    assert client.get("/api/auth/me", headers=bearer(phone)).status_code == 200

    changed = client.post(
        "/api/auth/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(laptop),
    )
    assert changed.status_code == 200
    for stale in (phone, laptop):
        problem = assert_problem(client.get("/api/auth/me", headers=bearer(stale)), 401)
        assert "session" in problem["detail"]
    fresh = changed.get_json()["access_token"]
    assert client.get("/api/auth/me", headers=bearer(fresh)).status_code == 200

    # Signing out with the bearer token alone ends its session too.
    assert client.post("/api/auth/logout", headers=bearer(fresh)).status_code == 204
    assert_problem(client.get("/api/auth/me", headers=bearer(fresh)), 401)
    assert len(audit_rows(db, "auth.logout")) == 1


def test_a_token_of_ours_without_a_session_is_refused(make_app, world):
    import time as clock

    app = make_app()
    user = world.user()
    config = app.extensions["questbridge"].config
    now = int(clock.time())
    claims = {
        "iss": config.jwt_issuer,
        "sub": str(user["id"]),
        "aud": "authenticated",
        "role": "authenticated",
        "email": user["email"],
        "iat": now,
        "exp": now + 600,
    }
    token = jwt.encode(claims, config.jwt_secret, algorithm="HS256")
    assert_problem(app.test_client().get("/api/auth/me", headers=bearer(token)), 401)


@pytest.mark.parametrize(("password", "reason"), WEAK_PASSWORDS)
def test_weak_new_password_refused_on_change(client, world, auth, password, reason):
    user = world.user()
    response = client.post(
        "/api/auth/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": password},
        headers=auth.headers(user),
    )
    problem = assert_problem(response, 422, slug="validation-error")
    assert reason in problem["errors"]["new_password"][0]
    assert sign_in(client, user["email"], DEFAULT_PASSWORD).status_code == 200


@pytest.mark.parametrize(
    "new_password",
    [pytest.param(lambda u: u["email"].upper(), id="email"), pytest.param(lambda u: u["password"], id="unchanged")],
)
def test_new_password_must_not_be_the_email_or_the_current_one(client, world, auth, new_password):
    user = world.user(email="someone-long-enough@example.test")
    response = client.post(
        "/api/auth/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": new_password(user)},
        headers=auth.headers(user),
    )
    assert "new_password" in assert_problem(response, 422)["errors"]


def test_guessing_the_current_password_is_throttled(make_app):
    from tests.support import AuthActions, World

    app = make_app(login_max_failures_per_email=3)
    client = app.test_client()
    user = World(app).user()
    headers = AuthActions(client).headers(user)
    for _ in range(3):
        response = client.post(
            "/api/auth/password",
            json={"current_password": "wrong guess 123", "new_password": "a brand new passphrase"},
            headers=headers,
        )
        assert response.status_code == 403
    response = client.post(
        "/api/auth/password",
        json={"current_password": user["password"], "new_password": "a brand new passphrase"},
        headers=headers,
    )
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1


def test_guessing_the_current_password_elsewhere_never_blocks_the_owners_change(make_app):
    """A stolen access token used to guess the current password from another address: that address
    is refused, the owner changes their password from their own at once."""
    from tests.support import AuthActions, World

    app = make_app(login_max_failures_per_email=3)
    client = app.test_client()
    user = World(app).user()
    stolen = AuthActions(client).headers(user)
    change = {"new_password": "a brand new passphrase"}
    statuses = [
        client.post(
            "/api/auth/password",
            json=change | {"current_password": f"wrong guess {n}"},
            headers=stolen,
            environ_base={"REMOTE_ADDR": "198.51.100.66"},
        ).status_code
        for n in range(5)
    ]
    assert statuses == [403] * 3 + [429] * 2
    response = client.post(
        "/api/auth/password",
        json=change | {"current_password": user["password"]},
        headers=stolen,
        environ_base={"REMOTE_ADDR": "203.0.113.20"},
    )
    assert response.status_code == 200, response.get_json()


def test_a_supabase_user_without_a_profile_here_is_told_so_naming_the_user(make_app):
    app = make_app(jwt_secret=JWT_SECRET)
    token = jwt.encode(supabase_claims(), JWT_SECRET)  # a user this database never saw
    response = app.test_client().post("/api/organizations", json={"name": "Mine"}, headers=bearer(token))
    problem = assert_problem(response, 422)
    assert "no profile" in problem["errors"]["user"][0]
