"""Grades from the autograder: verified and stored once on receipt (`receive`), then applied by the
inbox handler `apply_grade` (grade, notify, emit, audit) in the event's one transaction."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

import psycopg
from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validates_schema
from psycopg.types.json import Jsonb

from backend.db import Database, queries_beside
from backend.errors import BadRequest, Conflict, NotFound, ServiceUnavailable, Unauthorized
from backend.jsonutil import dumps, unstorable
from backend.services import learning
from backend.services.inbound import autograder_secrets, receipt, signatures
from backend.services.inbound.handlers import HandlerError, InboundEvent
from backend.services.inbound.processor import InboxSettings, system_transaction
from backend.services.shared.audit import RequestInfo
from backend.services.shared.secretbox import SecretBox
from backend.services.webhooks.events import emit_event

SQL = queries_beside(__file__)

SOURCE = "autograder"
EVENT_TYPE = "grade"
SIGNATURE_HEADER = "X-Autograder-Signature"
TOLERANCE_SECONDS = 300
MAX_SCORE_LIMIT = Decimal(10000)
MAX_FEEDBACK_CHARS = 100_000
EXCERPT_CHARS = 200
SCORE_PLACES = Decimal("0.000001")
NOTIFICATION_TYPE = "assignment_graded"


class JSONNumber(fields.Field):
    """A JSON number (not a string, not a boolean), finite, as a Decimal."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise ValidationError("must be a number")
        number = Decimal(value)
        if not number.is_finite():
            raise ValidationError("must be a finite number")
        return number


