"""APScheduler jobs: the same job list runs in the web process or in the standalone worker."""

from __future__ import annotations

import atexit

import structlog
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler

from backend import metrics
from backend.services import api_keys, delivery, inbox, maintenance
from backend.services.oauth import maintenance as oauth_maintenance

log = structlog.get_logger(__name__)


def add_jobs(scheduler: BaseScheduler, runtime, *, delivery_sweep: bool = True) -> BaseScheduler:
    """Maintenance jobs everywhere; the delivery sweep where no delivery worker loop runs."""
    if delivery_sweep:
        scheduler.add_job(
            delivery.run_pass,
            "interval",
            seconds=runtime.config.webhooks_sweep_seconds,
            args=[runtime],
            kwargs={"time_budget": 20.0},
            id="delivery_sweep",
            max_instances=1,
            coalesce=True,
            replace_existing=True,
        )
    scheduler.add_job(
        maintenance.cleanup,
        "interval",
        minutes=10,
        args=[runtime.db],
        id="cleanup",
        max_instances=1,
        coalesce=True,
        replace_existing=True,
    )
    scheduler.add_job(
        maintenance.webhook_retention,
        "interval",
        hours=1,
        args=[runtime.db, runtime.config.webhooks_retention_days],
        id="webhook_retention",
        max_instances=1,
        coalesce=True,
        replace_existing=True,
    )
    # Inbound webhooks in every process that runs jobs (web and standalone worker): each run drains
    # the inbox, then keeps draining on NOTIFY until the next one starts.
    scheduler.add_job(
        inbox.InboxWorker(runtime.db, inbox.InboxSettings.from_config(runtime.config)).run,
        "interval",
        seconds=1,
        kwargs={"listen_seconds": 0.9},
        id="inbound_inbox",
        max_instances=1,
        coalesce=True,
        replace_existing=True,
    )
    scheduler.add_job(
        api_keys.prune_usage,
        "interval",
        hours=6,
        args=[runtime.db],
        id="api_key_usage_retention",
        max_instances=1,
        coalesce=True,
        replace_existing=True,
    )
    # OAuth: expired codes, grants and tokens deleted; the signing key rotated when due.
    scheduler.add_job(
        oauth_maintenance.run,
        "interval",
        minutes=10,
        args=[runtime.db, runtime.secretbox, runtime.config],
        id="oauth_maintenance",
        max_instances=1,
        coalesce=True,
        replace_existing=True,
    )
    scheduler.add_listener(_count_job_run, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    return scheduler


def _count_job_run(event) -> None:
    failed = event.exception is not None
    metrics.SCHEDULER_JOB_RUNS.labels(event.job_id, "failure" if failed else "success").inc()
    if failed:
        log.error("scheduler_job_failed", job=event.job_id, error=repr(event.exception))


def start_in_process(app) -> BackgroundScheduler:
    scheduler = add_jobs(BackgroundScheduler(timezone="UTC", daemon=True), app.extensions["questbridge"])
    scheduler.start()
    app.extensions["questbridge_scheduler"] = scheduler
    atexit.register(lambda: scheduler.shutdown(wait=False) if scheduler.running else None)
    return scheduler
