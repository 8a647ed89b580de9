"""Prometheus metrics: counters and histograms recorded where things happen, gauges read from Postgres.

Under gunicorn with several workers set PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py does): every
process then writes its samples to that directory and /metrics aggregates them. Queue depth and
inbox states are read from the database at scrape time, so they are right whichever process
answers the scrape.
"""

from __future__ import annotations

import os

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

log = structlog.get_logger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

HTTP_REQUEST_DURATION = Histogram(
    "questbridge_http_request_duration_seconds",
    "HTTP request duration by route and status.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DELIVERIES = Counter(
    "questbridge_webhook_deliveries_total",
    "Outbound webhook delivery attempts by outcome (delivered, retrying, dead).",
    ["outcome"],
)
EMIT_TO_DELIVERED = Histogram(
    "questbridge_webhook_emit_to_delivered_seconds",
    "Time from an event's emission to its successful delivery.",
    buckets=LATENCY_BUCKETS,
)
RATE_LIMIT_HITS = Counter(
    "questbridge_rate_limit_hits_total",
    "Requests refused by a rate limit, by limiter.",
    ["limiter"],
)
TOKENS_ISSUED = Counter(
    "questbridge_oauth_tokens_issued_total",
    "OAuth access tokens issued, by grant type.",
    ["grant_type"],
)
INBOUND_RECEIVED = Counter(
    "questbridge_inbound_events_received_total",
    "Inbound webhook requests by source and result (accepted, duplicate, rejected).",
    ["source", "result"],
)
SCHEDULER_JOB_RUNS = Counter(
    "questbridge_scheduler_job_runs_total",
    "Background job runs by job and result (success, failure).",
    ["job", "result"],
)


class DatabaseGauges(Collector):
    """Gauges computed by one query at scrape time: delivery queue depth and inbox states."""

    def __init__(self, db):
        self.db = db

    def collect(self):
        depth = GaugeMetricFamily(
            "questbridge_webhook_queue_depth", "Outbound webhook deliveries by status.", labels=["status"]
        )
        inbound = GaugeMetricFamily(
            "questbridge_inbound_events", "Inbound webhook events by status.", labels=["status"]
        )
        try:
            with self.db.transaction("service_role") as conn:
                rows = conn.execute(
                    "select status, count(*) as n from public.webhook_deliveries group by status"
                ).fetchall()
                inbound_rows = []
                if conn.execute("select to_regclass('public.inbound_events') as t").fetchone()["t"]:
                    inbound_rows = conn.execute(
                        "select status, count(*) as n from public.inbound_events group by status"
                    ).fetchall()
        except Exception:  # a scrape must answer even while the database is away
            log.warning("metrics_database_gauges_failed", exc_info=True)
            return
        counts = {r["status"]: r["n"] for r in rows}
        for status in ("pending", "delivering", "retrying", "delivered", "dead"):
            depth.add_metric([status], counts.get(status, 0))
        yield depth
        for row in inbound_rows:
            inbound.add_metric([row["status"]], row["n"])
        yield inbound


def registry_for(db) -> CollectorRegistry:
    """The registry /metrics renders: every process's samples in multiprocess mode, plus DB gauges."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(DatabaseGauges(db))
    return registry


class _ThisProcess(Collector):
    """The default registry (this process's metrics) inside another registry."""

    def collect(self):
        return REGISTRY.collect()


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
