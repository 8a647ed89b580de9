"""Standalone delivery worker (Procfile `worker`).

    python -m backend.workers.webhook_delivery --loop   # deliver continuously, woken by NOTIFY
    python -m backend.workers.webhook_delivery --once   # one pass of what is due, prints counts

With --loop it also runs the scheduler's jobs: the inbound inbox processor (claims with SKIP
LOCKED) and maintenance (clean-up, retention; advisory locks), so any number of workers and web
processes may run them. --once also drains the inbox before delivering.

With WORKER_METRICS_PORT set it serves its own GET /metrics (and /healthz) on
WORKER_METRICS_HOST (default 127.0.0.1), with the web's route, METRICS_TOKEN and registry:
the deliveries this process makes are counted here, not in any web process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

import structlog
from apscheduler.schedulers.background import BackgroundScheduler

from backend import create_app
from backend.config import Config
from backend.runtime import runtime_of
from backend.scheduler import add_jobs
from backend.services.inbound import processor
from backend.services.webhooks import engine as delivery

log = structlog.get_logger(__name__)


async def _loop(runtime) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with delivery.engine_for(runtime) as engine:
        log.info("delivery_worker_started", worker=engine.worker_id, concurrency=engine.settings.concurrency)
        delivery.prepare_garbage_collector(engine.settings.concurrency)
        await engine.run_forever(stop)
    log.info("delivery_worker_stopped")


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):  # scrapes every few seconds are not worth a log line each
        pass


def serve_metrics(app, host: str, port: int):
    """This worker's /metrics and /healthz, answered by the app's own routes, in a daemon thread;
    every other path is a 404, so the worker exposes nothing else of the API."""

    def only_metrics(environ, start_response):
        if environ.get("PATH_INFO") in ("/metrics", "/healthz"):
            return app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    server = make_server(host, port, only_metrics, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()
    log.info("worker_metrics_serving", host=host, port=server.server_port)
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--loop", action="store_true", help="deliver continuously")
    mode.add_argument("--once", action="store_true", help="one pass over what is due now")
    args = parser.parse_args(argv)

    # This process delivers itself; the web app's in-process sweep stays off here.
    app = create_app(Config.from_env(scheduler_enabled=False))
    runtime = runtime_of(app)
    try:
        if args.once:
            inbound = processor.run_pass(
                runtime.db, processor.InboxSettings.from_config(runtime.config), runtime.inbox_handlers
            )
            print(json.dumps(delivery.run_pass(runtime).as_dict() | {"inbound": inbound}))
            return
        if runtime.config.worker_metrics_port:
            serve_metrics(app, runtime.config.worker_metrics_host, runtime.config.worker_metrics_port)
        scheduler = add_jobs(BackgroundScheduler(timezone="UTC", daemon=True), runtime, delivery_sweep=False)
        scheduler.start()
        try:
            asyncio.run(_loop(runtime))
        finally:
            scheduler.shutdown(wait=False)
    finally:
        runtime.db.close()


if __name__ == "__main__":
    main()
