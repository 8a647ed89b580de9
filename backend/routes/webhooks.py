"""Outbound webhooks for org admins: the event catalog, subscriptions and the delivery log."""

from __future__ import annotations

from datetime import UTC

from flask import Blueprint, g, jsonify
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from backend.auth import login_required, request_origin, user_transaction
from backend.routes.common import NoBody, PageQuery, StrictBoolean, answered, json_body, listed
from backend.runtime import current_runtime
from backend.services.oauth import WEBHOOKS_MANAGE
from backend.services.webhooks import events, subscriptions

bp = Blueprint("webhooks", __name__, url_prefix="/api/webhooks")


def _event_type(value: str) -> None:
    if not events.is_valid_type(value):
        raise ValidationError(
            f"{value!r} is not an event type: use a catalog type, a dotted name like partner.thing_happened, or *"
        )
    # A custom name is one partners may push: a lookalike of our own namespaces is refused here too.
    problem = None if value in events.CATALOG or value == events.WILDCARD else events.custom_type_problem(value)
    if problem is not None:
        raise ValidationError(f"{value!r} {problem}")


def _target_url(required: bool) -> fields.String:
    return fields.String(required=required, validate=validate.Length(min=1, max=2048))


def _description(**kwargs) -> fields.String:
    return fields.String(validate=validate.Length(max=500), **kwargs)


class EventTypesMixin:
    """`event_types: [..]` or a single `event_type`, never both; loaded as a deduplicated list."""

    event_types = fields.List(
        fields.String(validate=_event_type), validate=validate.Length(min=1, max=subscriptions.MAX_EVENT_TYPES)
    )
    event_type = fields.String(validate=_event_type)
    event_types_required = True

    @validates_schema
    def _one_of(self, data, **kwargs):
        given = ("event_types" in data) + ("event_type" in data)
        if given > 1:
            raise ValidationError("send event_types or event_type, not both", field_name="event_types")
        if given == 0 and self.event_types_required:
            raise ValidationError("send event_types (a list) or event_type (one name)", field_name="event_types")

    @post_load
    def _as_list(self, data, **kwargs):
        if "event_type" in data:
            data["event_types"] = [data.pop("event_type")]
        if "event_types" in data:
            data["event_types"] = list(dict.fromkeys(data["event_types"]))
        return data


class SubscriptionSchema(EventTypesMixin, Schema):
    organization_id = fields.UUID(required=True)
    target_url = _target_url(required=True)
    description = _description(load_default="")


class SubscriptionChangesSchema(EventTypesMixin, Schema):
    target_url = _target_url(required=False)
    active = StrictBoolean()
    description = _description()
    event_types_required = False

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError("send at least one of target_url, event_types, active, description")


class RotateSecretSchema(Schema):
    grace_seconds = fields.Integer(
        strict=True,
        load_default=subscriptions.DEFAULT_GRACE_SECONDS,
        validate=validate.Range(min=0, max=subscriptions.MAX_GRACE_SECONDS),
    )


class RedeliverDeadSchema(Schema):
    since = fields.AwareDateTime(default_timezone=UTC, load_default=None)
    until = fields.AwareDateTime(default_timezone=UTC, load_default=None)

    @validates_schema
    def _ordered(self, data, **kwargs):
        if data["since"] and data["until"] and data["since"] >= data["until"]:
            raise ValidationError("must be later than since", field_name="until")


class SubscriptionQuery(PageQuery):
    organization_id = fields.UUID(required=True)


class DeliveryQuery(PageQuery):
    organization_id = fields.UUID(load_default=None)
    subscription_id = fields.UUID(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(subscriptions.DELIVERY_STATUSES))
    event_type = fields.String(load_default=None, validate=validate.Length(min=1, max=128))

    @validates_schema
    def _scoped(self, data, **kwargs):
        if data["organization_id"] is None and data["subscription_id"] is None:
            raise ValidationError("send organization_id or subscription_id", field_name="organization_id")


@bp.get("/event-types")
@login_required(scope=WEBHOOKS_MANAGE)
def list_event_types():
    return jsonify(data=events.catalog())


