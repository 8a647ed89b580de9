"""How a setting's text becomes its value: each parser takes the variable's name (to name it in
the error) and the raw text, and raises ConfigError when the text will not do."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names it."""


def boolean(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _int(name: str, raw: str, minimum: int = 0, maximum: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be <= {maximum}, got {value}")
    return value


def _float(name: str, raw: str, minimum: float, maximum: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not minimum <= value <= maximum:  # also refuses nan
        raise ConfigError(f"{name} must be between {minimum:g} and {maximum:g}, got {raw!r}")
    return value


def http_url(name: str, value: str | None) -> None:
    if value is None:
        return
    parsed = urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"{name} must be an http(s) URL, got {value!r}")


def int_list(name: str, raw: str) -> tuple:
    values = tuple(_int(name, part.strip(), 0) for part in raw.split(",") if part.strip())
    if not values:
        raise ConfigError(f"{name} must list at least one number of seconds")
    return values


def comma_list(name: str, raw: str) -> tuple:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def json_object(name: str, raw: str) -> dict:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a JSON object")
    return value


def networks(name: str, raw: str) -> tuple:
    networks = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(f"{name}: {part!r} is not an IP address or CIDR") from None
    return tuple(networks)


def integer(minimum: int = 0, maximum: int | None = None) -> Callable[[str, str], int]:
    return lambda name, raw: _int(name, raw, minimum, maximum)


def optional_integer(minimum: int, maximum: int) -> Callable[[str, str], int | None]:
    return lambda name, raw: _int(name, raw, minimum, maximum) if raw else None


def number(minimum: float, maximum: float) -> Callable[[str, str], float]:
    return lambda name, raw: _float(name, raw, minimum, maximum)


def text(name: str, raw: str) -> str:
    return raw


def optional(name: str, raw: str) -> str | None:
    return raw or None


def base_url(name: str, raw: str) -> str | None:
    return raw.rstrip("/") or None


def upper(name: str, raw: str) -> str:
    return raw.upper()


def path(name: str, raw: str) -> Path:
    return Path(raw)
