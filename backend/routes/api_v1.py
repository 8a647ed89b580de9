"""The protected API for OAuth clients: each route needs an access token with its scope, and runs
as the token's user (RLS decides), narrowed to the organization of the client they authorized.

The token's signature and scope are checked first; then one transaction is entered as its user
only if its jti is still live, so a revoked token stops working at the next request.
"""

from __future__ import annotations

import functools

from flask import Blueprint, g, jsonify, request

from backend.auth import Identity, user_claims
from backend.errors import Forbidden, Unauthorized
from backend.routes.common import PageQuery, page, query_args
from backend.runtime import current_runtime
from backend.services.oauth import api
from backend.services.oauth.resource import InvalidAccessToken

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")


def _unauthorized(detail: str, error: str | None = None):
    challenge = 'Bearer realm="questbridge"' + (f', error="{error}"' if error else "")
    return Unauthorized(detail, headers={"WWW-Authenticate": challenge})


def _access_token() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("send an OAuth access token: Authorization: Bearer <token>")
    return token.strip()


def token_required(scope: str):
    """An OAuth access token carrying `scope`; the view gets the transaction entered as its user."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            resource = current_runtime().oauth.resource
            token = _access_token()
            if not resource.is_access_token(token):
                raise _unauthorized("this API takes OAuth access tokens, not user sign-ins", "invalid_token")
            try:
                claims = resource.verify(token)
                if scope not in claims["scope"].split():
                    challenge = f'Bearer realm="questbridge", error="insufficient_scope", scope="{scope}"'
                    raise Forbidden(
                        f"the access token lacks the {scope} scope",
                        slug="insufficient-scope",
                        headers={"WWW-Authenticate": challenge},
                    )
                with resource.acting_as(claims) as (conn, grant):
                    g.identity = Identity(
                        user_id=grant.user_id,
                        email=None,
                        claims=user_claims(grant.user_id, None),
                        via="oauth",
                        scopes=grant.scopes,
                        client_id=grant.client_id,
                        organization_id=grant.organization_id,
                    )
                    return fn(conn, *args, **kwargs)
            except InvalidAccessToken as exc:
                raise _unauthorized(str(exc), "invalid_token") from None

        return wrapper

    return decorate


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