@bp.post("/subscriptions")
@login_required(scope=WEBHOOKS_MANAGE)
def create_subscription():
    data = json_body(SubscriptionSchema())
    runtime = current_runtime()
    target_url = subscriptions.check_target(data["target_url"], runtime.target_policy)
    with user_transaction() as conn:
        subscription = subscriptions.create_subscription(
            conn,
            runtime.secretbox,
            user_id=g.identity.user_id,
            organization_id=data["organization_id"],
            target_url=target_url,
            event_types=data["event_types"],
            description=data["description"],
            origin=request_origin(),
        )
    return jsonify(subscription), 201


@bp.get("/subscriptions")
@login_required(scope=WEBHOOKS_MANAGE)
def list_subscriptions():
    return listed(subscriptions.list_subscriptions, SubscriptionQuery())


@bp.get("/subscriptions/<uuid:subscription_id>")
@login_required(scope=WEBHOOKS_MANAGE)
def get_subscription(subscription_id):
    return answered(subscriptions.get_subscription, subscription_id)


@bp.put("/subscriptions/<uuid:subscription_id>")
@login_required(scope=WEBHOOKS_MANAGE)
def update_subscription(subscription_id):
    changes = json_body(SubscriptionChangesSchema())
    if "target_url" in changes:
        changes["target_url"] = subscriptions.check_target(changes["target_url"], current_runtime().target_policy)
    return answered(subscriptions.update_subscription, subscription_id, changes, request_origin())


@bp.delete("/subscriptions/<uuid:subscription_id>")
@login_required(scope=WEBHOOKS_MANAGE)
def delete_subscription(subscription_id):
    with user_transaction() as conn:
        subscriptions.delete_subscription(conn, subscription_id, request_origin())
    return "", 204


@bp.post("/subscriptions/<uuid:subscription_id>/rotate-secret")
@login_required(scope=WEBHOOKS_MANAGE)
def rotate_secret(subscription_id):
    data = json_body(RotateSecretSchema())
    return answered(
        subscriptions.rotate_secret,
        current_runtime().secretbox,
        subscription_id,
        data["grace_seconds"],
        request_origin(),
    )


@bp.post("/subscriptions/<uuid:subscription_id>/redeliver-dead")
@login_required(scope=WEBHOOKS_MANAGE)
def redeliver_dead(subscription_id):
    data = json_body(RedeliverDeadSchema())
    with user_transaction() as conn:
        count = subscriptions.redeliver_dead(
            conn, subscription_id=subscription_id, since=data["since"], until=data["until"], origin=request_origin()
        )
    return jsonify(count=count), 202


class RedeliverDeadInOrganizationSchema(RedeliverDeadSchema):
    organization_id = fields.UUID(required=True)


@bp.post("/deliveries/redeliver-dead")
@login_required(scope=WEBHOOKS_MANAGE)
def redeliver_dead_in_organization():
    """Every dead delivery of every subscription of an organization, queued again (bulk replay)."""
    data = json_body(RedeliverDeadInOrganizationSchema())
    with user_transaction() as conn:
        count = subscriptions.redeliver_dead(
            conn,
            subscription_id=None,
            organization_id=data["organization_id"],
            since=data["since"],
            until=data["until"],
            origin=request_origin(),
        )
    return jsonify(count=count), 202


@bp.get("/deliveries")
@login_required(scope=WEBHOOKS_MANAGE)
def list_deliveries():
    return listed(subscriptions.list_deliveries, DeliveryQuery())


@bp.get("/deliveries/<uuid:delivery_id>")
@login_required(scope=WEBHOOKS_MANAGE)
def get_delivery(delivery_id):
    return answered(subscriptions.get_delivery, delivery_id)


@bp.post("/deliveries/<uuid:delivery_id>/redeliver")
@login_required(scope=WEBHOOKS_MANAGE)
def redeliver(delivery_id):
    json_body(NoBody())
    return answered(subscriptions.redeliver, delivery_id, request_origin(), status=202)
