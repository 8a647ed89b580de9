"""The event catalog and `emit_event`: the transactional outbox of outbound webhooks."""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import UTC, datetime

import psycopg
from psycopg.types.json import Jsonb

from backend.db import as_service_role, queries_beside
from backend.jsonutil import dumps, iso_utc

SQL = queries_beside(__file__)
NOTIFY_CHANNEL = "questbridge_deliveries"
EVENT_TYPE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+\Z")
WILDCARD = "*"

_ORG = "7d9e1a52-3c1f-4e0b-9a8e-2f4b6c1d0e11"
_USER = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
_QUEST = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"
_TASK = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
_SUBMISSION = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"

CATALOG: dict[str, dict] = {
    "task.completed": {
        "description": "A learner completed a task and was awarded its xp (once per learner and task).",
        "example": {"task_id": _TASK, "quest_id": _QUEST, "user_id": _USER, "xp_awarded": 20},
    },
    "task.submitted": {
        "description": "A learner handed in work for a task.",
        "example": {"submission_id": _SUBMISSION, "task_id": _TASK, "quest_id": _QUEST, "user_id": _USER},
    },
    "quest.completed": {
        "description": "A learner completed every task of a quest.",
        "example": {"quest_id": _QUEST, "user_id": _USER, "total_xp": 80},
    },
    "badge.earned": {
        "description": "A learner earned the badge of a completed quest.",
        "example": {"badge_id": "1e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6", "quest_id": _QUEST, "user_id": _USER},
    },
    "submission.graded": {
        "description": "A submission received a grade (from the autograder or an admin).",
        "example": {
            "submission_id": _SUBMISSION,
            "task_id": _TASK,
            "user_id": _USER,
            "score": 8,
            "max_score": 10,
            "feedback": "Good work.",
        },
    },
    "user.registered": {
        "description": "A user joined the organization.",
        "example": {"user_id": _USER, "email": "learner@example.org", "role": "member"},
    },
    "webhook.test": {
        "description": "Sent on request from the admin UI or POST /api/webhooks/test to check an endpoint.",
        "example": {"message": "This is a test event from Questbridge.", "subscription_id": _USER},
    },
}


def catalog() -> list[dict]:
    return [
        {
            "type": name,
            "description": entry["description"],
            "example": envelope(_ORG, name, entry["example"], event_id="2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901"),
        }
        for name, entry in CATALOG.items()
    ]


def is_valid_type(name: str) -> bool:
    """A catalog type, a custom dotted name partners push, or '*'."""
    return name == WILDCARD or (len(name) <= 128 and EVENT_TYPE.match(name) is not None)


# -- reserved namespaces -------------------------------------------------------------------------
# The namespaces of our catalog (and our own name) are ours: a subscriber must be able to trust that
# a task.completed comes from Questbridge, and that nothing that merely looks like one does.

RESERVED_NAMESPACES = (*dict.fromkeys(name.split(".", 1)[0] for name in CATALOG), "questbridge")
# Spellings that read alike in the admin UI and in log viewers; the name pattern already keeps out
# capitals and every non-ASCII character, so these are the confusables left (after UTS #39).
_CONFUSABLE = (("rn", "m"), ("vv", "w"), ("cl", "d"), ("0", "o"), ("1", "l"), ("i", "l"), ("5", "s"))
_SEPARATORS = re.compile(r"[._]+")
_LONGEST_RESERVED = max(len(namespace) for namespace in RESERVED_NAMESPACES)


def _skeleton(text: str) -> str:
    for spelling, reads_as in _CONFUSABLE:
        text = text.replace(spelling, reads_as)
    return text


