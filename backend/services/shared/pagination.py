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


def decode_cursor(cursor: str | None, ids: type = uuid.UUID) -> tuple[datetime, str | int] | None:
    """The (created_at, id) a cursor points after; `ids` is the kind of the list's ids (uuid.UUID,
    or int for identity columns). Anything this API did not hand out is a 422 naming the cursor."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, row_id = json.loads(raw)
        created_at = datetime.fromisoformat(created_at)
        if created_at.tzinfo is None:
            raise ValueError("a cursor's time has a zone")
        if ids is int:
            row_id = int(row_id) if isinstance(row_id, str) and row_id.isascii() and row_id.isdigit() else None
            if row_id is None or not 0 < row_id < 2**63:
                raise ValueError("not a bigint id")
        else:
            row_id = str(uuid.UUID(row_id))
        return created_at, row_id
    except (ValueError, TypeError, AttributeError):
        raise ValidationFailed.field("cursor", "is not a cursor this API returned") from None


def page_params(cursor: str | None, limit: int, ids: type = uuid.UUID) -> dict:
    """The keyset parameters of one page's query: after the cursor, one row more than the page."""
    after = decode_cursor(cursor, ids)
    return {
        "after_created_at": after[0] if after else None,
        "after_id": after[1] if after else None,
        "limit": limit + 1,
    }


def paginate(rows: list[dict], limit: int, key=lambda r: (r["created_at"], r["id"])) -> tuple[list[dict], str | None]:
    """Cut rows fetched with limit + 1 to a page and the cursor of the next one."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(*key(rows[-1]))
