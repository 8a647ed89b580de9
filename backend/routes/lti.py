"""LTI 1.3, Questbridge as the tool: the tool's key set, the LMS platforms org admins register,
and the developer-key JSON Canvas reads."""

from __future__ import annotations

from flask import Blueprint, g, jsonify
from marshmallow import Schema, fields, validate

from backend.auth import login_required, request_origin
from backend.routes.common import Changes, PageQuery, as_user, done, json_body, listed, not_blank, query_args
from backend.runtime import current_runtime
from backend.services.lti import platforms

bp = Blueprint("lti", __name__)


def _text(maximum: int, **kwargs) -> fields.String:
    return fields.String(validate=[validate.Length(min=1, max=maximum), not_blank], **kwargs)


def _url(**kwargs) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=2048), **kwargs)


def _platform_fields(required: bool) -> dict:
    """The registration's fields; a platform's issuer is the URL that identifies it (`iss`)."""
    return {
        "name": _text(200, required=required),
        "issuer": fields.String(
            required=required, validate=[validate.Length(max=2048), validate.URL(require_tld=False)]
        ),
        "client_id": _text(255, required=required),
        "deployment_ids": fields.List(_text(255), required=required, validate=validate.Length(max=100)),
        "auth_login_url": _url(required=required),
        "auth_token_url": _url(required=required),
        "key_set_url": _url(required=required),
        "auth_token_audience": _text(2048, allow_none=True),
    }


class PlatformSchema(Schema.from_dict(_platform_fields(required=True))):
    organization_id = fields.UUID(required=True)


class PlatformChangesSchema(Changes.from_dict(_platform_fields(required=False))):
    nothing_sent = f"send at least one of {', '.join(platforms.FIELDS)}"


class PlatformQuery(PageQuery):
    organization_id = fields.UUID(required=True)


class CanvasConfigQuery(Schema):
    platform_id = fields.UUID(load_default=None)  # None: before the platform is registered here


def _tool_urls() -> platforms.ToolUrls:
    return platforms.ToolUrls(current_runtime().config.public_url.rstrip("/"))


def _shown(platform: dict) -> dict:
    return platform | {"tool": _tool_urls().for_platform(platform["id"])}


@bp.get("/lti/jwks.json")
def jwks():
    response = jsonify(current_runtime().lti_keys.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/lti/canvas.json")
def canvas_configuration():
    args = query_args(CanvasConfigQuery())
    with current_runtime().db.transaction("service_role") as conn:
        configuration = platforms.canvas_configuration(conn, args["platform_id"], _tool_urls())
    return jsonify(configuration)


@bp.get("/api/lti/tool")
@login_required
def tool():
    """What an admin pastes into the LMS before registering the platform here (the LMS gives the
    client id and deployment id only after)."""
    return jsonify(_tool_urls().for_platform())


@bp.post("/api/lti/platforms")
@login_required
def create_platform():
    data = json_body(PlatformSchema())
    organization_id = data.pop("organization_id")
    checked = platforms.check_urls(data, current_runtime().target_policy)
    platform = as_user(
        platforms.create_platform,
        user_id=g.identity.user_id,
        organization_id=organization_id,
        fields=checked,
        origin=request_origin(),
    )
    return jsonify(_shown(platform)), 201


@bp.get("/api/lti/platforms")
@login_required
def list_platforms():
    return listed(platforms.list_platforms, PlatformQuery(), shown=_shown)


@bp.get("/api/lti/platforms/<uuid:platform_id>")
@login_required
def get_platform(platform_id):
    return jsonify(_shown(as_user(platforms.get_platform, platform_id)))


@bp.put("/api/lti/platforms/<uuid:platform_id>")
@login_required
def update_platform(platform_id):
    changes = platforms.check_urls(json_body(PlatformChangesSchema()), current_runtime().target_policy)
    return jsonify(_shown(as_user(platforms.update_platform, platform_id, changes, request_origin())))


@bp.delete("/api/lti/platforms/<uuid:platform_id>")
@login_required
def delete_platform(platform_id):
    return done(platforms.delete_platform, platform_id, request_origin())
