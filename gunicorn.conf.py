"""gunicorn settings for `make run` and the Procfile's web process."""

import ipaddress
import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104 (a server listens)
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = 30
graceful_timeout = 20
keepalive = 5
# Our structlog lines are the access log; gunicorn's own would duplicate them.
accesslog = None
errorlog = "-"
# gunicorn believes X-Forwarded-Proto (wsgi.url_scheme) only from the proxies the app believes
# (TRUSTED_PROXIES): one list, so a client on another address cannot pass plain http for https.
forwarded_allow_ips = ",".join(
    str(ipaddress.ip_network(part.strip(), strict=False))
    for part in os.environ.get("TRUSTED_PROXIES", "").split(",")
    if part.strip()
)

# Prometheus multiprocess mode: every worker writes its samples under this directory and /metrics
# aggregates them. It must be set before the workers import prometheus_client, hence here.
_metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", os.path.join(os.environ.get("QB_DATA_DIR", ".data"), "prometheus")
)


def on_starting(server):
    """Start with an empty metrics directory: samples of dead processes from a previous run would linger."""
    import shutil

    shutil.rmtree(_metrics_dir, ignore_errors=True)
    os.makedirs(_metrics_dir, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
