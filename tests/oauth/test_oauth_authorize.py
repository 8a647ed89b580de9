"""The authorization endpoint: login redirect and page, consent page (CSRF, framing, plain-word
scopes), remembered consent, deny, iss, error pages instead of redirects, PKCE and scope checks."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest

from tests.oauth.support import (
    LOOPBACK_REDIRECT_URI,
    REDIRECT_URI,
    authorize,
    authorize_query,
    exchange,
    pkce_pair,
    query_of,
    read_form,
    register,
    signed_in,
    submit_consent,
    without_query,
)

ISSUER = "http://127.0.0.1:8000"  # PUBLIC_URL's default


@pytest.fixture
def browser(app, learner):
    return signed_in(app, learner)


def consent_page(browser, lms, challenge, **params):
    return browser.get("/api/oauth/authorize?" + authorize_query(lms, challenge, **params))


def assert_error_page(response):
    """An HTML error page: never a redirect, never framed."""
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"
    assert response.headers["X-Frame-Options"] == "DENY"
    return response.get_data(as_text=True)


# -- sign-in ---------------------------------------------------------------------------------------


def test_without_a_session_the_user_signs_in_then_comes_back(app, lms, learner):
    browser = app.test_client()
    _verifier, challenge = pkce_pair()
    query = authorize_query(lms, challenge)
    first = browser.get(f"/api/oauth/authorize?{query}")
    assert first.status_code == 302
    login_url = urlsplit(first.headers["Location"])
    assert login_url.path == "/api/oauth/login"
    assert query_of(first.headers["Location"])["next"] == f"/api/oauth/authorize?{query}"

    page = browser.get(first.headers["Location"])
    assert page.status_code == 200 and page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    form = read_form(page.get_data(as_text=True))
    answer = browser.post(form.action, data=form.fields | {"email": learner["email"], "password": learner["password"]})
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"/api/oauth/authorize?{query}"
    cookie = answer.headers.getlist("Set-Cookie")
    assert any(c.startswith("qb_session=") and "HttpOnly" in c and "SameSite=Lax" in c for c in cookie)

    consent = browser.get(answer.headers["Location"])
    assert consent.status_code == 200 and lms["name"] in consent.get_data(as_text=True)


def test_the_login_page_refuses_a_post_without_its_csrf_token(app, learner):
    browser = app.test_client()
    browser.get("/api/oauth/login")
    response = browser.post(
        "/api/oauth/login", data={"email": learner["email"], "password": learner["password"], "csrf_token": "x" * 64}
    )
    assert response.status_code == 400
    assert not any(c.startswith("qb_session=") for c in response.headers.getlist("Set-Cookie"))


def test_the_login_csrf_token_is_bound_to_the_browsers_nonce(app, learner):
    attacker = app.test_client()
    token = read_form(attacker.get("/api/oauth/login").get_data(as_text=True)).fields["csrf_token"]
    victim = app.test_client()
    victim.get("/api/oauth/login")  # the victim's own nonce cookie
    response = victim.post(
        "/api/oauth/login", data={"email": learner["email"], "password": learner["password"], "csrf_token": token}
    )
    assert response.status_code == 400


def test_wrong_credentials_show_the_form_again_with_401(app, learner):
    browser = app.test_client()
    form = read_form(browser.get("/api/oauth/login").get_data(as_text=True))
    response = browser.post(form.action, data=form.fields | {"email": learner["email"], "password": "wrong"})
    assert response.status_code == 401
    assert "Invalid email or password" in response.get_data(as_text=True)
    assert not any(c.startswith("qb_session=") for c in response.headers.getlist("Set-Cookie"))


def test_failed_sign_ins_are_throttled_like_the_json_login(make_app, world, learner):
    app = make_app(login_max_failures_per_email=2)
    browser = app.test_client()
    form = read_form(browser.get("/api/oauth/login").get_data(as_text=True))
    statuses = [
        browser.post(form.action, data=form.fields | {"email": learner["email"], "password": "wrong"}).status_code
        for _ in range(3)
    ]
    assert statuses == [401, 401, 429]
    response = browser.post(
        form.action, data=form.fields | {"email": learner["email"], "password": learner["password"]}
    )
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0


def test_the_login_form_remembers_the_browser_like_the_json_login(make_app, world, learner):
    """A browser that signed in through the form before skips the email's ceiling a botnet reached."""
    app = make_app(login_email_ceiling=2, login_email_drip_seconds=600)
    browser = app.test_client()
    form = read_form(browser.get("/api/oauth/login").get_data(as_text=True))
    signed_in = browser.post(
        form.action, data=form.fields | {"email": learner["email"], "password": learner["password"]}
    )
    assert signed_in.status_code == 200
    assert any(c.startswith("qb_device=") and "HttpOnly" in c for c in signed_in.headers.getlist("Set-Cookie"))

    botnet = app.test_client()
    botnet_form = read_form(botnet.get("/api/oauth/login").get_data(as_text=True))
    statuses = [
        botnet.post(
            botnet_form.action,
            data=botnet_form.fields | {"email": learner["email"], "password": "wrong"},
            environ_base={"REMOTE_ADDR": f"198.51.100.{n}"},
        ).status_code
        for n in range(3)
    ]
    assert statuses == [401, 401, 429]

    form = read_form(browser.get("/api/oauth/login").get_data(as_text=True))
    again = browser.post(form.action, data=form.fields | {"email": learner["email"], "password": learner["password"]})
    assert again.status_code == 200


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/steal",
        "//evil.example/api/oauth/authorize",
        "/\\evil.example",
        "/api/auth/logout",
        "https://evil.example/api/oauth/authorize?client_id=x",
        "javascript:alert(1)",
    ],
)
def test_login_never_redirects_outside_the_authorization_endpoint(app, learner, target):
    browser = app.test_client()
    form = read_form(browser.get(f"/api/oauth/login?next={quote(target)}").get_data(as_text=True))
    assert "next" not in form.fields
    response = browser.post(
        form.action, data=form.fields | {"email": learner["email"], "password": learner["password"], "next": target}
    )
    assert response.status_code == 200 and "Location" not in response.headers
    assert "You are signed in" in response.get_data(as_text=True)


