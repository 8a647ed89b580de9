"""The engine's continuous run: claims ahead, hands claims to a pool of senders, writes outcomes in batches."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from typing import TYPE_CHECKING

import psycopg
import structlog

from backend.services.webhooks.retry import Outcome

if TYPE_CHECKING:
    from backend.services.webhooks.engine import DeliveryEngine

log = structlog.get_logger(__name__)

RECORD_BATCH = 1000  # outcomes written per statement
FLUSH_SECONDS = 0.05  # how often the outcomes of finished sends are written
MAX_CLAIMS_ON_THE_WAY = 2


class Dispatcher:
    """One `run_forever` of an engine: `concurrency` senders take claims one after another.

    Up to one batch more is claimed ahead, and two claims may be on their way at once, so a sender
    that is done takes its next delivery at once instead of waiting for a claim's round trip; what
    is claimed ahead waits no longer than `engine.hold_seconds()` and is released, not sent, past
    that or when the engine stops. Outcomes are written in batches every 50 ms.
    """

    def __init__(self, engine: DeliveryEngine, stop: asyncio.Event):
        self.engine, self.stop = engine, stop
        settings = engine.settings
        self.concurrency = settings.concurrency
        self.batch = min(settings.batch_size, settings.concurrency)
        self.hold = engine.hold_seconds()
        self.ahead = self.batch if self.hold > 0 else 0
        # Claim when a quarter of a batch is free, or anything at all once nothing is in flight,
        # so that a busy engine claims in batches and an idle one answers a NOTIFY at once.
        self.threshold = max(1, self.batch // 4)
        self.ready: collections.deque[tuple[float, dict]] = collections.deque()  # (claimed at, claim)
        self.idle: collections.deque[asyncio.Future] = collections.deque()  # senders waiting for a claim
        self.claiming: dict[asyncio.Task, int] = {}  # claims on their way, and how many each asked for
        self.stale: list[dict] = []  # claims ahead that waited too long, to be given back
        self.pending: list[Outcome] = []  # outcomes not written yet
        self.flush_lock = asyncio.Lock()
        self.sending = 0  # deliveries in flight
        self.drained = False  # the last claim found less than it asked for
        self.retry_at = 0.0  # no claim before this (monotonic) time: the last one failed

    async def run(self) -> None:
        engine = self.engine
        helpers = [asyncio.create_task(engine.listen(self.stop)), asyncio.create_task(self.wake_on_stop())]
        senders = [asyncio.create_task(self.sender()) for _ in range(self.concurrency)]
        helpers.append(asyncio.create_task(self.flush_periodically()))
        try:
            while not self.stop.is_set():
                with contextlib.suppress(psycopg.Error, OSError):
                    await engine.release(self.overdue())
                want = min(self.room(), self.batch)
                if self.may_claim(want):
                    task = asyncio.create_task(engine.claim(want))
                    self.claiming[task] = want
                    task.add_done_callback(self.on_claimed)
                    if not self.drained:
                        continue  # a second claim may go out beside it
                await self.wait_for_wake_up()
        finally:
            await self.shut_down(senders)
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    # -- claims --------------------------------------------------------------------------------

    def room(self) -> int:
        """How many more deliveries may be claimed: in flight, ready and on their way count."""
        return self.concurrency + self.ahead - self.sending - len(self.ready) - sum(self.claiming.values())

    def may_claim(self, want: int) -> bool:
        if len(self.claiming) >= MAX_CLAIMS_ON_THE_WAY or time.monotonic() < self.retry_at or want <= 0:
            return False
        if self.drained:  # nothing more was due: one claim at a time, when woken
            return not self.claiming
        return want >= self.threshold or (not self.sending and not self.ready and not self.claiming)

    def on_claimed(self, task: asyncio.Task) -> None:
        asked = self.claiming.pop(task)
        if task.cancelled():
            return
        if task.exception() is not None:
            log.warning("delivery_claim_failed", exc_info=task.exception())
            self.retry_at = time.monotonic() + self.engine.settings.poll_seconds
            return
        claims = task.result()
        now = time.monotonic()
        self.ready.extend((now, claim) for claim in claims)
        self.drained = len(claims) < asked
        if not self.stop.is_set():
            self.hand_out()
        self.engine.wake.set()

    async def wait_for_wake_up(self) -> None:
        """Until a NOTIFY, a sender, a claim or the stop wakes the loop, or the poll comes round."""
        wake = self.engine.wake
        wake.clear()
        timeout = self.engine.settings.poll_seconds
        if self.ahead and self.ready:  # look again when the oldest claim ahead is due to go back
            timeout = max(0.0, min(timeout, self.ready[0][0] + self.hold - time.monotonic()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=timeout)
        if not wake.is_set():  # the poll: look again even if the last claim found nothing
            self.drained = False

    async def wake_on_stop(self) -> None:
        await self.stop.wait()
        self.engine.wake.set()

    # -- claims ahead --------------------------------------------------------------------------

    def set_aside_stale(self) -> None:
        """Move the claims ahead that waited too long (the oldest, at the front) to `stale`."""
        limit = time.monotonic() - self.hold
        while self.ahead and self.ready and self.ready[0][0] < limit:
            self.stale.append(self.ready.popleft()[1])
            self.engine.wake.set()  # the main loop gives them back

    def overdue(self) -> list[dict]:
        """The claims ahead to give back now."""
        self.set_aside_stale()
        taken, self.stale[:] = self.stale[:], []
        return taken

    def take(self) -> dict | None:
        """The oldest claim still fresh enough to send."""
        self.set_aside_stale()
        return self.ready.popleft()[1] if self.ready else None

    def hand_out(self) -> None:
        """Give ready claims to the senders waiting for one."""
        while self.ready and self.idle:
            waiting = self.idle.popleft()
            if not waiting.done():
                claim = self.take()
                if claim is None:
                    self.idle.appendleft(waiting)
                    return
                waiting.set_result(claim)

    # -- senders and outcomes ------------------------------------------------------------------

    async def sender(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.stop.is_set():
            claim = self.take()
            if claim is None:
                waiting = loop.create_future()
                self.idle.append(waiting)
                claim = await waiting
                if claim is None:  # stopping
                    return
            self.sending += 1
            try:
                self.pending.append(await self.engine.deliver(claim))
            except Exception:  # never expected (send catches everything); the lease resends it
                log.exception("delivery_failed", delivery_id=str(claim["id"]))
            finally:
                self.sending -= 1
            if self.room() >= self.threshold or not self.sending:
                self.engine.wake.set()

    async def flush(self) -> None:
        """Write what is pending, RECORD_BATCH at a time, until nothing is or the database fails."""
        pending = self.pending
        async with self.flush_lock:
            while pending:
                outcomes, pending[:] = pending[:RECORD_BATCH], pending[RECORD_BATCH:]
                try:
                    await self.engine.record(outcomes)
                except (psycopg.Error, OSError):
                    log.exception("delivery_record_failed", count=len(outcomes))
                    # Keep the outcomes and write them once the database is back, instead of
                    # resending every delivery that finished during the outage when its lease
                    # expires. Safe to repeat: record_outcomes only touches rows this engine
                    # still leases, so a row another engine has since taken over is skipped.
                    pending[:0] = outcomes
                    await asyncio.sleep(1)
                    return

    async def flush_periodically(self) -> None:
        while not self.stop.is_set():
            await asyncio.sleep(FLUSH_SECONDS)
            if self.pending:
                await self.flush()

    async def shut_down(self, senders: list[asyncio.Task]) -> None:
        """Let claims on their way land, give back what was not sent, let senders finish, write outcomes."""
        if self.claiming:
            await asyncio.gather(*self.claiming, return_exceptions=True)
        unsent = self.stale + [claim for _, claim in self.ready]
        self.ready.clear()
        while self.idle:
            waiting = self.idle.popleft()
            if not waiting.done():
                waiting.set_result(None)
        try:
            await self.engine.release(unsent)
        except (psycopg.Error, OSError):  # their leases expire and they are claimed again
            log.warning("delivery_release_failed", count=len(unsent), exc_info=True)
        await asyncio.gather(*senders, return_exceptions=True)
        await self.flush()
