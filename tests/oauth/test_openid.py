"""OpenID Connect on our OAuth server, through Flask's test client: discovery, the openid profile
email scopes on the consent page, the id_token (RS256, nonce, at_hash) and userinfo."""

from __future__ import annotations

import base64
import hashlib
import time

import jwt
import pytest

from tests.oauth.support import (
    authorize,
    authorize_query,
    bearer,
    client_credentials,
    exchange,
    pkce_pair,
    query_of,
    register,
    signed_in,
    user_tokens,
)

ISSUER = "http://127.0.0.1:8000"  # PUBLIC_URL's default
OIDC = "openid profile email"


@pytest.fixture
def rp(client, admin_headers, org):
    """A relying party that may ask for the OpenID Connect scopes and an API scope."""
    return register(client, admin_headers, org, scopes=["openid", "profile", "email", "read:profile"])


@pytest.fixture
def named(world, org):
    return world.add_member(org, world.user(given_name="Ada", family_name="Lovelace"))


def code_flow(app, client, rp, user, scope=OIDC, **params) -> dict:
    verifier, challenge = pkce_pair()
    location = authorize(signed_in(app, user), rp, challenge, scope=scope, **params)
    response = exchange(client, rp, query_of(location)["code"], verifier)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def verified_id_token(client, token: str, audience: str) -> dict:
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["kid"]
    (jwk,) = [key for key in client.get("/.well-known/jwks.json").get_json()["keys"] if key["kid"] == header["kid"]]
    assert jwk["kty"] == "RSA" and jwk["alg"] == "RS256"
    return jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["RS256"], audience=audience, issuer=ISSUER)


