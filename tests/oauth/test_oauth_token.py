"""The token endpoint: the code grant with PKCE (single use, bound, replay revokes), refresh token
rotation with reuse detection, client credentials, RFC 9068 JWTs, client authentication and its
rate limit. Errors are asserted by their RFC 6749 codes."""

from __future__ import annotations

import base64
import ipaddress
import json
import time

import jwt
import pytest

from tests.oauth.support import (
    audit_actions,
    basic_auth,
    bearer,
    client_credentials,
    exchange,
    pkce_pair,
    query_of,
    refresh,
    register,
    signed_in,
    user_tokens,
)
from tests.oauth.support import authorize as run_authorization

ISSUER = "http://127.0.0.1:8000"


@pytest.fixture
def code_and_verifier(app, lms, learner):
    verifier, challenge = pkce_pair()
    location = run_authorization(signed_in(app, learner), lms, challenge, scope="read:profile read:quests")
    return query_of(location)["code"], verifier


def oauth_error(response, error, status=400):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["error"] == error, body
    return body


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def api_status(client, token: str) -> int:
    return client.get("/api/v1/me", headers=bearer(token)).status_code


# -- the authorization code grant --------------------------------------------------------------------


def test_a_code_and_its_verifier_get_rfc9068_tokens(client, lms, learner, code_and_verifier):
    code, verifier = code_and_verifier
    before = int(time.time())
    response = exchange(client, lms, code, verifier)
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == "read:profile read:quests" and body["refresh_token"]
    header = jwt.get_unverified_header(body["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256"
    jwks = client.get("/.well-known/jwks.json").get_json()
    assert header["kid"] in [key["kid"] for key in jwks["keys"]]
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == header["kid"])).key
    claims = jwt.decode(body["access_token"], key, algorithms=["ES256"], audience=f"{ISSUER}/api", issuer=ISSUER)
    assert set(claims) >= {"iss", "sub", "aud", "client_id", "scope", "exp", "iat", "jti"}
    assert claims["sub"] == str(learner["id"]) and claims["client_id"] == lms["client_id"]
    assert claims["scope"] == "read:profile read:quests"
    assert before <= claims["iat"] <= before + 5 and claims["exp"] == claims["iat"] + 3600


def test_client_secret_post_works_too(client, lms, code_and_verifier):
    code, verifier = code_and_verifier
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": lms["redirect_uris"][0],
        "code_verifier": verifier,
        "client_id": lms["client_id"],
        "client_secret": lms["client_secret"],
    }
    assert client.post("/api/oauth/token", data=data).status_code == 200


def test_a_code_is_single_use_and_a_replay_revokes_what_it_issued(client, lms, code_and_verifier, db):
    code, verifier = code_and_verifier
    first = exchange(client, lms, code, verifier).get_json()
    assert api_status(client, first["access_token"]) == 200
    oauth_error(exchange(client, lms, code, verifier), "invalid_grant")
    assert api_status(client, first["access_token"]) == 401
    oauth_error(refresh(client, lms, first["refresh_token"]), "invalid_grant")
    with db.transaction("service_role") as conn:
        grant = conn.execute("select revoked_reason from public.oauth_grants").fetchone()
    assert grant["revoked_reason"] == "authorization_code_replayed"


def test_an_expired_code_is_refused(client, lms, code_and_verifier, db):
    code, verifier = code_and_verifier
    with db.transaction("service_role") as conn:
        conn.execute("update public.oauth_authorization_codes set expires_at = now() - interval '1 second'")
    oauth_error(exchange(client, lms, code, verifier), "invalid_grant")


def test_codes_live_ten_minutes(client, lms, code_and_verifier, db):
    with db.transaction("service_role") as conn:
        row = conn.execute(
            "select extract(epoch from expires_at - created_at) as ttl from public.oauth_authorization_codes"
        ).fetchone()
    assert row["ttl"] == 600


