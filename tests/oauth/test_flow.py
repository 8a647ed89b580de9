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


# -- scopes the user can exercise -------------------------------------------------------------------

WITH_ADMIN_SCOPE = "read:profile read:quests webhooks:manage"


def connect_as(live, academy, user: dict, scope: str) -> tuple[OAuth2Session, dict]:
    return connect(live, academy | {"learner": user}, scope=scope)


def subscriptions(live, session: OAuth2Session, academy) -> requests.Response:
    return session.get(f"{live.url}/api/webhooks/subscriptions?organization_id={academy['org']['id']}", timeout=10)


def access_claims(token: dict) -> dict:
    return jwt.decode(token["access_token"], options={"verify_signature": False})


def test_a_member_consenting_to_webhooks_manage_gets_a_token_without_it(live, academy):
    """The member cannot manage webhooks; the token (and every refresh of it) says only what they can do."""
    session, token = connect_as(live, academy, academy["learner"], WITH_ADMIN_SCOPE)
    assert token["scope"] == "read:profile read:quests"  # RFC 6749 5.1: the client learns it got less
    assert access_claims(token)["scope"] == "read:profile read:quests"
    introspected = session.introspect_token(f"{live.url}/api/oauth/introspect", token=token["access_token"]).json()
    assert introspected["scope"] == "read:profile read:quests"
    refused = subscriptions(live, session, academy)
    assert refused.status_code == 403 and 'scope="webhooks:manage"' in refused.headers["WWW-Authenticate"]

    # Authlib's client refreshes with the scope it first asked for: more than was granted (RFC 6749 6).
    token_url = f"{live.url}/api/oauth/token"
    with pytest.raises(OAuthError) as widened:
        session.refresh_token(token_url)
    assert widened.value.error == "invalid_scope"
    refreshed = session.refresh_token(token_url, scope=token["scope"])
    assert refreshed["scope"] == "read:profile read:quests" and "webhooks" not in access_claims(refreshed)["scope"]


def test_an_admin_consenting_to_webhooks_manage_gets_it(live, academy):
    session, token = connect_as(live, academy, academy["admin"], WITH_ADMIN_SCOPE)
    assert token["scope"] == WITH_ADMIN_SCOPE and access_claims(token)["scope"] == WITH_ADMIN_SCOPE
    assert subscriptions(live, session, academy).status_code == 200
    refreshed = session.refresh_token(f"{live.url}/api/oauth/token")
    assert refreshed["scope"] == WITH_ADMIN_SCOPE
    assert subscriptions(live, session, academy).status_code == 200


def test_a_member_asking_only_for_admin_scopes_is_sent_back_with_access_denied(live, academy):
    session = lms_session(live, academy["client"], scope="webhooks:manage")
    verifier = generate_token(64)
    url, state = session.create_authorization_url(f"{live.url}/api/oauth/authorize", code_verifier=verifier)
    location = live.browse(url, academy["learner"])  # straight back: there is nothing to consent to
    params = query_of(location)
    assert params["error"] == "access_denied" and params["state"] == state and params["iss"] == live.url
    assert params["error_description"] == "the user cannot exercise any of the requested scopes"
    assert "code" not in params
    with live.app.extensions["questbridge"].db.transaction("service_role") as conn:
        assert conn.execute("select count(*) as n from public.oauth_authorization_codes").fetchone()["n"] == 0
        assert conn.execute("select count(*) as n from public.oauth_consents").fetchone()["n"] == 0


def test_an_admin_who_becomes_a_member_loses_webhooks_manage_at_the_next_refresh(live, academy, live_world):
    second_admin = live_world.add_member(academy["org"], role="admin")
    session, token = connect_as(live, academy, second_admin, WITH_ADMIN_SCOPE)
    assert token["scope"] == WITH_ADMIN_SCOPE
    with live.app.extensions["questbridge"].db.transaction("service_role") as conn:
        conn.execute(
            "update public.memberships set role = 'member' where organization_id = %s and user_id = %s",
            (academy["org"]["id"], second_admin["id"]),
        )
    # The access token issued before still names the scope, and is refused by the routes all the same.
    assert subscriptions(live, session, academy).status_code == 403
    refreshed = session.refresh_token(f"{live.url}/api/oauth/token")
    assert refreshed["scope"] == "read:profile read:quests" and "webhooks" not in access_claims(refreshed)["scope"]
    with pytest.raises(OAuthError) as nothing_left:
        session.refresh_token(f"{live.url}/api/oauth/token", scope="webhooks:manage")
    assert nothing_left.value.error == "invalid_scope"  # not in the refreshed grant's scope any more
