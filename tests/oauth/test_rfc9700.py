"""RFC 9700 (OAuth 2.0 Security Best Current Practice), the authorization server's checklist: one
negative test per point, against the app on 127.0.0.1 with a real client, asserting RFC error codes.
"""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from tests.oauth.support import query_of

SCOPE = "read:profile read:quests"


def session_for(client: dict, **kwargs) -> OAuth2Session:
    kwargs.setdefault("redirect_uri", client["redirect_uris"][0])
    return OAuth2Session(
        client["client_id"], client["client_secret"], scope=SCOPE, code_challenge_method="S256", **kwargs
    )


def authorize_url(live, client: dict, **params) -> str:
    query = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": client["redirect_uris"][0],
        "scope": SCOPE,
        "state": "st",
        "code_challenge": create_s256_code_challenge("v" * 64),
        "code_challenge_method": "S256",
    } | params
    return f"{live.url}/api/oauth/authorize?" + urlencode({k: v for k, v in query.items() if v is not None})


def code_for(live, academy, verifier: str | None = "v" * 64, **params) -> str:
    challenge = {"code_challenge": create_s256_code_challenge(verifier)} if verifier else {}
    location = live.browse(authorize_url(live, academy["client"], **challenge, **params), academy["learner"])
    return query_of(location)["code"]


def token_error(call) -> str:
    with pytest.raises(OAuthError) as raised:
        call()
    return raised.value.error


# 2.1 / 4.1: redirect URIs are compared exactly; nothing else gets a code.


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://lms.example.edu/oauth/callback/../../evil",
        "https://lms.example.edu/oauth/callback?x=https://evil.example",
        "https://lms.example.edu.evil.example/oauth/callback",
        "https://evil.example/oauth/callback",
    ],
)
def test_exact_redirect_uri_matching(live, academy, redirect_uri):
    response = requests.get(
        authorize_url(live, academy["client"], redirect_uri=redirect_uri), allow_redirects=False, timeout=10
    )
    assert response.status_code == 400 and "Location" not in response.headers
    assert "invalid_request" in response.text


def test_the_token_request_must_name_the_same_redirect_uri(live, academy):
    code = code_for(live, academy)
    session = session_for(academy["client"], redirect_uri="https://lms.example.edu/oauth/other")
    error = token_error(lambda: session.fetch_token(f"{live.url}/api/oauth/token", code=code, code_verifier="v" * 64))
    assert error == "invalid_grant"


# 4.11: no open redirects, neither at the authorization endpoint nor at sign-in.