def test_a_code_is_bound_to_its_client(client, admin_headers, org, lms, code_and_verifier):
    code, verifier = code_and_verifier
    other = register(client, admin_headers, org, name="Other LMS")
    oauth_error(exchange(client, other, code, verifier), "invalid_grant")
    assert exchange(client, lms, code, verifier).status_code == 200  # still the rightful client's


def test_a_code_is_bound_to_its_redirect_uri(client, admin_headers, org, app, learner):
    lms = register(client, admin_headers, org, redirect_uris=["https://a.example.edu/cb", "https://b.example.edu/cb"])
    verifier, challenge = pkce_pair()
    location = run_authorization(signed_in(app, learner), lms, challenge)
    oauth_error(
        exchange(client, lms, query_of(location)["code"], verifier, "https://b.example.edu/cb"), "invalid_grant"
    )


@pytest.mark.parametrize(
    ("verifier", "error"),
    [
        (None, "invalid_request"),  # the challenge was sent: a verifier must follow
        ("x" * 43, "invalid_grant"),  # the wrong one
        ("short", "invalid_request"),
    ],
)
def test_pkce_verifier_must_match_the_s256_challenge(client, lms, code_and_verifier, verifier, error):
    code, _right = code_and_verifier
    oauth_error(exchange(client, lms, code, verifier), error)


def test_a_verifier_without_a_challenge_is_refused(client, admin_headers, org, app, learner):
    lms = register(client, admin_headers, org, pkce_required=False)
    location = run_authorization(signed_in(app, learner), lms, None)
    verifier, _challenge = pkce_pair()
    oauth_error(exchange(client, lms, query_of(location)["code"], verifier), "invalid_request")


def test_without_pkce_required_a_confidential_client_redeems_without_a_verifier(
    client, admin_headers, org, app, learner
):
    lms = register(client, admin_headers, org, pkce_required=False)
    location = run_authorization(signed_in(app, learner), lms, None)
    assert exchange(client, lms, query_of(location)["code"], None).status_code == 200


def test_a_public_client_uses_pkce_without_a_secret(client, admin_headers, org, app, learner):
    spa = register(
        client, admin_headers, org, client_type="public", grant_types=["authorization_code", "refresh_token"]
    )
    verifier, challenge = pkce_pair()
    code = query_of(run_authorization(signed_in(app, learner), spa, challenge))["code"]
    body = exchange(client, spa, code, verifier).get_json()
    assert body["access_token"] and body["refresh_token"]
    data = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": spa["client_id"]}
    assert client.post("/api/oauth/token", data=data).status_code == 200


def test_a_confidential_client_cannot_skip_authentication(client, lms, code_and_verifier):
    code, verifier = code_and_verifier
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": lms["redirect_uris"][0],
        "code_verifier": verifier,
        "client_id": lms["client_id"],
    }
    oauth_error(client.post("/api/oauth/token", data=data), "invalid_client", 401)


# -- refresh tokens ---------------------------------------------------------------------------------------


def test_refresh_rotates_the_refresh_token(client, lms, code_and_verifier):
    first = exchange(client, lms, *code_and_verifier).get_json()
    second = refresh(client, lms, first["refresh_token"])
    assert second.status_code == 200 and second.headers["Cache-Control"] == "no-store"
    body = second.get_json()
    assert body["refresh_token"] != first["refresh_token"] and body["access_token"] != first["access_token"]
    assert body["scope"] == first["scope"]
    assert refresh(client, lms, body["refresh_token"]).status_code == 200


def test_reusing_a_rotated_refresh_token_revokes_the_whole_grant(client, lms, code_and_verifier, db):
    first = exchange(client, lms, *code_and_verifier).get_json()
    second = refresh(client, lms, first["refresh_token"]).get_json()
    assert api_status(client, second["access_token"]) == 200
    oauth_error(refresh(client, lms, first["refresh_token"]), "invalid_grant")
    oauth_error(refresh(client, lms, second["refresh_token"]), "invalid_grant")
    assert api_status(client, first["access_token"]) == 401
    assert api_status(client, second["access_token"]) == 401
    with db.transaction("service_role") as conn:
        assert conn.execute("select revoked_reason from public.oauth_grants").fetchone()["revoked_reason"] == (
            "refresh_token_reused"
        )


