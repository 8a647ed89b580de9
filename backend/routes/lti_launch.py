"""LTI 1.3 launches: the platform's login initiation (GET|POST /lti/login), the launch it posts
back (POST /lti/launch) and the mapping of a resource link to a quest. Every refusal is a page
that says why (services/lti/launch.py decides), which the LMS's frame may show.

Both the launch and the session it starts happen inside the LMS's frame, a cross-site context:
their cookies are SameSite=None; Secure; Partitioned (signin.set_framed_cookie). The launch sets
the session cookie from a cross-site POST on purpose: what proves it is the platform's signed
id_token, whose state must match the cookie /lti/login gave this very browser, not the site
the post came from (so refuse_cross_site_sign_in does not apply here).
"""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, request
from marshmallow import Schema, fields

from backend import oauth_pages as pages
from backend.auth import login_required, request_origin
from backend.routes.common import as_user, json_body
from backend.runtime import current_runtime
from backend.services.lti import launch, people
from backend.services.lti.platforms import ToolUrls
from backend.signin import set_framed_cookie

bp = Blueprint("lti_launch", __name__)

STATE_COOKIE = "qb_lti_state"
LAUNCH_PATH = "/lti/launch"
ANY_FRAME = "*"  # the pages carry no action: any LMS may frame them


class ResourceLinkSchema(Schema):
    quest_id = fields.UUID(required=True)


def _refusal(heading: str, reason: str, status: int):
    return pages.message(
        heading,
        reason,
        status,
        detail="Nothing was changed in Questbridge. If this keeps happening, show this page to your LMS admin.",
        framed_by=ANY_FRAME,
    )


@bp.route("/lti/login", methods=["GET", "POST"])
def login():
    runtime = current_runtime()
    params = request.values.to_dict()
    launch_url = ToolUrls(runtime.config.public_url.rstrip("/")).launch_url
    try:
        with runtime.db.transaction("service_role") as conn:
            started = launch.start_login(conn, params, launch_url)
    except launch.Refused as refused:
        return _refusal("This launch cannot start", refused.reason, refused.status)
    response = redirect(started.redirect_url, 302)
    response.headers["Cache-Control"] = "no-store"
    set_framed_cookie(response, STATE_COOKIE, started.state, launch.STATE_SECONDS, path=LAUNCH_PATH)
    return response


@bp.post(LAUNCH_PATH)
def launch_post():
    runtime = current_runtime()
    try:
        verified = launch.verify_launch(
            runtime.db, runtime.lti_key_sets, request.form.to_dict(), request.cookies.get(STATE_COOKIE)
        )
    except launch.Refused as refused:
        return _refusal("This launch was refused", refused.reason, refused.status)
    if verified.message_type == launch.DEEP_LINKING_REQUEST:
        return _refusal(
            "Choosing quests is not available yet",
            "This version of the Questbridge tool takes resource-link launches only: add the link by "
            "its URL and set its quest in Questbridge instead of picking one here.",
            400,
        )
    with runtime.db.transaction("service_role") as conn:
        link = people.resource_link(conn, verified)
    if link.quest_id is None:
        title = f" “{link.title}”" if link.title else ""
        return pages.message(
            "This link has no quest yet",
            f"The course link{title} does not open a quest yet. An admin of the organization sets it "
            f"with PUT /api/lti/resource-links/{link.id}.",
            404,
            detail=f"Resource link {link.id}",
            framed_by=ANY_FRAME,
        )
    with runtime.db.transaction("service_role") as conn:
        signed_in = people.sign_in(
            conn,
            runtime.hasher,
            verified,
            link.quest_id,
            session_ttl_seconds=runtime.config.session_ttl_seconds,
            origin=request_origin(),
        )
    response = redirect(f"/learn/quests/{signed_in.quest_id}", 303)
    response.headers["Cache-Control"] = "no-store"
    set_framed_cookie(
        response, runtime.config.session_cookie_name, signed_in.session.token, runtime.config.session_ttl_seconds
    )
    set_framed_cookie(response, STATE_COOKIE, "", 0, path=LAUNCH_PATH)
    return response


@bp.put("/api/lti/resource-links/<uuid:resource_link_id>")
@login_required
def map_resource_link(resource_link_id):
    data = json_body(ResourceLinkSchema())
    row = as_user(people.set_resource_link_quest, resource_link_id, data["quest_id"], request_origin())
    return jsonify(row)
