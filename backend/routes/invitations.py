"""Invitations: org admins invite by email (POST /api/organizations/<org>/members) and manage what
they sent; invitees accept or decline, through the emailed link or the prompt once signed in."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify
from marshmallow import Schema, fields, validate

from backend.auth import authenticate_request, login_required, request_origin, user_transaction
from backend.csrf import refuse_cross_site_sign_in
from backend.errors import Forbidden
from backend.routes.common import Names, PageQuery, done, json_body, listed, names_of
from backend.runtime import current_runtime
from backend.services.accounts import invitations, mail, sessions
from backend.services.accounts.invitations import IssuedLink
from backend.signin import signed_in_response

bp = Blueprint("invitations", __name__)


class InvitationSchema(Names):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    role = fields.String(required=True, validate=validate.OneOf(["admin", "member"]))


class InvitationQuery(PageQuery):
    status = fields.String(load_default=None, validate=validate.OneOf(invitations.STATUSES))


class TokenSchema(Schema):
    token = fields.String(required=True, validate=validate.Length(min=16, max=256))


class AcceptSchema(TokenSchema, Names):
    # Only for an email without an account yet: the password of the account accepting creates.
    password = fields.String(load_default=None, validate=validate.Length(min=1, max=1024))


def _sent(issued: IssuedLink):
    """The invitation as its organization sees it, once its email was handed on (or not: then the
    admin resends it; the invitation stands either way)."""
    sent = mail.send_invitation(
        current_runtime().config,
        issued.invitation["email"],
        issued.token,
        issued.organization_name,
        issued.invitation["role"],
        issued.inviter_email,
    )
    return issued.invitation | {"invitation_sent": sent}


# --- the organization's side ---------------------------------------------------------------------


@bp.post("/api/organizations/<uuid:org_id>/members")
@login_required
def invite_member(org_id):
    """Invite an email: the person becomes a member only by accepting. The same answer whether or
    not the email has an account; inviting an email with an open invitation renews it."""
    data = json_body(InvitationSchema())
    with user_transaction() as conn:
        issued = invitations.invite(
            conn,
            org_id,
            data["email"],
            data["role"],
            request_origin(),
            current_runtime().config.invitation_ttl_seconds,
            names=names_of(data),
        )
    return jsonify(_sent(issued)), 201


@bp.get("/api/organizations/<uuid:org_id>/invitations")
@login_required
def list_invitations(org_id):
    return listed(invitations.list_invitations, InvitationQuery(), organization_id=org_id)


@bp.post("/api/organizations/<uuid:org_id>/invitations/<uuid:invitation_id>/resend")
@login_required
def resend_invitation(org_id, invitation_id):
    with user_transaction() as conn:
        issued = invitations.resend(
            conn, org_id, invitation_id, request_origin(), current_runtime().config.invitation_ttl_seconds
        )
    return jsonify(_sent(issued))


@bp.delete("/api/organizations/<uuid:org_id>/invitations/<uuid:invitation_id>")
@login_required
def revoke_invitation(org_id, invitation_id):
    return done(invitations.revoke, org_id, invitation_id, request_origin())


# --- the invitee's side: the prompt, signed in -----------------------------------------------------


@bp.post("/api/invitations/<uuid:invitation_id>/accept")
@login_required
def accept_invitation(invitation_id):
    """Accept an invitation sent to the signed-in user's own email (they are listed in /api/auth/me)."""
    with current_runtime().db.transaction("service_role") as conn:
        joined = invitations.accept(conn, g.identity.user_id, invitation_id, request_origin())
    return jsonify(organization=joined.organization)


@bp.post("/api/invitations/<uuid:invitation_id>/decline")
@login_required
def decline_invitation(invitation_id):
    with current_runtime().db.transaction("service_role") as conn:
        invitations.decline(conn, g.identity.user_id, invitation_id)
    return current_app.response_class(status=204)


# --- the invitee's side: the emailed link ----------------------------------------------------------


@bp.post("/api/invitations/lookup")
def lookup_invitation():
    """What a link invites to, for the page behind it: the token is sent in the body, never a URL."""
    data = json_body(TokenSchema())
    with current_runtime().db.transaction("service_role") as conn:
        return jsonify(invitations.preview(conn, data["token"]))


@bp.post("/api/invitations/accept")
def accept_invitation_link():
    """Accept through the link. A new email chooses its password here and is signed in (the session
    cookie, as at login); an email with an account must be signed in as that account."""
    refuse_cross_site_sign_in()
    data = json_body(AcceptSchema())
    runtime = current_runtime()
    identity = authenticate_request()
    if identity is not None and identity.via == "oauth":
        raise Forbidden("OAuth access tokens are not accepted here: sign in as a user", slug="oauth-token-not-accepted")
    origin = request_origin()
    with runtime.db.transaction("service_role") as conn:
        joined = invitations.accept_with_token(
            conn,
            runtime.hasher,
            data["token"],
            data["password"],
            identity and identity.user_id,
            origin,
            names=names_of(data),
        )
        session = (
            sessions.create_session(conn, joined.user["id"], runtime.config.session_ttl_seconds, origin)
            if joined.new_account
            else None
        )
    if session is None:
        return jsonify(organization=joined.organization)
    return signed_in_response(
        joined.user["id"], joined.user["email"], session, False, extra={"organization": joined.organization}
    )


@bp.post("/api/invitations/decline")
def decline_invitation_link():
    data = json_body(TokenSchema())
    with current_runtime().db.transaction("service_role") as conn:
        invitations.decline_with_token(conn, data["token"])
    return current_app.response_class(status=204)
