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
import gc
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
from backend.services.webhooks import engine

log = structlog.get_logger(__name__)

# A delivery in flight holds tens of container objects (its claim, request, response and
# outcome, aiohttp's protocol state). 100 per delivery puts the threshold above the working set:
# a 10,000-delivery drain at 256 in flight ran one collection instead of about 650.
GC_OBJECTS_PER_DELIVERY = 100


def prepare_garbage_collector(concurrency: int) -> None:
    """Keep the cyclic garbage collector out of the engine's way, for a process that delivers.

    gc.freeze() moves every object that exists now (modules, the app, its config) into a
    permanent generation, so the startup heap is never rescanned. The youngest generation's
    threshold (700 allocations by default) is far below the engine's working set, which is renewed
    continuously: collections ran hundreds of times per 10,000 deliveries and promoted live
    requests into generations that full collections then walked. Above the working set they are
    rare, and reference cycles are still collected, a threshold's worth at a time.
    """
    gc.collect()
    gc.freeze()
    youngest, middle, oldest = gc.get_threshold()
    gc.set_threshold(max(youngest, GC_OBJECTS_PER_DELIVERY * concurrency), middle, oldest)


async def _loop(runtime) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with engine.engine_for(runtime) as delivery_engine:
        settings = delivery_engine.settings
        log.info("delivery_worker_started", worker=delivery_engine.worker_id, concurrency=settings.concurrency)
        prepare_garbage_collector(settings.concurrency)
        await delivery_engine.run_forever(stop)
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
            print(json.dumps(engine.run_due_work(runtime)))
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
