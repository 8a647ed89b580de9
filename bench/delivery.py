"""Delivery engine throughput and latency against a raw aiohttp sender, measured in the same run.

    .venv/bin/python bench/delivery.py [--deliveries 20000] [--rounds 3] [--slow-deliveries 10000]
                                       [--rate-seconds 10]

Prints three figures and their goals:
1. fast receiver: raw aiohttp (64 in flight, 1 KiB bodies) vs the engine draining N pending
   deliveries at its default concurrency (256), --rounds times, each round raw then engine; the
   medians (goal: engine >= 0.5 x raw);
2. receiver answering after 200 ms, 500 in flight for both (goal: >= 0.7 x raw);
3. 200 events/s emitted one transaction each, emit-to-first-attempt p50/p99 (goal: p99 <= 250 ms).

Uses DATABASE_URL's server when set, else the embedded one; works in its own throwaway database.
The receiver runs in a separate process so it does not share the sender's event loop. Before
anything is measured the process prepares its garbage collector as the worker does before it
delivers (`backend.workers.webhook_delivery.prepare_garbage_collector`: startup heap frozen,
youngest generation's threshold above the engine's working set); the raw sender runs in the same
process after it.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import re
import statistics
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import psycopg
from aiohttp import web

from backend.db import Database
from backend.services.shared.secretbox import SecretBox
from backend.services.webhooks import events, signing
from backend.services.webhooks.engine import DeliveryEngine
from backend.services.webhooks.settings import EngineSettings
from backend.services.webhooks.ssrf import TargetPolicy
from backend.services.webhooks.subscriptions import SECRET_PURPOSE
from backend.workers.webhook_delivery import prepare_garbage_collector
from bench.harness import fresh_database

BODY_BYTES = 1024
TIMESTAMP = re.compile(rb'"timestamp": ?"([^"]+)"')
DATABASE = "qb_bench_delivery"


# -- receiver (separate process) -------------------------------------------------------------


def _receiver_main(port_queue, delay: float, stats_conn) -> None:
    latencies: list[float] = []
    count = 0
    measuring = False  # latency parsing only in the latency run, so throughput runs pay nothing

    async def handle(request: web.Request) -> web.Response:
        nonlocal count
        body = await request.read()
        count += 1
        match = TIMESTAMP.search(body) if measuring else None
        if match:
            sent = datetime.fromisoformat(match.group(1).decode().replace("Z", "+00:00")).timestamp()
            latencies.append(time.time() - sent)
        if delay:
            await asyncio.sleep(delay)
        return web.Response(text="ok")

    async def control(request: web.Request) -> web.Response:
        nonlocal count, measuring
        if request.query.get("reset"):
            latencies.clear()
            count = 0
            measuring = request.query.get("measure") == "1"
            return web.json_response({})
        return web.json_response({"count": count, "latencies": latencies})

    async def main() -> None:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/hook", handle)
        app.router.add_get("/stats", control)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        port_queue.put(site._server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


class ReceiverProcess:
    def __init__(self, delay: float = 0.0):
        self.delay = delay

    def __enter__(self):
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        self.process = ctx.Process(target=_receiver_main, args=(queue, self.delay, None), daemon=True)
        self.process.start()
        self.port = queue.get(timeout=30)
        self.url = f"http://127.0.0.1:{self.port}/hook"
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.join(5)

    def stats(self, reset: bool = False, measure: bool = False) -> dict:
        async def fetch():
            async with aiohttp.ClientSession() as session:
                query = f"?reset=1&measure={int(measure)}" if reset else ""
                async with session.get(f"http://127.0.0.1:{self.port}/stats{query}") as response:
                    return await response.json()

        return asyncio.run(fetch())


# -- baseline: raw aiohttp ---------------------------------------------------------------------


async def raw_sender(url: str, total: int, in_flight: int) -> float:
    body = b'{"data":"' + b"x" * (BODY_BYTES - 11) + b'"}'
    secret = signing.generate_secret()
    connector = aiohttp.TCPConnector(limit=in_flight)
    sent = 0
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker():
            nonlocal sent
            while sent < total:
                sent += 1
                headers = {"Content-Type": "application/json", **signing.headers([secret], "raw", body)}
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        return total / (time.perf_counter() - start)


# -- the engine --------------------------------------------------------------------------------


def setup_org(db: Database):
    with db.transaction("service_role") as conn:
        user = conn.execute("insert into auth.users (email) values ('bench@example.org') returning id").fetchone()
        return conn.execute(
            "insert into public.organizations (name, created_by) values ('Bench', %s) returning id", (user["id"],)
        ).fetchone()["id"]


def subscribe_only(db: Database, box: SecretBox, org, target_url: str) -> None:
    """Make target_url the organization's only subscription."""
    with db.transaction("service_role") as conn:
        conn.execute("delete from public.webhook_subscriptions")
        conn.execute("delete from public.webhook_events")
        conn.execute(
            "insert into public.webhook_subscriptions (organization_id, target_url, event_types, secret_encrypted)"
            " values (%s, %s, array['*'], %s)",
            (org, target_url, box.encrypt(signing.generate_secret(), SECRET_PURPOSE)),
        )


