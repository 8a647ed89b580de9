"""Soak: a steady stream of events for a long time, to healthy, slow and failing receivers.

    .venv/bin/python bench/soak.py [--duration 600] [--rate 50] [--slow-delay 0.3] [--report-every 60]

Emits `--rate` events per second (one transaction each, through `emit_event`) for `--duration`
seconds to an organization with four subscriptions on a local receiver process: healthy (200 at
once), slow (200 after `--slow-delay` s), flaky (every third request is a 500) and failing (always
500, so it retries and ends dead). The delivery engine is the real standalone worker process
(`python -m backend.workers.webhook_delivery --loop`). Every `--report-every` seconds it prints
delivered/s, the backlog, the database size and the worker's memory (RSS); at the end it prints
delivered/s, emit-to-delivered p50/p99 per receiver, database growth, and the worker's RSS at the
start and the end (it should stay flat: no per-delivery state is kept).

Uses DATABASE_URL's server when set, else the embedded one; works in its own throwaway database.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil
import psycopg
from aiohttp import web
from psycopg import sql

from backend.config import PROJECT_ROOT
from backend.db import Database, with_database
from backend.services.shared.secretbox import SecretBox
from backend.services.webhooks import events, signing
from backend.services.webhooks.subscriptions import SECRET_PURPOSE
from bench.harness import fresh_database

DATABASE = "qb_bench_soak"
SECRET_KEY = "soak-" + "k" * 40
RECEIVERS = ("healthy", "slow", "flaky", "failing")
BACKOFF = "5,10,20,40"
MAX_ATTEMPTS = 5
MB = 1024 * 1024


# -- receiver (separate process) ---------------------------------------------------------------


def _receiver_main(port_queue, slow_delay: float) -> None:
    flaky_count = 0

    async def healthy(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="ok")

    async def slow(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(slow_delay)
        return web.Response(text="ok")

    async def flaky(request: web.Request) -> web.Response:
        nonlocal flaky_count
        await request.read()
        flaky_count += 1
        return web.Response(status=500 if flaky_count % 3 == 0 else 200, text="flaky")

    async def failing(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=500, text="down")

    async def main() -> None:
        app = web.Application()
        for name, handler in zip(RECEIVERS, (healthy, slow, flaky, failing), strict=True):
            app.router.add_post(f"/{name}", handler)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        port_queue.put(site._server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


def start_receiver(slow_delay: float):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_receiver_main, args=(queue, slow_delay), daemon=True)
    process.start()
    return process, queue.get(timeout=30)


# -- database ----------------------------------------------------------------------------------


def drop_database(url: str) -> None:
    admin = with_database(url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(DATABASE)))


def setup(db: Database, box: SecretBox, port: int):
    """An organization subscribed four times, one subscription per receiver; returns ids by name."""
    with db.transaction("service_role") as conn:
        user = conn.execute("insert into auth.users (email) values ('soak@example.org') returning id").fetchone()
        org = conn.execute(
            "insert into public.organizations (name, created_by) values ('Soak', %s) returning id", (user["id"],)
        ).fetchone()["id"]
        subscriptions = {}
        for name in RECEIVERS:
            subscriptions[name] = conn.execute(
                "insert into public.webhook_subscriptions (organization_id, target_url, event_types, secret_encrypted)"
                " values (%s, %s, array['*'], %s) returning id",
                (org, f"http://127.0.0.1:{port}/{name}", box.encrypt(signing.generate_secret(), SECRET_PURPOSE)),
            ).fetchone()["id"]
    return org, subscriptions


def database_size(db: Database) -> int:
    with db.connection() as conn:
        return conn.execute("select pg_database_size(current_database()) as n").fetchone()["n"]


def status_counts(db: Database) -> dict:
    with db.transaction("service_role") as conn:
        rows = conn.execute("select status, count(*) as n from public.webhook_deliveries group by status").fetchall()
    return {r["status"]: r["n"] for r in rows}


# -- the worker process ------------------------------------------------------------------------


def start_worker(url: str, data_dir: str, log_path: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "QB_ENV": "development",
        "DATABASE_URL": url,
        "QB_DATA_DIR": data_dir,
        "SECRET_KEY": SECRET_KEY,
        "JWT_SECRET": "soak-jwt-" + "j" * 40,
        "WEBHOOKS_ALLOWED_TARGETS": "127.0.0.1/32",
        "WEBHOOKS_BACKOFF_SECONDS": BACKOFF,
        "WEBHOOKS_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",  # the worker says when its engine runs (and then logs only warnings)
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = log_path.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "backend.workers.webhook_delivery", "--loop"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def rss(pid: int) -> int:
    return psutil.Process(pid).memory_info().rss


# -- the run -----------------------------------------------------------------------------------


class Emitter(threading.Thread):
    """Emits `rate` events per second, one transaction each, on a fixed schedule."""

    def __init__(self, db: Database, organization_id, rate: float, duration: float):
        super().__init__(daemon=True)
        self.db, self.organization_id, self.rate, self.duration = db, organization_id, rate, duration
        self.emitted = 0
        self.max_lag = 0.0  # seconds the emitter fell behind its schedule at worst

    def run(self) -> None:
        interval = 1.0 / self.rate
        start = time.perf_counter()
        next_at = start
        while next_at < start + self.duration:
            with self.db.transaction("service_role") as conn:
                events.emit_event(conn, self.organization_id, "task.completed", {"n": self.emitted, "xp": 20})
            self.emitted += 1
            next_at += interval
            pause = next_at - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            else:
                self.max_lag = max(self.max_lag, -pause)


def latency_by_receiver(db: Database, subscriptions: dict) -> dict:
    """Emit-to-delivered of delivered deliveries, per receiver: count, p50, p99, max (ms)."""
    names = {v: k for k, v in subscriptions.items()}
    with db.transaction("service_role") as conn:
        rows = conn.execute(
            "select d.subscription_id,"
            " count(*) as n,"
            " percentile_cont(0.5) within group (order by extract(epoch from d.delivered_at - e.created_at)) as p50,"
            " percentile_cont(0.99) within group (order by extract(epoch from d.delivered_at - e.created_at)) as p99,"
            " max(extract(epoch from d.delivered_at - e.created_at)) as worst"
            " from public.webhook_deliveries d join public.webhook_events e on e.id = d.event_id"
            " where d.status = 'delivered' and d.attempts = 1"
            " group by d.subscription_id"
        ).fetchall()
    return {
        names[r["subscription_id"]]: (r["n"], float(r["p50"]) * 1000, float(r["p99"]) * 1000, float(r["worst"]) * 1000)
        for r in rows
    }


def final_states(db: Database, subscriptions: dict) -> dict:
    names = {v: k for k, v in subscriptions.items()}
    with db.transaction("service_role") as conn:
        rows = conn.execute(
            "select subscription_id, status, count(*) as n from public.webhook_deliveries group by 1, 2"
        ).fetchall()
    states: dict = {name: {} for name in subscriptions}
    for r in rows:
        states[names[r["subscription_id"]]][r["status"]] = r["n"]
    return states


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of emitting (default 600)")
    parser.add_argument("--rate", type=float, default=50.0, help="events per second (default 50)")
    parser.add_argument("--slow-delay", type=float, default=0.3, help="seconds the slow receiver takes")
    parser.add_argument("--report-every", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before the start RSS is taken")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args()

    url = fresh_database(DATABASE)
    box = SecretBox(SECRET_KEY)
    db = Database(url, min_size=1, max_size=4)
    receiver, port = start_receiver(args.slow_delay)
    org, subscriptions = setup(db, box, port)
    work = Path(tempfile.mkdtemp(prefix="qb-soak-"))
    worker = start_worker(url, str(work / "data"), work / "worker.log")
    print(
        f"soak: {args.rate:g} events/s for {args.duration:g} s, 4 deliveries each "
        f"({', '.join(RECEIVERS)}; slow = {args.slow_delay:g} s, flaky = every 3rd a 500, failing = always 500; "
        f"backoff {BACKOFF} s, {MAX_ATTEMPTS} attempts); worker pid {worker.pid}, log {work / 'worker.log'}",
        flush=True,
    )
    deadline = time.monotonic() + 60
    while b"delivery_worker_started" not in (work / "worker.log").read_bytes():
        if worker.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"the worker did not start; see {work / 'worker.log'}")
        time.sleep(0.1)

    load_start = os.getloadavg()[0]
    size_start = database_size(db)
    rss_boot = rss(worker.pid)
    samples: list[tuple[float, int]] = []
    emitter = Emitter(db, org, args.rate, args.duration)
    started = time.monotonic()
    emitter.start()
    rss_start = None
    last_delivered, last_at = 0, started
    next_report = started + args.report_every
    try:
        while emitter.is_alive():
            time.sleep(min(1.0, max(0.0, next_report - time.monotonic())))
            now = time.monotonic()
            if rss_start is None and now - started >= args.warmup:
                rss_start = rss(worker.pid)
            if worker.poll() is not None:
                sys.exit(f"the worker died (exit {worker.returncode}); see {work / 'worker.log'}")
            if now < next_report:
                continue
            next_report += args.report_every
            counts = status_counts(db)
            delivered = counts.get("delivered", 0)
            memory = rss(worker.pid)
            samples.append((now - started, memory))
            backlog = counts.get("pending", 0) + counts.get("delivering", 0)
            rate = (delivered - last_delivered) / (now - last_at)
            print(
                f"  t={now - started:6.0f}s emitted {emitter.emitted:7d}  delivered/s {rate:7.1f}"
                f"  backlog {backlog:5d}  retrying {counts.get('retrying', 0):5d}  dead {counts.get('dead', 0):6d}"
                f"  db {database_size(db) / MB:7.1f} MB  worker RSS {memory / MB:6.1f} MB",
                flush=True,
            )
            last_delivered, last_at = delivered, now
        emitter.join()
        emitting_seconds = time.monotonic() - started
        # Let the healthy, slow and flaky first attempts finish; retries of the failing one go on.
        drain_deadline = time.monotonic() + 30
        while time.monotonic() < drain_deadline:
            counts = status_counts(db)
            if counts.get("pending", 0) + counts.get("delivering", 0) == 0:
                break
            time.sleep(0.5)
        rss_end = rss(worker.pid)
        size_end = database_size(db)
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        receiver.terminate()
        receiver.join(5)

    states = final_states(db, subscriptions)
    latency = latency_by_receiver(db, subscriptions)
    delivered = sum(s.get("delivered", 0) for s in states.values())
    print()
    print(
        f"emitted {emitter.emitted} events in {emitting_seconds:.0f} s ({emitter.emitted / emitting_seconds:.1f}/s; "
        f"the emitter was {emitter.max_lag * 1000:.0f} ms behind schedule at worst); "
        f"load average at start {load_start:.1f}, at end {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"delivered {delivered} deliveries: {delivered / emitting_seconds:.1f} delivered/s")
    for name in RECEIVERS:
        n, p50, p99, worst = latency.get(name, (0, float("nan"), float("nan"), float("nan")))
        print(
            f"  {name:8s} {states[name]}  first-attempt emit-to-delivered: n {n}, p50 {p50:.1f} ms, "
            f"p99 {p99:.1f} ms, max {worst:.1f} ms"
        )
    print(
        f"database size: {size_start / MB:.1f} MB -> {size_end / MB:.1f} MB "
        f"(+{(size_end - size_start) / MB:.1f} MB, {(size_end - size_start) / max(1, emitter.emitted):.0f} bytes/event)"
    )
    rss_start = rss_start or rss_boot
    print(
        f"worker RSS: {rss_boot / MB:.1f} MB when its engine started, {rss_start / MB:.1f} MB after the "
        f"{args.warmup:g} s warm-up, {rss_end / MB:.1f} MB at the end ({(rss_end - rss_start) / MB:+.1f} MB since "
        f"the warm-up); every {args.report_every:g} s: {' '.join(f'{m / MB:.1f}' for _, m in samples)} MB"
    )
    db.close()
    if not args.keep_database:
        drop_database(url)


if __name__ == "__main__":
    main()