def test_a_user_who_left_the_clients_organization_gets_no_more_tokens(
    client, auth, lms, learner, org, code_and_verifier
):
    first = exchange(client, lms, *code_and_verifier).get_json()
    left = client.delete(f"/api/organizations/{org['id']}/members/me", headers=auth.headers(learner))
    assert left.status_code == 204, left.get_data(as_text=True)
    body = oauth_error(refresh(client, lms, first["refresh_token"]), "invalid_grant")
    assert "no longer a member" in body["error_description"]


def test_refresh_may_narrow_the_scope_but_never_widen_it(client, lms, code_and_verifier):
    first = exchange(client, lms, *code_and_verifier).get_json()
    narrowed = refresh(client, lms, first["refresh_token"], scope="read:profile").get_json()
    assert narrowed["scope"] == "read:profile"
    assert claims_of(narrowed["access_token"])["scope"] == "read:profile"
    oauth_error(refresh(client, lms, narrowed["refresh_token"], scope="read:profile read:quests"), "invalid_scope")
    oauth_error(refresh(client, lms, narrowed["refresh_token"], scope="webhooks:manage"), "invalid_scope")


def test_refresh_tokens_end_thirty_days_after_the_authorization(client, lms, code_and_verifier, db):
    first = exchange(client, lms, *code_and_verifier).get_json()
    second = refresh(client, lms, first["refresh_token"]).get_json()
    with db.transaction("service_role") as conn:
        lifetime = conn.execute(
            "select extract(epoch from expires_at - created_at) as seconds from public.oauth_grants"
        ).fetchone()["seconds"]
        conn.execute("update public.oauth_grants set expires_at = now() - interval '1 second'")
    assert lifetime == 30 * 86400  # absolute: rotating does not extend it
    oauth_error(refresh(client, lms, second["refresh_token"]), "invalid_grant")


def test_a_refresh_token_is_bound_to_its_client(client, admin_headers, org, lms, code_and_verifier):
    first = exchange(client, lms, *code_and_verifier).get_json()
    other = register(client, admin_headers, org, name="Other LMS")
    oauth_error(refresh(client, other, first["refresh_token"]), "invalid_grant")
    assert refresh(client, lms, first["refresh_token"]).status_code == 200


def test_a_client_without_the_refresh_grant_gets_no_refresh_token(client, admin_headers, org, app, learner):
    lms = register(client, admin_headers, org, grant_types=["authorization_code"])
    body = user_tokens(app, client, lms, learner)
    assert "refresh_token" not in body


# -- client credentials ------------------------------------------------------------------------------------


def test_client_credentials_acts_as_the_principal_without_a_refresh_token(client, lms):
    response = client_credentials(client, lms)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert "refresh_token" not in body and body["expires_in"] == 3600
    assert body["scope"] == "read:profile read:quests"
    claims = claims_of(body["access_token"])
    assert claims["sub"] == lms["principal_id"] and claims["client_id"] == lms["client_id"]


def test_client_credentials_tokens_are_audited_as_the_principal(client, lms, org, db):
    client_credentials(client, lms, scope="read:quests")
    (entry,) = [e for e in audit_actions(db, org) if e["action"] == "oauth_client.token_issued"]
    assert str(entry["actor_id"]) == lms["principal_id"] and entry["target_id"] == lms["client_id"]
    assert entry["metadata"] == {"grant_type": "client_credentials", "scope": "read:quests"}
    oauth_error(client_credentials(client, lms, scope="webhooks:manage"), "invalid_scope")
    assert len([e for e in audit_actions(db, org) if e["action"] == "oauth_client.token_issued"]) == 1


@pytest.mark.parametrize("scope", ["read:progress", "webhooks:manage", "read:quests write:submissions", "admin"])
def test_client_credentials_carry_only_read_scopes(client, lms, scope):
    oauth_error(client_credentials(client, lms, scope=scope), "invalid_scope")


