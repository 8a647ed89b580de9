"""Sentry reporting and Prometheus multiprocess mode under a real gunicorn."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
import sentry_sdk
from flask import abort

from backend.config import PROJECT_ROOT

HEALTHZ_COUNT = re.compile(
    r'questbridge_http_request_duration_seconds_count\{[^}]*route="/healthz"[^}]*status="200"[^}]*\} ([0-9.]+)'
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def sentry_client():
    yield
    sentry_sdk.init(dsn=None)  # later tests run without reporting


def _envelopes(httpserver) -> list[bytes]:
    bodies = []
    for request, _ in httpserver.log:
        raw = request.get_data()
        if request.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        bodies.append(raw)
    return bodies


def test_unexpected_errors_reach_sentry_without_credentials(make_app, httpserver, sentry_client):
    httpserver.expect_request("/api/1/envelope/", method="POST").respond_with_data("{}")
    dsn = f"http://public@127.0.0.1:{httpserver.port}/1"
    app = make_app(sentry_dsn=dsn)

    @app.get("/_test/boom")
    def boom():
        raise RuntimeError("kaboom in a handler")

    # Made at run time: a literal would also appear in the source context Sentry attaches.
    token, query_secret, cookie = (uuid.uuid4().hex for _ in range(3))
    response = app.test_client().get(
        f"/_test/boom?token={query_secret}",
        headers={"Authorization": f"Bearer {token}", "Cookie": f"qb_session={cookie}"},
    )
    sentry_sdk.flush(timeout=5)

    assert response.status_code == 500
    assert "kaboom" not in response.get_data(as_text=True)
    bodies = b"\n".join(_envelopes(httpserver))
    assert b"kaboom in a handler" in bodies
    assert b'"environment":"test"' in bodies.replace(b" ", b"")
    assert b"questbridge@" in bodies
    for secret in (token.encode(), query_secret.encode(), cookie.encode()):
        assert secret not in bodies, bodies[max(0, bodies.find(secret) - 300) : bodies.find(secret) + 50]


def test_client_errors_are_not_reported(make_app, httpserver, sentry_client):
    httpserver.expect_request("/api/1/envelope/", method="POST").respond_with_data("{}")
    app = make_app(sentry_dsn=f"http://public@127.0.0.1:{httpserver.port}/1")

    @app.get("/_test/missing")
    def missing():
        abort(404)

    assert app.test_client().get("/_test/missing").status_code == 404
    sentry_sdk.flush(timeout=2)
    assert not any(b'"type":"event"' in body for body in _envelopes(httpserver))


def test_without_a_dsn_nothing_is_sent_and_errors_still_answer(make_app):
    app = make_app()

    @app.get("/_test/boom")
    def boom():
        raise RuntimeError("no reporting configured")

    response = app.test_client().get("/_test/boom")
    assert response.status_code == 500
    assert sentry_sdk.get_client().dsn is None


def _get(url: str) -> str:
    # A fresh connection per request so the kernel spreads them over the workers.
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback URL built here)
        return response.read().decode()


def test_metrics_aggregate_every_gunicorn_worker(database_url, tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "QB_ENV": "test",
        "TEST_DATABASE_URL": database_url,
        "SECRET_KEY": "s" * 40,
        "JWT_SECRET": "j" * 40,
        "QB_DATA_DIR": str(tmp_path),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "1",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "backend:create_app()"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        for _ in range(59):
            _get(f"http://127.0.0.1:{port}/healthz")
        for _ in range(6):
            text = _get(f"http://127.0.0.1:{port}/metrics")
            counts = re.findall(HEALTHZ_COUNT, text)
            assert sum(float(c) for c in counts) == 60
        assert len(list((tmp_path / "prometheus").glob("*.db"))) >= 2  # both workers wrote samples
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_openapi_document_covers_the_routes_and_serves_docs_locally(client):
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    subscription = spec["paths"]["/api/webhooks/subscriptions"]["post"]
    body = subscription["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].startswith("#/components/schemas/")
    schema = spec["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert {"organization_id", "target_url", "event_types"} <= set(schema["properties"])
    params = spec["paths"]["/api/organizations/{org_id}/members"]["post"]["parameters"]
    assert params[0] == {
        "in": "path",
        "name": "org_id",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
    }
    listed = {p["name"] for p in spec["paths"]["/api/webhooks/deliveries"]["get"]["parameters"]}
    assert {"subscription_id", "status", "event_type", "limit", "cursor"} <= listed
    page = client.get("/api/docs")
    assert page.status_code == 200 and "/api/docs/assets/swagger-ui-bundle.js" in page.get_data(as_text=True)
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert client.get("/api/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert "https://" not in page.get_data(as_text=True)
    json.dumps(spec)  # serializable as served


def test_the_grafana_dashboard_only_uses_metrics_we_export(client):
    dashboard = json.loads((PROJECT_ROOT / "deploy" / "grafana" / "questbridge.json").read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"questbridge_[a-z_]+", target["expr"])
    }
    exported = client.get("/metrics").get_data(as_text=True)
    declared = set(re.findall(r"^# TYPE (questbridge_[a-z_]+) ", exported, re.MULTILINE))
    suffixes = ("_bucket", "_count", "_sum", "_total")
    missing = {
        name for name in used if name not in declared and not any(name.removesuffix(s) in declared for s in suffixes)
    }
    assert used and not missing, missing
