"""OAuth clients over JSON: org admins register, change, rotate and delete the clients of their
organizations, and users list and revoke the applications they authorized."""

from __future__ import annotations

import re

from flask import Blueprint, g, jsonify
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from backend.auth import login_required, request_origin, user_transaction
from backend.errors import NotFound
from backend.oauth_pages import NO_STORE
from backend.routes.common import NoBody, PageQuery, StrictBoolean, json_body, not_blank, page, query_args
from backend.services.oauth import CLIENT_TYPES, DEFAULT_GRANT_TYPES, DEFAULT_SCOPES, SCOPES, clients, tokens

bp = Blueprint("oauth_clients", __name__)

CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")


def _name(**kwargs) -> fields.String:
    return fields.String(validate=[validate.Length(min=1, max=200), not_blank], **kwargs)


def _redirect_uris(**kwargs) -> fields.List:
    return fields.List(
        fields.String(validate=validate.Length(min=1, max=clients.MAX_REDIRECT_URI_LENGTH)),
        validate=validate.Length(max=clients.MAX_REDIRECT_URIS),
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


class ClientChangesSchema(Schema):
    name = _name()
    redirect_uris = _redirect_uris()
    pkce_required = StrictBoolean()

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError("send at least one of name, redirect_uris, pkce_required")


class ClientQuery(PageQuery):
    organization_id = fields.UUID(load_default=None)  # None: every organization the caller administers


def _client_id(value: str) -> str:
    if not CLIENT_ID.match(value):
        raise NotFound("client not found")
    return value


# -- clients (org admins) -------------------------------------------------------------------------------


@bp.post("/api/oauth/clients")
@login_required
def create_client():
    data = json_body(ClientSchema())
    with user_transaction() as conn:
        client = clients.create_client(
            conn,
            user_id=g.identity.user_id,
            organization_id=data.pop("organization_id"),
            data=data,
            origin=request_origin(),
        )
    response = jsonify(client)
    response.status_code = 201
    response.headers.update(NO_STORE)
    return response


@bp.get("/api/oauth/clients")
@login_required
def list_clients():
    args = query_args(ClientQuery())
    with user_transaction() as conn:
        rows, next_cursor = clients.list_clients(conn, args["organization_id"], args["limit"], args["cursor"])
    return jsonify(page(rows, next_cursor))


@bp.get("/api/oauth/clients/<client_id>")
@login_required
def get_client(client_id):
    with user_transaction() as conn:
        client = clients.get_client(conn, _client_id(client_id))
    return jsonify(client)


@bp.patch("/api/oauth/clients/<client_id>")
@login_required
def update_client(client_id):
    changes = json_body(ClientChangesSchema())
    with user_transaction() as conn:
        client = clients.update_client(conn, _client_id(client_id), changes, request_origin())
    return jsonify(client)


@bp.delete("/api/oauth/clients/<client_id>")
@login_required
def delete_client(client_id):
    with user_transaction() as conn:
        clients.delete_client(conn, _client_id(client_id), request_origin())
    return "", 204


@bp.post("/api/oauth/clients/<client_id>/rotate-secret")
@login_required
def rotate_client_secret(client_id):
    json_body(NoBody())
    with user_transaction() as conn:
        rotated = clients.rotate_secret(conn, _client_id(client_id), request_origin())
    response = jsonify(rotated)
    response.headers.update(NO_STORE)
    return response


# -- the applications a user authorized --------------------------------------------------------------------


@bp.get("/api/oauth/authorizations")
@login_required
def list_authorizations():
    args = query_args(PageQuery())
    with user_transaction() as conn:
        rows, next_cursor = tokens.list_authorizations(conn, args["limit"], args["cursor"])
    return jsonify(page(rows, next_cursor))


@bp.delete("/api/oauth/authorizations/<client_id>")
@login_required
def revoke_authorization(client_id):
    if not CLIENT_ID.match(client_id):
        raise NotFound("authorization not found")
    with user_transaction() as conn:
        tokens.revoke_authorization(conn, g.identity.user_id, client_id, request_origin())
    return "", 204
