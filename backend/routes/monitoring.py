"""Monitoring for org admins (one organization) and platform admins (all): webhooks, audit, /metrics."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from marshmallow import Schema, fields, validate

from backend import metrics
from backend.auth import login_required, require_bearer_secret, user_transaction
from backend.routes.common import PageQuery, page, query_args
from backend.runtime import current_runtime
from backend.services import monitoring
from backend.services.keys import usage

bp = Blueprint("monitoring", __name__)

DELIVERY_STATUSES = ("pending", "delivering", "retrying", "delivered", "dead")


class ScopeQuery(Schema):
    organization_id = fields.UUID(load_default=None)


class MetricsQuery(ScopeQuery):
    window_hours = fields.Integer(load_default=24, validate=validate.Range(min=1, max=24 * 90))


class TimeseriesQuery(ScopeQuery):
    minutes = fields.Integer(load_default=60, validate=validate.Range(min=1, max=24 * 60))


class RecentQuery(ScopeQuery):
    status = fields.String(load_default=None, validate=validate.OneOf(DELIVERY_STATUSES))
    event_type = fields.String(load_default=None, validate=validate.Length(min=1, max=128))


class AuditQuery(PageQuery):
    organization_id = fields.UUID(load_default=None)
    action = fields.String(load_default=None, validate=validate.Regexp(r"^[a-z_]+(\.[a-z_]+)*$"))


@bp.get("/v1/monitoring/webhooks/metrics")
@login_required
def webhook_metrics():
    args = query_args(MetricsQuery())
    with user_transaction() as conn, monitoring.scoped(conn, args["organization_id"]) as scoped:
        return jsonify(monitoring.delivery_metrics(scoped, args["organization_id"], args["window_hours"]))


@bp.get("/v1/monitoring/webhooks/timeseries")
@login_required
def webhook_timeseries():
    args = query_args(TimeseriesQuery())
    with user_transaction() as conn, monitoring.scoped(conn, args["organization_id"]) as scoped:
        return jsonify(data=monitoring.delivery_timeseries(scoped, args["organization_id"], args["minutes"]))


@bp.get("/v1/monitoring/webhooks/recent")
@login_required
def recent_deliveries():
    args = query_args(RecentQuery())
    with user_transaction() as conn, monitoring.scoped(conn, args["organization_id"]) as scoped:
        rows = monitoring.recent_deliveries(scoped, args["organization_id"], args["status"], args["event_type"])
    return jsonify(data=rows)


@bp.get("/v1/monitoring/external/keys")
@login_required
def api_key_usage():
    """API key usage today by tier: keys, requests, distinct client IPs and rate-limit hits."""
    args = query_args(ScopeQuery())
    with user_transaction() as conn, monitoring.scoped(conn, args["organization_id"]) as scoped:
        return jsonify(data=usage.usage_by_tier(scoped, args["organization_id"]))


@bp.get("/api/audit")
@login_required
def audit_log():
    args = query_args(AuditQuery())
    with user_transaction() as conn, monitoring.scoped(conn, args["organization_id"]) as scoped:
        rows, next_cursor = monitoring.audit_entries(
            scoped, args["organization_id"], args["action"], args["limit"], args["cursor"]
        )
    return jsonify(page(rows, next_cursor))


@bp.get("/metrics")
def prometheus_metrics():
    """Prometheus text format; requires `Authorization: Bearer <METRICS_TOKEN>` when that is set."""
    token = current_runtime().config.metrics_token
    if token:
        require_bearer_secret(token, "METRICS_TOKEN")
    registry = current_runtime().metrics
    return Response(metrics.render(registry), mimetype="text/plain; version=0.0.4; charset=utf-8")
