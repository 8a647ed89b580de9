"""Admin-triggered resets and invitations mailed through a real SMTP server, and when mail cannot be sent."""

from __future__ import annotations

import pytest

from tests.mail import INVITATION_LINK, RESET_LINK, free_port
from tests.routes.identity import (
    NEW_PASSWORD,
    WEAK_PASSWORDS,
    audit_rows,
    bearer,
    lifetimes,
    reset_token_from,
    sign_in,
)
from tests.support import DEFAULT_PASSWORD, assert_problem

# --- password reset by an admin ----------------------------------------------------------------


def bearer_login(app, user: dict) -> dict:
    """Authorization headers for `user`, from a cookie-less client so no session is left behind."""
    response = app.test_client(use_cookies=False).post(
        "/api/auth/login", json={"email": user["email"], "password": user["password"]}
    )
    assert response.status_code == 200, response.get_json()
    return bearer(response.get_json()["access_token"])


@pytest.fixture
def reset_world(mail_app, world):
    admin = world.user()
    org = world.organization(admin=admin)
    member = world.add_member(org)
    return {
        "app": mail_app,
        "org": org,
        "admin": admin,
        "member": member,
        "client": mail_app.test_client(),
        "admin_headers": bearer_login(mail_app, admin),
    }


def _request_reset(ctx):
    return ctx["client"].post(
        f"/api/organizations/{ctx['org']['id']}/members/{ctx['member']['id']}/password-reset",
        headers=ctx["admin_headers"],
    )


