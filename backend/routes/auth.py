"""Local sign-in: login, logout, me, password change and password reset."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request
from marshmallow import Schema, fields, validate

from backend.auth import bearer_session_id, login_required, request_origin, user_transaction
from backend.csrf import refuse_cross_site_sign_in, require_csrf_proof, session_csrf_token
from backend.db import as_service_role
from backend.errors import TooManyRequests, Unauthorized
from backend.routes.common import Names, PersonName, json_body, names_of
from backend.runtime import current_runtime
from backend.services.accounts import invitations, password_changes, sessions, signin, users
from backend.services.shared import audit
from backend.signin import clear_session_cookie, password_sign_in, remember_login_device, signed_in_response

bp = Blueprint("auth", __name__, url_prefix="/api/auth")


class LoginSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(min=3, max=254))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class PasswordResetSchema(Schema):
    token = fields.String(required=True, validate=validate.Length(min=16, max=256))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class MyNamesSchema(Names):
    given_name = PersonName(required=True)
    family_name = PersonName(required=True)


class PasswordChangeSchema(Schema):
    current_password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    new_password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


def _limits():
    return signin.LoginLimits.from_config(current_runtime().config)


@bp.post("/login")
def login():
    refuse_cross_site_sign_in()
    data = json_body(LoginSchema())
    result = password_sign_in(data["email"], data["password"])
    if result.throttled:
        raise TooManyRequests("too many failed sign-ins; try again later", retry_after=result.retry_after)
    if result.user is None:
        raise Unauthorized("invalid email or password")
    user = result.user
    response = signed_in_response(user["id"], user["email"], result.session, user["must_change_password"])
    remember_login_device(response, result.device_cookie)
    return response


@bp.post("/logout")
def logout():
    runtime = current_runtime()
    # A cookie names its session; so does a bearer token of ours, by its session_id claim.
    cookie = request.cookies.get(runtime.config.session_cookie_name)
    session_id = None
    if cookie:
        with runtime.db.transaction("service_role") as conn:
            live = sessions.find_session(conn, cookie) is not None
        if live:
            # Else any page could sign our users out (and, with a login form of its own, back in
            # as someone else). A dead session's cookie is only cleared: nothing to forge there.
            require_csrf_proof(cookie)
        else:
            cookie = None
    else:
        session_id = bearer_session_id()
    if cookie or session_id:
        with runtime.db.transaction("service_role") as conn:
            user_id = sessions.revoke_session(conn, cookie or None, session_id=session_id)
            if user_id:
                audit.record(
                    conn,
                    "auth.logout",
                    target_type="user",
                    target_id=user_id,
                    origin=request_origin(),
                    actor_id=user_id,
                )
    response = current_app.response_class(status=204)
    clear_session_cookie(response)
    return response


@bp.get("/me")
@login_required(allow_password_change=True)
def me():
    with user_transaction() as conn:
        profile = users.my_profile(conn)
        organizations = users.my_organizations(conn)
        with as_service_role(conn):  # invitations are the system's to read: not yet any organization's
            pending = invitations.pending_for(conn, g.identity.user_id)
    cookie = request.cookies.get(current_runtime().config.session_cookie_name) if g.identity.via == "session" else None
    response = jsonify(
        id=str(g.identity.user_id),
        email=profile["email"] if profile else g.identity.email,
        display_name=profile["display_name"] if profile else None,
        given_name=profile["given_name"] if profile else None,
        family_name=profile["family_name"] if profile else None,
        platform_admin=bool(profile and profile["platform_admin"]),
        must_change_password=g.identity.must_change_password,
        organizations=organizations,
        invitations=pending,
        # What the admin UI sends back as X-CSRF-Token; only pages of our origin can read it here.
        csrf_token=session_csrf_token(cookie) if cookie else None,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.put("/me")
@login_required
def set_my_names():
    """Set one's given and family names (what OpenID Connect relying parties such as Moodle read)."""
    data = json_body(MyNamesSchema())
    with user_transaction() as conn:
        names = users.set_my_names(conn, **names_of(data))
    response = jsonify(id=str(g.identity.user_id), **names)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/password")
@login_required(allow_password_change=True)
def change_password():
    """Change one's own password (required first when must_change_password is set)."""
    data = json_body(PasswordChangeSchema())
    runtime = current_runtime()
    user, session = password_changes.change_password(
        runtime.db,
        runtime.hasher,
        _limits(),
        user_id=g.identity.user_id,
        current_password=data["current_password"],
        new_password=data["new_password"],
        origin=request_origin(),
        session_ttl_seconds=runtime.config.session_ttl_seconds,
    )
    return signed_in_response(user["id"], user["email"], session, False)


@bp.post("/password-reset")
def reset_password():
    """Set a new password with the single-use token an admin had sent by email, and sign in."""
    refuse_cross_site_sign_in()
    data = json_body(PasswordResetSchema())
    runtime = current_runtime()
    user, session = password_changes.reset_password(
        runtime.db,
        runtime.hasher,
        token=data["token"],
        password=data["password"],
        origin=request_origin(),
        session_ttl_seconds=runtime.config.session_ttl_seconds,
    )
    return signed_in_response(user["id"], user["email"], session, False)
