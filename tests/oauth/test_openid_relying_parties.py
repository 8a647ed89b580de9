"""OpenID Connect with independent relying parties against the app served on 127.0.0.1: PyPI's
`oic` (discovery, code flow, its own id_token checks, userinfo), Authlib's client configured by
discovery alone (server_metadata_url) verifying the id_token, and a client shaped like Moodle's
OAuth 2 service (no PKCE, client_secret_post, openid profile email, /admin/oauth2callback.php)."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from authlib.integrations.base_client import BaseApp, OAuth2Mixin, OpenIDMixin
from authlib.integrations.requests_client import OAuth2Session
from oic.oic import Client as OicClient
from oic.oic.message import AuthorizationResponse, RegistrationResponse
from oic.utils.authn.client import CLIENT_AUTHN_METHOD

from tests.oauth.support import query_of

OIDC_SCOPES = ["openid", "profile", "email"]
MOODLE_CALLBACK = "https://moodle.example.edu/admin/oauth2callback.php"


@pytest.fixture
def person(live_world, academy):
    """A learner of the academy with a first and a last name."""
    user = live_world.user(given_name="Grace", family_name="Hopper")
    return live_world.add_member(academy["org"], user)


def test_oic_discovers_signs_in_verifies_the_id_token_and_reads_userinfo(live, register_live, person):
    registered = register_live(
        name="pyoidc relying party",
        redirect_uris=["https://rp.example.org/cb"],
        scopes=OIDC_SCOPES,
        grant_types=["authorization_code"],
        pkce_required=False,
    )
    rp = OicClient(client_authn_method=CLIENT_AUTHN_METHOD)
    configuration = rp.provider_config(live.url)  # GET /.well-known/openid-configuration, issuer checked
    assert configuration["issuer"] == live.url and configuration["userinfo_endpoint"].endswith("/api/oauth/userinfo")
    rp.store_registration_info(
        RegistrationResponse(
            client_id=registered["client_id"],
            client_secret=registered["client_secret"],
            redirect_uris=registered["redirect_uris"],
        )
    )
    state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    request = rp.construct_AuthorizationRequest(
        request_args={
            "client_id": registered["client_id"],
            "response_type": "code",
            "scope": OIDC_SCOPES,
            "nonce": nonce,
            "redirect_uri": registered["redirect_uris"][0],
            "state": state,
        }
    )
    location = live.browse(request.request(rp.authorization_endpoint), person)
    answer = rp.parse_response(AuthorizationResponse, info=urlsplit(location).query, sformat="urlencoded")
    assert answer["state"] == state
    tokens = rp.do_access_token_request(
        state=state, request_args={"code": answer["code"]}, authn_method="client_secret_basic"
    )
    id_token = tokens["id_token"]  # verified by oic: signature by a key of jwks_uri, iss, aud, exp, nonce
    assert id_token["iss"] == live.url and id_token["aud"] == [registered["client_id"]]
    assert id_token["nonce"] == nonce and id_token["sub"] == str(person["id"])
    assert id_token["email"] == person["email"] and id_token["given_name"] == "Grace"
    userinfo = rp.do_user_info_request(state=state, method="GET")
    assert userinfo.to_dict() == {
        "sub": str(person["id"]),
        "email": person["email"],
        "email_verified": True,
        "name": "Grace Hopper",
        "given_name": "Grace",
        "family_name": "Hopper",
        "preferred_username": person["email"],
    }


class AuthlibRelyingParty(OAuth2Mixin, OpenIDMixin, BaseApp):
    """Authlib's own relying-party client (what its Flask and Django integrations are built on),
    without a web framework: everything it knows of the server comes from server_metadata_url."""

    client_cls = OAuth2Session


def test_authlib_client_with_discovery_verifies_the_id_token(live, register_live, person):
    registered = register_live(
        name="Authlib relying party", scopes=OIDC_SCOPES, grant_types=["authorization_code", "refresh_token"]
    )
    rp = AuthlibRelyingParty(
        None,
        client_id=registered["client_id"],
        client_secret=registered["client_secret"],
        server_metadata_url=f"{live.url}/.well-known/openid-configuration",
        client_kwargs={"scope": " ".join(OIDC_SCOPES), "code_challenge_method": "S256"},
    )
    redirect_uri = registered["redirect_uris"][0]
    started = rp.create_authorization_url(redirect_uri=redirect_uri)  # adds a nonce and PKCE itself
    location = live.browse(started["url"], person)
    params = query_of(location)
    assert params["state"] == started["state"] and params["iss"] == live.url
    token = rp.fetch_access_token(
        redirect_uri=redirect_uri, code=params["code"], code_verifier=started["code_verifier"]
    )
    # Signature by the key the id_token names in jwks_uri, iss, aud, exp, iat, nonce and at_hash.
    claims = rp.parse_id_token(token, nonce=started["nonce"])
    assert claims["sub"] == str(person["id"]) and claims["aud"] == registered["client_id"]
    assert claims["family_name"] == "Hopper" and claims["email_verified"] is True
    assert rp.userinfo(token=token)["given_name"] == "Grace"
    with pytest.raises(Exception, match="nonce"):
        rp.parse_id_token(token, nonce="another nonce")


def test_a_moodle_shaped_client_gets_email_and_names(live, register_live, person):
    """What Moodle's OAuth 2 service does: discovery from the base URL, a confidential client without
    PKCE, client_secret_post, scopes openid profile email, then userinfo for the account fields."""
    registered = register_live(
        name="Moodle",
        redirect_uris=[MOODLE_CALLBACK],
        scopes=OIDC_SCOPES,
        grant_types=["authorization_code", "refresh_token"],
        pkce_required=False,
    )
    configuration = requests.get(f"{live.url}/.well-known/openid-configuration", timeout=10).json()
    state = secrets.token_urlsafe(12)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": registered["client_id"],
            "redirect_uri": MOODLE_CALLBACK,
            "scope": " ".join(OIDC_SCOPES),
            "state": state,
        }
    )
    location = live.browse(f"{configuration['authorization_endpoint']}?{query}", person)
    assert location.startswith(MOODLE_CALLBACK) and query_of(location)["state"] == state
    token = requests.post(
        configuration["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": query_of(location)["code"],
            "redirect_uri": MOODLE_CALLBACK,
            "client_id": registered["client_id"],
            "client_secret": registered["client_secret"],
        },
        timeout=10,
    )
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["scope"] == "openid profile email" and body["id_token"] and body["refresh_token"]
    userinfo = requests.get(
        configuration["userinfo_endpoint"], headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=10
    )
    assert userinfo.status_code == 200
    account = userinfo.json()
    assert account["email"] == person["email"]
    assert account["given_name"] == "Grace" and account["family_name"] == "Hopper"