# -- the consent page ------------------------------------------------------------------------------


def test_the_consent_page_names_the_client_and_each_scope_and_cannot_be_framed(browser, lms):
    _verifier, challenge = pkce_pair()
    page = consent_page(browser, lms, challenge, scope="read:profile read:progress")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert lms["name"] in html and "Academy" in html
    assert "See your name, email address and the organization you belong to" in html
    assert "See your progress: the tasks you completed, your xp and badges" in html
    assert "webhook" not in html  # only what is asked
    assert page.headers["X-Frame-Options"] == "DENY"
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "form-action 'self' https://lms.example.edu" in csp
    assert page.headers["Cache-Control"] == "no-store"
    form = read_form(html)
    assert len(form.fields["csrf_token"]) == 64
    assert form.buttons == {"confirm": ["yes", "no"]}
    assert form.fields["client_id"] == lms["client_id"] and form.fields["code_challenge"] == challenge


def test_the_consent_page_offers_a_member_only_what_they_can_exercise(app, browser, lms, org):
    _verifier, challenge = pkce_pair()
    member_page = consent_page(browser, lms, challenge, scope="read:profile webhooks:manage")
    html = member_page.get_data(as_text=True)
    assert member_page.status_code == 200 and "webhook" not in html
    assert read_form(html).fields["scope"] == "read:profile"
    admin_page = consent_page(signed_in(app, org["admin"]), lms, challenge, scope="read:profile webhooks:manage")
    html = admin_page.get_data(as_text=True)
    assert "Manage your organization&#39;s webhook subscriptions" in html and "(webhooks:manage)" in html
    assert read_form(html).fields["scope"] == "read:profile webhooks:manage"


