"""APScheduler jobs: the same job list runs in the web process or in the standalone worker."""

from __future__ import annotations

import atexit

import structlog
from apscheduler.events import EVENT_JOB_ERROR
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler

from backend.services import delivery, maintenance

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
    scheduler.add_listener(
        lambda event: log.error("scheduler_job_failed", job=event.job_id, error=repr(event.exception)),
        EVENT_JOB_ERROR,
    )
    return scheduler


def start_in_process(app) -> BackgroundScheduler:
    scheduler = add_jobs(BackgroundScheduler(timezone="UTC", daemon=True), app.extensions["questbridge"])
    scheduler.start()
    app.extensions["questbridge_scheduler"] = scheduler
    atexit.register(lambda: scheduler.shutdown(wait=False) if scheduler.running else None)
    return scheduler
