"""Autograder webhook receipt under the production gunicorn config, against a hello-world endpoint
served by the same gunicorn, in the same run.

    .venv/bin/python bench/inbound.py [--requests 6000] [--concurrency 16] [--rounds 3] [--organization-secret]

Each round posts --requests distinct, validly signed grades to POST /api/webhooks/autograder/
(rate limit, HMAC check, validation, freshness, one durable insert with its audit entries and
NOTIFY, 202) and as many POSTs of the same bodies to /bench/hello, from one aiohttp client process
at --concurrency in flight, alternating the two every --chunk requests. Prints per round and the
medians: requests/s of each, the ratio (goal >= 0.35 x hello), errors (goal 0) and the grade
posts' p50/p99 latency (goal p99 <= 100 ms).
Then drains the accepted grades with the inbox processor for a few seconds and prints its rate.
With --organization-secret the grades are signed with the organization's own secret instead of
the platform's: no platform secret matches, so receipt looks the organization's secret up too.

Uses DATABASE_URL's server when set, else the embedded one; works in its own throwaway database.
The in-process scheduler is off: production runs it in the worker process (Procfile).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import signal
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from backend.config import Config
from backend.db import Database
from backend.services.inbound import autograder, autograder_secrets, processor
from backend.services.inbound.handlers import Handlers
from backend.services.shared.secretbox import SecretBox
from bench.cpu import CpuMeter
from bench.harness import SECRET_KEY, admin_url, free_port, fresh_database, start_gunicorn

DATABASE = "qb_bench_inbound"
SECRET = "bench-autograder-secret"  # noqa: S105 (a throwaway key for a throwaway database)
ORGANIZATION_SECRET = "agsec_bench-organization-secret"  # noqa: S105 (likewise)


def seed_organization_secret(db: Database, secret: str) -> None:
    """The bench organization's own autograder secret, encrypted as the app under test will read it."""
    with db.transaction("service_role") as conn:
        conn.execute(
            "insert into public.autograder_secrets (organization_id, secret_encrypted)"
            " select id, %s from public.organizations",
            (SecretBox(SECRET_KEY).encrypt(secret, autograder_secrets.SECRET_PURPOSE),),
        )


def seed_submissions(db: Database, count: int) -> list[str]:
    with db.transaction("service_role") as conn:
        user = conn.execute("insert into auth.users (email) values ('learner@bench.test') returning id").fetchone()[
            "id"
        ]
        org = conn.execute(
            "insert into public.organizations (name, created_by) values ('Bench', %s) returning id", (user,)
        ).fetchone()["id"]
        quest = conn.execute(
            "insert into public.quests (organization_id, title) values (%s, 'Q') returning id", (org,)
        ).fetchone()["id"]
        task = conn.execute(
            "insert into public.tasks (quest_id, organization_id, title, pillar, xp) values (%s, %s, 'T', 'p', 1)"
            " returning id",
            (quest, org),
        ).fetchone()["id"]
        rows = conn.execute(
            "insert into public.submissions (task_id, organization_id, user_id, content)"
            " select %s, %s, %s, 'work' from generate_series(1, %s) returning id",
            (task, org, user, count),
        ).fetchall()
    return [str(r["id"]) for r in rows]


def signed_grades(submissions: list[str], count: int, round_no: int, secret: str = SECRET) -> list[tuple[bytes, dict]]:
    """count distinct bodies, spread over the submissions, each with its HMAC header."""
    now = time.time()
    requests = []
    for n in range(count):
        body = json.dumps(
            {
                "submission_id": submissions[n % len(submissions)],
                "score": n % 11,
                "max_score": 10,
                "feedback": f"round {round_no} grade {n} {uuid.uuid4().hex}",
                "timestamp": round(now + n / 1_000_000, 6),
            }
        ).encode()
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        requests.append((body, {"Content-Type": "application/json", "X-Autograder-Signature": signature}))
    return requests


async def load(url: str, requests: list[tuple[bytes, dict]], concurrency: int, expect: int) -> dict:
    """POST every request, `concurrency` in flight; the elapsed time, errors and each latency."""
    latencies: list[float] = []
    errors = 0
    queue = iter(requests)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker():
            nonlocal errors
            for body, headers in queue:
                started = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        if response.status != expect:
                            errors += 1
                except aiohttp.ClientError:
                    errors += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"count": len(requests), "elapsed": elapsed, "errors": errors, "latencies": latencies}


def interleaved(base: str, grades: list, concurrency: int, chunk: int, meter: CpuMeter) -> tuple[dict, dict]:
    """hello and autograder in alternating chunks, so both see the same load from the rest of the
    machine (other processes come and go; one long run of each would compare different moments)."""
    runs = {"hello": [], "autograder": []}
    for start in range(0, len(grades), chunk):
        part = grades[start : start + chunk]
        for name, path, expect in (("hello", "/bench/hello", 200), ("autograder", "/api/webhooks/autograder/", 202)):
            before = meter.snapshot()
            result = asyncio.run(load(f"{base}{path}", part, concurrency, expect))
            after = meter.snapshot()
            result["cpu"] = CpuMeter.spent(before, after)
            result["app_cpu"] = CpuMeter.spent(before, after, "app")
            runs[name].append(result)
    return summary(runs["hello"]), summary(runs["autograder"])


