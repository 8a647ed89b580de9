"""Engine entry points over HTTP: the cron-triggered pass and the test send."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from marshmallow import Schema, fields

from backend.auth import login_required, require_bearer_secret, user_transaction
from backend.errors import Conflict, NotFound, ServiceUnavailable
from backend.routes.common import json_body
from backend.services import delivery, events, inbox

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
@login_required
def send_test_event():
    """Send webhook.test to one subscription now and return the attempt."""
    data = json_body(TestSendSchema())
    with user_transaction() as conn:
        subscription = conn.execute(
            "select id, organization_id, active from public.webhook_subscriptions where id = %s",
            (data["subscription_id"],),
        ).fetchone()
        if subscription is None:
            raise NotFound("subscription not found")
        if not subscription["active"]:
            raise Conflict("the subscription is disabled; enable it before testing")
        event_id, delivery_id = events.emit_to_subscription(
            conn,
            subscription["organization_id"],
            subscription["id"],
            "webhook.test",
            {"message": "This is a test event from Questbridge.", "subscription_id": str(subscription["id"])},
        )
    outcome = delivery.send_now(_runtime(), delivery_id)
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
