"""Hostile input at every OAuth endpoint is a 4xx (an error page, an RFC 6749 error or problem+json),
never a 500: quotes and backslashes that Authlib would put into error descriptions, NUL, non-ASCII,
control characters and very long values."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.oauth.support import (
    authorize_query,
    basic_auth,
    pkce_pair,
    query_of,
    read_form,
    refresh,
    register,
    signed_in,
    user_tokens,
)

BAD_VALUES = ['a"b', "a\\b", "a\x00b", "é", "\x7f", "a\nb", "x" * 5000]
AUTHORIZE_FIELDS = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
]


@pytest.fixture
def setup(app, client, auth, world):
    org = world.organization("Academy")
    lms = register(client, auth.headers(org["admin"]), org)
    learner = world.add_member(org)
    return lms, learner, signed_in(app, learner)


def assert_client_error(response, what):
    assert 400 <= response.status_code < 500, (what, response.status_code, response.get_data(as_text=True)[:300])


def assert_refused(response, what, lms):
    """An error page, or an RFC 6749 error sent back to the client's registered redirect URI."""
    if response.status_code in (302, 303):
        location = response.headers["Location"]
        assert location.startswith(lms["redirect_uris"][0] + "?") and "error=" in location and "code=" not in location
    else:
        assert_client_error(response, what)


@pytest.mark.parametrize("bad", BAD_VALUES)
@pytest.mark.parametrize("field", AUTHORIZE_FIELDS)
def test_the_authorization_endpoint(setup, field, bad):
    lms, _learner, browser = setup
    _verifier, challenge = pkce_pair()
    query = authorize_query(lms, challenge, **{field: bad})
    response = browser.get(f"/api/oauth/authorize?{query}")
    if field == "state" and bad in ('a"b', "a\\b"):  # VSCHAR: allowed in state and echoed back
        assert response.status_code == 200
    else:
        assert_refused(response, field, lms)
    page = browser.get("/api/oauth/authorize?" + authorize_query(lms, challenge))
    form = read_form(page.get_data(as_text=True)).fields
    answer = browser.post("/api/oauth/authorize", data=form | {field: bad, "confirm": "yes"})
    if field == "state" and bad in ('a"b', "a\\b"):
        assert answer.status_code == 303
    else:
        assert_refused(answer, f"post {field}", lms)


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_the_token_revocation_and_introspection_endpoints(client, setup, bad):
    lms, _learner, _browser = setup
    auth = basic_auth(lms["client_id"], lms["client_secret"])
    for data, headers in (
        ({"grant_type": bad}, auth),
        ({"grant_type": "authorization_code", "code": bad, "code_verifier": bad, "redirect_uri": bad}, auth),
        ({"grant_type": "refresh_token", "refresh_token": bad, "scope": bad}, auth),
        ({"grant_type": "client_credentials", "scope": bad}, auth),
    ):
        assert_client_error(client.post("/api/oauth/token", data=data, headers=headers), data)
    for data, headers in (
        ({"grant_type": "client_credentials", "client_id": bad, "client_secret": bad}, {}),
        ({"grant_type": "client_credentials"}, basic_auth(bad, bad)),
    ):
        response = client.post("/api/oauth/token", data=data, headers=headers)
        assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"
    for endpoint in ("revoke", "introspect"):
        ok = client.post(f"/api/oauth/{endpoint}", data={"token": bad}, headers=auth)
        assert ok.status_code == 200, ok.get_data(as_text=True)
        hinted = client.post(f"/api/oauth/{endpoint}", data={"token": "x", "token_type_hint": bad}, headers=auth)
        assert_client_error(hinted, endpoint)
        assert_client_error(
            client.post(f"/api/oauth/{endpoint}", data={"token": "x"}, headers=basic_auth(bad, bad)), endpoint
        )


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_the_pages_and_the_api(app, client, auth, setup, bad):
    _lms, learner, _browser = setup
    assert_client_error(client.get("/api/v1/me", headers={"Authorization": "Bearer " + bad.replace("\n", "")}), "v1")
    browser = app.test_client()
    form = read_form(browser.get("/api/oauth/login").get_data(as_text=True)).fields
    answer = browser.post("/api/oauth/login", data=form | {"email": bad, "password": bad, "next": bad})
    assert_client_error(answer, "login")
    assert browser.get("/api/oauth/login", query_string={"next": bad}).status_code == 200
    encoded = bad.replace("\x00", "%00").replace("\n", "%0A")
    assert_client_error(client.delete(f"/api/oauth/authorizations/{encoded}", headers=auth.headers(learner)), "authz")
    assert_client_error(client.get(f"/api/oauth/clients/{encoded}", headers=auth.headers(learner)), "client")