@pytest.mark.parametrize(
    ("posted", "granted"),
    [("read:profile webhooks:manage", "read:profile"), ("webhooks:manage", None)],
)
def test_a_member_who_edits_the_consent_form_gets_no_admin_scope(client, browser, lms, db, posted, granted):
    verifier, challenge = pkce_pair()
    answer = submit_consent(browser, consent_page(browser, lms, challenge, state="s1"), "yes", scope=posted)
    assert answer.status_code == 303
    params = query_of(answer.headers["Location"])
    with db.transaction("service_role") as conn:
        consented = conn.execute("select scopes from public.oauth_consents").fetchall()
    if granted is None:
        assert params["error"] == "access_denied" and params["state"] == "s1" and "code" not in params
        assert consented == []
        return
    token = exchange(client, lms, params["code"], verifier).get_json()
    assert token["scope"] == granted
    assert consented == [{"scopes": [granted]}]


def test_the_page_escapes_what_the_admin_typed(client, auth, org, app, learner):
    lms = register(client, auth.headers(org["admin"]), org, name='<script>alert("x")</script>')
    _verifier, challenge = pkce_pair()
    html = consent_page(signed_in(app, learner), lms, challenge).get_data(as_text=True)
    assert "<script>alert" not in html and "&lt;script&gt;" in html


def test_approving_redirects_with_code_state_and_iss(browser, lms):
    _verifier, challenge = pkce_pair()
    page = consent_page(browser, lms, challenge, state="xyz-123")
    answer = submit_consent(browser, page, "yes")
    assert answer.status_code == 303
    assert answer.headers["Cache-Control"] == "no-store"
    assert without_query(answer.headers["Location"]) == REDIRECT_URI
    params = query_of(answer.headers["Location"])
    assert params["state"] == "xyz-123" and params["iss"] == ISSUER and len(params["code"]) >= 32


def test_denying_redirects_with_access_denied(browser, lms):
    _verifier, challenge = pkce_pair()
    answer = submit_consent(browser, consent_page(browser, lms, challenge, state="s1"), "no")
    assert answer.status_code == 303
    params = query_of(answer.headers["Location"])
    assert params["error"] == "access_denied" and params["state"] == "s1" and params["iss"] == ISSUER
    assert "code" not in params


@pytest.mark.parametrize("token", [None, "", "0" * 64])
def test_consent_without_the_sessions_csrf_token_is_refused(browser, lms, token, db):
    _verifier, challenge = pkce_pair()
    page = consent_page(browser, lms, challenge)
    form = read_form(page.get_data(as_text=True)).fields
    if token is None:
        form.pop("csrf_token")
    else:
        form["csrf_token"] = token
    response = browser.post("/api/oauth/authorize", data=form | {"confirm": "yes"})
    assert response.status_code == 400 and "Location" not in response.headers
    with db.transaction("service_role") as conn:
        assert conn.execute("select count(*) as n from public.oauth_authorization_codes").fetchone()["n"] == 0


def test_a_csrf_token_from_another_session_is_refused(app, world, org, lms, learner):
    _verifier, challenge = pkce_pair()
    attacker = signed_in(app, world.add_member(org))
    forged = read_form(consent_page(attacker, lms, challenge).get_data(as_text=True)).fields
    victim = signed_in(app, learner)
    response = victim.post("/api/oauth/authorize", data=forged | {"confirm": "yes"})
    assert response.status_code == 400 and "Location" not in response.headers


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Fetch-Site": "same-site"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "http://localhost:8001"}],
    ids=["same-site", "cross-site", "other-origin"],
)
def test_a_consent_posted_by_a_page_of_another_origin_is_refused(browser, lms, headers, db):
    """Even with the right form token (a framing or a leaked page), the browser's own report that
    another origin sent the form is enough to refuse it."""
    _verifier, challenge = pkce_pair()
    form = read_form(consent_page(browser, lms, challenge).get_data(as_text=True)).fields
    response = browser.post("/api/oauth/authorize", data=form | {"confirm": "yes"}, headers=headers)
    assert response.status_code == 400 and "Location" not in response.headers
    with db.transaction("service_role") as conn:
        assert conn.execute("select count(*) as n from public.oauth_authorization_codes").fetchone()["n"] == 0