def seed_pending(db: Database, organization_id, count: int) -> None:
    """count events with one delivery each, 1 KiB of data, inserted in bulk (the earlier ones deleted)."""
    with db.transaction("service_role") as conn:
        conn.execute("delete from public.webhook_events")
        conn.execute(
            """
            with ev as (
              insert into public.webhook_events (organization_id, type, payload)
              select %(org)s, 'task.completed',
                     jsonb_build_object('id', gen_random_uuid(), 'type', 'task.completed',
                       'timestamp', to_char(now() at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                       'organization_id', %(org)s::text, 'data', jsonb_build_object('filler', repeat('x', 900)))
              from generate_series(1, %(n)s)
              returning id
            )
            insert into public.webhook_deliveries (event_id, subscription_id, organization_id, event_type)
            select ev.id, s.id, s.organization_id, 'task.completed'
            from ev cross join public.webhook_subscriptions s
            """,
            {"org": organization_id, "n": count},
        )
    # Every round starts from the same state: without a vacuum the rows of earlier rounds, dead
    # but still indexed, slow each later round's claims.
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        conn.execute("vacuum analyze public.webhook_deliveries, public.webhook_events")


async def drain(url: str, box: SecretBox, concurrency: int, expected: int) -> float:
    settings = EngineSettings(concurrency=concurrency, batch_size=min(500, concurrency), backoff_seconds=(60,))
    policy = TargetPolicy.parse("127.0.0.1/32", require_https=False)
    async with DeliveryEngine(url, box, policy, settings) as engine:
        start = time.perf_counter()
        stop = asyncio.Event()
        runner = asyncio.create_task(engine.run_forever(stop))
        while engine.totals.delivered < expected:
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - start
        stop.set()
        await runner
    return expected / elapsed


def latency_run(url: str, box: SecretBox, organization_id, receiver: ReceiverProcess, rate: int, seconds: float):
    db = Database(url, min_size=2, max_size=4)
    receiver.stats(reset=True, measure=True)
    stop_emitting = threading.Event()
    emitted = 0

    def emitter():
        nonlocal emitted
        interval = 1.0 / rate
        next_at = time.perf_counter()
        deadline = next_at + seconds
        while next_at < deadline and not stop_emitting.is_set():
            with db.transaction("service_role") as conn:
                events.emit_event(conn, organization_id, "task.completed", {"n": emitted})
            emitted += 1
            next_at += interval
            pause = next_at - time.perf_counter()
            if pause > 0:
                time.sleep(pause)

    async def run():
        settings = EngineSettings(concurrency=256, batch_size=200, poll_seconds=1.0)
        policy = TargetPolicy.parse("127.0.0.1/32", require_https=False)
        async with DeliveryEngine(url, box, policy, settings) as engine:
            stop = asyncio.Event()
            runner = asyncio.create_task(engine.run_forever(stop))
            await asyncio.sleep(0.5)
            await asyncio.to_thread(emitter)
            await asyncio.sleep(1.0)
            stop.set()
            await runner

    asyncio.run(run())
    db.close()
    stats = receiver.stats()
    latencies = sorted(stats["latencies"])
    return emitted, latencies


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3, help="fast-receiver rounds (raw, then engine)")
    parser.add_argument("--slow-deliveries", type=int, default=10000)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--rate-seconds", type=float, default=10.0)
    args = parser.parse_args()

    url = fresh_database(DATABASE)
    box = SecretBox("bench-" + "k" * 40)
    db = Database(url, min_size=1, max_size=2)

    org = setup_org(db)
    prepare_garbage_collector(EngineSettings().concurrency)  # as the worker does before it delivers
    rounds = []
    with ReceiverProcess() as fast:
        subscribe_only(db, box, org, fast.url)
        for n in range(args.rounds):
            raw_fast = asyncio.run(raw_sender(fast.url, args.deliveries, 64))
            seed_pending(db, org, args.deliveries)
            engine_fast = asyncio.run(drain(url, box, 256, args.deliveries))
            rounds.append((raw_fast, engine_fast))
            print(
                f"  round {n + 1}: raw {raw_fast:6.0f}/s  engine {engine_fast:6.0f}/s"
                f"  ratio {engine_fast / raw_fast:.2f}",
                flush=True,
            )
    raw_fast = statistics.median(r for r, _ in rounds)
    engine_fast = statistics.median(e for _, e in rounds)
    ratio = statistics.median(e / r for r, e in rounds)
    print(
        f"fast receiver   raw aiohttp (64 in flight): {raw_fast:8.0f}/s   engine: {engine_fast:8.0f}/s   "
        f"ratio {ratio:.2f}  (goal >= 0.5; medians of {len(rounds)} rounds)"
    )

    with ReceiverProcess(delay=0.2) as slow:
        subscribe_only(db, box, org, slow.url)
        raw_slow = asyncio.run(raw_sender(slow.url, args.slow_deliveries, 500))
        seed_pending(db, org, args.slow_deliveries)
        engine_slow = asyncio.run(drain(url, box, 500, args.slow_deliveries))
    print(
        f"200 ms receiver raw aiohttp (500 in flight): {raw_slow:7.0f}/s   engine: {engine_slow:8.0f}/s   "
        f"ratio {engine_slow / raw_slow:.2f}  (goal >= 0.7)"
    )

    with ReceiverProcess() as receiver:
        subscribe_only(db, box, org, receiver.url)
        emitted, latencies = latency_run(url, box, org, receiver, args.rate, args.rate_seconds)
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    worst = latencies[-1] * 1000 if latencies else float("nan")
    mean = statistics.fmean(latencies) * 1000 if latencies else float("nan")
    print(
        f"{args.rate} events/s for {args.rate_seconds:g}s: emitted {emitted}, received {len(latencies)}, "
        f"emit-to-first-attempt p50 {p50:.1f} ms  p99 {p99:.1f} ms  (goal p99 <= 250 ms)  "
        f"max {worst:.1f} ms  mean {mean:.1f} ms"
    )
    db.close()


if __name__ == "__main__":
    main()
