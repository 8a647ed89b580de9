"""The delivery engine: claims due deliveries with a lease, POSTs them, writes outcomes in batches.

One engine serves the APScheduler sweep, the standalone worker and the cron endpoint (`run_pass`,
`run_due_work`); claims are short transactions and no transaction is open during HTTP.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
import psycopg
import structlog
import yarl
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from backend import metrics
from backend.db import check_idle_async_connection, queries_beside
from backend.services.inbound import processor
from backend.services.shared.secretbox import SecretBox
from backend.services.shared.workers import worker_name
from backend.services.webhooks import http, signing, ssrf
from backend.services.webhooks.dispatcher import Dispatcher
from backend.services.webhooks.events import NOTIFY_CHANNEL
from backend.services.webhooks.retry import Attempt, Outcome, decide
from backend.services.webhooks.settings import EngineSettings
from backend.services.webhooks.subscriptions import active_secrets

SQL = queries_beside(__file__)
log = structlog.get_logger(__name__)

CACHE_LIMIT = 10_000  # entries of a per-engine memo before it starts over


@dataclass
class PassStats:
    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    outcomes: list = field(default_factory=list, repr=False)

    def add(self, outcome: Outcome) -> None:
        setattr(self, outcome.status, getattr(self, outcome.status) + 1)

    def as_dict(self) -> dict:
        return {"claimed": self.claimed, "delivered": self.delivered, "retrying": self.retrying, "dead": self.dead}


def _outcome_row(outcome: Outcome) -> list:
    """One outcome as record_outcomes reads it."""
    attempt, retry_at = outcome.attempt, outcome.next_attempt_at
    return [
        str(outcome.claim["id"]),
        outcome.status,
        retry_at.isoformat() if retry_at is not None else None,
        attempt.status_code,
        attempt.error,
        attempt.started_at.isoformat(),
        attempt.duration_ms,
        attempt.response_body,
    ]


async def _configure(conn: psycopg.AsyncConnection) -> None:
    """The engine's own connections run as service_role for their whole session, so that a claim
    is one statement in one round trip (no transaction around a role setting). No bitmap scans:
    with a backlog the planner, misjudging how many rows are due, would fetch every due row by
    bitmap and sort them all for each batch; in index order a claim reads one batch."""
    await conn.execute("set role service_role")
    await conn.execute("set enable_bitmapscan = off")


class DeliveryEngine:
    """Use as `async with DeliveryEngine(...) as engine:` then `run_once()` or `run_forever()`."""

    def __init__(
        self,
        conninfo: str,
        box: SecretBox,
        policy: ssrf.TargetPolicy,
        settings: EngineSettings | None = None,
        worker_id: str | None = None,
    ):
        self.conninfo = conninfo
        self.box = box
        self.policy = policy
        self.settings = settings or EngineSettings()
        self.worker_id = worker_id or worker_name()
        self.pool: AsyncConnectionPool | None = None
        self.session: aiohttp.ClientSession | None = None
        self.wake = asyncio.Event()  # set by NOTIFY, senders and claims: the claiming loop looks again
        self._secret_cache: dict[tuple, list[str]] = {}
        self._targets: dict[str, yarl.URL] = {}
        self.totals = PassStats()  # everything this engine has recorded, for metrics and benchmarks

    async def __aenter__(self) -> DeliveryEngine:
        self.pool = AsyncConnectionPool(
            self.conninfo,
            min_size=1,
            max_size=4,
            kwargs={"autocommit": True, "row_factory": dict_row},
            configure=_configure,
            open=False,
            name="questbridge-delivery",
            # After a Postgres restart, a dead pooled connection would fail a claim or, worse, the
            # write of outcomes already sent (resent once their leases expire): replace it at checkout.
            check=check_idle_async_connection,
        )
        await self.pool.open()
        self.session = http.open_session(self.settings, self.policy)
        return self

    async def __aexit__(self, *exc) -> None:
        if self.session is not None:
            await self.session.close()
        if self.pool is not None:
            await self.pool.close()

    # -- claims and outcomes -------------------------------------------------------------------

    async def claim(self, limit: int) -> list[dict]:
        """A claim: one statement, its own transaction, one round trip."""
        params = {"limit": limit, "lease_seconds": self.settings.lease_seconds, "worker": self.worker_id}
        async with self.pool.connection() as conn:
            cur = await conn.execute(SQL["claim"], params)
            return await cur.fetchall()

    async def release(self, claims: list[dict]) -> None:
        """Give back claims that were not sent (claimed ahead, then the engine stopped or they
        waited too long): due again at once, their attempt not counted."""
        if not claims:
            return
        async with self.pool.connection() as conn:
            await conn.execute(SQL["release"], {"ids": [c["id"] for c in claims], "worker": self.worker_id})

    async def record(self, outcomes: list[Outcome]) -> None:
        """Write a batch of outcomes and their consequences for subscriptions in one transaction."""
        if not outcomes:
            return
        params = {"worker": self.worker_id, "outcomes": json.dumps([_outcome_row(o) for o in outcomes])}
        healthy = list({o.claim["subscription_id"] for o in outcomes if o.status == "delivered"})
        failing = list({o.claim["subscription_id"] for o in outcomes if o.status != "delivered"})
        gone = list({o.claim["subscription_id"] for o in outcomes if o.attempt.status_code == 410})
        async with self.pool.connection() as conn, conn.pipeline(), conn.transaction():
            # The planner cannot know how many outcomes the JSON holds and would match them to the
            # leased rows by a nested loop: quadratic, seconds for a few thousand. Hash them.
            await conn.execute("set local enable_nestloop = off")
            await conn.execute(SQL["record_outcomes"], params)
            if healthy:
                await conn.execute(SQL["mark_subscriptions_healthy"], {"ids": healthy})
            if failing:
                await conn.execute(SQL["mark_subscriptions_failing"], {"ids": failing})
            disabled = []
            if gone:
                disabled += await self._disable(conn, gone, "the endpoint answered 410 Gone", None)
            if failing:
                days = self.settings.disable_after_failing_seconds / 86400
                disabled += await self._disable(
                    conn,
                    failing,
                    f"every delivery failed for {days:g} days",
                    self.settings.disable_after_failing_seconds,
                )
        now = datetime.now(UTC)
        counts = collections.Counter(outcome.status for outcome in outcomes)
        for outcome in outcomes:
            self.totals.add(outcome)
            if outcome.status == "delivered":
                metrics.EMIT_TO_DELIVERED.observe(max(0.0, (now - outcome.claim["emitted_at"]).total_seconds()))
        for status, count in counts.items():
            metrics.DELIVERIES.labels(status).inc(count)
        for row in disabled:
            log.warning("webhook_subscription_disabled", subscription_id=str(row["id"]), reason=row["reason"])

    async def _disable(self, conn, ids: list, reason: str, failing_for_seconds: int | None) -> list[dict]:
        cur = await conn.execute(
            SQL["disable_subscriptions"], {"ids": ids, "reason": reason, "failing_for_seconds": failing_for_seconds}
        )
        rows = await cur.fetchall()
        for row in rows:
            disabled = {
                "organization_id": row["organization_id"],
                "subscription_id": row["id"],
                "target_url": row["target_url"],
                "reason": reason,
            }
            await conn.execute(SQL["notify_admins_disabled"], disabled)
            await conn.execute(SQL["audit_disabled"], disabled)
            row["reason"] = reason
        return rows

    # -- HTTP ----------------------------------------------------------------------------------

    def _check_target(self, url: str) -> yarl.URL:
        """parse_target, memoized per URL with the parsed URL aiohttp is given: the policy is fixed
        for the engine's life and a refusal raises before anything is cached. Resolved addresses
        are still checked at every connect."""
        parsed = self._targets.get(url)
        if parsed is None:
            ssrf.parse_target(url, self.policy)
            parsed = yarl.URL(url)
            if len(self._targets) > CACHE_LIMIT:
                self._targets.clear()
            self._targets[url] = parsed
        return parsed

    def _secrets(self, claim: dict) -> list[str]:
        """active_secrets, memoized per stored ciphertext: a rotation changes the key of the cache."""
        key = (
            bytes(claim["secret_encrypted"]),
            bytes(claim["previous_secret_encrypted"] or b""),
            claim["previous_secret_expires_at"],
        )
        cached = self._secret_cache.get(key)
        expires = claim["previous_secret_expires_at"]
        if cached is None or (expires is not None and expires <= datetime.now(UTC) and len(cached) > 1):
            cached = active_secrets(self.box, claim, datetime.now(UTC))
            if len(self._secret_cache) > CACHE_LIMIT:
                self._secret_cache.clear()
            self._secret_cache[key] = cached
        return cached

    async def send(self, claim: dict) -> Attempt:
        started_at = datetime.now(UTC)
        t0 = time.perf_counter()
        attempt = Attempt(started_at=started_at, duration_ms=0)
        try:
            if not claim["active"]:
                attempt.error = "the subscription is disabled"
                attempt.final = True
                return attempt
            url = self._check_target(claim["target_url"])
            # jsonb's text form is deterministic, so every retry sends the same bytes.
            body = claim["body"].encode()
            headers = {
                "Content-Type": "application/json",
                "User-Agent": self.settings.user_agent,
                "X-Questbridge-Event": claim["event_type"],
                **signing.headers(self._secrets(claim), str(claim["id"]), body),
            }
            await http.post(self.session, url, body, headers, attempt)
        except ssrf.TargetRefused as exc:
            attempt.error = f"refused: {exc}"
        except Exception as exc:  # one broken delivery must never stop the engine
            log.exception("delivery_send_failed", delivery_id=str(claim["id"]))
            attempt.error = f"internal error: {type(exc).__name__}"
        finally:
            attempt.duration_ms = int((time.perf_counter() - t0) * 1000)
        return attempt

    async def deliver(self, claim: dict) -> Outcome:
        """Send one claim and decide what becomes of it (the outcome is not written yet)."""
        attempt = await self.send(claim)
        return decide(claim, attempt, self.settings)

    # -- entry points --------------------------------------------------------------------------

    async def run_once(self, time_budget: float = 25.0) -> PassStats:
        """Deliver everything due now (new and retries), batch by batch, within the time budget."""
        stats = PassStats()
        deadline = time.monotonic() + time_budget
        limit = min(self.settings.batch_size, self.settings.concurrency)
        while time.monotonic() < deadline:
            claims = await self.claim(limit)
            if not claims:
                break
            stats.claimed += len(claims)
            outcomes = await asyncio.gather(*(self.deliver(c) for c in claims))
            await self.record(list(outcomes))
            for outcome in outcomes:
                stats.add(outcome)
        return stats

    def hold_seconds(self) -> float:
        """How long a delivery claimed ahead may wait for a free slot: its send (at most the total
        timeout) must still end well inside its lease, or another engine could take it over and
        send it twice. Zero means nothing is claimed ahead."""
        return max(0.0, self.settings.lease_seconds - self.settings.total_timeout - 10.0)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Keep up to `concurrency` deliveries in flight until `stop` is set; woken by NOTIFY,
        polling as a fallback (see `Dispatcher` for the claims ahead)."""
        await Dispatcher(self, stop).run()

    async def listen(self, stop: asyncio.Event) -> None:
        """LISTEN for new deliveries and wake the claiming loop; reconnects after a lost connection."""
        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
                    await conn.execute(f"listen {NOTIFY_CHANNEL}")
                    async for _ in conn.notifies():
                        self.wake.set()
            except (psycopg.Error, OSError):
                log.warning("delivery_listen_lost", exc_info=True)
                await asyncio.sleep(self.settings.poll_seconds)


def engine_for(runtime, **overrides) -> DeliveryEngine:
    """An engine configured from the app's runtime (config, secret box, target policy)."""
    settings = EngineSettings.from_config(runtime.config, **overrides)
    return DeliveryEngine(runtime.db.conninfo, runtime.secretbox, runtime.target_policy, settings)


def _run_to_completion(make_coroutine):
    """asyncio.run, also from a thread whose event loop is already running (then in a fresh thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coroutine())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, make_coroutine()).result()


def run_pass(runtime, time_budget: float = 25.0) -> PassStats:
    """One synchronous engine pass (cron endpoint, APScheduler sweep)."""

    async def _run() -> PassStats:
        async with engine_for(runtime) as engine:
            return await engine.run_once(time_budget)

    return _run_to_completion(_run)


def run_due_work(runtime) -> dict:
    """The cron pass and the worker's --once: the inbox first, because the grades it applies emit
    submission.graded, which the delivery pass then sends. The counts of both."""
    inbound = processor.run_pass(
        runtime.db, processor.InboxSettings.from_config(runtime.config), runtime.inbox_handlers
    )
    return run_pass(runtime).as_dict() | {"inbound": inbound}
