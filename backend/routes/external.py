"""The external API partners call with an API key (/v1/external/*): admission, rate-limit headers, events.

Every request under /v1/external/ passes `_admit` first, an app-wide hook limited to that prefix,
so no route can forget it and even an unknown path or a wrong method is authenticated, counted
and answered with the rate-limit headers. A malformed key is refused before any database work.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from marshmallow import Schema, ValidationError, fields

from backend.auth import request_origin
from backend.errors import Forbidden, TooManyRequests, Unauthorized
from backend.routes.common import json_body
from backend.runtime import current_runtime
from backend.services.keys import admission, pushed
from backend.services.keys.format import MalformedKey, parse_key

bp = Blueprint("external", __name__, url_prefix="/v1/external")

PREFIX = "/v1/external/"
API_KEY_HEADER = "X-API-Key"
CHALLENGE = {"WWW-Authenticate": f'ApiKey realm="questbridge", header="{API_KEY_HEADER}"'}
INVALID_KEY = "the API key is not valid"
REFUSALS = {
    "unknown_key": INVALID_KEY,
    "wrong_secret": INVALID_KEY,
    "revoked": "the API key has been revoked",
    "expired": "the API key was replaced by a rotation and its grace period is over; use the new key",
}


def _event_type(value: str) -> None:
    problem = pushed.check_event_type(value)
    if problem is not None:
        raise ValidationError(problem)


class EventSchema(Schema):
    event_type = fields.String(required=True, validate=_event_type)
    data = fields.Dict(required=True)


def _unauthorized(detail: str) -> Unauthorized:
    return Unauthorized(detail, errors={API_KEY_HEADER: [detail]}, headers=dict(CHALLENGE))


def rate_limit_headers(usage: admission.Usage) -> dict[str, str]:
    """X-RateLimit-* describe the daily quota, or the burst window when that is what refused the
    request; the IETF RateLimit field names the window with fewer requests left, RateLimit-Policy both.
    A window's reset is when it is whole again (for the burst: when its bucket has drained)."""
    shown = "burst" if not usage.admitted and usage.binding_window == "burst" else "daily"
    limit, remaining, reset = usage.window(shown)
    binding = usage.binding_window
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset),
        "RateLimit-Policy": f'"burst";q={usage.limits.per_minute};w=60, "daily";q={usage.limits.per_day};w=86400',
        "RateLimit": f'"{binding}";r={usage.window(binding)[1]};t={usage.seconds_until_reset(binding)}',
    }


@bp.before_app_request
def _admit():
    if not (request.path.startswith(PREFIX) or request.path == PREFIX.rstrip("/")):
        return
    raw = request.headers.get(API_KEY_HEADER, "").strip()
    if not raw:
        raise _unauthorized(f"send your API key in the {API_KEY_HEADER} header")
    try:
        presented = parse_key(raw)
    except MalformedKey as malformed:
        raise _unauthorized(f"the API key {malformed}") from None
    runtime = current_runtime()
    client_ip = request_origin().ip
    with runtime.db.transaction("service_role") as conn:
        admitted = admission.admit(
            conn,
            presented,
            client_ip,
            runtime.config.api_key_tiers,
            count=runtime.config.api_keys_rate_limit_enabled,
        )
    g.api_key_usage = admitted.usage
    refusal, usage = admitted.refusal, admitted.usage
    if refusal is None:
        g.api_key = admitted.key
        g.api_key_client_ip = client_ip
    elif refusal in REFUSALS:
        raise _unauthorized(REFUSALS[refusal])
    elif refusal == "ip_not_allowed":
        raise Forbidden(f"this API key may not be used from {client_ip or 'an unknown address'}", slug="ip-not-allowed")
    else:
        window = usage.binding_window
        limit = usage.window(window)[0]
        what = f"{limit} requests a minute" if window == "burst" else f"{limit} requests a day (UTC)"
        raise TooManyRequests(
            f"the {window} limit of this key's tier ({what}) is used up",
            retry_after=usage.seconds_until_admitted(window),
            extra={"window": window},
        )


@bp.after_app_request
def _add_rate_limit_headers(response):
    usage = g.pop("api_key_usage", None)
    if usage is not None:
        response.headers.update(rate_limit_headers(usage))
    return response


@bp.get("/key")
def describe_key():
    """The calling key: its id, organization, tier and limits (a cheap way to check a key works)."""
    key: admission.ApiKey = g.api_key
    limits = admission.limits_for(current_runtime().config.api_key_tiers, key.tier)
    return jsonify(
        key_id=key.key_id,
        organization_id=key.organization_id,
        tier=key.tier,
        limits={"per_day": limits.per_day, "per_minute": limits.per_minute},
    )


@bp.post("/events")
def push_event():
    body = json_body(EventSchema())
    pushed.check_event_data(body["data"])
    with current_runtime().db.transaction("service_role") as conn:
        event_id = pushed.push_event(conn, g.api_key, g.api_key_client_ip, body["event_type"], body["data"])
    return jsonify(event_id=event_id), 202


@bp.get("/events/<uuid:event_id>")
def get_event(event_id):
    with current_runtime().db.transaction("service_role") as conn:
        event = pushed.get_pushed_event(conn, g.api_key, event_id)
    return jsonify(event)