def signed_in_as(client, response, email: str) -> None:
    """The answer signed the browser in: the login body, and a session cookie that works."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["user"]["email"] == email
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get_cookie("qb_session") is not None
    me = client.get("/api/auth/me")
    assert me.status_code == 200 and me.get_json()["email"] == email
    assert client.get("/api/auth/me", headers=bearer(response.get_json()["access_token"])).status_code == 200


def test_admin_reset_emails_a_single_use_link_and_revokes_sessions(reset_world, smtp_server):
    ctx = reset_world
    member, client = ctx["member"], ctx["client"]
    member_browser = ctx["app"].test_client()
    assert sign_in(member_browser, member["email"], DEFAULT_PASSWORD).status_code == 200

    response = _request_reset(ctx)

    assert response.status_code == 202
    [message] = smtp_server.wait_for(1)
    assert smtp_server.recipients == [[member["email"]]]
    assert message["To"] == member["email"]
    assert "reset" in message["Subject"].lower()
    token = reset_token_from(message)
    # In the fragment: a browser never sends it to a server, so no access log or Referer holds it.
    assert f"http://127.0.0.1:8000/admin/reset-password#token={token}" in message.get_content()
    assert f"An admin of {ctx['org']['name']} asked" in message.get_content()
    assert token not in response.get_data(as_text=True)

    done = client.post("/api/auth/password-reset", json={"token": token, "password": NEW_PASSWORD})
    signed_in_as(client, done, member["email"])

    again = client.post("/api/auth/password-reset", json={"token": token, "password": "yet another passphrase"})
    assert "token" in assert_problem(again, 400)["errors"]
    assert sign_in(client, member["email"], DEFAULT_PASSWORD).status_code == 401
    assert sign_in(client, member["email"], NEW_PASSWORD).status_code == 200
    assert_problem(member_browser.get("/api/auth/me"), 401)


def test_expired_reset_token_is_refused(reset_world, smtp_server):
    ctx = reset_world
    assert _request_reset(ctx).status_code == 202
    token = reset_token_from(smtp_server.wait_for(1)[0])
    with ctx["app"].extensions["questbridge"].db.transaction("service_role") as conn:
        conn.execute(
            "update public.password_reset_tokens set expires_at = now() - interval '1 minute' where user_id = %s",
            (ctx["member"]["id"],),
        )

    response = ctx["client"].post("/api/auth/password-reset", json={"token": token, "password": NEW_PASSWORD})

    assert "token" in assert_problem(response, 400)["errors"]
    assert sign_in(ctx["client"], ctx["member"]["email"], DEFAULT_PASSWORD).status_code == 200


def test_a_newer_reset_link_voids_the_older_one(reset_world, smtp_server):
    ctx = reset_world
    _request_reset(ctx)
    _request_reset(ctx)
    first, second = (reset_token_from(m) for m in smtp_server.wait_for(2))
    client = ctx["client"]
    assert_problem(client.post("/api/auth/password-reset", json={"token": first, "password": NEW_PASSWORD}), 400)
    assert client.post("/api/auth/password-reset", json={"token": second, "password": NEW_PASSWORD}).status_code == 200


def test_reset_request_and_completion_are_audited(reset_world, smtp_server):
    ctx = reset_world
    _request_reset(ctx)
    token = reset_token_from(smtp_server.wait_for(1)[0])
    ctx["client"].post("/api/auth/password-reset", json={"token": token, "password": NEW_PASSWORD})
    rows = audit_rows(ctx["app"].extensions["questbridge"].db, "auth.password_reset")
    assert [(r["action"], r["actor_id"]) for r in rows] == [
        ("auth.password_reset_requested", ctx["admin"]["id"]),
        ("auth.password_reset_completed", ctx["member"]["id"]),
    ]
    assert all(r["target_id"] == str(ctx["member"]["id"]) for r in rows)


@pytest.mark.parametrize(("password", "reason"), WEAK_PASSWORDS)
def test_weak_password_refused_on_reset_and_token_stays_usable(reset_world, smtp_server, password, reason):
    ctx = reset_world
    _request_reset(ctx)
    token = reset_token_from(smtp_server.wait_for(1)[0])

    weak = ctx["client"].post("/api/auth/password-reset", json={"token": token, "password": password})

    assert reason in assert_problem(weak, 422)["errors"]["password"][0]
    ok = ctx["client"].post("/api/auth/password-reset", json={"token": token, "password": NEW_PASSWORD})
    signed_in_as(ctx["client"], ok, ctx["member"]["email"])


def test_reset_password_must_not_be_the_members_email(reset_world, smtp_server):
    ctx = reset_world
    _request_reset(ctx)
    token = reset_token_from(smtp_server.wait_for(1)[0])
    response = ctx["client"].post("/api/auth/password-reset", json={"token": token, "password": ctx["member"]["email"]})
    assert "password" in assert_problem(response, 422)["errors"]
    assert (
        ctx["client"].post("/api/auth/password-reset", json={"token": token, "password": NEW_PASSWORD}).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"token": "x" * 43, "password": NEW_PASSWORD}, 400, "token"),
        ({"token": "short", "password": NEW_PASSWORD}, 422, "token"),
        ({"password": NEW_PASSWORD}, 422, "token"),
        ({"token": "x" * 43}, 422, "password"),
    ],
)
def test_reset_with_a_bad_token_or_body(client, body, status, field):
    assert field in assert_problem(client.post("/api/auth/password-reset", json=body), status)["errors"]


def test_console_mail_when_smtp_is_unset(make_app, world, capsys):
    app = make_app()
    admin = world.user()
    org = world.organization(admin=admin)
    member = world.add_member(org)
    client = app.test_client()

    response = client.post(
        f"/api/organizations/{org['id']}/members/{member['id']}/password-reset", headers=bearer_login(app, admin)
    )

    assert response.status_code == 202
    printed = capsys.readouterr().err
    assert f"To: {member['email']}" in printed
    token = RESET_LINK.search(printed).group(2)
    assert token not in response.get_data(as_text=True)
    assert client.post("/api/auth/password-reset", json={"token": token, "password": NEW_PASSWORD}).status_code == 200


# --- when mail cannot be sent ------------------------------------------------------------------


@pytest.fixture(params=["smtp-down", "production-without-smtp"])
def mailless_app(request, make_app):
    if request.param == "smtp-down":
        return make_app(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_starttls=False)
    return make_app(env="production", smtp_host=None, metrics_token="m" * 32, session_cookie_secure=True)


def test_an_invitation_that_cannot_be_mailed_is_reported_and_printed_nowhere(mailless_app, world, capfd):
    admin = world.user()
    org = world.organization(admin=admin)
    client = mailless_app.test_client()

    response = client.post(
        f"/api/organizations/{org['id']}/members",
        json={"email": "unlucky@example.test", "role": "member"},
        headers=bearer_login(mailless_app, admin),
    )

    assert response.status_code == 201
    assert response.get_json()["status"] == "pending"
    assert response.get_json()["invitation_sent"] is False
    printed = capfd.readouterr()
    assert "invitation_not_sent" in printed.out
    assert not INVITATION_LINK.search(printed.out + printed.err)
    assert "#token=" not in printed.out + printed.err


def test_a_reset_that_cannot_be_mailed_is_503_and_leaks_no_token(mailless_app, world, capfd):
    admin = world.user()
    org = world.organization(admin=admin)
    member = world.add_member(org)
    client = mailless_app.test_client()

    response = client.post(
        f"/api/organizations/{org['id']}/members/{member['id']}/password-reset",
        headers=bearer_login(mailless_app, admin),
    )

    assert_problem(response, 503)
    assert int(response.headers["Retry-After"]) > 0
    printed = capfd.readouterr()
    assert not RESET_LINK.search(printed.out + printed.err + response.get_data(as_text=True))
    assert sign_in(client, member["email"], DEFAULT_PASSWORD).status_code == 200


@pytest.mark.parametrize(("ttl", "wording"), [(3600, "1 hour(s)"), (7200, "2 hour(s)"), (1800, "30 minute(s)")])
def test_the_email_states_the_links_lifetime(make_app, world, capsys, ttl, wording):
    app = make_app(password_reset_ttl_seconds=ttl)
    admin = world.user()
    org = world.organization(admin=admin)
    member = world.add_member(org)
    app.test_client().post(
        f"/api/organizations/{org['id']}/members/{member['id']}/password-reset", headers=bearer_login(app, admin)
    )
    assert f"expires in {wording}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("environ", "seconds", "wording"),
    [({}, 3600, "1 hour(s)"), ({"PASSWORD_RESET_TTL_SECONDS": "900"}, 900, "15 minute(s)")],
)
def test_a_reset_link_works_as_long_as_PASSWORD_RESET_TTL_SECONDS_says(
    make_app, world, capsys, environ, seconds, wording
):
    app = make_app(environ=environ)
    admin = world.user()
    org = world.organization(admin=admin)
    member = world.add_member(org)

    response = app.test_client().post(
        f"/api/organizations/{org['id']}/members/{member['id']}/password-reset", headers=bearer_login(app, admin)
    )

    assert response.status_code == 202
    assert f"expires in {wording}" in capsys.readouterr().err
    db = app.extensions["questbridge"].db
    assert lifetimes(db, "password_reset_tokens", member["id"]) == [pytest.approx(seconds, abs=1)]
