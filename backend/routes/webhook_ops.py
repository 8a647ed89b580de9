"""The engines over HTTP: the cron-triggered pass, and the test send queued for them."""

from __future__ import annotations

from flask import Blueprint, jsonify
from marshmallow import Schema, fields

from backend.auth import login_required, require_bearer_secret, user_transaction
from backend.errors import ServiceUnavailable
from backend.routes.common import json_body
from backend.runtime import current_runtime
from backend.services.inbound import processor
from backend.services.oauth import WEBHOOKS_MANAGE
from backend.services.webhooks import engine as delivery
from backend.services.webhooks import subscriptions

bp = Blueprint("webhook_ops", __name__, url_prefix="/api/webhooks")


class TestSendSchema(Schema):
    subscription_id = fields.UUID(required=True)


@bp.post("/retry")
def run_engine_pass():
    """Cron: deliver what is due (pending and retries). Bearer CRON_SECRET."""
    expected = current_runtime().config.cron_secret
    if not expected:
        raise ServiceUnavailable("CRON_SECRET is not configured", retry_after=3600)
    require_bearer_secret(expected, "CRON_SECRET")
    runtime = current_runtime()
    # The inbox first: the grades it applies emit submission.graded, which this pass then delivers.
    inbound = processor.run_pass(
        runtime.db, processor.InboxSettings.from_config(runtime.config), runtime.inbox_handlers
    )
    stats = delivery.run_pass(runtime)
    return jsonify(stats.as_dict() | {"inbound": inbound})


ATTEMPT_FIELDS = ("attempt", "started_at", "duration_ms", "status_code", "error", "response_body")


@bp.post("/test")
@login_required(scope=WEBHOOKS_MANAGE)
def send_test_event():
    """Queue webhook.test for one subscription. 200 with the attempt when an engine makes it within
    WEBHOOKS_TEST_WAIT_SECONDS; otherwise 202 with the delivery to follow in the delivery log."""
    data = json_body(TestSendSchema())
    runtime = current_runtime()
    with user_transaction() as conn:
        queued = subscriptions.queue_test_delivery(
            conn, data["subscription_id"], subscriptions.TestSendLimits.from_config(runtime.config)
        )
    outcome = _wait_for_attempt(runtime, queued["delivery_id"]) or {"status": queued["status"], "attempt": None}
    body = {"delivery_id": str(queued["delivery_id"]), "event_id": str(queued["event_id"]), "status": outcome["status"]}
    if outcome["attempt"] is None:
        return jsonify(body), 202, {"Location": f"/api/webhooks/deliveries/{queued['delivery_id']}"}
    return jsonify(body | {"attempt": {name: outcome[name] for name in ATTEMPT_FIELDS}})


def _wait_for_attempt(runtime, delivery_id) -> dict | None:
    """The test delivery after the short wait for its attempt, or None when this request does not
    wait: at most WEBHOOKS_TEST_MAX_WAITING requests of a process wait at once, so test sends of
    many organizations together never take every thread of a web process."""
    seconds = runtime.config.webhooks_test_wait_seconds
    slots = runtime.test_send_waits
    if seconds <= 0 or not slots.acquire(blocking=False):
        return None
    try:
        return subscriptions.wait_for_test_attempt(runtime.db, delivery_id, seconds)
    finally:
        slots.release()
