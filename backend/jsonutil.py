"""JSON as the API contract writes it (ISO 8601 UTC timestamps with Z, UUIDs as strings), and the
strings it may carry into Postgres."""

from __future__ import annotations

import decimal
import json
import uuid
from datetime import UTC, date, datetime

from flask.json.provider import DefaultJSONProvider


def iso_utc(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def unstorable(text: str) -> str | None:
    """Why `text` cannot be stored as Postgres text, or None when it can."""
    if "\x00" in text:
        return "must not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain unpaired surrogates (\\ud800-\\udfff)"
    return None


def to_jsonable(value):
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class APIJSONProvider(DefaultJSONProvider):
    sort_keys = False

    @staticmethod
    def default(value):
        return to_jsonable(value)


def dumps(value) -> str:
    """Compact JSON with the API's encodings, for bodies we store or send ourselves."""
    return json.dumps(value, default=to_jsonable, separators=(",", ":"), ensure_ascii=False)
