"""APScheduler jobs: the same job list runs in the web process or in the standalone worker."""

from __future__ import annotations

import atexit

import structlog
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler

from backend import metrics
from backend.runtime import runtime_of
from backend.services import maintenance
from backend.services.inbound import processor
from backend.services.keys import usage
from backend.services.lti import maintenance as lti_maintenance
from backend.services.oauth import maintenance as oauth_maintenance
from backend.services.webhooks import engine

log = structlog.get_logger(__name__)


def _every(scheduler: BaseScheduler, job_id: str, func, *, args=(), kwargs=None, **interval) -> None:
    """An interval job that never overlaps itself and does not catch up on missed runs."""
    scheduler.add_job(
        func,
        "interval",
        args=list(args),
        kwargs=kwargs or {},
        id=job_id,
        max_instances=1,
        coalesce=True,
        replace_existing=True,
        **interval,
    )


def add_jobs(scheduler: BaseScheduler, runtime, *, delivery_sweep: bool = True) -> BaseScheduler:
    """Maintenance jobs everywhere; the delivery sweep where no delivery worker loop runs."""
    config, db = runtime.config, runtime.db
    if delivery_sweep:
        _every(
            scheduler,
            "delivery_sweep",
            engine.run_pass,
            args=[runtime],
            kwargs={"time_budget": 20.0},
            seconds=config.webhooks_sweep_seconds,
        )
    _every(scheduler, "cleanup", maintenance.cleanup, args=[db], minutes=10)
    _every(
        scheduler,
        "webhook_retention",
        maintenance.webhook_retention,
        args=[db, config.webhooks_retention_days],
        hours=1,
    )
    # Inbound webhooks in every process that runs jobs (web and standalone worker): each run drains
    # the inbox, then keeps draining on NOTIFY until the next one starts.
    inbox_worker = processor.InboxWorker(db, processor.InboxSettings.from_config(config), runtime.inbox_handlers)
    _every(scheduler, "inbound_inbox", inbox_worker.run, kwargs={"listen_seconds": 0.9}, seconds=1)
    _every(scheduler, "api_key_usage_retention", usage.prune_usage, args=[db], hours=6)
    # OAuth: expired codes, grants and tokens deleted; the signing key rotated when due.
    _every(scheduler, "oauth_maintenance", oauth_maintenance.run, args=[db, runtime.secretbox, config], minutes=10)
    # LTI: retired tool keys deleted; the current one rotated when due.
    _every(scheduler, "lti_maintenance", lti_maintenance.run, args=[db, runtime.secretbox, config], minutes=10)
    scheduler.add_listener(_count_job_run, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    return scheduler


def _count_job_run(event) -> None:
    failed = event.exception is not None
    metrics.SCHEDULER_JOB_RUNS.labels(event.job_id, "failure" if failed else "success").inc()
    if failed:
        log.error("scheduler_job_failed", job=event.job_id, error=repr(event.exception))


def start_in_process(app) -> BackgroundScheduler:
    scheduler = add_jobs(BackgroundScheduler(timezone="UTC", daemon=True), runtime_of(app))
    scheduler.start()
    app.extensions["questbridge_scheduler"] = scheduler
    atexit.register(lambda: scheduler.shutdown(wait=False) if scheduler.running else None)
    return scheduler
