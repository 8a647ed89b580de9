"""Production's transport hardening: HSTS on every answer, the __Host- session cookie, a metrics
endpoint nobody reads without its token, and an OAuth https check no client can talk round."""

from __future__ import annotations

import ipaddress

import pytest

from tests.oauth.support import basic_auth, client_credentials, register
from tests.support import DEFAULT_PASSWORD

ISSUER = "https://auth.questbridge.example"
METRICS_TOKEN = "metrics-" + "m" * 32


@pytest.fixture
def production(make_app):
    """The app with production's settings (test_config checks they are production's defaults)."""

    def _make(**overrides):
        return make_app(
            env="production",
            session_cookie_secure=True,
            metrics_token=METRICS_TOKEN,
            hsts_max_age_seconds=365 * 86400,
            **overrides,
        )

    return _make


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/healthz"), ("GET", "/api/auth/me"), ("GET", "/no/such/page"), ("POST", "/api/auth/login")],
    ids=["ok", "401", "404", "422"],
)
def test_production_sends_hsts_on_every_answer(production, method, path):
    response = production().test_client().open(path, method=method, base_url="https://qb.example")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_development_sends_no_hsts(client):
    assert "Strict-Transport-Security" not in client.get("/healthz").headers


def test_production_sets_a_host_prefixed_secure_session_cookie_that_signs_in(production, world):
    app = production()
    client = app.test_client()
    user = world.user()

    response = client.post(
        "/api/auth/login",
        json={"email": user["email"], "password": DEFAULT_PASSWORD},
        base_url="https://qb.example",
    )

    assert response.status_code == 200
    (cookie,) = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("__Host-qb_session=")]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "path", "samesite"} <= attributes
    assert "Path=/" in cookie and "SameSite=Lax" in cookie
    assert "domain" not in attributes  # __Host- cookies may not name one
    assert client.get("/api/auth/me", base_url="https://qb.example").status_code == 200
    # A plain-named cookie, as a sibling subdomain or a plain-http page could plant, is not the session.
    planted = app.test_client()
    planted.set_cookie("qb_session", client.get_cookie("__Host-qb_session", domain="qb.example").value)
    assert planted.get("/api/auth/me", base_url="https://qb.example").status_code == 401


def test_metrics_need_the_token(production):
    client = production().test_client()
    assert client.get("/metrics", base_url="https://qb.example").status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert client.get("/metrics", headers=wrong, base_url="https://qb.example").status_code == 401
    right = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    assert client.get("/metrics", headers=right, base_url="https://qb.example").status_code == 200


# -- the OAuth server's https check ---------------------------------------------------------------


@pytest.fixture
def https_issuer_app(make_app):
    def _make(**overrides):
        return make_app(oauth_issuer=ISSUER, **overrides)

    return _make


def _lms(app, world, auth_headers):
    org = world.organization("Academy")
    client = app.test_client()
    return client, register(client, auth_headers(org["admin"]), org)


def _token_request(client, lms, headers: dict | None = None, **kwargs):
    credentials = basic_auth(lms["client_id"], lms["client_secret"])
    return client.post(
        "/api/oauth/token", data={"grant_type": "client_credentials"}, headers=credentials | (headers or {}), **kwargs
    )


@pytest.mark.parametrize(
    "headers",
    [{}, {"Host": "127.0.0.1"}, {"Host": "localhost:8000"}, {"X-Forwarded-Proto": "https"}],
    ids=["plain-http", "host-says-loopback", "host-says-localhost", "untrusted-forwarded-proto"],
)
def test_plain_http_to_an_https_issuer_is_refused_whatever_the_client_claims(https_issuer_app, world, auth, headers):
    app = https_issuer_app()
    client, lms = _lms(app, world, auth.headers)

    response = _token_request(client, lms, headers=headers)

    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"] == "insecure_transport"


def test_https_directly_or_through_a_trusted_proxy_is_accepted(https_issuer_app, world, auth):
    app = https_issuer_app(trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),))
    client, lms = _lms(app, world, auth.headers)

    assert _token_request(client, lms, base_url="https://auth.questbridge.example").status_code == 200
    # The test client's peer is 127.0.0.1, a trusted proxy here: it tells the scheme.
    assert _token_request(client, lms, headers={"X-Forwarded-Proto": "https"}).status_code == 200
    assert (
        _token_request(client, lms, headers={"X-Forwarded-Proto": "http"}).get_json()["error"] == "insecure_transport"
    )


def test_a_loopback_issuer_keeps_working_over_plain_http(client, world, auth):
    """Development: PUBLIC_URL (the issuer) is http://127.0.0.1:8000, loopback, as RFC 8252 allows."""
    org = world.organization("Academy")
    lms = register(client, auth.headers(org["admin"]), org)
    assert client_credentials(client, lms).status_code == 200