def summary(parts: list[dict]) -> dict:
    latencies = sorted(x for part in parts for x in part["latencies"])
    count = sum(p["count"] for p in parts)
    return {
        "rate": count / sum(p["elapsed"] for p in parts),
        "cpu_ms": sum(p["cpu"] for p in parts) / count * 1000,
        "app_cpu_ms": sum(p["app_cpu"] for p in parts) / count * 1000,
        "errors": sum(p["errors"] for p in parts),
        "p50": latencies[len(latencies) // 2] * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--chunk", type=int, default=1000, help="requests per alternation of hello and autograder")
    parser.add_argument(
        "--organization-secret", action="store_true", help="sign with the organization's own secret, not the platform's"
    )
    args = parser.parse_args()
    secret = ORGANIZATION_SECRET if args.organization_secret else SECRET

    admin = admin_url()
    url = fresh_database(DATABASE, admin)
    db = Database(url, min_size=1, max_size=2)
    submissions = seed_submissions(db, args.submissions)
    if args.organization_secret:
        seed_organization_secret(db, ORGANIZATION_SECRET)
    port = free_port()
    server = start_gunicorn(
        "bench.inbound_app:app",
        port,
        {
            "DATABASE_URL": url,
            "AUTOGRADER_WEBHOOK_SECRETS": SECRET,
            # The limit is counted (that cost is measured) but set high enough for one client's benchmark.
            "INBOUND_RATE_LIMIT_PER_HOUR": str(10**9),
        },
        "qb_bench_inbound_gunicorn.log",
    )
    meter = CpuMeter(server, admin, DATABASE)
    base = f"http://127.0.0.1:{port}"
    results = []
    try:
        warm = signed_grades(submissions, 500, 0, secret)
        interleaved(base, warm, args.concurrency, len(warm), meter)
        for round_no in range(1, args.rounds + 1):
            grades = signed_grades(submissions, args.requests, round_no, secret)
            hello, posted = interleaved(base, grades, args.concurrency, args.chunk, meter)
            results.append((hello, posted))
            print(
                f"round {round_no}: hello {hello['rate']:7.0f}/s (p99 {hello['p99']:5.1f} ms, errors {hello['errors']})"
                f"   autograder {posted['rate']:7.0f}/s (p50 {posted['p50']:5.1f} ms, p99 {posted['p99']:5.1f} ms,"
                f" errors {posted['errors']})   ratio {posted['rate'] / hello['rate']:.2f}"
                f"   cpu/request hello {hello['cpu_ms']:.2f} ms (app {hello['app_cpu_ms']:.2f}),"
                f" autograder {posted['cpu_ms']:.2f} ms (app {posted['app_cpu_ms']:.2f}),"
                f" x{hello['cpu_ms'] / posted['cpu_ms']:.2f}",
                flush=True,
            )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)

    hello_rate = statistics.median(h["rate"] for h, _ in results)
    grade_rate = statistics.median(p["rate"] for _, p in results)
    ratio = statistics.median(p["rate"] / h["rate"] for h, p in results)
    p99 = statistics.median(p["p99"] for _, p in results)
    errors = sum(p["errors"] + h["errors"] for h, p in results)
    cpu_ratio = statistics.median(h["cpu_ms"] / p["cpu_ms"] for h, p in results)
    hello_cpu = statistics.median(h["cpu_ms"] for h, _ in results)
    grade_cpu = statistics.median(p["cpu_ms"] for _, p in results)
    print(
        f"median of {len(results)}: hello {hello_rate:.0f}/s, autograder {grade_rate:.0f}/s, "
        f"ratio {ratio:.2f} (goal >= 0.35), p99 {p99:.1f} ms (goal <= 100), errors {errors} (goal 0); "
        f"CPU per request (gunicorn + Postgres) hello {hello_cpu:.2f} ms, autograder {grade_cpu:.2f} ms,"
        f" hello's / autograder's x{cpu_ratio:.2f}"
    )

    settings = processor.InboxSettings.from_config(Config())
    handlers = Handlers({(autograder.SOURCE, autograder.EVENT_TYPE): autograder.apply_grade})
    started = time.perf_counter()
    counts = processor.run_pass(db, settings, handlers, time_budget=5.0)
    elapsed = time.perf_counter() - started
    print(f"inbox processor (one process, for 5 s): {counts['processed'] / elapsed:.0f} grades applied/s ({counts})")
    db.close()


if __name__ == "__main__":
    main()
