"""Signing in over real HTTP: the bearer token and session cookie, errors, audit, and no secret in any log."""

from __future__ import annotations

import json

import jwt
import pytest

from tests.mail import RESET_LINK
from tests.routes.identity import JWT_SECRET, NEW_PASSWORD, audit_rows, bearer
from tests.support import DEFAULT_PASSWORD, assert_problem

# --- login -------------------------------------------------------------------------------------


def test_login_returns_a_bearer_token_and_an_httponly_lax_session_cookie(client, world):
    user = world.user()

    response = client.post("/api/auth/login", json={"email": user["email"], "password": DEFAULT_PASSWORD})

    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert isinstance(body["access_token"], str) and body["access_token"].count(".") == 2
    assert body["expires_in"] == 3600
    assert body["user"] == {"id": str(user["id"]), "email": user["email"]}
    assert response.headers["Cache-Control"] == "no-store"
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("qb_session="))
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/" in attributes
    claims = jwt.decode(body["access_token"], JWT_SECRET, algorithms=["HS256"], audience="authenticated")
    assert claims["sub"] == str(user["id"])
    assert claims["role"] == "authenticated"
    assert claims["email"] == user["email"]


def test_session_cookie_is_secure_when_configured(make_app, world):
    app = make_app(session_cookie_secure=True)
    user = world.user()
    response = app.test_client().post("/api/auth/login", json={"email": user["email"], "password": DEFAULT_PASSWORD})
    cookie = response.headers["Set-Cookie"].lower()
    assert "; secure" in cookie


@pytest.mark.parametrize(
    "typed",
    [
        pytest.param(lambda e: e, id="as-registered"),
        pytest.param(lambda e: e.upper(), id="upper-case"),
        pytest.param(lambda e: f"  {e} ", id="surrounding-spaces"),
    ],
)
def test_login_email_is_case_and_space_insensitive(client, world, typed):
    user = world.user(email="Mixed.Case@Example.test")
    response = client.post("/api/auth/login", json={"email": typed(user["email"]), "password": DEFAULT_PASSWORD})
    assert response.status_code == 200
    assert response.get_json()["user"]["id"] == str(user["id"])


def test_wrong_password_and_unknown_email_get_the_same_401(client, world):
    user = world.user()

    wrong_password = client.post("/api/auth/login", json={"email": user["email"], "password": "not the password"})
    unknown_email = client.post("/api/auth/login", json={"email": "nobody@example.test", "password": "whatever"})

    for response in (wrong_password, unknown_email):
        assert_problem(response, 401, slug="unauthorized")
        assert "Set-Cookie" not in response.headers
    assert wrong_password.get_json() == unknown_email.get_json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": DEFAULT_PASSWORD}, "email"),
        ({"email": "someone@example.test"}, "password"),
        ({"email": "someone@example.test", "password": ""}, "password"),
        ({"email": 42, "password": DEFAULT_PASSWORD}, "email"),
        ({"email": "someone@example.test", "password": ["list"]}, "password"),
    ],
)
def test_login_validation_names_the_field(client, body, field):
    problem = assert_problem(client.post("/api/auth/login", json=body), 422, slug="validation-error")
    assert field in problem["errors"]


def test_login_success_and_failure_are_audited(client, world, db):
    user = world.user()

    client.post(
        "/api/auth/login",
        json={"email": user["email"], "password": "wrong one"},
        headers={"User-Agent": "audit-test/1"},
    )
    client.post("/api/auth/login", json={"email": "ghost@example.test", "password": "whatever"})
    client.post("/api/auth/login", json={"email": user["email"], "password": DEFAULT_PASSWORD})

    rows = audit_rows(db, "auth.login")
    assert [r["action"] for r in rows] == ["auth.login_failed", "auth.login_failed", "auth.login_succeeded"]
    assert rows[0]["actor_id"] == user["id"] and rows[0]["metadata"]["email"] == user["email"]
    # An email no account has is not recorded: it may be anything the person typed.
    assert rows[1]["actor_id"] is None and rows[1]["metadata"] == {"reason": "invalid_credentials"}
    assert "ghost" not in json.dumps(rows[1], default=str)
    assert rows[2]["actor_id"] == user["id"] and rows[2]["target_id"] == str(user["id"])
    assert all(r["ip"] == "127.0.0.1" for r in rows)
    assert "wrong one" not in json.dumps([r["metadata"] for r in rows])


# --- secrets never leak ------------------------------------------------------------------------


def test_no_password_or_token_in_logs_or_responses(make_app, world, capfd):
    app = make_app(log_level="INFO")
    client = app.test_client()
    admin = world.user()
    org = world.organization(admin=admin)
    member = world.add_member(org)

    responses = [
        client.post("/api/auth/login", json={"email": admin["email"], "password": "wrong secret pw"}),
        client.post("/api/auth/login", json={"email": admin["email"], "password": DEFAULT_PASSWORD}),
    ]
    token = responses[-1].get_json()["access_token"]
    cookie = client.get_cookie("qb_session").value
    responses += [
        client.get("/api/auth/me", headers=bearer(token)),
        client.get("/api/auth/me"),
        client.post(f"/api/organizations/{org['id']}/members/{member['id']}/password-reset", headers=bearer(token)),
        client.post("/api/organizations/not-a-uuid", headers=bearer(token)),
    ]
    first = capfd.readouterr()
    reset_token = RESET_LINK.search(first.err).group(2)  # the console mailer, deliberately not a log line
    responses += [
        client.post("/api/auth/password-reset", json={"token": reset_token, "password": NEW_PASSWORD}),
        client.post(
            "/api/auth/password",
            json={"current_password": DEFAULT_PASSWORD, "new_password": "another new passphrase 7"},
            headers=bearer(token),
        ),
    ]
    second = capfd.readouterr()
    log_text = first.out + second.out + second.err

    assert '"event": "request"' in log_text  # the request log is on, so absence below means something
    secrets = (
        DEFAULT_PASSWORD,
        "wrong secret pw",
        NEW_PASSWORD,
        "another new passphrase 7",
        token,
        cookie,
        reset_token,
    )
    for secret in secrets:
        assert secret not in log_text
    for response in responses:
        text = response.get_data(as_text=True)
        for secret in (DEFAULT_PASSWORD, "wrong secret pw", NEW_PASSWORD, "another new passphrase 7", reset_token):
            assert secret not in text
