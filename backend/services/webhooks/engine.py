"""The delivery engine: claims due deliveries with a lease, POSTs them with aiohttp, writes outcomes.

One engine serves three entry points (the APScheduler sweep in the web process, the standalone
worker, the cron endpoint). Claims are short transactions; no transaction is open during HTTP;
outcomes are written back in batches. Any number of engines may run against one database.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import gc
import json
import os
import random
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import aiohttp
import psycopg
import structlog
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from backend import metrics
from backend.config import Config
from backend.db import check_idle_async_connection, queries_beside
from backend.services.shared.secretbox import SecretBox
from backend.services.webhooks import signing, ssrf
from backend.services.webhooks.events import NOTIFY_CHANNEL
from backend.services.webhooks.subscriptions import TEST_EVENT, active_secrets
from backend.version import __version__

SQL = queries_beside(__file__)
log = structlog.get_logger(__name__)

RESPONSE_BODY_LIMIT = 4096
RECORD_BATCH = 1000  # outcomes written per statement


@dataclass(frozen=True)
class EngineSettings:
    backoff_seconds: tuple = (60, 120, 240, 480, 960)
    max_attempts: int = 5
    concurrency: int = 256
    batch_size: int = 200
    lease_seconds: int = 60
    poll_seconds: float = 1.0
    connect_timeout: float = 5.0
    total_timeout: float = 15.0
    retry_after_cap_seconds: int = 3600
    disable_after_failing_seconds: int = 5 * 86400
    jitter: float = 0.2
    user_agent: str = "Questbridge-Webhooks/0.1.0"

    @classmethod
    def from_config(cls, config: Config) -> EngineSettings:

        return cls(
            backoff_seconds=tuple(config.webhooks_backoff_seconds),
            max_attempts=config.webhooks_max_attempts,
            concurrency=config.webhooks_concurrency,
            batch_size=config.webhooks_batch_size,
            lease_seconds=config.webhooks_lease_seconds,
            poll_seconds=config.webhooks_poll_seconds,
            connect_timeout=config.webhooks_connect_timeout,
            total_timeout=config.webhooks_total_timeout,
            retry_after_cap_seconds=config.webhooks_retry_after_cap_seconds,
            disable_after_failing_seconds=config.webhooks_disable_after_failing_seconds,
            user_agent=f"Questbridge-Webhooks/{__version__}",
        )


@dataclass
class Attempt:
    """The result of one HTTP attempt."""

    started_at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None
    response_body: str | None = None
    retry_after: float | None = None
    final: bool = False  # no retry can help (the subscription is disabled)

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class Outcome:
    claim: dict
    attempt: Attempt
    status: str  # delivered | retrying | dead
    next_attempt_at: datetime | None = None


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


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def decide(claim: dict, attempt: Attempt, settings: EngineSettings, now: datetime | None = None) -> Outcome:
    """The retry policy: what becomes of a delivery after this attempt."""
    now = now or datetime.now(UTC)
    if attempt.succeeded:
        return Outcome(claim, attempt, "delivered")
    # A test event is tried once: its sender is looking at the answer and sends another when the
    # endpoint is fixed, and retries would pile failed tests up for a receiver already in trouble.
    if (
        attempt.final
        or attempt.status_code == 410
        or claim["attempts"] >= settings.max_attempts
        or claim["event_type"] == TEST_EVENT
    ):
        return Outcome(claim, attempt, "dead")
    schedule = settings.backoff_seconds
    delay = schedule[min(claim["attempts"] - 1, len(schedule) - 1)]
    delay *= 1 + random.uniform(-settings.jitter, settings.jitter)  # noqa: S311 (jitter, not crypto)
    if attempt.status_code in (429, 503) and attempt.retry_after is not None:
        delay = max(delay, min(attempt.retry_after, settings.retry_after_cap_seconds))
    return Outcome(claim, attempt, "retrying", now + timedelta(seconds=max(0.0, delay)))


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


class RefusedAddress(OSError):
    """The target resolved to an address webhooks may not reach."""


class PinnedResolver(AbstractResolver):
    """Resolves and checks in one step, so the connection goes to the address that was checked."""

    def __init__(self, policy: ssrf.TargetPolicy):
        self.policy = policy

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET):
        target = ssrf.Target(url="", scheme="", host=host.lower(), port=port, literal=ssrf.ip_literal(host))
        loop = asyncio.get_running_loop()
        try:
            addresses = await loop.run_in_executor(None, ssrf.resolve, target, self.policy)
        except ssrf.TargetRefused as exc:
            raise RefusedAddress(f"refused: {exc}") from None
        results: list[ResolveResult] = []
        for address in addresses:
            results.append(
                ResolveResult(
                    hostname=host,
                    host=str(address),
                    port=port,
                    family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                    proto=0,
                    flags=socket.AI_NUMERICHOST,
                )
            )
        return results

    async def close(self) -> None:
        return None


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
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.pool: AsyncConnectionPool | None = None
        self.session: aiohttp.ClientSession | None = None
        self._wake = asyncio.Event()
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
        connector = aiohttp.TCPConnector(
            limit=self.settings.concurrency,
            resolver=PinnedResolver(self.policy),
            use_dns_cache=False,
            enable_cleanup_closed=True,
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=self.settings.total_timeout,
                connect=self.settings.connect_timeout,
            ),
            auto_decompress=False,
            skip_auto_headers=("Accept-Encoding",),
            # Receivers of different organizations may share a host: a cookie one of them set
            # must never travel with another's deliveries (or with anyone's, for that matter).
            cookie_jar=aiohttp.DummyCookieJar(),
        )
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
            await conn.execute(
                SQL["notify_admins_disabled"],
                {
                    "organization_id": row["organization_id"],
                    "subscription_id": row["id"],
                    "target_url": row["target_url"],
                    "reason": reason,
                },
            )
            await conn.execute(
                "select private.write_audit(%s, 'webhook_subscription.disabled', 'webhook_subscription', %s,"
                " jsonb_build_object('reason', %s::text), null, 'questbridge-delivery-engine')",
                (row["organization_id"], str(row["id"]), reason),
            )
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
            if len(self._targets) > 10_000:
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
            if len(self._secret_cache) > 10_000:
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
            async with self.session.post(
                url, data=aiohttp.BytesPayload(body), headers=headers, allow_redirects=False
            ) as response:
                attempt.status_code = response.status
                raw = await response.content.read(RESPONSE_BODY_LIMIT)
                attempt.response_body = raw.decode("utf-8", errors="replace").replace("\x00", "")
                attempt.retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if 300 <= response.status < 400:
                    location = response.headers.get("Location", "")
                    attempt.error = (
                        f"redirect to {location[:200]} not followed" if location else "redirect not followed"
                    )
                elif not attempt.succeeded:
                    attempt.error = f"HTTP {response.status}"
        except ssrf.TargetRefused as exc:
            attempt.error = f"refused: {exc}"
        except TimeoutError:
            attempt.error = (
                f"timed out (connect {self.settings.connect_timeout:g}s, total {self.settings.total_timeout:g}s)"
            )
        except aiohttp.ClientConnectorError as exc:
            cause = exc.os_error
            attempt.error = str(cause) if isinstance(cause, RefusedAddress) else f"connection failed: {cause}"
        except aiohttp.ClientError as exc:
            attempt.error = f"{type(exc).__name__}: {exc}"[:500]
        except Exception as exc:  # one broken delivery must never stop the engine
            log.exception("delivery_send_failed", delivery_id=str(claim["id"]))
            attempt.error = f"internal error: {type(exc).__name__}"
        finally:
            attempt.duration_ms = int((time.perf_counter() - t0) * 1000)
        return attempt

    async def _deliver(self, claim: dict) -> Outcome:
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
            outcomes = await asyncio.gather(*(self._deliver(c) for c in claims))
            await self.record(list(outcomes))
            for outcome in outcomes:
                stats.add(outcome)
        return stats

    def _hold_seconds(self) -> float:
        """How long a delivery claimed ahead may wait for a free slot: its send (at most the total
        timeout) must still end well inside its lease, or another engine could take it over and
        send it twice. Zero means nothing is claimed ahead."""
        return max(0.0, self.settings.lease_seconds - self.settings.total_timeout - 10.0)

    async def release(self, claims: list[dict]) -> None:
        """Give back claims that were not sent (claimed ahead, then the engine stopped or they
        waited too long): due again at once, their attempt not counted."""
        if not claims:
            return
        async with self.pool.connection() as conn:
            await conn.execute(SQL["release"], {"ids": [c["id"] for c in claims], "worker": self.worker_id})

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Keep up to `concurrency` deliveries in flight; woken by NOTIFY, polling as a fallback.

        `concurrency` senders take claims one after another. Up to one batch more is claimed
        ahead, and two claims may be on their way at once, so a sender that is done takes its next
        delivery at once instead of waiting for a claim's round trip; what is claimed ahead waits
        no longer than `_hold_seconds()` and is released, not sent, past that or when the engine
        stops. Outcomes are written in batches every 50 ms.
        """
        listener = asyncio.create_task(self._listen(stop))
        stop_waker = asyncio.create_task(self._wake_on(stop))
        loop = asyncio.get_running_loop()
        ready: collections.deque[tuple[float, dict]] = collections.deque()  # (claimed at, claim)
        idle: collections.deque[asyncio.Future] = collections.deque()  # senders waiting for a claim
        claiming: dict[asyncio.Task, int] = {}  # claims on their way, and how many each asked for
        stale: list[dict] = []  # claims ahead that waited too long, to be given back
        pending: list[Outcome] = []
        flush_lock = asyncio.Lock()
        concurrency, batch = self.settings.concurrency, min(self.settings.batch_size, self.settings.concurrency)
        hold = self._hold_seconds()
        ahead = batch if hold > 0 else 0
        # Claim when a quarter of a batch is free, or anything at all once nothing is in flight,
        # so that a busy engine claims in batches and an idle one answers a NOTIFY at once.
        threshold = max(1, batch // 4)
        # sending: deliveries in flight; drained: the last claim found less than it asked for
        state = {"sending": 0, "drained": False, "retry_at": 0.0}

        def room() -> int:
            return concurrency + ahead - state["sending"] - len(ready) - sum(claiming.values())

        async def flush() -> None:
            """Write what is pending, RECORD_BATCH at a time, until nothing is or the database fails."""
            async with flush_lock:
                while pending:
                    outcomes, pending[:] = pending[:RECORD_BATCH], pending[RECORD_BATCH:]
                    try:
                        await self.record(outcomes)
                    except (psycopg.Error, OSError):
                        log.exception("delivery_record_failed", count=len(outcomes))
                        # Keep the outcomes and write them once the database is back, instead of
                        # resending every delivery that finished during the outage when its lease
                        # expires. Safe to repeat: record_outcomes only touches rows this engine
                        # still leases, so a row another engine has since taken over is skipped.
                        pending[:0] = outcomes
                        await asyncio.sleep(1)
                        return

        def set_aside_stale() -> None:
            """Move the claims ahead that waited too long (the oldest, at the front) to `stale`."""
            limit = time.monotonic() - hold
            while ahead and ready and ready[0][0] < limit:
                stale.append(ready.popleft()[1])
                self._wake.set()  # the main loop gives them back

        def take() -> dict | None:
            """The oldest claim still fresh enough to send."""
            set_aside_stale()
            return ready.popleft()[1] if ready else None

        def hand_out() -> None:
            while ready and idle:
                waiting = idle.popleft()
                if not waiting.done():
                    claim = take()
                    if claim is None:
                        idle.appendleft(waiting)
                        return
                    waiting.set_result(claim)

        async def sender() -> None:
            while not stop.is_set():
                claim = take()
                if claim is None:
                    waiting = loop.create_future()
                    idle.append(waiting)
                    claim = await waiting
                    if claim is None:  # stopping
                        return
                state["sending"] += 1
                try:
                    pending.append(await self._deliver(claim))
                except Exception:  # never expected (send catches everything); the lease resends it
                    log.exception("delivery_failed", delivery_id=str(claim["id"]))
                finally:
                    state["sending"] -= 1
                if room() >= threshold or not state["sending"]:
                    self._wake.set()

        def claimed(task: asyncio.Task) -> None:
            asked = claiming.pop(task)
            if task.cancelled():
                return
            if task.exception() is not None:
                log.warning("delivery_claim_failed", exc_info=task.exception())
                state["retry_at"] = time.monotonic() + self.settings.poll_seconds
                return
            claims = task.result()
            now = time.monotonic()
            ready.extend((now, claim) for claim in claims)
            state["drained"] = len(claims) < asked
            if not stop.is_set():
                hand_out()
            self._wake.set()

        def overdue() -> list[dict]:
            set_aside_stale()
            taken, stale[:] = stale[:], []
            return taken

        def may_claim(want: int) -> bool:
            if len(claiming) >= 2 or time.monotonic() < state["retry_at"] or want <= 0:
                return False
            if state["drained"]:  # nothing more was due: one claim at a time, when woken
                return not claiming
            return want >= threshold or (not state["sending"] and not ready and not claiming)

        senders = [asyncio.create_task(sender()) for _ in range(concurrency)]
        flusher = asyncio.create_task(self._flush_periodically(stop, flush, pending))
        try:
            while not stop.is_set():
                with contextlib.suppress(psycopg.Error, OSError):
                    await self.release(overdue())
                want = min(room(), batch)
                if may_claim(want):
                    task = asyncio.create_task(self.claim(want))
                    claiming[task] = want
                    task.add_done_callback(claimed)
                    if not state["drained"]:
                        continue  # a second claim may go out beside it
                self._wake.clear()
                timeout = self.settings.poll_seconds
                if ahead and ready:  # look again when the oldest claim ahead is due to go back
                    timeout = max(0.0, min(timeout, ready[0][0] + hold - time.monotonic()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=timeout)
                if not self._wake.is_set():  # the poll: look again even if the last claim found nothing
                    state["drained"] = False
        finally:
            if claiming:
                await asyncio.gather(*claiming, return_exceptions=True)
            unsent = stale + [claim for _, claim in ready]
            ready.clear()
            while idle:
                waiting = idle.popleft()
                if not waiting.done():
                    waiting.set_result(None)
            try:
                await self.release(unsent)
            except (psycopg.Error, OSError):  # their leases expire and they are claimed again
                log.warning("delivery_release_failed", count=len(unsent), exc_info=True)
            await asyncio.gather(*senders, return_exceptions=True)
            await flush()
            for task in (flusher, listener, stop_waker):
                task.cancel()
            await asyncio.gather(flusher, listener, stop_waker, return_exceptions=True)

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()

    async def _flush_periodically(self, stop: asyncio.Event, flush, pending: list) -> None:
        while not stop.is_set():
            await asyncio.sleep(0.05)
            if pending:
                await flush()

    async def _listen(self, stop: asyncio.Event) -> None:
        """LISTEN for new deliveries; reconnects after a lost connection."""
        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
                    await conn.execute(f"listen {NOTIFY_CHANNEL}")
                    async for _ in conn.notifies():
                        self._wake.set()
            except (psycopg.Error, OSError):
                log.warning("delivery_listen_lost", exc_info=True)
                await asyncio.sleep(self.settings.poll_seconds)


# A delivery in flight holds tens of container objects (its claim, request, response and
# outcome, aiohttp's protocol state). 100 per delivery puts the threshold above the working set:
# a 10,000-delivery drain at 256 in flight ran one collection instead of about 650.
GC_OBJECTS_PER_DELIVERY = 100


def prepare_garbage_collector(concurrency: int) -> None:
    """Keep the cyclic garbage collector out of the engine's way, for a process that delivers.

    1. gc.freeze() moves every object that exists now (modules, the app, its config) into a
       permanent generation: later garbage is still collected, the startup heap is never rescanned.
    2. The youngest generation is collected once allocations outnumber deallocations by its
       threshold (700 by default). The engine's working set, `concurrency` deliveries in flight
       and the claims ahead, is far more than that, and it is renewed continuously. So the
       default threshold collected hundreds of times per 10,000 deliveries and promoted live
       requests, and every few thousand deliveries a full collection walked them all. The
       threshold is raised above the working set, so collections are rare. Garbage that only
       the collector frees (reference cycles) is still collected, a threshold's worth at a time.

    bench/delivery.py measured each step: the freeze cut about a third of the engine's CPU per
    delivery, and the threshold a further 20 to 25 µs of collector time per delivery (about a tenth).
    """
    gc.collect()
    gc.freeze()
    youngest, middle, oldest = gc.get_threshold()
    gc.set_threshold(max(youngest, GC_OBJECTS_PER_DELIVERY * concurrency), middle, oldest)


def delete_old(conn: psycopg.Connection, days: int) -> int:
    """Retention: drop finished events (and their deliveries and attempts) older than `days`."""
    return conn.execute(SQL["delete_old"], {"days": days}).rowcount


def engine_for(runtime, **overrides) -> DeliveryEngine:
    """An engine configured from the app's runtime (config, secret box, target policy)."""
    settings = EngineSettings.from_config(runtime.config)
    if overrides:
        settings = EngineSettings(**{**settings.__dict__, **overrides})
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
