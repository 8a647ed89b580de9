"""OAuth clients over JSON: org admins register, change, rotate and delete the clients of their
organizations, and users list and revoke the applications they authorized."""

from __future__ import annotations

import re

from flask import Blueprint, g, jsonify
from marshmallow import Schema, fields, validate

from backend.auth import login_required, request_origin
from backend.errors import NotFound
from backend.oauth_pages import NO_STORE
from backend.routes.common import (
    Changes,
    NoBody,
    PageQuery,
    StrictBoolean,
    answered,
    as_user,
    done,
    json_body,
    listed,
    not_blank,
)
from backend.services.oauth import (
    CLIENT_TYPES,
    DEFAULT_GRANT_TYPES,
    DEFAULT_SCOPES,
    SCOPES,
    clients,
    registration,
    tokens,
)

bp = Blueprint("oauth_clients", __name__)

CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")


def _name(**kwargs) -> fields.String:
    return fields.String(validate=[validate.Length(min=1, max=200), not_blank], **kwargs)


def _redirect_uris(**kwargs) -> fields.List:
    return fields.List(
        fields.String(validate=validate.Length(min=1, max=registration.MAX_REDIRECT_URI_LENGTH)),
        validate=validate.Length(max=registration.MAX_REDIRECT_URIS),
        **kwargs,
    )


class ClientSchema(Schema):
    organization_id = fields.UUID(load_default=None)  # None: the one organization the caller administers
    name = _name(required=True)
    redirect_uris = _redirect_uris(load_default=list)
    scopes = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        load_default=lambda: list(DEFAULT_SCOPES),
        validate=validate.Length(min=1, max=len(SCOPES)),
    )
    grant_types = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        load_default=lambda: list(DEFAULT_GRANT_TYPES),
        validate=validate.Length(min=1, max=10),
    )
    client_type = fields.String(load_default="confidential", validate=validate.OneOf(CLIENT_TYPES))
    pkce_required = StrictBoolean(load_default=True)


class ClientChangesSchema(Changes):
    nothing_sent = "send at least one of name, redirect_uris, pkce_required"
    name = _name()
    redirect_uris = _redirect_uris()
    pkce_required = StrictBoolean()


class ClientQuery(PageQuery):
    organization_id = fields.UUID(load_default=None)  # None: every organization the caller administers


def _client_id(value: str) -> str:
    if not CLIENT_ID.match(value):
        raise NotFound("client not found")
    return value


def _never_stored(client: dict, status: int = 200):
    """A client as the answer that shows its secret: no cache may keep it."""
    response = jsonify(client)
    response.status_code = status
    response.headers.update(NO_STORE)
    return response


# -- clients (org admins) -------------------------------------------------------------------------------


@bp.post("/api/oauth/clients")
@login_required
def create_client():
    data = json_body(ClientSchema())
    client = as_user(
        clients.create_client,
        user_id=g.identity.user_id,
        organization_id=data.pop("organization_id"),
        data=data,
        origin=request_origin(),
    )
    return _never_stored(client, 201)


@bp.get("/api/oauth/clients")
@login_required
def list_clients():
    return listed(clients.list_clients, ClientQuery())


@bp.get("/api/oauth/clients/<client_id>")
@login_required
def get_client(client_id):
    return answered(clients.get_client, _client_id(client_id))


@bp.patch("/api/oauth/clients/<client_id>")
@login_required
def update_client(client_id):
    changes = json_body(ClientChangesSchema())
    return answered(clients.update_client, _client_id(client_id), changes, request_origin())


@bp.delete("/api/oauth/clients/<client_id>")
@login_required
def delete_client(client_id):
    return done(clients.delete_client, _client_id(client_id), request_origin())


@bp.post("/api/oauth/clients/<client_id>/rotate-secret")
@login_required
def rotate_client_secret(client_id):
    json_body(NoBody())
    return _never_stored(as_user(clients.rotate_secret, _client_id(client_id), request_origin()))


# -- the applications a user authorized --------------------------------------------------------------------


@bp.get("/api/oauth/authorizations")
@login_required
def list_authorizations():
    return listed(tokens.list_authorizations, PageQuery())


@bp.delete("/api/oauth/authorizations/<client_id>")
@login_required
def revoke_authorization(client_id):
    if not CLIENT_ID.match(client_id):
        raise NotFound("authorization not found")
    return done(tokens.revoke_authorization, g.identity.user_id, client_id, request_origin())
