"""Bearer tokens: ours, Supabase HS256 and JWKS-verified ones, and every way one is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.mail import free_port
from tests.routes.identity import JWT_SECRET, bearer, supabase_claims
from tests.support import assert_problem

# --- bearer token validation -------------------------------------------------------------------


def _token_cases():
    now = int(time.time())
    return [
        pytest.param(lambda uid: jwt.encode(supabase_claims(uid, exp=now - 120), JWT_SECRET), id="expired"),
        pytest.param(lambda uid: jwt.encode(supabase_claims(uid), "another-secret-" + "z" * 32), id="bad-signature"),
        pytest.param(lambda uid: jwt.encode(supabase_claims(uid, aud="anon"), JWT_SECRET), id="wrong-aud"),
        pytest.param(lambda uid: jwt.encode(supabase_claims(uid, aud=None), JWT_SECRET), id="no-aud"),
        pytest.param(lambda uid: jwt.encode(supabase_claims(uid, exp=None), JWT_SECRET), id="no-exp"),
        pytest.param(lambda uid: jwt.encode(supabase_claims(uid, role="anon"), JWT_SECRET), id="role-anon"),
        pytest.param(
            lambda uid: jwt.encode(supabase_claims(uid, role="service_role"), JWT_SECRET), id="role-service-role"
        ),
        pytest.param(lambda uid: jwt.encode(supabase_claims(uid, sub="not-a-uuid"), JWT_SECRET), id="sub-not-uuid"),
        pytest.param(lambda uid: jwt.encode(supabase_claims(uid), None, algorithm="none"), id="alg-none"),
        pytest.param(
            lambda uid: jwt.encode(supabase_claims(uid), JWT_SECRET, algorithm="HS512"),
            id="alg-hs512",
            marks=pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
        ),
        pytest.param(lambda uid: jwt.encode(supabase_claims(uid), JWT_SECRET)[:-4] + "AAAA", id="tampered"),
        pytest.param(lambda uid: "not.a.jwt", id="garbage"),
    ]


@pytest.mark.parametrize("make_token", _token_cases())
def test_invalid_bearer_tokens_are_401(client, world, make_token):
    user = world.user()
    response = client.get("/api/auth/me", headers=bearer(make_token(user["id"])))
    problem = assert_problem(response, 401, slug="unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert problem["detail"]


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc.def.ghi", "bearer-abc", "Bearer a b c"],
)
def test_malformed_authorization_headers_are_401(client, header):
    assert_problem(client.get("/api/auth/me", headers={"Authorization": header}), 401)


def test_a_bad_bearer_token_is_not_rescued_by_a_valid_cookie(client, world, auth):
    user = world.user()
    auth.login(user["email"])
    assert_problem(client.get("/api/auth/me", headers=bearer("not.a.jwt")), 401)


def test_supabase_hs256_token_for_a_user_without_a_profile_works_for_me(client):
    user_id = uuid.uuid4()
    token = jwt.encode(supabase_claims(user_id, email="only-in-supabase@example.test"), JWT_SECRET)

    response = client.get("/api/auth/me", headers=bearer(token))

    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == str(user_id)
    assert body["email"] == "only-in-supabase@example.test"
    assert body["organizations"] == []


def test_supabase_hs256_token_with_the_alias_secret(make_app):
    from backend.config import Config

    config = Config.from_env({"QB_ENV": "test", "SUPABASE_JWT_SECRET": "alias-secret-" + "q" * 40})
    assert config.jwt_secret == "alias-secret-" + "q" * 40
    app = make_app(jwt_secret=config.jwt_secret)
    token = jwt.encode(supabase_claims(), config.jwt_secret)
    assert app.test_client().get("/api/auth/me", headers=bearer(token)).status_code == 200


def _keypair(kind: str):
    if kind == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
        jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    return private, jwk


@pytest.fixture(params=["ES256", "RS256"])
def jwks(request, httpserver):
    algorithm = request.param
    private, jwk = _keypair(algorithm)
    kid = f"{algorithm.lower()}-key-1"
    jwk.update(kid=kid, alg=algorithm, use="sig")
    httpserver.expect_request("/auth/v1/.well-known/jwks.json").respond_with_json({"keys": [jwk]})
    return {"algorithm": algorithm, "private": private, "kid": kid, "url": httpserver.url_for("").rstrip("/")}


def test_asymmetric_token_verified_through_supabase_jwks_is_accepted(make_app, jwks, httpserver):
    app = make_app(supabase_url=jwks["url"])
    user_id = uuid.uuid4()
    token = jwt.encode(
        supabase_claims(user_id), jwks["private"], algorithm=jwks["algorithm"], headers={"kid": jwks["kid"]}
    )

    client = app.test_client()
    first = client.get("/api/auth/me", headers=bearer(token))
    second = client.get("/api/auth/me", headers=bearer(token))

    assert first.status_code == 200, first.get_json()
    assert first.get_json()["id"] == str(user_id)
    assert second.status_code == 200
    assert len(httpserver.log) == 1  # the key set is cached, not fetched per request


@pytest.mark.parametrize("same_kid", [True, False], ids=["same-kid", "unknown-kid"])
def test_token_signed_by_another_key_is_refused(make_app, jwks, same_kid):
    app = make_app(supabase_url=jwks["url"])
    other_private, _ = _keypair(jwks["algorithm"])
    kid = jwks["kid"] if same_kid else "someone-elses-key"
    token = jwt.encode(supabase_claims(), other_private, algorithm=jwks["algorithm"], headers={"kid": kid})

    assert_problem(app.test_client().get("/api/auth/me", headers=bearer(token)), 401)


def test_unreachable_jwks_is_503_not_401(make_app):
    app = make_app(supabase_url=f"http://127.0.0.1:{free_port()}")
    private, _ = _keypair("ES256")
    token = jwt.encode(supabase_claims(), private, algorithm="ES256", headers={"kid": "k"})
    response = app.test_client().get("/api/auth/me", headers=bearer(token))
    assert_problem(response, 503)
    assert response.headers["Retry-After"]


@pytest.mark.parametrize(
    ("respond", "status"),
    [
        pytest.param(lambda r: r.respond_with_data("<html>oops</html>", content_type="text/html"), 503, id="not-json"),
        pytest.param(lambda r: r.respond_with_data("down", status=502), 503, id="bad-gateway"),
        pytest.param(lambda r: r.respond_with_json(["not", "a", "set"]), 401, id="not-a-key-set"),
        pytest.param(lambda r: r.respond_with_json({"keys": []}), 401, id="no-keys"),
        pytest.param(lambda r: r.respond_with_json({"keys": [{"kty": "EC", "kid": "k"}]}), 401, id="broken-key"),
    ],
)
def test_a_useless_jwks_answer_never_admits_and_never_500s(make_app, httpserver, respond, status):
    respond(httpserver.expect_request("/auth/v1/.well-known/jwks.json"))
    app = make_app(supabase_url=httpserver.url_for("").rstrip("/"))
    private, _ = _keypair("ES256")
    token = jwt.encode(supabase_claims(), private, algorithm="ES256", headers={"kid": "k"})
    assert_problem(app.test_client().get("/api/auth/me", headers=bearer(token)), status)


def test_asymmetric_token_refused_when_no_supabase_url_is_configured(client):
    private, _ = _keypair("ES256")
    token = jwt.encode(supabase_claims(), private, algorithm="ES256", headers={"kid": "k"})
    assert_problem(client.get("/api/auth/me", headers=bearer(token)), 401)


def test_hs256_token_signed_with_the_public_key_is_refused(make_app, jwks):
    """Algorithm confusion: the JWKS public key must never serve as an HMAC secret."""
    app = make_app(supabase_url=jwks["url"])
    public_pem = (
        jwks["private"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": jwks["kid"]}
    signing_input = b".".join(base64url(json.dumps(part).encode()) for part in (header, supabase_claims()))
    signature = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    token = (signing_input + b"." + base64url(signature)).decode()
    assert_problem(app.test_client().get("/api/auth/me", headers=bearer(token)), 401)


def base64url(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")
