"""The retry policy: what becomes of a delivery after an attempt, and when it is tried again."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from backend.services.webhooks.settings import EngineSettings
from backend.services.webhooks.subscriptions import TEST_EVENT


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


def backoff(attempts: int, settings: EngineSettings) -> float:
    """The wait after the `attempts`-th failure: its entry of the schedule (the last one repeats), jittered."""
    schedule = settings.backoff_seconds
    delay = schedule[min(attempts - 1, len(schedule) - 1)]
    return delay * (1 + random.uniform(-settings.jitter, settings.jitter))  # noqa: S311 (jitter, not crypto)


def decide(claim: dict, attempt: Attempt, settings: EngineSettings, now: datetime | None = None) -> Outcome:
    """What becomes of a delivery after this attempt."""
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
    delay = backoff(claim["attempts"], settings)
    if attempt.status_code in (429, 503) and attempt.retry_after is not None:
        delay = max(delay, min(attempt.retry_after, settings.retry_after_cap_seconds))
    return Outcome(claim, attempt, "retrying", now + timedelta(seconds=max(0.0, delay)))