def test_discovery_lists_what_relying_parties_need(client):
    response = client.get("/.well-known/openid-configuration")
    assert response.status_code == 200 and "max-age" in response.headers["Cache-Control"]
    body = response.get_json()
    assert body["issuer"] == ISSUER
    assert body["authorization_endpoint"] == f"{ISSUER}/api/oauth/authorize"
    assert body["token_endpoint"] == f"{ISSUER}/api/oauth/token"
    assert body["userinfo_endpoint"] == f"{ISSUER}/api/oauth/userinfo"
    assert body["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert body["revocation_endpoint"] == f"{ISSUER}/api/oauth/revoke"
    assert body["introspection_endpoint"] == f"{ISSUER}/api/oauth/introspect"
    assert {"openid", "profile", "email"} <= set(body["scopes_supported"])
    assert body["response_types_supported"] == ["code"]
    assert "authorization_code" in body["grant_types_supported"]
    assert body["subject_types_supported"] == ["public"]
    assert "RS256" in body["id_token_signing_alg_values_supported"]
    assert {"client_secret_basic", "client_secret_post"} <= set(body["token_endpoint_auth_methods_supported"])
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert {"sub", "email", "email_verified", "given_name", "family_name", "name"} <= set(body["claims_supported"])


def test_the_consent_page_says_in_plain_words_what_openid_shares(app, rp, named):
    _verifier, challenge = pkce_pair()
    page = signed_in(app, named).get("/api/oauth/authorize?" + authorize_query(rp, challenge, scope=OIDC))
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Sign you in to the application with your Questbridge account" in text
    assert "See your name (first and last name)" in text
    assert "See your email address" in text


def test_the_id_token_carries_the_claims_the_scopes_allow(app, client, rp, named):
    before = int(time.time())
    token = code_flow(app, client, rp, named, nonce="n-0S6_WzA2Mj")
    claims = verified_id_token(client, token["id_token"], rp["client_id"])
    assert claims["sub"] == str(named["id"]) and claims["aud"] == rp["client_id"]
    assert claims["nonce"] == "n-0S6_WzA2Mj"  # echoed from the authorization request
    assert before - 5 <= claims["iat"] <= time.time() + 5 and claims["exp"] == claims["iat"] + 3600
    assert claims["auth_time"] <= claims["iat"] and claims["auth_time"] >= before - 5
    assert claims["email"] == named["email"] and claims["email_verified"] is True
    assert claims["given_name"] == "Ada" and claims["family_name"] == "Lovelace"
    assert claims["name"] == "Ada Lovelace"
    # at_hash: the left half of SHA-256 of the access token, base64url without padding.
    digest = hashlib.sha256(token["access_token"].encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def test_openid_alone_gives_only_the_subject(app, client, rp, named):
    token = code_flow(app, client, rp, named, scope="openid")
    claims = verified_id_token(client, token["id_token"], rp["client_id"])
    assert "nonce" not in claims
    assert not {"email", "email_verified", "name", "given_name", "family_name"} & set(claims)
    assert client.get("/api/oauth/userinfo", headers=bearer(token["access_token"])).get_json() == {
        "sub": str(named["id"])
    }


def test_without_openid_there_is_no_id_token(app, client, rp, named):
    token = user_tokens(app, client, rp, named, scope="read:profile")
    assert "id_token" not in token


def test_a_replayed_nonce_is_refused(app, client, rp, named):
    code_flow(app, client, rp, named, nonce="once-only")
    _verifier, challenge = pkce_pair()
    location = authorize(signed_in(app, named), rp, challenge, scope=OIDC, nonce="once-only")
    assert query_of(location)["error"] == "invalid_request"


def test_userinfo_answers_as_the_scopes_allow(app, client, rp, named):
    token = code_flow(app, client, rp, named)
    expected = {
        "sub": str(named["id"]),
        "email": named["email"],
        "email_verified": True,
        "name": "Ada Lovelace",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "preferred_username": named["email"],
    }
    for method in (client.get, client.post):
        response = method("/api/oauth/userinfo", headers=bearer(token["access_token"]))
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
        assert response.get_json() == expected
    profile_only = code_flow(app, client, rp, named, scope="openid profile")
    body = client.get("/api/oauth/userinfo", headers=bearer(profile_only["access_token"])).get_json()
    assert body == {"sub": str(named["id"]), "name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace"}


def test_userinfo_without_openid_is_insufficient_scope(app, client, rp, named):
    token = user_tokens(app, client, rp, named, scope="read:profile")
    response = client.get("/api/oauth/userinfo", headers=bearer(token["access_token"]))
    assert response.status_code == 403
    challenge = 'Bearer realm="questbridge", error="insufficient_scope", scope="openid"'
    assert response.headers["WWW-Authenticate"] == challenge


def test_userinfo_needs_a_live_token(app, client, rp, named):
    response = client.get("/api/oauth/userinfo")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == 'Bearer realm="questbridge"'
    response = client.get("/api/oauth/userinfo", headers=bearer("not-a-token"))
    assert response.status_code == 401 and 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    token = code_flow(app, client, rp, named)
    revoked = client.post(
        "/api/oauth/revoke",
        data={"token": token["access_token"], "client_id": rp["client_id"], "client_secret": rp["client_secret"]},
    )
    assert revoked.status_code == 200
    response = client.get("/api/oauth/userinfo", headers=bearer(token["access_token"]))
    assert response.status_code == 401 and 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_client_credentials_never_carry_the_openid_scopes(client, rp):
    machine = client_credentials(client, rp, scope="openid")
    assert machine.status_code == 400 and machine.get_json()["error"] == "invalid_scope"


def test_clients_register_the_openid_scopes_and_no_unknown_one(client, admin_headers, org):
    response = client.post(
        "/api/oauth/clients",
        json={
            "organization_id": str(org["id"]),
            "name": "Moodle",
            "redirect_uris": ["https://moodle.example.edu/admin/oauth2callback.php"],
            "scopes": ["openid", "phone"],
        },
        headers=admin_headers,
    )
    assert response.status_code == 422 and "scopes" in response.get_json()["errors"]


def test_the_id_token_key_rotates_like_the_access_token_keys(app, client, db, rp, named):
    from backend.services.oauth import maintenance

    runtime = app.extensions["questbridge"]
    old_kid = jwt.get_unverified_header(code_flow(app, client, rp, named)["id_token"])["kid"]
    assert maintenance.run(runtime.db, runtime.secretbox, runtime.config)["id_token_key_scheduled"] is None
    with db.transaction("service_role") as conn:
        conn.execute("update public.oidc_signing_keys set activates_at = now() - interval '30 days'")
    due = maintenance.run(runtime.db, runtime.secretbox, runtime.config)
    assert due["id_token_key_scheduled"] and due["id_token_key_scheduled"] != old_kid
    runtime.oauth.id_token_keys.reload()  # what every process does within a minute
    published = [key["kid"] for key in client.get("/.well-known/jwks.json").get_json()["keys"] if key["kty"] == "RSA"]
    assert published == [old_kid, due["id_token_key_scheduled"]]  # the next key is published a day ahead
    still_old = code_flow(app, client, rp, named)["id_token"]
    assert jwt.get_unverified_header(still_old)["kid"] == old_kid
    with db.transaction("service_role") as conn:
        conn.execute(
            "update public.oidc_signing_keys set activates_at = activates_at - interval '2 days' where kid = %s",
            (due["id_token_key_scheduled"],),
        )
    runtime.oauth.id_token_keys.reload()
    rotated = code_flow(app, client, rp, named)["id_token"]
    assert jwt.get_unverified_header(rotated)["kid"] == due["id_token_key_scheduled"]
    assert verified_id_token(client, rotated, rp["client_id"])["sub"] == str(named["id"])


def test_prompt_none_never_shows_a_page(app, client, rp, named):
    _verifier, challenge = pkce_pair()
    query = authorize_query(rp, challenge, scope=OIDC, prompt="none", state="s-1")
    signed_out = app.test_client().get("/api/oauth/authorize?" + query)
    assert signed_out.status_code == 302
    assert query_of(signed_out.headers["Location"]) == {"error": "login_required", "state": "s-1", "iss": ISSUER}
    browser = signed_in(app, named)
    not_yet = browser.get("/api/oauth/authorize?" + query)
    assert not_yet.status_code == 302
    assert query_of(not_yet.headers["Location"]) == {"error": "consent_required", "state": "s-1", "iss": ISSUER}
    code_flow(app, client, rp, named)  # consents to openid profile email
    silent = browser.get("/api/oauth/authorize?" + query)
    assert silent.status_code == 302 and query_of(silent.headers["Location"])["code"]


def test_an_address_an_lms_brought_is_not_called_verified(app, db):
    """An account an LTI launch created took its email from the platform's claim, unchecked."""
    from backend.runtime import runtime_of
    from backend.services.accounts import users
    from backend.services.oauth import openid

    runtime = runtime_of(app)
    with runtime.db.transaction("service_role") as conn:
        invited = users.create_user(conn, runtime.hasher, "invited@school.test", None)
        launched = users.create_user(conn, runtime.hasher, "lms@school.test", None, signs_in_elsewhere=True)
        assert openid.user_info(conn, invited, "openid email")["email_verified"] is True
        assert openid.user_info(conn, launched, "openid email")["email_verified"] is False
