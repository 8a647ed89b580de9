"""Keyset pagination: opaque cursors over (created_at, id), newest first."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime

from backend.errors import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def encode_cursor(created_at: datetime, row_id) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, row_id = json.loads(raw)
        row_id = str(row_id)
        if not row_id.isdigit():
            row_id = str(uuid.UUID(row_id))  # ids are UUIDs, or integers for identity columns
        return datetime.fromisoformat(created_at), row_id
    except (ValueError, TypeError, AttributeError):
        raise ValidationFailed.field("cursor", "is not a cursor this API returned") from None


def paginate(rows: list[dict], limit: int, key=lambda r: (r["created_at"], r["id"])) -> tuple[list[dict], str | None]:
    """Cut rows fetched with limit + 1 to a page and the cursor of the next one."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(*key(rows[-1]))
