"""Inbound webhooks from configured sources (Standard Webhooks, Stripe-style, hmac-hex) and the
inbox as admins see it: events, retries of dead ones, refused requests, and the organization's
own autograder secret."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from marshmallow import Schema, fields, validate

from backend import metrics
from backend.auth import login_required, request_origin
from backend.errors import NotFound
from backend.routes.common import NoBody, PageQuery, answered, as_user, json_body, listed, query_args, read_limited_body
from backend.runtime import current_runtime
from backend.services.inbound import admin, autograder_secrets, receipt, sources
from backend.services.inbound.processor import InboxSettings

bp = Blueprint("inbound", __name__, url_prefix="/api/inbound")


class EventQuery(PageQuery):
    organization_id = fields.UUID(load_default=None)
    source = fields.String(load_default=None, validate=validate.Regexp(sources.SOURCE_NAME))
    status = fields.String(load_default=None, validate=validate.OneOf(admin.STATUSES))


class FailureQuery(PageQuery):
    organization_id = fields.UUID(load_default=None)
    source = fields.String(load_default=None, validate=validate.Regexp(sources.SOURCE_NAME))


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
    configured = current_runtime().inbound_sources.get(source)
    if configured is None:
        raise NotFound(f"no inbound source named {source!r} is configured")
    runtime = current_runtime()
    body = read_limited_body(receipt.MAX_BODY_BYTES)
    received = receipt.receive_from_source(
        runtime.db,
        configured,
        body,
        request.headers,
        request_origin(),
        InboxSettings.from_config(runtime.config),
        runtime.inbox_handlers,
    )
    if not received.created:
        metrics.INBOUND_RECEIVED.labels(source, "duplicate").inc()
        return jsonify(status="duplicate", event_id=received.event_id), 200
    status = "ignored" if received.status == "ignored" else "accepted"
    metrics.INBOUND_RECEIVED.labels(source, status).inc()
    return jsonify(status=status, event_id=received.event_id), 202


@bp.get("/events")
@login_required
def list_events():
    return listed(admin.list_events, EventQuery())


@bp.get("/events/<uuid:event_id>")
@login_required
def get_event(event_id):
    return answered(admin.get_event, event_id)


@bp.post("/events/<uuid:event_id>/retry")
@login_required
def retry_event(event_id):
    json_body(NoBody())
    return answered(admin.retry, event_id=event_id, user_id=g.identity.user_id, origin=request_origin(), status=202)


@bp.get("/failures")
@login_required
def list_failures():
    return listed(admin.list_failures, FailureQuery())


@bp.get("/autograder-secrets")
@login_required
def get_autograder_secret():
    args = query_args(AutograderSecretQuery())
    return answered(autograder_secrets.describe, args["organization_id"])


@bp.post("/autograder-secrets/rotate")
@login_required
def rotate_autograder_secret():
    """The organization's autograder secret, new (201) or rotated (200): shown in this answer only."""
    data = json_body(RotateAutograderSecretSchema())
    rotated, created = as_user(
        autograder_secrets.rotate,
        current_runtime().secretbox,
        user_id=g.identity.user_id,
        organization_id=data["organization_id"],
        grace_seconds=data["grace_seconds"],
        origin=request_origin(),
    )
    response = jsonify(rotated)
    response.status_code = 201 if created else 200
    response.headers["Cache-Control"] = "no-store"
    return response
