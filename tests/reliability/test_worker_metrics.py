"""The standalone delivery worker's own /metrics: what it delivers is counted where it is scraped.

The web processes never see the worker's deliveries, so with WORKER_METRICS_PORT the worker
answers GET /metrics (and /healthz) itself, behind the same METRICS_TOKEN, and nothing else.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest

from tests.reliability.conftest import child_env, free_port, query, seed_deliveries, subscribe, wait_until
from tests.support import World

TOKEN = "worker-metrics-" + "t" * 30


def scrape(url: str, token: str | None = TOKEN) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (loopback)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def delivered_total(text: str) -> float:
    match = re.search(r'^questbridge_webhook_deliveries_total\{outcome="delivered"\} (\S+)$', text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


@pytest.mark.timeout(90)
def test_the_worker_serves_its_own_metrics_and_nothing_else(make_app, database_url, children, receiver, tmp_path):
    app = make_app(webhooks_allowed_targets="127.0.0.1/32")
    runtime = app.extensions["questbridge"]
    org = World(app).organization("Metrics Org")
    subscription, _secret = subscribe(runtime.db, runtime.secretbox, org["id"], receiver.url + "/hook")
    seed_deliveries(runtime.db, org["id"], subscription, 20)
    port = free_port()
    env = child_env(
        database_url, runtime.config.secret_key, tmp_path / "data", WORKER_METRICS_PORT=port, METRICS_TOKEN=TOKEN
    )
    worker = children.worker(env)
    base = f"http://127.0.0.1:{port}"

    wait_until(lambda: delivered_total(scrape(base + "/metrics")[1]) == 20, 30, what="20 deliveries in the metrics")
    status, text = scrape(base + "/metrics")
    assert status == 200
    assert re.search(r'^questbridge_webhook_queue_depth\{status="delivered"\} 20', text, re.MULTILINE)
    done = query(database_url, "select count(*) as n from public.webhook_deliveries where status = 'delivered'")
    assert done[0]["n"] == 20

    assert scrape(base + "/metrics", token=None)[0] == 401
    assert scrape(base + "/healthz", token=None)[0] == 200
    assert scrape(base + "/api/webhooks/event-types")[0] == 404  # no other route of the API
    worker.stop()
