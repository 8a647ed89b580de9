"""The external API's rate limiter: its cost on POST /v1/external/events, and its exactness under load.

    .venv/bin/python bench/rate_limit.py [--seconds 8] [--clients 32] [--rounds 3] [--limit 500]

Prints two figures and their goals:
1. throughput of POST /v1/external/events with the limiter on versus the same endpoint with it
   switched off (API_KEYS_RATE_LIMIT_ENABLED=false), same gunicorn.conf.py, rounds alternating
   off/on in one run against one fresh database (goal: on >= 0.6 x off);
2. 64 concurrent clients sending 2 x L requests against a daily limit of L: exactly L admitted,
   the rest 429, and the database counters agree (goal: exact).

Uses DATABASE_URL's server when set, else the embedded one; works in its own throwaway database.
Each server is a real gunicorn (gunicorn.conf.py: 2 gthread workers x 4 threads by default).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import psycopg

from backend.services.keys.format import new_key
from backend.services.shared.digest import secret_digest
from bench.harness import free_port, fresh_database, start_gunicorn

DATABASE = "qb_bench_rate_limit"
UNLIMITED = 2**31 - 1
EVENT = {"event_type": "partner.bench_ping", "data": {"course": "algebra-1", "students": 31, "note": "x" * 200}}


def seed_key(url: str) -> str:
    """An organization with one starter key; returns the key."""
    key = new_key()
    row_id = uuid.uuid4()
    with psycopg.connect(url) as conn:
        user = conn.execute("insert into auth.users (email) values ('bench@example.org') returning id").fetchone()[0]
        org = conn.execute(
            "insert into public.organizations (name, created_by) values ('Bench', %s) returning id", (user,)
        ).fetchone()[0]
        conn.execute(
            "insert into public.api_keys (id, key_id, organization_id, lineage_id, name, tier, secret_hash)"
            " values (%s, %s, %s, %s, 'bench', 'starter', %s)",
            (row_id, key.key_id, org, row_id, secret_digest(key.value)),
        )
    return key.value


def reset(url: str) -> None:
    """The same starting point for every round: no events, no usage."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("delete from public.webhook_events")
        conn.execute("delete from public.api_key_usage")
        conn.execute("delete from public.api_key_usage_clients")
        conn.execute("update public.api_keys set last_used_at = null")
        conn.execute("vacuum analyze public.webhook_events, public.api_key_events, public.api_key_usage")


class Gunicorn:
    """`gunicorn -c gunicorn.conf.py "backend:create_app()"` with the given environment, until stopped."""

    def __init__(self, url: str, data_dir: str, **env):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            "QB_ENV": "development",
            "DATABASE_URL": url,
            "QB_DATA_DIR": data_dir,
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "json",
        } | env

    def __enter__(self):
        self.process = start_gunicorn("backend:create_app()", self.port, self.env, "qb_bench_rate_limit_gunicorn.log")
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(20)


async def load(base: str, key: str, clients: int, seconds: float, warmup: float = 1.5) -> tuple[float, dict]:
    """Requests per second over `seconds` after a warm-up, with `clients` connections each sending in a loop."""
    body = json.dumps(EVENT).encode()
    headers = {"Content-Type": "application/json", "X-API-Key": key}
    statuses: dict[int, int] = {}
    measured = 0
    connector = aiohttp.TCPConnector(limit=clients)
    start = time.perf_counter()
    measure_from, measure_until = start + warmup, start + warmup + seconds
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client():
            nonlocal measured
            while (now := time.perf_counter()) < measure_until:
                async with session.post(f"{base}/v1/external/events", data=body, headers=headers) as response:
                    await response.read()
                done = time.perf_counter()
                if measure_from <= now and done <= measure_until:
                    measured += 1
                    statuses[response.status] = statuses.get(response.status, 0) + 1

        await asyncio.gather(*(client() for _ in range(clients)))
    return measured / seconds, statuses


async def burst(base: str, key: str, clients: int, total: int) -> dict:
    """`total` requests from `clients` concurrent connections, released together."""
    body = json.dumps(EVENT).encode()
    headers = {"Content-Type": "application/json", "X-API-Key": key}
    statuses: dict[int, int] = {}
    remaining = total
    go = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client():
            nonlocal remaining
            await go.wait()
            while remaining > 0:
                remaining -= 1
                async with session.post(f"{base}/v1/external/events", data=body, headers=headers) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1

        tasks = [asyncio.create_task(client()) for _ in range(clients)]
        await asyncio.sleep(0.1)
        go.set()
        await asyncio.gather(*tasks)
    return statuses


def counters(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select coalesce(sum(requests), 0), coalesce(sum(rate_limited), 0) from public.api_key_usage"
        )
        return tuple(int(v) for v in row.fetchone())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per round")
    parser.add_argument("--clients", type=int, default=32, help="concurrent connections in the throughput rounds")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per mode, alternating off/on")
    parser.add_argument("--limit", type=int, default=500, help="L, the daily limit of the exactness run")
    args = parser.parse_args()

    url = fresh_database(DATABASE)
    key = seed_key(url)
    unlimited = json.dumps({"starter": {"per_day": UNLIMITED, "per_minute": UNLIMITED}})
    rates: dict[str, list[float]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory(prefix="qb-bench-") as data_dir:
        for _ in range(args.rounds):
            for mode in ("off", "on"):
                reset(url)
                enabled = "true" if mode == "on" else "false"
                with Gunicorn(url, data_dir, API_KEYS_RATE_LIMIT_ENABLED=enabled, API_KEY_TIERS=unlimited) as server:
                    rate, statuses = asyncio.run(load(server.base, key, args.clients, args.seconds))
                if set(statuses) != {202}:
                    raise SystemExit(f"limiter {mode}: unexpected answers {statuses}")
                rates[mode].append(rate)
                print(f"  limiter {mode:3}: {rate:7.0f} req/s", flush=True)
        off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
        print(
            f"POST /v1/external/events, {args.clients} clients, median of {args.rounds} rounds: "
            f"limiter off {off:.0f} req/s, on {on:.0f} req/s, ratio {on / off:.2f}  (goal >= 0.6)"
        )

        reset(url)
        tiers = json.dumps({"starter": {"per_day": args.limit, "per_minute": UNLIMITED}})
        total = 2 * args.limit
        with Gunicorn(url, data_dir, API_KEY_TIERS=tiers) as server:
            statuses = asyncio.run(burst(server.base, key, 64, total))
        admitted, refused = counters(url)
        other = sum(count for status, count in statuses.items() if status not in (202, 429))
        exact = statuses.get(202, 0) == admitted == args.limit and statuses.get(429, 0) == refused == total - args.limit
        print(
            f"64 clients, {total} requests, limit L={args.limit}: {statuses.get(202, 0)} admitted (202), "
            f"{statuses.get(429, 0)} refused (429), {other} other; "
            f"counters: {admitted} requests, {refused} rate-limit hits  -> {'exact' if exact else 'NOT EXACT'}"
        )


if __name__ == "__main__":
    main()
