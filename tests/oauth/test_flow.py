"""The whole flow with a real third-party client: Authlib's OAuth2Session (requests) against the app
served on 127.0.0.1, and a browser session that signs in and answers the consent page."""

from __future__ import annotations

import jwt
import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from tests.oauth.support import query_of

SCOPE = "read:profile read:quests read:progress"


def lms_session(live, client: dict, **kwargs) -> OAuth2Session:
    return OAuth2Session(
        client["client_id"],
        client["client_secret"],
        scope=kwargs.pop("scope", SCOPE),
        redirect_uri=client["redirect_uris"][0],
        code_challenge_method="S256",
        **kwargs,
    )


def connect(live, academy, **kwargs) -> tuple[OAuth2Session, dict]:
    """Code + PKCE: the LMS sends the learner to authorize, then redeems the code."""
    session = lms_session(live, academy["client"], **kwargs)
    verifier = generate_token(64)
    url, state = session.create_authorization_url(f"{live.url}/api/oauth/authorize", code_verifier=verifier)
    location = live.browse(url, academy["learner"])
    params = query_of(location)
    assert params["state"] == state and params["iss"] == live.url  # RFC 9207: the client checks who answered
    token = session.fetch_token(f"{live.url}/api/oauth/token", authorization_response=location, code_verifier=verifier)
    return session, token


def test_code_with_pkce_then_the_api(live, academy):
    session, token = connect(live, academy)
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600 and token["refresh_token"]
    assert token["scope"] == SCOPE
    me = session.get(f"{live.url}/api/v1/me", timeout=10)
    assert me.status_code == 200 and me.json()["id"] == str(academy["learner"]["id"])
    assert session.get(f"{live.url}/api/v1/quests", timeout=10).json() == {"data": [], "next_cursor": None}
    assert session.get(f"{live.url}/api/v1/progress", timeout=10).status_code == 200
    jwks = requests.get(f"{live.url}/.well-known/jwks.json", timeout=10).json()
    key = jwt.PyJWK(jwks["keys"][0]).key
    claims = jwt.decode(token["access_token"], key, algorithms=["ES256"], audience=f"{live.url}/api", issuer=live.url)
    assert claims["client_id"] == academy["client"]["client_id"]


def test_the_client_discovers_everything_from_metadata(live, academy):
    metadata = requests.get(f"{live.url}/.well-known/oauth-authorization-server", timeout=10).json()
    session = lms_session(live, academy["client"])
    session.metadata.update(token_endpoint=metadata["token_endpoint"])
    verifier = generate_token(64)
    url, _state = session.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier)
    location = live.browse(url, academy["learner"])
    token = session.fetch_token(authorization_response=location, code_verifier=verifier)
    assert session.introspect_token(metadata["introspection_endpoint"], token=token["access_token"]).json()["active"]


def test_refresh_rotates_and_a_reused_refresh_token_ends_the_grant(live, academy):
    session, first = connect(live, academy)
    token_url = f"{live.url}/api/oauth/token"
    second = session.refresh_token(token_url)
    assert second["refresh_token"] != first["refresh_token"]
    assert session.get(f"{live.url}/api/v1/me", timeout=10).status_code == 200
    with pytest.raises(OAuthError) as reused:
        session.refresh_token(token_url, refresh_token=first["refresh_token"])
    assert reused.value.error == "invalid_grant"
    assert session.get(f"{live.url}/api/v1/me", timeout=10).status_code == 401  # the new access token too
    with pytest.raises(OAuthError) as after:
        session.refresh_token(token_url, refresh_token=second["refresh_token"])
    assert after.value.error == "invalid_grant"


def test_revoke_then_the_api_answers_401(live, academy):
    session, token = connect(live, academy)
    assert session.get(f"{live.url}/api/v1/me", timeout=10).status_code == 200
    response = session.revoke_token(
        f"{live.url}/api/oauth/revoke", token=token["access_token"], token_type_hint="access_token"
    )
    assert response.status_code == 200
    after = session.get(f"{live.url}/api/v1/me", timeout=10)
    assert after.status_code == 401 and 'error="invalid_token"' in after.headers["WWW-Authenticate"]


def test_introspection(live, academy):
    session, token = connect(live, academy)
    url = f"{live.url}/api/oauth/introspect"
    body = session.introspect_token(url, token=token["access_token"]).json()
    assert body["active"] is True and body["client_id"] == academy["client"]["client_id"]
    assert body["sub"] == str(academy["learner"]["id"]) and body["scope"] == SCOPE
    refresh_body = session.introspect_token(url, token=token["refresh_token"], token_type_hint="refresh_token").json()
    assert refresh_body["active"] is True
    session.revoke_token(f"{live.url}/api/oauth/revoke", token=token["refresh_token"], token_type_hint="refresh_token")
    assert session.introspect_token(url, token=token["access_token"]).json() == {"active": False}


def test_client_credentials(live, academy):
    client = academy["client"]
    session = OAuth2Session(client["client_id"], client["client_secret"], scope="read:quests")
    token = session.fetch_token(f"{live.url}/api/oauth/token", grant_type="client_credentials")
    assert "refresh_token" not in token and token["scope"] == "read:quests"
    assert session.get(f"{live.url}/api/v1/quests", timeout=10).status_code == 200
    assert session.get(f"{live.url}/api/v1/me", timeout=10).status_code == 403  # read:profile not asked


def test_client_secret_post(live, academy):
    client = academy["client"]
    session = OAuth2Session(
        client["client_id"], client["client_secret"], token_endpoint_auth_method="client_secret_post"
    )
    token = session.fetch_token(f"{live.url}/api/oauth/token", grant_type="client_credentials")
    assert token["access_token"]


def test_the_user_denies(live, academy):
    session = lms_session(live, academy["client"])
    url, state = session.create_authorization_url(f"{live.url}/api/oauth/authorize", code_verifier=generate_token(64))
    params = query_of(live.browse(url, academy["learner"], confirm="no"))
    assert params["error"] == "access_denied" and params["state"] == state and params["iss"] == live.url
    assert "code" not in params