def _within_one_edit(a: str, b: str) -> bool:
    """Equal, or one insertion, deletion, substitution or swap of neighbours apart."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        first, second = diff if len(diff) == 2 else (0, 0)
        return second == first + 1 and a[first] == b[second] and a[second] == b[first]
    shorter, longer = sorted((a, b), key=len)
    return any(longer[:i] + longer[i + 1 :] == shorter for i in range(len(longer)))


def _singular_forms(word: str) -> set[str]:
    forms = {word}
    if word.endswith("s"):
        forms.add(word[:-1])
    if word.endswith("es"):
        forms.add(word[:-2])
    return forms


def reserved_namespace_resembled(name: str) -> str | None:
    """The reserved namespace `name` is in or imitates (plural or singular, one edit or swap away,
    split by separators, or spelled with lookalike characters), or None.

    Every way of reading the name's start counts: `task_.x`, `ta_sk.x` and `ta.sk.x` all begin with
    something that reads as task; `taskforce.created` does not.
    """
    words = [word for word in _SEPARATORS.split(unicodedata.normalize("NFKC", name).casefold()) if word]
    for end in range(1, len(words) + 1):
        start = _skeleton("".join(words[:end]))
        if len(start) > _LONGEST_RESERVED + 3:  # past a plural ending and one edit: nothing can match
            break
        for namespace in RESERVED_NAMESPACES:
            reserved = _skeleton(namespace)
            if any(_within_one_edit(form, reserved) for form in _singular_forms(start)):
                return namespace
    return None


def custom_type_problem(name: str) -> str | None:
    """Why `name` may not be a custom event type (one partners push), or None when it may."""
    namespace = reserved_namespace_resembled(name)
    if namespace is None:
        return None
    if name.split(".", 1)[0] == namespace:
        what = f"is in the namespace {namespace}., reserved for Questbridge's own events"
    else:
        what = f"resembles the namespace {namespace}., reserved for Questbridge's own events"
    return f"{what}; use a prefix of your own, like partner.course_synced"


def envelope(organization_id, event_type: str, data: dict, *, event_id=None, at: datetime | None = None) -> dict:
    """What a subscriber receives as the body."""
    return {
        "id": str(event_id or uuid.uuid4()),
        "type": event_type,
        "timestamp": iso_utc(at or datetime.now(UTC)),
        "organization_id": str(organization_id),
        "data": data,
    }


def _check_type(event_type: str) -> None:
    if not EVENT_TYPE.match(event_type):
        raise ValueError(f"{event_type!r} is not a dotted event type")


def _insert_event(conn: psycopg.Connection, organization_id, event_type: str, data: dict) -> uuid.UUID:
    event_id = uuid.uuid4()
    payload = envelope(organization_id, event_type, data, event_id=event_id)
    conn.execute(
        SQL["insert_event"],
        {
            "id": event_id,
            "organization_id": organization_id,
            "type": event_type,
            "payload": Jsonb(payload, dumps=dumps),
        },
    )
    return event_id


def emit_event(conn: psycopg.Connection, organization_id, event_type: str, data: dict) -> uuid.UUID:
    """Record an event and its deliveries in the caller's transaction; wake the engine on commit.

    Runs as service_role for these inserts whatever the caller's role: a learner completing a
    task may not read the org's subscriptions, but the event they cause must reach them. If the
    caller's transaction rolls back, the event and its deliveries vanish with it.
    """
    _check_type(event_type)
    with as_service_role(conn):
        event_id = _insert_event(conn, organization_id, event_type, data)
        fanned = conn.execute(
            SQL["fan_out"], {"event_id": event_id, "organization_id": organization_id, "type": event_type}
        ).rowcount
        if fanned:
            conn.execute(SQL["notify"])  # NOTIFY is delivered only if the transaction commits
    return event_id


def emit_to_subscription(
    conn: psycopg.Connection, *, organization_id: uuid.UUID, subscription_id: uuid.UUID, event_type: str, data: dict
) -> tuple[uuid.UUID, uuid.UUID]:
    """An event delivered to one subscription only (webhook.test), due at once: the engines are
    woken when the caller's transaction commits. Returns (event id, delivery id)."""
    _check_type(event_type)
    with as_service_role(conn):
        event_id = _insert_event(conn, organization_id, event_type, data)
        row = conn.execute(
            SQL["fan_out_to_subscription"],
            {
                "event_id": event_id,
                "subscription_id": subscription_id,
                "organization_id": organization_id,
                "type": event_type,
            },
        ).fetchone()
        conn.execute(SQL["notify"])
    return event_id, row["id"]
