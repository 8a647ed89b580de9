"""Revocation (RFC 7009), introspection (RFC 7662), metadata (RFC 8414) and the JWKS with key
rotation published ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from backend.services.oauth import keys
from backend.services.shared import signing_keys
from tests.oauth.support import basic_auth, bearer, client_credentials, refresh, register, user_tokens

ISSUER = "http://127.0.0.1:8000"


@pytest.fixture
def other_lms(client, auth, org):
    return register(client, auth.headers(org["admin"]), org, name="Moodle")


@pytest.fixture
def tokens(app, client, lms, world, org):
    return user_tokens(app, client, lms, world.add_member(org))


def revoke(http, client: dict, token: str, **extra):
    return http.post(
        "/api/oauth/revoke",
        data={"token": token} | extra,
        headers=basic_auth(client["client_id"], client["client_secret"]),
    )


def introspect(http, client: dict | None, token: str, **extra):
    headers = basic_auth(client["client_id"], client["client_secret"]) if client else {}
    return http.post("/api/oauth/introspect", data={"token": token} | extra, headers=headers)


def api_status(http, token: str) -> int:
    return http.get("/api/v1/me", headers=bearer(token)).status_code


# -- revocation ------------------------------------------------------------------------------------------


def test_revoking_an_access_token_takes_effect_at_the_api_at_once(client, lms, tokens):
    assert api_status(client, tokens["access_token"]) == 200
    response = revoke(client, lms, tokens["access_token"], token_type_hint="access_token")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert api_status(client, tokens["access_token"]) == 401
    assert refresh(client, lms, tokens["refresh_token"]).status_code == 200  # only that token


def test_revoking_a_refresh_token_revokes_its_grants_access_tokens(client, lms, tokens):
    second = refresh(client, lms, tokens["refresh_token"]).get_json()
    assert revoke(client, lms, second["refresh_token"], token_type_hint="refresh_token").status_code == 200
    assert api_status(client, tokens["access_token"]) == 401
    assert api_status(client, second["access_token"]) == 401
    assert refresh(client, lms, second["refresh_token"]).get_json()["error"] == "invalid_grant"


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token"])
def test_the_hint_is_only_a_hint(client, lms, tokens, hint):
    extra = {"token_type_hint": hint} if hint else {}
    assert revoke(client, lms, tokens["refresh_token"], **extra).status_code == 200
    assert api_status(client, tokens["access_token"]) == 401


def test_unknown_tokens_are_revoked_quietly(client, lms):
    assert revoke(client, lms, "not-a-token-we-issued").status_code == 200


def test_a_client_cannot_revoke_another_clients_token(client, other_lms, tokens):
    response = revoke(client, other_lms, tokens["access_token"])
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"
    assert api_status(client, tokens["access_token"]) == 200


def test_revocation_needs_client_authentication(client, tokens):
    response = client.post("/api/oauth/revoke", data={"token": tokens["access_token"]})
    assert response.get_json()["error"] == "invalid_client"
    assert api_status(client, tokens["access_token"]) == 200


def test_revocation_refuses_an_unknown_hint_and_a_missing_token(client, lms, tokens):
    assert revoke(client, lms, tokens["access_token"], token_type_hint="id_token").get_json()["error"] == (
        "unsupported_token_type"
    )
    response = client.post("/api/oauth/revoke", data={}, headers=basic_auth(lms["client_id"], lms["client_secret"]))
    assert response.get_json()["error"] == "invalid_request"


# -- introspection -----------------------------------------------------------------------------------------


def test_introspecting_an_access_token(client, lms, tokens):
    response = introspect(client, lms, tokens["access_token"])
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert body == {
        "active": True,
        "scope": "read:profile read:quests",
        "client_id": lms["client_id"],
        "token_type": "Bearer",
        "sub": claims["sub"],
        "aud": f"{ISSUER}/api",
        "iss": ISSUER,
        "exp": claims["exp"],
        "iat": claims["iat"],
        "jti": claims["jti"],
    }


def test_introspecting_a_refresh_token(client, lms, tokens):
    body = introspect(client, lms, tokens["refresh_token"], token_type_hint="refresh_token").get_json()
    assert body["active"] is True and body["client_id"] == lms["client_id"] and "token_type" not in body
    assert body["exp"] - body["iat"] == 30 * 86400


def test_revoked_rotated_and_unknown_tokens_are_inactive(client, lms, tokens):
    refresh(client, lms, tokens["refresh_token"])
    assert introspect(client, lms, tokens["refresh_token"]).get_json() == {"active": False}  # rotated
    revoke(client, lms, tokens["access_token"])
    assert introspect(client, lms, tokens["access_token"]).get_json() == {"active": False}
    assert introspect(client, lms, "nonsense").get_json() == {"active": False}


def test_introspection_needs_client_authentication(client, tokens):
    response = introspect(client, None, tokens["access_token"])
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"


def test_a_client_sees_only_its_own_tokens(client, other_lms, tokens):
    assert introspect(client, other_lms, tokens["access_token"]).get_json() == {"active": False}
    assert introspect(client, other_lms, tokens["refresh_token"]).get_json() == {"active": False}


def test_a_public_client_cannot_introspect(app, client, auth, org, world):
    spa = register(client, auth.headers(org["admin"]), org, client_type="public", grant_types=["authorization_code"])
    machine = register(client, auth.headers(org["admin"]), org, name="Machine")
    token = client_credentials(client, machine).get_json()["access_token"]
    response = client.post("/api/oauth/introspect", data={"token": token, "client_id": spa["client_id"]})
    assert response.get_json()["error"] == "invalid_client"


# -- metadata and keys -----------------------------------------------------------------------------------


def test_metadata_is_valid_rfc8414(client):
    response = client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    body = response.get_json()
    AuthorizationServerMetadata(body).validate()
    assert body["issuer"] == ISSUER
    assert body["authorization_endpoint"] == f"{ISSUER}/api/oauth/authorize"
    assert body["token_endpoint"] == f"{ISSUER}/api/oauth/token"
    assert body["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert body["response_types_supported"] == ["code"]
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert set(body["grant_types_supported"]) == {"authorization_code", "refresh_token", "client_credentials"}
    assert body["authorization_response_iss_parameter_supported"] is True
    assert "read:progress" in body["scopes_supported"]


def test_the_issuer_follows_oauth_issuer(make_app):
    app = make_app(oauth_issuer="https://auth.questbridge.example")
    body = app.test_client().get("/.well-known/oauth-authorization-server").get_json()
    assert body["issuer"] == "https://auth.questbridge.example"
    assert body["token_endpoint"] == "https://auth.questbridge.example/api/oauth/token"


def test_jwks_is_generated_on_first_use_and_holds_no_private_parts(client, db):
    with db.transaction("service_role") as conn:
        assert conn.execute("select count(*) as n from public.oauth_signing_keys").fetchone()["n"] == 0
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200 and "max-age" in response.headers["Cache-Control"]
    # One access-token key (ES256) and one id_token key (RS256), both without private parts.
    key, rsa = sorted(response.get_json()["keys"], key=lambda k: k["kty"])
    assert key["kty"] == "EC" and key["crv"] == "P-256" and key["alg"] == "ES256" and key["use"] == "sig"
    assert key["kid"] and "d" not in key
    assert rsa["kty"] == "RSA" and rsa["alg"] == "RS256" and rsa["use"] == "sig" and rsa["kid"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(rsa)
    with db.transaction("service_role") as conn:
        row = conn.execute("select kid, private_key_encrypted from public.oauth_signing_keys").fetchone()
        rsa_row = conn.execute("select kid, private_key_encrypted from public.oidc_signing_keys").fetchone()
    assert row["kid"] == key["kid"] and b"PRIVATE KEY" not in bytes(row["private_key_encrypted"])
    assert rsa_row["kid"] == rsa["kid"] and b"PRIVATE KEY" not in bytes(rsa_row["private_key_encrypted"])


def test_rotation_publishes_the_next_key_ahead_and_switches_when_it_activates(app, client, lms, db):
    runtime = app.extensions["questbridge"]
    oauth = app.extensions["questbridge"].oauth
    old_token = client_credentials(client, lms).get_json()["access_token"]
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    with db.transaction("service_role") as conn:
        result = keys.rotate(conn, runtime.secretbox, ahead_seconds=3600, token_ttl_seconds=3600)
    assert result["created"] and result["kid"] != old_kid
    oauth.keyring.reload()  # what every process does within a minute
    published = [k["kid"] for k in client.get("/.well-known/jwks.json").get_json()["keys"] if k["kty"] == "EC"]
    assert published == [old_kid, result["kid"]]
    still_old = client_credentials(client, lms).get_json()["access_token"]
    assert jwt.get_unverified_header(still_old)["kid"] == old_kid  # the next key does not sign yet

    with db.transaction("service_role") as conn:  # an hour later
        conn.execute("update public.oauth_signing_keys set activates_at = activates_at - interval '2 hours'")
        retires_at = conn.execute(
            "select retires_at from public.oauth_signing_keys where kid = %s", (old_kid,)
        ).fetchone()["retires_at"]
    oauth.keyring.reload()
    new_token = client_credentials(client, lms).get_json()["access_token"]
    assert jwt.get_unverified_header(new_token)["kid"] == result["kid"]
    assert client.get("/api/v1/me", headers=bearer(old_token)).status_code == 200  # the old key still verifies
    assert client.get("/api/v1/me", headers=bearer(new_token)).status_code == 200
    expected = datetime.now(UTC) + timedelta(seconds=3600 + 3600 + keys.RETIREMENT_LEEWAY_SECONDS)
    assert abs((retires_at - expected).total_seconds()) < 30


def test_another_process_learns_a_new_key_when_it_meets_its_kid(make_app, lms, client, monkeypatch):
    monkeypatch.setattr(signing_keys, "UNKNOWN_KID_RELOAD_SECONDS", 0.0)  # the 2 s between reloads, elapsed
    other = make_app()  # a second process with its own key cache
    warm = client_credentials(client, lms).get_json()["access_token"]
    assert other.test_client().get("/api/v1/me", headers=bearer(warm)).status_code == 200
    runtime = other.extensions["questbridge"]
    with runtime.db.transaction("service_role") as conn:
        kid = keys.rotate(conn, runtime.secretbox, ahead_seconds=0, token_ttl_seconds=3600)["kid"]
    client.application.extensions["questbridge"].oauth.keyring.reload()
    token = client_credentials(client, lms).get_json()["access_token"]
    assert jwt.get_unverified_header(token)["kid"] == kid
    assert other.test_client().get("/api/v1/me", headers=bearer(token)).status_code == 200
