"""Inbound webhooks from configured sources (Standard Webhooks, Stripe-style, hmac-hex) and the
inbox as admins see it: events, retries of dead ones, refused requests, and the organization's
own autograder secret."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request
from marshmallow import Schema, fields, validate
from werkzeug.exceptions import RequestEntityTooLarge

from backend import metrics
from backend.auth import login_required, request_origin, user_transaction
from backend.errors import NotFound, PayloadTooLarge
from backend.routes.common import PageQuery, json_body, page, query_args
from backend.routes.webhooks import NoBody
from backend.services.inbound import autograder_secrets
from backend.services.inbound import receipt as inbox
from backend.services.inbound.signatures import Source

bp = Blueprint("inbound", __name__, url_prefix="/api/inbound")

SOURCES_KEY = "questbridge_inbound_sources"


@bp.record_once
def _parse_sources(state) -> None:
    """INBOUND_SOURCES as Source objects, parsed once per app (the config validated them)."""
    config = state.app.extensions["questbridge"].config
    state.app.extensions[SOURCES_KEY] = {
        name: Source.from_config(name, spec) for name, spec in config.inbound_sources.items()
    }


def read_limited_body(limit: int = inbox.MAX_BODY_BYTES) -> bytes:
    """The raw body, refused with 413 before parsing when over `limit`: by Content-Length, and for a
    body without one by reading at most `limit` bytes."""
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    # werkzeug then reads a body without Content-Length only up to this many bytes, and silently
    # stops there: one byte past the limit is how an oversized chunked body shows.
    request.max_content_length = limit + 1
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise _too_large(limit) from None
    if len(body) > limit:
        raise _too_large(limit)
    return body


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the body must be at most {limit // 1024} KiB", errors={"body": [f"must be at most {limit} bytes"]}
    )


def _runtime():
    return current_app.extensions["questbridge"]


class EventQuery(PageQuery):
    organization_id = fields.UUID(load_default=None)
    source = fields.String(load_default=None, validate=validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,63}$"))
    status = fields.String(load_default=None, validate=validate.OneOf(inbox.STATUSES))


class FailureQuery(PageQuery):
    organization_id = fields.UUID(load_default=None)
    source = fields.String(load_default=None, validate=validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,63}$"))


class AutograderSecretQuery(Schema):
    organization_id = fields.UUID(required=True)


class RotateAutograderSecretSchema(Schema):
    organization_id = fields.UUID(required=True)
    grace_seconds = fields.Integer(
        strict=True,
        load_default=autograder_secrets.DEFAULT_GRACE_SECONDS,
        validate=validate.Range(min=0, max=autograder_secrets.MAX_GRACE_SECONDS),
    )


@bp.post("/<source>")
def receive(source: str):
    """A webhook from a configured source: 202 accepted (or ignored), 200 for a duplicate."""
    configured = current_app.extensions[SOURCES_KEY].get(source)
    if configured is None:
        raise NotFound(f"no inbound source named {source!r} is configured")
    runtime = _runtime()
    body = read_limited_body()
    receipt = inbox.receive_from_source(
        runtime.db, configured, body, request.headers, request_origin(), inbox.InboxSettings.from_config(runtime.config)
    )
    if not receipt.created:
        metrics.INBOUND_RECEIVED.labels(source, "duplicate").inc()
        return jsonify(status="duplicate", event_id=receipt.event_id), 200
    status = "ignored" if receipt.status == "ignored" else "accepted"
    metrics.INBOUND_RECEIVED.labels(source, status).inc()
    return jsonify(status=status, event_id=receipt.event_id), 202


@bp.get("/events")
@login_required
def list_events():
    args = query_args(EventQuery())
    with user_transaction() as conn:
        rows, next_cursor = inbox.list_events(
            conn,
            args["limit"],
            args["cursor"],
            organization_id=args["organization_id"],
            source=args["source"],
            status=args["status"],
        )
    return jsonify(page(rows, next_cursor))


@bp.get("/events/<uuid:event_id>")
@login_required
def get_event(event_id):
    with user_transaction() as conn:
        event = inbox.get_event(conn, event_id)
    return jsonify(event)


@bp.post("/events/<uuid:event_id>/retry")
@login_required
def retry_event(event_id):
    json_body(NoBody())
    with user_transaction() as conn:
        event = inbox.retry(conn, event_id, g.identity.user_id, request_origin())
    return jsonify(event), 202


@bp.get("/failures")
@login_required
def list_failures():
    args = query_args(FailureQuery())
    with user_transaction() as conn:
        rows, next_cursor = inbox.list_failures(
            conn, args["limit"], args["cursor"], organization_id=args["organization_id"], source=args["source"]
        )
    return jsonify(page(rows, next_cursor))


@bp.get("/autograder-secrets")
@login_required
def get_autograder_secret():
    args = query_args(AutograderSecretQuery())
    with user_transaction() as conn:
        described = autograder_secrets.describe(conn, args["organization_id"])
    return jsonify(described)


@bp.post("/autograder-secrets/rotate")
@login_required
def rotate_autograder_secret():
    """The organization's autograder secret, new (201) or rotated (200): shown in this answer only."""
    data = json_body(RotateAutograderSecretSchema())
    with user_transaction() as conn:
        rotated, created = autograder_secrets.rotate(
            conn,
            _runtime().secretbox,
            g.identity.user_id,
            data["organization_id"],
            data["grace_seconds"],
            request_origin(),
        )
    response = jsonify(rotated)
    response.status_code = 201 if created else 200
    response.headers["Cache-Control"] = "no-store"
    return response
