"""The protected API for OAuth clients: each route needs an access token with its scope, and runs
as the token's user (RLS decides), narrowed to the organization of the client they authorized.

auth.token_required checks the signature and scope first; then one transaction is entered as its user
only if its jti is still live, so a revoked token stops working at the next request.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from backend.auth import token_required
from backend.routes.common import PageQuery, page, query_args
from backend.services.oauth import api

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")


@bp.get("/me")
@token_required("read:profile")
def me(conn):
    profile = api.me(conn, g.identity.organization_id)
    return jsonify(profile | {"client_id": g.identity.client_id, "scope": " ".join(sorted(g.identity.scopes))})


@bp.get("/quests")
@token_required("read:quests")
def quests(conn):
    args = query_args(PageQuery())
    rows, next_cursor = api.quests(conn, g.identity.organization_id, args["limit"], args["cursor"])
    return jsonify(page(rows, next_cursor))


@bp.get("/progress")
@token_required("read:progress")
def progress(conn):
    args = query_args(PageQuery())
    return jsonify(api.progress(conn, g.identity.organization_id, args["limit"], args["cursor"]))