@pytest.mark.parametrize(
    "header",
    [
        "Basic /zr/",  # base64 of b"\xff:\xff", not UTF-8
        "Basic éééé",  # not ASCII
        "Basic ",  # nothing after the scheme
        "Basic",
        "Basic !!!!",
    ],
)
@pytest.mark.parametrize("endpoint", ["token", "revoke", "introspect"])
def test_an_authorization_header_that_does_not_decode_is_invalid_client(client, setup, endpoint, header):
    data = {"grant_type": "client_credentials"} if endpoint == "token" else {"token": "x"}
    response = client.post(f"/api/oauth/{endpoint}", data=data, headers={"Authorization": header})
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.get_json()["error"] == "invalid_client"


def refused(response, error: str, status: int = 400) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["error"] == error, body
    return body


@pytest.mark.parametrize("endpoint", ["token", "revoke", "introspect"])
@pytest.mark.parametrize("name", ["grant_type", "token", "scope", "client_secret"])
def test_a_parameter_sent_twice_is_invalid_request(client, setup, endpoint, name):
    lms, _learner, _browser = setup
    data = {"grant_type": "client_credentials", "token": "x", "scope": "read:quests"}
    body = [(key, value) for key, value in data.items() if key != name] + [(name, "read:quests"), (name, "x")]
    response = client.post(
        f"/api/oauth/{endpoint}",
        data=urlencode(body),
        content_type="application/x-www-form-urlencoded",
        headers=basic_auth(lms["client_id"], lms["client_secret"]),
    )
    assert f"the {name} parameter is sent more than once" in refused(response, "invalid_request")["error_description"]


def test_token_parameters_are_read_from_the_body_only(client, setup):
    lms, _learner, _browser = setup
    auth = basic_auth(lms["client_id"], lms["client_secret"])
    in_url = client.post("/api/oauth/token?grant_type=client_credentials", data={}, headers=auth)
    assert in_url.status_code == 400 and "access_token" not in in_url.get_json()
    assert client.post("/api/oauth/token", data={"grant_type": "client_credentials"}, headers=auth).status_code == 200


def test_one_client_authentication_method_per_request(client, app, auth, world, setup):
    lms, _learner, _browser = setup
    basic = basic_auth(lms["client_id"], lms["client_secret"])
    both = {"grant_type": "client_credentials", "client_id": lms["client_id"], "client_secret": lms["client_secret"]}
    assert (
        "one way"
        in refused(client.post("/api/oauth/token", data=both, headers=basic), "invalid_request")["error_description"]
    )
    another = world.organization("Elsewhere")
    stranger = register(client, auth.headers(another["admin"]), another)
    mismatch = {"grant_type": "client_credentials", "client_id": stranger["client_id"]}
    refused(client.post("/api/oauth/token", data=mismatch, headers=basic), "invalid_request")
    same = {"grant_type": "client_credentials", "client_id": lms["client_id"]}
    assert client.post("/api/oauth/token", data=same, headers=basic).status_code == 200


@pytest.mark.parametrize("blank", [" ", "   ", "\t"])
def test_a_scope_of_blanks_is_invalid_scope_everywhere(app, client, setup, blank):
    lms, learner, browser = setup
    basic = basic_auth(lms["client_id"], lms["client_secret"])
    data = {"grant_type": "client_credentials", "scope": blank}
    refused(client.post("/api/oauth/token", data=data, headers=basic), "invalid_scope")
    tokens = user_tokens(app, client, lms, learner, scope="read:profile")
    refused(refresh(client, lms, tokens["refresh_token"], scope=blank), "invalid_scope")
    widened = refresh(client, lms, tokens["refresh_token"]).get_json()
    assert widened["scope"] == "read:profile"  # the grant's own scope, never the client's all

    # At the authorization endpoint a blank scope is no consent and no code: spaces are an error
    # sent back to the client, a tab (not allowed in a scope at all) an error page.
    _verifier, challenge = pkce_pair()
    answer = browser.get("/api/oauth/authorize?" + authorize_query(lms, challenge, scope=blank))
    if "\t" in blank:
        assert answer.status_code == 400
    else:
        assert answer.status_code == 302, answer.get_data(as_text=True)
        assert query_of(answer.headers["Location"])["error"] == "invalid_scope"
