"""The autograder's grade webhook: verified, stored in the inbox, answered 202 before processing."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from backend import metrics
from backend.auth import request_origin
from backend.routes.common import read_limited_body
from backend.runtime import current_runtime
from backend.services.inbound import autograder, receipt
from backend.services.inbound.processor import InboxSettings

bp = Blueprint("autograder", __name__)


@bp.post("/api/webhooks/autograder/", strict_slashes=False)  # autograders often drop the slash
def receive_grade():
    runtime = current_runtime()
    body = read_limited_body(receipt.MAX_BODY_BYTES)
    received = autograder.receive(
        runtime.db,
        runtime.config.autograder_webhook_secrets,
        runtime.secretbox,
        body,
        request.headers.get(autograder.SIGNATURE_HEADER),
        request_origin(),
        InboxSettings.from_config(runtime.config),
    )
    metrics.INBOUND_RECEIVED.labels("autograder", "accepted").inc()
    return jsonify(status="accepted", event_id=received.event_id), 202
