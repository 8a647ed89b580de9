"""The retry policy on its own: which wait follows which failed attempt, jitter, Retry-After and its cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.services.webhooks.retry import Attempt, decide, parse_retry_after
from backend.services.webhooks.settings import EngineSettings

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DEFAULTS = EngineSettings()


def failed(status_code=500, retry_after=None) -> Attempt:
    return Attempt(started_at=NOW, duration_ms=5, status_code=status_code, retry_after=retry_after)


def wait_after(attempts: int, attempt: Attempt, settings: EngineSettings = DEFAULTS) -> float | None:
    outcome = decide({"attempts": attempts, "event_type": "task.completed"}, attempt, settings, now=NOW)
    return None if outcome.status == "dead" else (outcome.next_attempt_at - NOW).total_seconds()


@pytest.mark.parametrize(("attempts", "base"), [(1, 60), (2, 120), (3, 240), (4, 480)])
def test_the_nth_failure_waits_the_nth_entry_with_jitter(attempts, base):
    waits = [wait_after(attempts, failed()) for _ in range(200)]
    assert all(base * 0.8 <= w <= base * 1.2 for w in waits)
    assert max(waits) - min(waits) > base * 0.2  # jittered, not the bare schedule
    assert abs(sum(waits) / len(waits) - base) < base * 0.05


def test_the_fifth_failure_of_five_attempts_is_dead():
    assert DEFAULTS.max_attempts == 5
    assert wait_after(5, failed()) is None


def test_the_last_entry_repeats_when_more_attempts_are_allowed():
    settings = EngineSettings(max_attempts=8, jitter=0)
    assert [wait_after(n, failed(), settings) for n in range(1, 9)] == [60, 120, 240, 480, 960, 960, 960, None]


def test_success_is_delivered_and_410_is_dead_at_once():
    assert decide({"attempts": 1, "event_type": "task.completed"}, failed(204), DEFAULTS, now=NOW).status == "delivered"
    assert decide({"attempts": 1, "event_type": "task.completed"}, failed(410), DEFAULTS, now=NOW).status == "dead"


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_of_429_and_503_lengthens_the_wait_up_to_the_cap(status):
    settings = EngineSettings(jitter=0)
    assert wait_after(1, failed(status, retry_after=600), settings) == 600
    assert wait_after(1, failed(status, retry_after=5), settings) == 60  # never sooner than the schedule
    assert wait_after(1, failed(status, retry_after=999_999), settings) == settings.retry_after_cap_seconds
    assert wait_after(1, failed(500, retry_after=600), settings) == 60  # only 429 and 503 are believed


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("120", 120.0), (" 7 ", 7.0), ("²", None), ("-5", None), ("soon", None), ("", None), (None, None)],
)
def test_parse_retry_after(header, seconds):
    assert parse_retry_after(header) == seconds


def test_parse_retry_after_takes_an_http_date():
    when = NOW + timedelta(seconds=90)
    assert parse_retry_after(when.strftime("%a, %d %b %Y %H:%M:%S GMT"), now=NOW.timestamp()) == 90


def test_a_test_event_is_tried_once():
    claim = {"attempts": 1, "event_type": "webhook.test"}
    assert decide(claim, failed(500), DEFAULTS, now=NOW).status == "dead"
    assert decide(claim, failed(503, retry_after=5), DEFAULTS, now=NOW).status == "dead"
    succeeded = Attempt(started_at=NOW, duration_ms=5, status_code=204)
    assert decide(claim, succeeded, DEFAULTS, now=NOW).status == "delivered"