def test_no_open_redirect(live, academy):
    unknown = authorize_url(
        live, academy["client"], client_id="qbc_unknown_unknown_unk", redirect_uri="https://evil.example/"
    )
    response = requests.get(unknown, allow_redirects=False, timeout=10)
    assert response.status_code == 400 and "Location" not in response.headers
    assert "invalid_client" in response.text
    browser = requests.Session()
    page = browser.get(f"{live.url}/api/oauth/login", params={"next": "https://evil.example/"}, timeout=10)
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    answer = browser.post(
        f"{live.url}/api/oauth/login",
        data={
            "csrf_token": csrf,
            "email": academy["learner"]["email"],
            "password": academy["learner"]["password"],
            "next": "https://evil.example/",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 200 and "Location" not in answer.headers


# 2.1.1 / 4.8: PKCE downgrade.


def test_pkce_plain_is_refused(live, academy):
    url = authorize_url(live, academy["client"], code_challenge="v" * 64, code_challenge_method="plain")
    location = requests.get(url, allow_redirects=False, timeout=10).headers["Location"]
    assert query_of(location)["error"] == "invalid_request"


def test_pkce_required_is_enforced(live, academy):
    url = authorize_url(live, academy["client"], code_challenge=None, code_challenge_method=None)
    location = requests.get(url, allow_redirects=False, timeout=10).headers["Location"]
    assert query_of(location)["error"] == "invalid_request"


def test_a_verifier_without_a_challenge_is_refused(live, academy, live_world):
    client = dict(academy["client"])
    with live.app.extensions["questbridge"].db.transaction("service_role") as conn:
        conn.execute(
            "update public.oauth_clients set pkce_required = false where client_id = %s", (client["client_id"],)
        )
    code = code_for(live, academy, verifier=None, code_challenge=None, code_challenge_method=None)
    session = session_for(client)
    error = token_error(lambda: session.fetch_token(f"{live.url}/api/oauth/token", code=code, code_verifier="w" * 64))
    assert error == "invalid_request"


def test_a_missing_or_wrong_verifier_is_refused(live, academy):
    session = session_for(academy["client"])
    code = code_for(live, academy)
    assert token_error(lambda: session.fetch_token(f"{live.url}/api/oauth/token", code=code)) == "invalid_request"
    code = code_for(live, academy)
    wrong = lambda: session.fetch_token(f"{live.url}/api/oauth/token", code=code, code_verifier="w" * 64)  # noqa: E731
    assert token_error(wrong) == "invalid_grant"


# 4.2.4 / RFC 6749 4.1.2: a replayed code is refused and what it issued is revoked.


def test_code_replay(live, academy):
    session = session_for(academy["client"])
    code = code_for(live, academy)
    token = session.fetch_token(f"{live.url}/api/oauth/token", code=code, code_verifier="v" * 64)
    assert session.get(f"{live.url}/api/v1/me", timeout=10).status_code == 200
    replay = session_for(academy["client"])
    error = token_error(lambda: replay.fetch_token(f"{live.url}/api/oauth/token", code=code, code_verifier="v" * 64))
    assert error == "invalid_grant"
    assert session.get(f"{live.url}/api/v1/me", timeout=10).status_code == 401
    assert token_error(
        lambda: session.refresh_token(f"{live.url}/api/oauth/token", refresh_token=token["refresh_token"])
    ) == ("invalid_grant")


# 2.1.2 / 2.4: no implicit grant, no resource owner password credentials grant.


def test_no_implicit_grant(live, academy):
    location = requests.get(
        authorize_url(live, academy["client"], response_type="token"), allow_redirects=False, timeout=10
    ).headers["Location"]
    assert "#" not in location and "access_token" not in location
    assert query_of(location)["error"] == "unsupported_response_type"


def test_no_password_grant(live, academy):
    client = academy["client"]
    session = OAuth2Session(client["client_id"], client["client_secret"])
    error = token_error(
        lambda: session.fetch_token(
            f"{live.url}/api/oauth/token",
            grant_type="password",
            username=academy["learner"]["email"],
            password=academy["learner"]["password"],
        )
    )
    assert error == "unsupported_grant_type"


# 4.14: refresh tokens are rotated and a reused one revokes the grant.


def test_refresh_token_reuse(live, academy):
    session = session_for(academy["client"])
    token = session.fetch_token(f"{live.url}/api/oauth/token", code=code_for(live, academy), code_verifier="v" * 64)
    session.refresh_token(f"{live.url}/api/oauth/token")
    error = token_error(
        lambda: session.refresh_token(f"{live.url}/api/oauth/token", refresh_token=token["refresh_token"])
    )
    assert error == "invalid_grant"
    assert session.get(f"{live.url}/api/v1/me", timeout=10).status_code == 401


# Token responses, successful or not, must not be cached (RFC 6749 5.1).


@pytest.mark.parametrize("grant", ["client_credentials", "authorization_code"])
def test_token_responses_are_no_store(live, academy, grant):
    client = academy["client"]
    data = {"grant_type": grant}
    if grant == "authorization_code":
        data |= {"code": "forged", "code_verifier": "v" * 64, "redirect_uri": client["redirect_uris"][0]}
    response = requests.post(
        f"{live.url}/api/oauth/token", data=data, auth=(client["client_id"], client["client_secret"]), timeout=10
    )
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"
    assert response.status_code == (200 if grant == "client_credentials" else 400)
    if grant == "authorization_code":
        assert response.json()["error"] == "invalid_grant"


# RFC 7662 4: introspection needs client authentication.


def test_introspection_needs_authentication(live, academy):
    client = academy["client"]
    token = OAuth2Session(client["client_id"], client["client_secret"]).fetch_token(
        f"{live.url}/api/oauth/token", grant_type="client_credentials"
    )
    response = requests.post(f"{live.url}/api/oauth/introspect", data={"token": token["access_token"]}, timeout=10)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    forged = requests.post(
        f"{live.url}/api/oauth/introspect",
        data={"token": token["access_token"]},
        auth=(client["client_id"], "qbcs_guess"),
        timeout=10,
    )
    assert forged.status_code == 401 and forged.json()["error"] == "invalid_client"


# 4.1.3 / 2.5: brute force of client credentials is throttled per client and address.


def test_brute_force_of_client_secrets_is_throttled(live, academy):
    client = academy["client"]
    limit = live.app.extensions["questbridge"].config.oauth_client_auth_max_failures
    for _ in range(limit):
        guess = OAuth2Session(client["client_id"], "qbcs_" + generate_token(43))
        assert token_error(
            lambda s=guess: s.fetch_token(f"{live.url}/api/oauth/token", grant_type="client_credentials")
        ) == ("invalid_client")
    right = requests.post(
        f"{live.url}/api/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={
            "Authorization": "Basic "
            + base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
        },
        timeout=10,
    )
    assert right.status_code == 429 and right.json()["error"] == "invalid_client"
    assert int(right.headers["Retry-After"]) > 0
