"""API-key tiers: their names, the limits each admits by default, and the check of API_KEY_TIERS."""

from __future__ import annotations

from backend.parsers import ConfigError, json_object

TIERS = ("starter", "pro", "enterprise")
LIMITS = ("per_day", "per_minute")
MAX_LIMIT = 2**31 - 1  # the usage counters are integer columns


def default_tiers() -> dict:
    return {
        "starter": {"per_day": 1000, "per_minute": 100},
        "pro": {"per_day": 10000, "per_minute": 1000},
        "enterprise": {"per_day": 100000, "per_minute": 10000},
    }


def parse_tiers(name: str, raw: str) -> dict:
    """API_KEY_TIERS: JSON changing some limits of the defaults, e.g. {"pro": {"per_minute": 2000}}."""
    tiers = default_tiers()
    for tier, limits in json_object(name, raw).items():
        if tier not in tiers:
            raise ConfigError(f"{name}: {tier!r} is not a tier ({', '.join(TIERS)})")
        if not isinstance(limits, dict):
            raise ConfigError(f"{name}[{tier!r}] must be an object with per_day and/or per_minute")
        tiers[tier].update(limits)
    return tiers


def check_tiers(tiers: dict) -> None:
    name = "API_KEY_TIERS"
    if not isinstance(tiers, dict) or set(tiers) != set(TIERS):
        raise ConfigError(f"{name} must define the tiers {', '.join(TIERS)}")
    for tier, limits in tiers.items():
        if not isinstance(limits, dict) or set(limits) != set(LIMITS):
            raise ConfigError(f"{name}[{tier!r}] must have per_day and per_minute and nothing else")
        for limit, value in limits.items():
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
                raise ConfigError(f"{name}[{tier!r}].{limit} must be an integer from 1 to {MAX_LIMIT}")
