"""Organizations, their members, and admin-triggered password resets."""

from __future__ import annotations

import structlog
from flask import Blueprint, current_app, g, jsonify
from marshmallow import Schema, fields, post_load, validate

from backend.auth import login_required, request_origin, user_transaction
from backend.errors import ServiceUnavailable
from backend.routes.common import PageQuery, json_body, page, query_args
from backend.services import api_keys, mailer, organizations

bp = Blueprint("organizations", __name__, url_prefix="/api/organizations")
log = structlog.get_logger(__name__)


class OrganizationSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


class MemberSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    role = fields.String(required=True, validate=validate.OneOf(["admin", "member"]))


def _runtime():
    return current_app.extensions["questbridge"]


def _mail_settings() -> mailer.MailSettings:
    config = _runtime().config
    return mailer.MailSettings(
        host=config.smtp_host,
        port=config.smtp_port,
        user=config.smtp_user,
        password=config.smtp_password,
        sender=config.smtp_from,
        starttls=config.smtp_starttls,
        console_fallback=not config.is_production,
    )


def _send_password_link(email: str, token: str, invited: bool) -> bool:
    """Email the single-use link; False (logged, without the link) when no mail server took it."""
    config = _runtime().config
    link = f"{config.public_url}/admin/reset-password?token={token}"
    ttl = config.password_reset_ttl_seconds
    lifetime = f"{ttl // 3600} hour(s)" if ttl % 3600 == 0 else f"{max(1, ttl // 60)} minute(s)"
    if invited:
        subject = "You have been invited to Questbridge"
        intro = "An organization admin added you to Questbridge. Choose your password here:"
    else:
        subject = "Reset your Questbridge password"
        intro = "An organization admin asked for your Questbridge password to be reset. Choose a new one here:"
    body = f"{intro}\n\n{link}\n\nThe link works once and expires in {lifetime}.\n"
    try:
        mailer.send(_mail_settings(), email, subject, body)
    except mailer.MailError as exc:
        log.warning("password_link_not_sent", invited=invited, reason=str(exc))
        return False
    return True


@bp.post("")
@login_required
def create_organization():
    data = json_body(OrganizationSchema())
    with user_transaction() as conn:
        organization = organizations.create_organization(conn, g.identity.user_id, data["name"], request_origin())
    return jsonify(organization), 201


@bp.get("")
@login_required
def list_organizations():
    args = query_args(PageQuery())
    with user_transaction() as conn:
        rows, next_cursor = organizations.list_organizations(conn, args["limit"], args["cursor"])
    return jsonify(page(rows, next_cursor))


@bp.post("/<uuid:org_id>/members")
@login_required
def add_member(org_id):
    data = json_body(MemberSchema())
    runtime = _runtime()
    with user_transaction() as conn:
        result = organizations.add_member(
            conn,
            runtime.hasher,
            org_id,
            data["email"],
            data["role"],
            request_origin(),
            runtime.config.password_reset_ttl_seconds,
        )
    # The membership is committed whatever the mail server says; an admin resends the link with
    # the member's password-reset when invitation_sent is false.
    sent = (
        _send_password_link(result.membership["email"], result.reset_token, invited=True)
        if result.reset_token
        else None
    )
    return jsonify(result.membership | {"invited": result.created_account, "invitation_sent": sent}), 201


@bp.get("/<uuid:org_id>/members")
@login_required
def list_members(org_id):
    args = query_args(PageQuery())
    with user_transaction() as conn:
        rows, next_cursor = organizations.list_members(conn, org_id, args["limit"], args["cursor"])
    return jsonify(page(rows, next_cursor))


@bp.post("/<uuid:org_id>/members/<uuid:user_id>/password-reset")
@login_required
def request_password_reset(org_id, user_id):
    runtime = _runtime()
    with user_transaction() as conn:
        email, token = organizations.request_password_reset(
            conn, org_id, user_id, request_origin(), runtime.config.password_reset_ttl_seconds
        )
    if not _send_password_link(email, token, invited=False):
        # Nothing was sent, so nothing can use the token; asking again issues a fresh one.
        raise ServiceUnavailable("the reset email could not be sent; try again later", retry_after=60)
    return jsonify(status="sent"), 202


# -- what the organization may hold in API keys: limits set by platform admins -------------------


class LimitsSchema(Schema):
    allowed_tiers = fields.List(
        fields.String(validate=validate.OneOf(api_keys.TIERS)),
        required=True,
        validate=validate.Length(min=1, max=len(api_keys.TIERS)),
    )
    max_api_keys = fields.Integer(
        strict=True, required=True, validate=validate.Range(min=0, max=api_keys.MAX_KEYS_LIMIT)
    )

    @post_load
    def _in_tier_order(self, data, **kwargs):
        data["allowed_tiers"] = [tier for tier in api_keys.TIERS if tier in data["allowed_tiers"]]
        return data


def _limits_answer(limits: dict):
    """The limits with what each allowed tier admits, so the admin UI shows real figures."""
    tiers = _runtime().config.api_key_tiers
    return jsonify(limits | {"tiers": [{"tier": tier, **tiers[tier]} for tier in limits["allowed_tiers"]]})


@bp.get("/<uuid:org_id>/limits")
@login_required
def get_limits(org_id):
    with user_transaction() as conn:
        limits = api_keys.get_limits(conn, org_id)
    return _limits_answer(limits)


@bp.put("/<uuid:org_id>/limits")
@login_required
def set_limits(org_id):
    data = json_body(LimitsSchema())
    with user_transaction() as conn:
        limits = api_keys.set_limits(conn, org_id, data["allowed_tiers"], data["max_api_keys"], request_origin())
    return _limits_answer(limits)
