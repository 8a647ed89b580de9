"""Standalone worker: runs the scheduler's jobs in their own process (Procfile `worker`).

python -m backend.workers.scheduler
"""

from __future__ import annotations

from apscheduler.schedulers.blocking import BlockingScheduler

from backend import create_app
from backend.config import Config
from backend.scheduler import add_jobs


def main() -> None:
    # This process is the scheduler; the web app's own in-process copy stays off here.
    app = create_app(Config.from_env(scheduler_enabled=False))
    scheduler = add_jobs(BlockingScheduler(timezone="UTC"), app.extensions["questbridge"])
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        app.extensions["questbridge"].db.close()


if __name__ == "__main__":
    main()
