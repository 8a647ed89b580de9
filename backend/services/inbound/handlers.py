"""What an inbox handler sees (the claimed event) and the handlers of an app, registered at wiring time."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import psycopg

NO_HANDLER = "no handler is registered for this event type"


@dataclass(frozen=True)
class InboundEvent:
    """A claimed event, as its handler sees it."""

    id: uuid.UUID
    source: str
    type: str
    attempts: int
    organization_id: uuid.UUID | None
    subject_id: uuid.UUID | None
    sent_at: datetime | None
    raw_body: str
    body_sha256: str  # hex, of the body as received
    idempotency_key: str | None
    received_at: datetime
    client_ip: str | None
    user_agent: str | None

    @property
    def payload(self) -> dict:
        return json.loads(self.raw_body, parse_float=Decimal)


class HandlerError(Exception):
    """A handler cannot apply its event now: the attempt fails, rolls back, and is retried."""


Handler = Callable[[psycopg.Connection, InboundEvent], "str | None"]


class Handlers:
    """The handler of each (source, event type); types without one are stored `ignored`.

    create_app builds the app's set, so a new handler is one more entry there, not an edit of the
    processor or of receipt.
    """

    def __init__(self, handlers: Mapping[tuple[str, str], Handler] | None = None):
        self._by_type: dict[tuple[str, str], Handler] = dict(handlers or {})

    def add(self, source: str, event_type: str, handler: Handler) -> None:
        """Apply events of `event_type` from `source` with `handler(conn, event) -> outcome`.

        The handler runs inside the event's transaction as service_role; whatever it writes commits
        together with the event's `processed` status, or rolls back with a failed attempt.
        """
        self._by_type[(source, event_type)] = handler

    def remove(self, source: str, event_type: str) -> None:
        self._by_type.pop((source, event_type), None)

    def get(self, source: str, event_type: str) -> Handler | None:
        return self._by_type.get((source, event_type))
