"""CSRF: a request the session cookie authenticates must prove it comes from our own pages.

Each attack is what a page on another origin (another port of this host, a sibling subdomain,
another site) can make a signed-in browser send: the cookie travels along (SameSite=Lax admits
same-site pages, and an LTI launch will need SameSite=None), but the page can neither read the
session's CSRF token nor set the browser's Origin and Sec-Fetch-Site headers.
"""

from __future__ import annotations

import pytest

from tests.oauth.support import read_form, register
from tests.support import DEFAULT_PASSWORD, PROBLEM, csrf_header


@pytest.fixture
def app(make_app):
    return make_app(webhooks_allowed_targets="127.0.0.1/32")


@pytest.fixture
def victim(org, auth):
    """The org's admin, signed in with the cookie in `auth.client` (as in the admin UI)."""
    assert auth.login(org["admin"]["email"]).status_code == 200
    return org["admin"]


@pytest.fixture
def oauth_client(client, auth, org):
    return register(client, auth.headers(org["admin"]), org)


@pytest.fixture
def subscription(client, auth, org):
    response = client.post(
        "/api/webhooks/subscriptions",
        json={"organization_id": str(org["id"]), "target_url": "http://127.0.0.1:9/hook", "event_type": "*"},
        headers=auth.headers(org["admin"]),
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def client_secret_hash(db, client_id: str) -> bytes:
    with db.transaction("service_role") as conn:
        return bytes(
            conn.execute("select secret_hash from public.oauth_clients where client_id = %s", (client_id,)).fetchone()[
                "secret_hash"
            ]
        )


def audit_count(db, action: str) -> int:
    with db.transaction("service_role") as conn:
        return conn.execute("select count(*) as n from public.audit_log where action = %s", (action,)).fetchone()["n"]


def assert_csrf_refusal(response) -> dict:
    assert response.status_code == 403, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["type"] == "urn:questbridge:problem:csrf-failed"
    return body


# What a forging page can send: a body-less form post, a form post with a body, a no-cors fetch.
FORGERIES = {
    "no token": {},
    "another session's token": "other",
    "a made-up token": {"X-CSRF-Token": "0" * 64},
    "the right token from another port": {"Origin": "http://localhost:8001"},
    "the right token from a sibling subdomain": {"Origin": "http://evil.localhost", "Sec-Fetch-Site": "same-site"},
    "the right token from another site": {"Sec-Fetch-Site": "cross-site"},
    "the right token from an opaque origin": {"Origin": "null"},
}


def forged_headers(kind: str, auth, app, world) -> dict:
    """The headers of one forgery; "the right token" ones carry the victim's real token, to show
    that the browser's own signals are checked too."""
    spec = FORGERIES[kind]
    if spec == "other":
        other = app.test_client()
        return csrf_header(sign_in(other, world.user()))
    if kind.startswith("the right token"):
        return auth.csrf | spec
    return dict(spec)


def sign_in(http, user: dict, **kwargs):
    return http.post("/api/auth/login", json={"email": user["email"], "password": DEFAULT_PASSWORD}, **kwargs)


@pytest.mark.parametrize("kind", FORGERIES)
def test_a_forged_rotation_of_an_oauth_client_secret_is_refused_and_changes_nothing(
    kind, app, client, auth, world, victim, oauth_client, db
):
    before = client_secret_hash(db, oauth_client["client_id"])

    response = client.post(
        f"/api/oauth/clients/{oauth_client['client_id']}/rotate-secret",
        headers=forged_headers(kind, auth, app, world),
        content_type="application/x-www-form-urlencoded",
    )

    assert_csrf_refusal(response)
    assert client_secret_hash(db, oauth_client["client_id"]) == before
    assert audit_count(db, "oauth_client.secret_rotated") == 0


def test_the_admin_ui_way_with_the_session_token_rotates_the_secret(client, auth, victim, oauth_client, db):
    before = client_secret_hash(db, oauth_client["client_id"])

    response = client.post(f"/api/oauth/clients/{oauth_client['client_id']}/rotate-secret", headers=auth.csrf)

    assert response.status_code == 200, response.get_json()
    assert client_secret_hash(db, oauth_client["client_id"]) != before


@pytest.fixture
def task_id(client, auth, org):
    headers = auth.headers(org["admin"])
    quest = client.post(
        "/api/quests", json={"organization_id": str(org["id"]), "title": "Q", "description": ""}, headers=headers
    ).get_json()
    task = client.post(f"/api/quests/{quest['id']}/tasks", json={"title": "T", "pillar": "p", "xp": 5}, headers=headers)
    return task.get_json()["id"]


# The unsafe cookie-authenticated requests the review forged, and a few more, as a forging page
# sends them: (method, path, JSON body or None).
ACTIONS = {
    "rotate a webhook secret": ("POST", "/api/webhooks/subscriptions/{subscription}/rotate-secret", None),
    "change a subscription": ("PUT", "/api/webhooks/subscriptions/{subscription}", {"active": False}),
    "delete a subscription": ("DELETE", "/api/webhooks/subscriptions/{subscription}", None),
    "replay dead deliveries": ("POST", "/api/webhooks/subscriptions/{subscription}/redeliver-dead", None),
    "complete a task": ("POST", "/api/tasks/{task}/complete", None),
    "create an organization": ("POST", "/api/organizations", {"name": "Forged"}),
    "add a member": ("POST", "/api/organizations/{org}/members", {"email": "x@example.test", "role": "admin"}),
    "send a reset email": ("POST", "/api/organizations/{org}/members/{admin}/password-reset", None),
    "change the password": ("POST", "/api/auth/password", {"current_password": "x", "new_password": "y" * 20}),
    "create an API key": (
        "POST",
        "/v1/admin/external/keys",
        {"organization_id": "{org}", "name": "k", "tier": "starter"},
    ),
}


@pytest.mark.parametrize("action", ACTIONS)
def test_every_unsafe_request_the_cookie_authenticates_needs_the_token(
    action, client, auth, victim, org, subscription, task_id, db
):
    ids = {"org": org["id"], "admin": org["admin"]["id"], "subscription": subscription["id"], "task": task_id}
    method, path, body = ACTIONS[action]
    path = path.format(**ids)
    body = body and {name: value.format(**ids) if isinstance(value, str) else value for name, value in body.items()}
    with db.transaction("service_role") as conn:
        audit_before = conn.execute("select count(*) as n from public.audit_log").fetchone()["n"]

    assert_csrf_refusal(client.open(path, method=method, json=body))

    with db.transaction("service_role") as conn:
        assert conn.execute("select count(*) as n from public.audit_log").fetchone()["n"] == audit_before
        assert conn.execute("select count(*) as n from public.task_completions").fetchone()["n"] == 0
        assert conn.execute("select count(*) as n from public.organizations").fetchone()["n"] == 1
        assert conn.execute("select active from public.webhook_subscriptions").fetchone()["active"] is True
    # The same request with the session's token is not refused as a forgery (it may fail for its
    # own reasons: a wrong current password, say).
    allowed = client.open(path, method=method, json=body, headers=auth.csrf)
    assert allowed.status_code != 403 or allowed.get_json()["type"] != "urn:questbridge:problem:csrf-failed"


def test_a_forged_logout_keeps_the_victim_signed_in(client, auth, victim):
    assert_csrf_refusal(client.post("/api/auth/logout"))
    assert client.get("/api/auth/me").status_code == 200

    assert client.post("/api/auth/logout", headers=auth.csrf).status_code == 204
    assert client.get("/api/auth/me").status_code == 401


def test_bearer_and_api_key_requests_need_no_csrf_token(client, auth, org, app):
    """A bearer token or an API key is not sent by the browser on its own, so nothing can be forged
    with it; such requests pass without a token, with or without a stray cookie beside them."""
    headers = auth.headers(org["admin"])
    created = client.post("/api/organizations", json={"name": "By bearer"}, headers=headers)
    assert created.status_code == 201

    key = client.post(
        "/v1/admin/external/keys",
        json={"organization_id": str(org["id"]), "name": "partner", "tier": "starter"},
        headers=headers,
    )
    assert key.status_code == 201, key.get_json()
    pushed = app.test_client().post(
        "/v1/external/events",
        json={"event_type": "partner.thing_happened", "data": {}},
        headers={"X-API-Key": key.get_json()["api_key"]},
    )
    assert pushed.status_code == 202, pushed.get_json()

    assert auth.login(org["admin"]["email"]).status_code == 200  # now the cookie travels too
    assert (
        client.post("/api/organizations", json={"name": "Bearer beside a cookie"}, headers=headers).status_code == 201
    )


def test_reads_with_the_cookie_need_no_token(client, auth, victim, org):
    assert client.get("/api/organizations").status_code == 200
    assert client.get(f"/api/organizations/{org['id']}/members").status_code == 200


def test_the_token_comes_with_the_sign_in_and_from_me_and_is_the_sessions_own(app, client, auth, world, victim):
    me = client.get("/api/auth/me")
    assert me.headers["Cache-Control"] == "no-store"
    assert me.get_json()["csrf_token"] == auth.csrf["X-CSRF-Token"]

    signed_in = sign_in(app.test_client(), world.user())
    assert signed_in.get_json()["csrf_token"] != auth.csrf["X-CSRF-Token"]

    bearer_me = app.test_client(use_cookies=False).get("/api/auth/me", headers=auth.headers(victim))
    assert bearer_me.get_json()["csrf_token"] is None


def test_a_new_sign_in_gets_a_new_token_and_the_old_one_stops_working(client, auth, victim):
    old = dict(auth.csrf)
    assert auth.login(victim["email"]).status_code == 200
    assert auth.csrf != old
    assert_csrf_refusal(client.post("/api/organizations", json={"name": "X"}, headers=old))
    assert client.post("/api/organizations", json={"name": "X"}, headers=auth.csrf).status_code == 201


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}, {"Origin": "http://localhost:8001"}],
    ids=["cross-site", "same-site", "other-origin"],
)
def test_a_sign_in_from_another_origin_is_refused(client, world, headers):
    """Login CSRF: another page signing the browser in to an account of the attacker's choosing."""
    assert_csrf_refusal(sign_in(client, world.user(), headers=headers))
    assert client.get_cookie("qb_session") is None


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/auth/password-reset", {"token": "t" * 43, "password": "a brand new passphrase 42"}),
        ("/api/invitations/accept", {"token": "t" * 43, "password": "a brand new passphrase 42"}),
    ],
    ids=["reset-link", "invitation-link"],
)
def test_the_links_that_sign_in_refuse_another_origin(client, path, body):
    """A reset or invitation link's token held by an attacker must not let their page sign a
    victim's browser in to the attacker's account either."""
    assert_csrf_refusal(client.post(path, json=body, headers={"Sec-Fetch-Site": "cross-site"}))
    assert client.get_cookie("qb_session") is None


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Fetch-Site": "same-site"}, {"Origin": "http://localhost:8001"}],
    ids=["same-site", "other-origin"],
)
def test_the_oauth_sign_in_form_refuses_another_origin(app, world, headers):
    """Its form token is bound to a nonce cookie, which a sibling origin can plant (cookies ignore
    ports; Domain= reaches from a subdomain): the attacker's nonce, token and credentials, posted
    from their page, must not sign the victim's browser in."""
    attacker = world.user()
    browser = app.test_client()
    form = read_form(browser.get("/api/oauth/login").get_data(as_text=True)).fields
    answer = browser.post(
        "/api/oauth/login",
        data=form | {"email": attacker["email"], "password": DEFAULT_PASSWORD},
        headers=headers,
    )
    assert answer.status_code == 403
    assert browser.get_cookie("qb_session") is None
    same_origin = browser.post(
        "/api/oauth/login",
        data=read_form(browser.get("/api/oauth/login").get_data(as_text=True)).fields
        | {"email": attacker["email"], "password": DEFAULT_PASSWORD},
    )
    assert same_origin.status_code == 200 and browser.get_cookie("qb_session") is not None