def test_a_decision_other_than_yes_or_no_is_refused(browser, lms):
    _verifier, challenge = pkce_pair()
    response = submit_consent(browser, consent_page(browser, lms, challenge), "maybe")
    assert response.status_code == 400 and "Location" not in response.headers


def test_posting_without_a_session_is_refused(app, browser, lms):
    _verifier, challenge = pkce_pair()
    form = read_form(consent_page(browser, lms, challenge).get_data(as_text=True)).fields
    response = app.test_client().post("/api/oauth/authorize", data=form | {"confirm": "yes"})
    assert response.status_code == 401 and "Location" not in response.headers


def test_consent_is_remembered_per_user_client_and_scopes(app, browser, lms, world, org, db):
    _verifier, challenge = pkce_pair()
    authorize(browser, lms, challenge, scope="read:profile read:quests")
    again = browser.get("/api/oauth/authorize?" + authorize_query(lms, challenge, scope="read:quests"))
    assert again.status_code == 302 and "code" in query_of(again.headers["Location"])
    assert query_of(again.headers["Location"])["iss"] == ISSUER
    more = browser.get("/api/oauth/authorize?" + authorize_query(lms, challenge, scope="read:quests read:progress"))
    assert more.status_code == 200  # a new scope: asked again
    someone_else = signed_in(app, world.add_member(org))
    assert someone_else.get("/api/oauth/authorize?" + authorize_query(lms, challenge)).status_code == 200
    with db.transaction("service_role") as conn:
        entries = conn.execute(
            "select actor_id, target_id, metadata from public.audit_log where action = 'oauth_consent.granted'"
        ).fetchall()
    assert [e["metadata"]["scopes"] for e in entries] == [["read:profile", "read:quests"]]


def test_users_outside_the_clients_organization_cannot_authorize_it(app, world, lms):
    outsider = world.organization("Elsewhere")["admin"]
    _verifier, challenge = pkce_pair()
    page = signed_in(app, outsider).get("/api/oauth/authorize?" + authorize_query(lms, challenge))
    assert page.status_code == 403 and "Location" not in page.headers


def test_users_who_must_change_their_password_are_stopped(app, world, org, lms):
    user = world.add_member(org, world.user(must_change_password=True))
    _verifier, challenge = pkce_pair()
    page = signed_in(app, user).get("/api/oauth/authorize?" + authorize_query(lms, challenge))
    assert page.status_code == 403 and "Change your password" in page.get_data(as_text=True)


# -- errors that must not redirect -------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"client_id": "qbc_unknownunknownunkn"},
        {"client_id": None},
        {"redirect_uri": "https://evil.example/callback"},
        {"redirect_uri": REDIRECT_URI + "/"},
        {"redirect_uri": REDIRECT_URI.upper()},
        {"redirect_uri": REDIRECT_URI + "?next=https://evil.example"},
        {"redirect_uri": "https://lms.example.edu.evil.example/oauth/callback"},
        {"redirect_uri": "http://lms.example.edu/oauth/callback"},
    ],
)
def test_unknown_clients_and_unregistered_redirect_uris_get_an_error_page(browser, lms, changes):
    _verifier, challenge = pkce_pair()
    html = assert_error_page(browser.get("/api/oauth/authorize?" + authorize_query(lms, challenge, **changes)))
    assert "href" not in html and "<form" not in html  # nothing on the page leads anywhere


def test_the_error_page_comes_before_sign_in(app, lms):
    _verifier, challenge = pkce_pair()
    query = authorize_query(lms, challenge, redirect_uri="https://evil.example/cb")
    assert_error_page(app.test_client().get(f"/api/oauth/authorize?{query}"))


def test_with_several_redirect_uris_one_must_be_named(client, auth, org, app, learner):
    lms = register(
        client, auth.headers(org["admin"]), org, redirect_uris=[REDIRECT_URI, "https://lms.example.edu/other"]
    )
    _verifier, challenge = pkce_pair()
    assert_error_page(
        signed_in(app, learner).get("/api/oauth/authorize?" + authorize_query(lms, challenge, redirect_uri=None))
    )