class UnixOrISOTime(fields.Field):
    """Unix seconds (a number) or an ISO 8601 time with a time zone, as unix seconds."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                raise ValidationError("must be unix seconds or an ISO 8601 time") from None
            if moment.tzinfo is None:
                raise ValidationError("must include a time zone (e.g. Z)")
            return moment.timestamp()
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise ValidationError("must be unix seconds or an ISO 8601 time")
        seconds = Decimal(value)
        if not seconds.is_finite() or not 0 <= seconds < 10**11:
            raise ValidationError("must be a plausible unix time in seconds")
        return float(seconds)


def _text(value: str) -> None:
    reason = unstorable(value)
    if reason:
        raise ValidationError(reason)


class GradeSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # an autograder may send more than we read

    submission_id = fields.UUID(required=True)
    score = JSONNumber(required=True)
    max_score = JSONNumber(required=True)
    feedback = fields.String(load_default="", allow_none=True, validate=_text)
    timestamp = UnixOrISOTime(required=True)

    @validates_schema
    def _consistent(self, data, **kwargs):
        errors = {}
        max_score, score = data.get("max_score"), data.get("score")
        if max_score is not None and not 0 < max_score <= MAX_SCORE_LIMIT:
            errors["max_score"] = [f"must be greater than 0 and at most {MAX_SCORE_LIMIT}"]
        elif max_score is not None and max_score.quantize(SCORE_PLACES, ROUND_HALF_EVEN) == 0:
            # Scores are kept to SCORE_PLACES; this one would be stored as 0 and never apply.
            errors["max_score"] = [
                f"must be at least {SCORE_PLACES} (scores keep {-SCORE_PLACES.as_tuple().exponent} decimal places)"
            ]
        if score is not None and score < 0:
            errors["score"] = ["must not be negative"]
        elif score is not None and max_score is not None and "max_score" not in errors and score > max_score:
            errors["score"] = ["must not exceed max_score"]
        feedback = data.get("feedback") or ""
        if len(feedback) > MAX_FEEDBACK_CHARS:
            errors["feedback"] = [f"must be at most {MAX_FEEDBACK_CHARS} characters"]
        if errors:
            raise ValidationError(errors)

    @post_load
    def _grade(self, data, **kwargs) -> Grade:
        return Grade(
            submission_id=data["submission_id"],
            score=data["score"].quantize(SCORE_PLACES, ROUND_HALF_EVEN).normalize(),
            max_score=data["max_score"].quantize(SCORE_PLACES, ROUND_HALF_EVEN).normalize(),
            feedback=data.get("feedback") or "",
            timestamp=data["timestamp"],
        )


@dataclass(frozen=True)
class Grade:
    submission_id: uuid.UUID
    score: Decimal
    max_score: Decimal
    feedback: str
    timestamp: float  # unix seconds, as signed by the autograder

    @property
    def percentage(self) -> Decimal:
        return (self.score * 100 / self.max_score).quantize(Decimal("0.01"), ROUND_HALF_EVEN)


_GRADE_SCHEMA = GradeSchema()


def parse_grade(data: dict) -> Grade:
    """The grade in a body; 400 naming each bad field (the contract says 400, not 422)."""
    try:
        return _GRADE_SCHEMA.load(data)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"body": exc.messages}
        names = ", ".join(sorted(str(k) for k in messages))
        raise BadRequest(f"invalid fields: {names}", errors=messages) from None


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _audit_steps(conn: psycopg.Connection, organization_id, event_id, steps: list, origin: RequestInfo) -> None:
    conn.execute(
        SQL["audit_steps"],
        {
            "organization_id": organization_id,
            "event_id": str(event_id),
            "actions": [action for action, _ in steps],
            "metadata": [Jsonb(metadata, dumps=dumps) for _, metadata in steps],
            "ip": origin.ip,
            "user_agent": origin.user_agent,
        },
    )


def accept(
    conn: psycopg.Connection, grade: Grade, raw_body: str, key: str, origin: RequestInfo, organization_id=None
) -> psycopg.Cursor:
    """Store the receipt of a verified grade: the event once, in one statement, which on a system
    connection is its own transaction in one round trip (this is the hot path). Its one row is
    `{organization_id, event_id}`: no organization means no such submission (in `organization_id`,
    when an organization's own secret verified the grade), no event id a replay of `key`, the
    grade's durable replay key: the SHA-256 of the exact bytes that were signed."""
    return conn.execute(
        SQL["accept_grade"],
        {
            "submission_id": grade.submission_id,
            "organization_id": organization_id,
            "idempotency_key": key,
            "sent_at": grade.timestamp,
            "raw_body": raw_body,
            "client_ip": origin.ip,
            "user_agent": origin.user_agent,
        },
    )


def _replayed(conn: psycopg.Connection, key: str, origin: RequestInfo, organization_id) -> uuid.UUID:
    """Record a replay as a verification failure of the submission's organization (the payload is
    authentic, so its admins may see it); the id of the event first received."""
    with system_transaction(conn):
        replay = "replay: this signed payload was already received"
        receipt.record_failure(conn, SOURCE, replay, origin, organization_id)
        return receipt.first_received(conn, SOURCE, idempotency_key=key).event_id


def _organization_of(conn: psycopg.Connection, submission_id):
    """The organization of a submission, or None (read as the system: refusals only)."""
    with system_transaction(conn):
        row = conn.execute(SQL["submission_organization"], {"id": submission_id}).fetchone()
    return row["organization_id"] if row else None


def _claimed_submission(body: bytes) -> uuid.UUID | None:
    """The submission_id an unverified body names, or None: only to find whose secret to try."""
    try:
        claimed = json.loads(body).get("submission_id")
        return uuid.UUID(claimed) if isinstance(claimed, str) else None
    except (ValueError, AttributeError, RecursionError):
        return None


def _verified_organization(
    conn: psycopg.Connection, box: SecretBox, secrets: tuple, body: bytes, signature: str | None
) -> uuid.UUID | None:
    """None when a platform secret signed the grade (it may be for any organization's submission);
    else the organization whose own secret signed it for one of its submissions, looked up only
    now. Otherwise the platform check's refusal is raised unchanged: a grade signed with another
    organization's secret, or naming a submission that does not exist, reads like a bad signature,
    so a stranger learns nothing about which submissions exist."""
    try:
        signatures.verify_hmac_hex(body, signature, secrets)
        return None
    except signatures.SignatureRefused as refused:
        platform_refusal = refused
    submission_id = _claimed_submission(body) if signature and signature.strip() else None
    if submission_id is None:
        raise platform_refusal
    organization_id, organization_secrets = autograder_secrets.secrets_for_submission(conn, box, submission_id)
    try:
        signatures.verify_hmac_hex(body, signature, organization_secrets)
    except signatures.SignatureRefused:
        raise platform_refusal from None
    return organization_id


def receive(
    db: Database,
    secrets: tuple,
    box: SecretBox,
    body: bytes,
    signature: str | None,
    origin: RequestInfo,
    settings: InboxSettings,
    now: float | None = None,
) -> receipt.Receipt:
    """POST /api/webhooks/autograder/: count, verify, validate, check freshness, store once.

    Refusals that are verification failures (signature, timestamp, replay) are recorded in their
    own committed transaction before the error is raised. A grade verified by a platform secret
    costs two statements, each its own transaction: the count (not waiting for the disk) and the
    durable receipt. Only when no platform secret matches is the submission's organization's own
    secret looked up (one more statement), and then the grade may only be for that organization.
    """
    with db.system_connection() as conn:
        receipt.count_request(conn, receipt.rate_bucket(SOURCE, origin), settings.rate_limit_per_hour)
        try:
            organization_id = _verified_organization(conn, box, secrets, body, signature)
        except signatures.SignatureRefused as refused:
            if not secrets and not autograder_secrets.any_configured(conn):
                raise ServiceUnavailable(
                    "no autograder secret is configured: set AUTOGRADER_WEBHOOK_SECRETS or an organization's own",
                    retry_after=3600,
                ) from None
            receipt.refuse(conn, SOURCE, refused.reason, origin)
            raise Unauthorized(f"{SIGNATURE_HEADER}: {refused.reason}", headers={}) from None
        raw_body, data = receipt.parse_json_object(body)
        grade = parse_grade(data)
        try:
            signatures.check_fresh(grade.timestamp, TOLERANCE_SECONDS, now)
        except signatures.StaleTimestamp as stale:
            receipt.refuse(conn, SOURCE, stale.reason, origin, _organization_of(conn, grade.submission_id))
            raise Conflict(f"timestamp: {stale.reason}", errors={"timestamp": [stale.reason]}, slug="replay") from None
        key = hashlib.sha256(body).hexdigest()
        row = accept(conn, grade, raw_body, key, origin, organization_id).fetchone()
        if row["organization_id"] is None:
            raise NotFound("submission_id: no such submission", errors={"submission_id": ["no such submission"]})
        if row["event_id"] is None:
            first = _replayed(conn, key, origin, row["organization_id"])
            raise Conflict(
                "this signed payload was already received",
                errors={"body": ["was already received"]},
                slug="replay",
                extra={"event_id": str(first)},
            )
        receipt.wake_processors(db, conn)
    return receipt.Receipt(row["event_id"], True, "pending")


def _receipt_steps(event: InboundEvent, grade: Grade) -> list[tuple[str, dict]]:
    """The audit entries of the steps that received the event, from what its row keeps: written
    with the grade, in its transaction, so that receipt stays one insert."""
    return [
        ("autograder.received", {"bytes": len(event.raw_body.encode()), "body_sha256": event.body_sha256}),
        ("autograder.signature_verified", {"scheme": "hmac-sha256-hex", "header": SIGNATURE_HEADER}),
        ("autograder.replay_checked", {"idempotency_key": event.idempotency_key, "timestamp": grade.timestamp}),
        ("autograder.submission_found", {"submission_id": str(grade.submission_id)}),
    ]


def apply_grade(conn: psycopg.Connection, event: InboundEvent) -> str:
    """The inbox handler: grade, notify, emit and audit each step since receipt, all in the event's
    transaction."""
    grade = parse_grade(event.payload)
    submission = conn.execute(SQL["lock_submission"], {"id": grade.submission_id}).fetchone()
    if submission is None:
        raise HandlerError(f"submission {grade.submission_id} no longer exists")
    organization_id = submission["organization_id"]
    origin = RequestInfo(ip=event.client_ip, user_agent=event.user_agent)
    newer = conn.execute(
        SQL["newer_grade"],
        {
            "submission_id": grade.submission_id,
            "sent_at": event.sent_at,
            "received_at": event.received_at,
            "id": event.id,
        },
    ).fetchone()
    if newer is not None:
        superseded = {"submission_id": str(grade.submission_id), "newer_event_id": str(newer["id"])}
        _audit_steps(
            conn,
            organization_id,
            event.id,
            [*_receipt_steps(event, grade), ("autograder.grade_superseded", superseded)],
            origin,
        )
        return f"superseded: a grade sent later (event {newer['id']}) was already applied"
    regrade = submission["status"] == "graded"
    graded = conn.execute(
        SQL["grade_submission"],
        {"id": grade.submission_id, "score": grade.score, "max_score": grade.max_score, "feedback": grade.feedback},
    ).fetchone()
    score, max_score, percentage = _number(grade.score), _number(grade.max_score), _number(grade.percentage)
    _audit_steps(
        conn,
        organization_id,
        event.id,
        [
            *_receipt_steps(event, grade),
            (
                "autograder.grade_applied",
                {
                    "submission_id": str(grade.submission_id),
                    "score": score,
                    "max_score": max_score,
                    "regrade": regrade,
                },
            ),
        ],
        origin,
    )
    excerpt = grade.feedback if len(grade.feedback) <= EXCERPT_CHARS else grade.feedback[: EXCERPT_CHARS - 1] + "…"
    notification = learning.notify(
        conn,
        submission["user_id"],
        organization_id,
        NOTIFICATION_TYPE,
        f"Graded: {submission['task_title']}",
        f"You scored {score}/{max_score} ({percentage}%)." + (f" {excerpt}" if excerpt else ""),
        {
            "submission_id": str(grade.submission_id),
            "task_id": str(submission["task_id"]),
            "score": score,
            "max_score": max_score,
            "percentage": percentage,
            "feedback_excerpt": excerpt,
            "regrade": regrade,
        },
    )
    _audit_steps(
        conn,
        organization_id,
        event.id,
        [
            (
                "autograder.notification_sent",
                {"notification_id": str(notification["id"]), "user_id": str(graded["user_id"])},
            )
        ],
        origin,
    )
    emit_event(
        conn,
        organization_id,
        "submission.graded",
        {
            "submission_id": graded["id"],
            "task_id": graded["task_id"],
            "user_id": graded["user_id"],
            "score": score,
            "max_score": max_score,
            "percentage": percentage,
            "feedback": grade.feedback,
            "graded_at": graded["graded_at"],
            "regrade": regrade,
            "inbound_event_id": event.id,
        },
    )
    return "regraded" if regrade else "graded"