def test_the_cookie_of_an_ended_session_asks_for_no_token(client, auth, victim, db):
    """A browser whose session ended elsewhere (a password change, a sign-out on another device)
    can get no token (/api/auth/me answers 401): its cookie is treated as absent, so it can still
    sign out, accept an invitation link or sign in again."""
    with db.transaction("service_role") as conn:
        conn.execute("update public.auth_sessions set revoked_at = now()")
    assert client.post("/api/organizations", json={"name": "X"}).status_code == 401
    signed_out = client.post("/api/auth/logout")
    assert signed_out.status_code == 204
    assert client.get_cookie("qb_session") is None


def test_our_own_pages_pass_the_browser_checks(client, auth, victim):
    """What the admin UI's fetch sends from our origin: same-origin fetch metadata, our Origin."""
    headers = auth.csrf | {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}
    assert client.post("/api/organizations", json={"name": "From our page"}, headers=headers).status_code == 201
    public = auth.csrf | {"Origin": "http://127.0.0.1:8000"}  # PUBLIC_URL's origin, e.g. behind a proxy
    assert client.post("/api/organizations", json={"name": "From PUBLIC_URL"}, headers=public).status_code == 201
    # The same host over another scheme is another origin.
    assert_csrf_refusal(
        client.post("/api/organizations", json={"name": "X"}, headers=auth.csrf | {"Origin": "https://localhost"})
    )
