"""OAuth under the production gunicorn config: client-credentials token issuance and a protected
API call, each against a hello-world endpoint served by the same gunicorn, in the same run.

    .venv/bin/python bench/oauth.py [--requests 4000] [--concurrency 16] [--rounds 3]

Each round sends --requests of each, from one aiohttp client process at --concurrency in flight:
GET /bench/hello; POST /api/oauth/token grant_type=client_credentials with client_secret_basic
(client lookup, failure-throttle check, secret hash compare, an ES256 JWT signed, its jti row
inserted); GET /api/v1/me and GET /api/v1/quests with a token (JWT verified, jti looked up, then
the query run as the token's principal under RLS). Prints per round and the medians: requests/s,
ratio to hello (goals: tokens >= 0.25 x hello, protected call >= 0.4 x hello), p50/p99, errors,
and the CPU each request costs the gunicorn workers and Postgres together: on a machine shared
with other work the request rates swing with the load, the CPU per request much less. The
endpoints take turns in interleaved slices so that each meets the same load.

Uses DATABASE_URL's server when set, else the embedded one; works in its own throwaway database.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import signal
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from backend.db import Database
from backend.services import learning
from backend.services.oauth import clients
from backend.services.shared.audit import RequestInfo
from bench.cpu import CpuMeter
from bench.harness import admin_url, free_port, fresh_database, start_gunicorn

DATABASE = "qb_bench_oauth"


def seed(db: Database) -> dict:
    """An organization with ten quests and a confidential client allowed client_credentials."""
    admin_id, org_id = uuid.uuid4(), uuid.uuid4()
    with db.transaction("service_role") as conn:
        conn.execute("insert into auth.users (id, email) values (%s, 'bench-admin@example.org')", (admin_id,))
        conn.execute(
            "insert into public.organizations (id, name, created_by) values (%s, 'Bench Academy', %s)",
            (org_id, admin_id),
        )
    claims = {"sub": str(admin_id), "role": "authenticated", "aud": "authenticated"}
    with db.transaction("authenticated", claims) as conn:
        for i in range(10):
            quest = learning.create_quest(conn, admin_id, org_id, f"Quest {i}", "A quest to list.")
            learning.create_task(conn, quest["id"], "Task", "craft", 10)
        client = clients.create_client(
            conn,
            user_id=admin_id,
            organization_id=org_id,
            data={
                "name": "Bench LMS",
                "redirect_uris": ["https://lms.example.edu/callback"],
                "scopes": ["read:profile", "read:quests"],
                "grant_types": ["client_credentials"],
                "client_type": "confidential",
                "pkce_required": True,
            },
            origin=RequestInfo(),
        )
    return client


async def _fetch(method: str, url: str, **kwargs) -> dict:
    async with aiohttp.ClientSession() as session, session.request(method, url, **kwargs) as response:
        return await response.json()


async def load(method: str, url: str, count: int, concurrency: int, expect: int, **kwargs) -> dict:
    latencies: list[float] = []
    errors = 0
    remaining = count
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker():
            nonlocal errors, remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                try:
                    async with session.request(method, url, **kwargs) as response:
                        await response.read()
                        if response.status != expect:
                            errors += 1
                except aiohttp.ClientError:
                    errors += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"count": count, "elapsed": elapsed, "errors": errors, "latencies": latencies}


def measure(endpoints: dict, meter: CpuMeter, requests: int, concurrency: int, slices: int) -> dict:
    """Every endpoint in turn, in `slices` interleaved slices, so each meets the same machine load."""
    totals = {
        name: {"count": 0, "elapsed": 0.0, "errors": 0, "latencies": [], "cpu": 0.0, "app_cpu": 0.0}
        for name in endpoints
    }
    for _ in range(slices):
        for name, (method, url, expect, kwargs) in endpoints.items():
            before = meter.snapshot()
            result = asyncio.run(load(method, url, requests // slices, concurrency, expect, **kwargs))
            after = meter.snapshot()
            totals[name]["cpu"] += CpuMeter.spent(before, after)
            totals[name]["app_cpu"] += CpuMeter.spent(before, after, "app")
            for key in ("count", "elapsed", "errors"):
                totals[name][key] += result[key]
            totals[name]["latencies"] += result["latencies"]
    summary = {}
    for name, total in totals.items():
        latencies = sorted(total["latencies"])
        summary[name] = {
            "rate": total["count"] / total["elapsed"],
            "cpu_ms": total["cpu"] / total["count"] * 1000,
            "app_cpu_ms": total["app_cpu"] / total["count"] * 1000,
            "errors": total["errors"],
            "p50": latencies[len(latencies) // 2] * 1000,
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slices", type=int, default=5)
    args = parser.parse_args()

    admin = admin_url()
    url = fresh_database(DATABASE, admin)
    db = Database(url, min_size=1, max_size=2)
    client = seed(db)
    db.close()
    port = free_port()
    server = start_gunicorn(
        "bench.oauth_app:app",
        port,
        {"DATABASE_URL": url, "PUBLIC_URL": f"http://127.0.0.1:{port}"},
        "qb_bench_oauth_gunicorn.log",
    )
    meter = CpuMeter(server, admin, DATABASE)
    base = f"http://127.0.0.1:{port}"
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    token_request = {
        "data": {"grant_type": "client_credentials"},
        "headers": {"Authorization": f"Basic {basic}"},
    }
    endpoints = {
        "hello": ("GET", f"{base}/bench/hello", 200, {}),
        "token": ("POST", f"{base}/api/oauth/token", 200, token_request),
    }
    results: list[dict] = []
    try:
        token = asyncio.run(_fetch("POST", f"{base}/api/oauth/token", **token_request))["access_token"]
        bearer = {"headers": {"Authorization": f"Bearer {token}"}}
        endpoints["me"] = ("GET", f"{base}/api/v1/me", 200, bearer)
        endpoints["quests"] = ("GET", f"{base}/api/v1/quests", 200, bearer)
        for method, endpoint, expect, kwargs in endpoints.values():  # warm every worker and connection
            asyncio.run(load(method, endpoint, 400, args.concurrency, expect, **kwargs))
        for round_no in range(1, args.rounds + 1):
            measured = measure(endpoints, meter, args.requests, args.concurrency, args.slices)
            results.append(measured)
            hello = measured["hello"]
            print(
                f"round {round_no}: "
                + "  ".join(
                    f"{name} {m['rate']:5.0f}/s x{m['rate'] / hello['rate']:.2f}"
                    f" cpu {m['cpu_ms']:.2f} ms (app {m['app_cpu_ms']:.2f}) x{hello['cpu_ms'] / m['cpu_ms']:.2f}"
                    f" p99 {m['p99']:4.0f} ms err {m['errors']}"
                    for name, m in measured.items()
                ),
                flush=True,
            )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)

    def median(name: str, key: str = "rate") -> float:
        return statistics.median(r[name][key] for r in results)

    def ratio(name: str) -> float:
        return statistics.median(r[name]["rate"] / r["hello"]["rate"] for r in results)

    def cpu_ratio(name: str) -> float:
        return statistics.median(r["hello"]["cpu_ms"] / r[name]["cpu_ms"] for r in results)

    errors = sum(m["errors"] for r in results for m in r.values())
    print(f"median of {len(results)} rounds (requests/s, ratio to hello; CPU per request, hello's CPU / its CPU):")
    print(f"  hello                   {median('hello'):6.0f}/s         cpu {median('hello', 'cpu_ms'):.2f} ms")
    for name, label, goal in (
        ("token", "token (client creds)", 0.25),
        ("me", "GET /api/v1/me", 0.4),
        ("quests", "GET /api/v1/quests", 0.4),
    ):
        print(
            f"  {label:22}  {median(name):6.0f}/s x{ratio(name):.2f}  cpu {median(name, 'cpu_ms'):.2f} ms "
            f"x{cpu_ratio(name):.2f}  p50 {median(name, 'p50'):.1f} ms p99 {median(name, 'p99'):.1f} ms"
            f"  (goal >= {goal} x hello)"
        )
    print(f"  errors {errors} (goal 0)")


if __name__ == "__main__":
    main()
