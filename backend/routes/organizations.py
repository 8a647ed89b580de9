"""Organizations, their members (invited through routes/invitations.py), and admin-triggered password
resets."""

from __future__ import annotations

from flask import Blueprint, g, jsonify
from marshmallow import Schema, fields, post_load, validate

from backend.auth import login_required, request_origin, user_transaction
from backend.errors import ServiceUnavailable
from backend.routes.common import PageQuery, answered, as_user, done, json_body, listed
from backend.runtime import current_runtime
from backend.services.accounts import mail, organizations
from backend.services.keys import manage

bp = Blueprint("organizations", __name__, url_prefix="/api/organizations")


class OrganizationSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


@bp.post("")
@login_required
def create_organization():
    data = json_body(OrganizationSchema())
    return answered(organizations.create_organization, g.identity.user_id, data["name"], request_origin(), status=201)


@bp.get("")
@login_required
def list_organizations():
    return listed(organizations.list_organizations, PageQuery())


@bp.get("/<uuid:org_id>/members")
@login_required
def list_members(org_id):
    return listed(organizations.list_members, PageQuery(), organization_id=org_id)


@bp.delete("/<uuid:org_id>/members/me")
@login_required
def leave(org_id):
    """Leave an organization; its last admin cannot (409)."""
    return done(organizations.leave, org_id, request_origin())


@bp.delete("/<uuid:org_id>/members/<uuid:user_id>")
@login_required
def remove_member(org_id, user_id):
    """An org admin removes a member; the organization keeps at least one admin (409)."""
    return done(organizations.remove_member, org_id, user_id, request_origin())


@bp.post("/<uuid:org_id>/members/<uuid:user_id>/password-reset")
@login_required
def request_password_reset(org_id, user_id):
    config = current_runtime().config
    with user_transaction() as conn:
        email, token, organization_name = organizations.request_password_reset(
            conn, org_id, user_id, request_origin(), config.password_reset_ttl_seconds
        )
    if not mail.send_password_reset(config, email, token, organization_name):
        # Nothing was sent, so nothing can use the token; asking again issues a fresh one.
        raise ServiceUnavailable("the reset email could not be sent; try again later", retry_after=60)
    return jsonify(status="sent"), 202


# -- what the organization may hold in API keys: limits set by platform admins -------------------


class LimitsSchema(Schema):
    allowed_tiers = fields.List(
        fields.String(validate=validate.OneOf(manage.TIERS)),
        required=True,
        validate=validate.Length(min=1, max=len(manage.TIERS)),
    )
    max_api_keys = fields.Integer(strict=True, required=True, validate=validate.Range(min=0, max=manage.MAX_KEYS_LIMIT))

    @post_load
    def _in_tier_order(self, data, **kwargs):
        data["allowed_tiers"] = [tier for tier in manage.TIERS if tier in data["allowed_tiers"]]
        return data


def _limits_answer(limits: dict):
    """The limits with what each allowed tier admits, so the admin UI shows real figures."""
    tiers = current_runtime().config.api_key_tiers
    return jsonify(limits | {"tiers": [{"tier": tier, **tiers[tier]} for tier in limits["allowed_tiers"]]})


@bp.get("/<uuid:org_id>/limits")
@login_required
def get_limits(org_id):
    return _limits_answer(as_user(manage.get_limits, org_id))


@bp.put("/<uuid:org_id>/limits")
@login_required
def set_limits(org_id):
    data = json_body(LimitsSchema())
    return _limits_answer(
        as_user(manage.set_limits, org_id, data["allowed_tiers"], data["max_api_keys"], request_origin())
    )