def test_client_credentials_need_the_grant(client, admin_headers, org):
    lms = register(client, admin_headers, org, grant_types=["authorization_code", "refresh_token"])
    oauth_error(client_credentials(client, lms), "unauthorized_client")


@pytest.mark.parametrize("grant_type", ["password", "implicit", "urn:ietf:params:oauth:grant-type:device_code", ""])
def test_other_grant_types_are_unsupported(client, lms, grant_type):
    data = {"grant_type": grant_type, "username": "a", "password": "b"}
    response = client.post("/api/oauth/token", data=data, headers=basic_auth(lms["client_id"], lms["client_secret"]))
    oauth_error(response, "unsupported_grant_type")


# -- client authentication -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic " + base64.b64encode(b"qbc_nobody_nobody_nobody:secret").decode()},
        {"Authorization": "Basic !!!"},
        {"Authorization": "Bearer something"},
    ],
)
def test_failed_client_authentication_is_invalid_client(client, headers):
    response = client.post("/api/oauth/token", data={"grant_type": "client_credentials"}, headers=headers)
    assert response.status_code in (400, 401)
    assert response.get_json()["error"] == "invalid_client"


def test_a_wrong_secret_is_401_with_www_authenticate(client, lms):
    response = client_credentials(client, lms | {"client_secret": "qbcs_wrong"})
    oauth_error(response, "invalid_client", 401)
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_failed_client_authentications_are_rate_limited_per_client_and_address(make_app, world, auth):
    app = make_app(oauth_client_auth_max_failures=3, trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),))
    http = app.test_client()
    org = world.organization("Academy")
    lms = register(http, auth.headers(org["admin"]), org)

    def attempt(secret, ip):
        return http.post(
            "/api/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic_auth(lms["client_id"], secret) | {"X-Forwarded-For": ip},
        )

    assert [attempt("qbcs_guess", "203.0.113.7").status_code for _ in range(3)] == [401, 401, 401]
    throttled = attempt(lms["client_secret"], "203.0.113.7")  # even the right secret waits
    oauth_error(throttled, "invalid_client", 429)
    assert int(throttled.headers["Retry-After"]) > 0
    assert attempt(lms["client_secret"], "198.51.100.2").status_code == 200  # another address is not blocked


def test_failures_across_clients_are_limited_per_address(make_app, world, auth):
    app = make_app(oauth_client_auth_max_failures_per_ip=4)
    http = app.test_client()
    org = world.organization("Academy")
    lms = register(http, auth.headers(org["admin"]), org)
    for i in range(4):
        http.post(
            "/api/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic_auth(f"qbc_guessed_client_{i:04d}", "qbcs_x"),
        )
    oauth_error(client_credentials(http, lms), "invalid_client", 429)


# -- the JWT is checked at the API -----------------------------------------------------------------------------


def test_a_tampered_or_foreign_token_is_401_invalid_token(client, lms, code_and_verifier):
    token = exchange(client, lms, *code_and_verifier).get_json()["access_token"]
    head, _payload, signature = token.split(".")
    claims = claims_of(token) | {"sub": "00000000-0000-4000-8000-000000000000"}
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    foreign = jwt.encode(
        claims, "x" * 32, algorithm="HS256", headers={"typ": "at+jwt", "kid": jwt.get_unverified_header(token)["kid"]}
    )
    for bad in (f"{head}.{forged_payload}.{signature}", foreign, token[:-4] + "AAAA"):
        response = client.get("/api/v1/me", headers=bearer(bad))
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_an_expired_token_is_401(client, lms, code_and_verifier, db):
    token = exchange(client, lms, *code_and_verifier).get_json()["access_token"]
    with db.transaction("service_role") as conn:
        conn.execute("update public.oauth_access_tokens set expires_at = now() - interval '1 second'")
    assert api_status(client, token) == 401