def test_with_one_redirect_uri_it_may_be_left_out(browser, lms):
    _verifier, challenge = pkce_pair()
    location = authorize(browser, lms, challenge, redirect_uri=None)
    assert without_query(location) == REDIRECT_URI and "code" in query_of(location)


def test_a_loopback_redirect_uri_matches_on_any_port(client, auth, org, app, learner):
    lms = register(client, auth.headers(org["admin"]), org, redirect_uris=[LOOPBACK_REDIRECT_URI])
    browser = signed_in(app, learner)
    _verifier, challenge = pkce_pair()
    location = authorize(browser, lms, challenge, redirect_uri="http://127.0.0.1:49152/callback")
    assert location.startswith("http://127.0.0.1:49152/callback?code=")
    for other in ("http://127.0.0.1:49152/other", "http://127.0.0.2:49152/callback", "http://localhost:49152/callback"):
        assert_error_page(browser.get("/api/oauth/authorize?" + authorize_query(lms, challenge, redirect_uri=other)))


# -- errors sent back to the client -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),  # no implicit grant
        ({"response_type": "code token"}, "unsupported_response_type"),
        ({"response_type": "password"}, "unsupported_response_type"),
        ({"scope": "read:profile admin:all"}, "invalid_scope"),
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),  # PKCE required
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),  # would default to plain
        ({"code_challenge": "too-short"}, "invalid_request"),
    ],
)
def test_bad_requests_from_a_known_client_go_back_with_an_rfc_error(browser, lms, changes, error):
    _verifier, challenge = pkce_pair()
    response = browser.get("/api/oauth/authorize?" + authorize_query(lms, challenge, state="st", **changes))
    assert response.status_code == 302, response.get_data(as_text=True)
    assert without_query(response.headers["Location"]) == REDIRECT_URI
    params = query_of(response.headers["Location"])
    assert params["error"] == error and params["state"] == "st" and params["iss"] == ISSUER
    assert "code" not in params and "access_token" not in response.headers["Location"]


def test_a_scope_outside_the_clients_scopes_is_invalid_scope(client, auth, org, app, learner):
    lms = register(client, auth.headers(org["admin"]), org, scopes=["read:profile"])
    _verifier, challenge = pkce_pair()
    response = signed_in(app, learner).get(
        "/api/oauth/authorize?" + authorize_query(lms, challenge, scope="read:profile read:quests")
    )
    assert query_of(response.headers["Location"])["error"] == "invalid_scope"


def test_a_client_without_the_code_grant_cannot_use_the_authorization_endpoint(client, auth, org, app, learner):
    machine = register(client, auth.headers(org["admin"]), org, grant_types=["client_credentials"])
    _verifier, challenge = pkce_pair()
    response = signed_in(app, learner).get("/api/oauth/authorize?" + authorize_query(machine, challenge))
    assert query_of(response.headers["Location"])["error"] == "unauthorized_client"


def test_without_pkce_required_a_confidential_client_may_skip_it(client, auth, org, app, learner):
    lms = register(client, auth.headers(org["admin"]), org, pkce_required=False)
    location = authorize(signed_in(app, learner), lms, None)
    assert "code" in query_of(location)


@pytest.mark.parametrize("repeated", ["scope=webhooks%3Amanage", "redirect_uri=https%3A%2F%2Fevil.example%2Fcb"])
def test_a_repeated_parameter_gets_the_error_page(browser, lms, repeated):
    _verifier, challenge = pkce_pair()
    html = assert_error_page(browser.get(f"/api/oauth/authorize?{authorize_query(lms, challenge)}&{repeated}"))
    assert "invalid_request" in html


def test_a_signed_in_user_skips_the_login_page(browser, lms):
    _verifier, challenge = pkce_pair()
    target = "/api/oauth/authorize?" + authorize_query(lms, challenge)
    response = browser.get("/api/oauth/login", query_string={"next": target})
    assert response.status_code == 302 and response.headers["Location"] == target
