"""The delivery engine's settings, their defaults taken from `Config` (one statement of each number)."""

from __future__ import annotations

from dataclasses import dataclass

from backend.config import Config
from backend.version import __version__

_DEFAULTS = Config()


@dataclass(frozen=True)
class EngineSettings:
    backoff_seconds: tuple = tuple(_DEFAULTS.webhooks_backoff_seconds)
    max_attempts: int = _DEFAULTS.webhooks_max_attempts
    concurrency: int = _DEFAULTS.webhooks_concurrency
    batch_size: int = _DEFAULTS.webhooks_batch_size
    lease_seconds: int = _DEFAULTS.webhooks_lease_seconds
    poll_seconds: float = _DEFAULTS.webhooks_poll_seconds
    connect_timeout: float = _DEFAULTS.webhooks_connect_timeout
    total_timeout: float = _DEFAULTS.webhooks_total_timeout
    retry_after_cap_seconds: int = _DEFAULTS.webhooks_retry_after_cap_seconds
    disable_after_failing_seconds: int = _DEFAULTS.webhooks_disable_after_failing_seconds
    jitter: float = 0.2  # of each wait, either way: retries of one outage spread out instead of arriving together
    user_agent: str = f"Questbridge-Webhooks/{__version__}"

    @classmethod
    def from_config(cls, config: Config, **overrides) -> EngineSettings:
        return cls(**config.section("webhooks_", cls) | overrides)
