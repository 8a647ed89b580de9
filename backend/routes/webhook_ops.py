"""Engine entry points over HTTP: the cron-triggered pass and the test send."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from marshmallow import Schema, fields

from backend.auth import login_required, require_bearer_secret, user_transaction
from backend.errors import ServiceUnavailable
from backend.routes.common import json_body
from backend.routes.webhooks import SCOPE
from backend.services import delivery, inbox, webhooks

bp = Blueprint("webhook_ops", __name__, url_prefix="/api/webhooks")


class TestSendSchema(Schema):
    subscription_id = fields.UUID(required=True)


def _runtime():
    return current_app.extensions["questbridge"]


@bp.post("/retry")
def run_engine_pass():
    """Cron: deliver what is due (pending and retries). Bearer CRON_SECRET."""
    expected = _runtime().config.cron_secret
    if not expected:
        raise ServiceUnavailable("CRON_SECRET is not configured", retry_after=3600)
    require_bearer_secret(expected, "CRON_SECRET")
    runtime = _runtime()
    # The inbox first: the grades it applies emit submission.graded, which this pass then delivers.
    inbound = inbox.run_pass(runtime.db, inbox.InboxSettings.from_config(runtime.config))
    stats = delivery.run_pass(runtime)
    return jsonify(stats.as_dict() | {"inbound": inbound})


@bp.post("/test")
@login_required(scope=SCOPE)
def send_test_event():
    """Send webhook.test to one subscription now and return the attempt."""
    data = json_body(TestSendSchema())
    runtime = _runtime()
    with user_transaction() as conn:
        event_id, delivery_id = webhooks.create_test_delivery(
            conn, data["subscription_id"], hold_seconds=runtime.config.webhooks_lease_seconds
        )
    outcome = delivery.send_now(runtime, delivery_id)
    if outcome is None:  # sent already by an engine, after this request stalled past the hold
        return jsonify(delivery_id=str(delivery_id), event_id=str(event_id), status="queued"), 202
    attempt = outcome.attempt
    return jsonify(
        delivery_id=str(delivery_id),
        event_id=str(event_id),
        status=outcome.status,
        attempt={
            "attempt": outcome.claim["attempts"],
            "started_at": attempt.started_at,
            "duration_ms": attempt.duration_ms,
            "status_code": attempt.status_code,
            "error": attempt.error,
            "response_body": attempt.response_body,
        },
    )
