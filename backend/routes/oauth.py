"""The OAuth 2.0 authorization server's protocol endpoints over HTTP: metadata and keys, the
authorization endpoint, token, revocation and introspection, and the plumbing between Flask and
Authlib. The pages the authorization endpoint answers with are backend/oauth_pages.py's; the
sign-in page is routes/oauth_login.py, client registration routes/oauth_clients.py.
"""

from __future__ import annotations

import re

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749.errors import InvalidRequestError, InvalidScopeError, OAuth2Error
from authlib.oidc.core.errors import ConsentRequiredError
from flask import Blueprint, current_app, g, jsonify, redirect, request, url_for

from backend import oauth_pages as pages
from backend.auth import request_origin, token_required
from backend.csrf import cross_site_reason, csrf_token_ok
from backend.net import transport_scheme
from backend.runtime import current_runtime
from backend.services.oauth import clients, exercisable_scopes, openid, tokens
from backend.services.oauth.adapters import HttpRequest, Reply, basic_credentials
from backend.services.oauth.grants import User
from backend.services.oauth.server import OAuth

bp = Blueprint("oauth", __name__)

PARAMETER_NAME = re.compile(r"^[a-z_]{1,64}\Z")  # safe to quote in an error_description


def _oauth() -> OAuth:
    return current_runtime().oauth


# -- OAuth plumbing ----------------------------------------------------------------------------------


def _oauth_uri() -> str:
    """The URL Authlib checks to refuse plain http off loopback. Its host is our issuer's, never
    the Host header (which any client writes: `Host: 127.0.0.1` made plain http look like
    loopback); its scheme is the transport's, as seen by us or told by a trusted proxy."""
    return f"{transport_scheme()}://{_oauth().settings.issuer_netloc}{request.path}"


def _oauth_request() -> HttpRequest:
    return HttpRequest(request.method, _oauth_uri(), request.headers, request.args, request.form, request.values)


def _backchannel_request() -> HttpRequest:
    """A token, revocation or introspection request. Its parameters come from the form body only
    (never the URL, which access logs keep), each at most once (RFC 6749 section 3.2), with one
    client authentication method (2.3); a scope, when sent, names at least one scope (3.3)."""
    form = request.form
    repeated = next((name for name in form if len(form.getlist(name)) > 1), None)
    if repeated is not None:
        named = f"the {repeated} parameter" if PARAMETER_NAME.match(repeated) else "a parameter"
        raise InvalidRequestError(f"{named} is sent more than once")
    basic_client_id, _ = basic_credentials(request.headers)
    if basic_client_id is not None:
        if "client_secret" in form:
            raise InvalidRequestError("authenticate the client one way: HTTP Basic or client_secret, not both")
        if form.get("client_id", basic_client_id) != basic_client_id:
            raise InvalidRequestError("client_id differs from the client of the Authorization header")
    if "scope" in form and not form["scope"].split():
        raise InvalidScopeError("scope, when sent, must name at least one scope")
    return HttpRequest(request.method, _oauth_uri(), request.headers, request.args, form, form)


def _reply(reply: Reply, *, see_other: bool = False):
    """Authlib's answer as an HTTP response; after a form POST, a redirect is a 303 See Other."""
    body = reply.body if isinstance(reply.body, str) else current_app.json.dumps(reply.body)
    status = 303 if see_other and reply.status == 302 else reply.status
    response = current_app.response_class(body, status=status)
    for name, value in reply.headers:
        response.headers[name] = value
    response.headers.update(pages.NO_STORE)
    return response


@bp.errorhandler(OAuth2Error)
def _oauth_error(error: OAuth2Error):
    """An OAuth error raised outside Authlib's own handling (e.g. insecure_transport)."""
    status, body, headers = error()
    response = jsonify(body)
    response.status_code = status
    for name, value in headers:
        response.headers[name] = value
    response.headers.update(pages.NO_STORE)
    return response


def _redirect_error(error: OAuth2Error, *, see_other: bool):
    """An authorization error sent back to the client (its redirect URI is known good), with iss."""
    location = add_params_to_uri(error.redirect_uri, [*error.get_body(), ("iss", _oauth().settings.issuer)])
    response = redirect(location, 303 if see_other else 302)
    response.headers.update(pages.NO_STORE)
    return response


MAX_PARAMETER_LENGTH = 2048
AUTHORIZATION_PARAMETERS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
)


def _malformed_parameter() -> str | None:
    """The first authorization parameter that is too long or holds characters RFC 6749 does not
    allow in it, if any: only visible ASCII and spaces, and no quote or backslash outside `state` and
    `nonce` (OpenID Connect's opaque echo)."""
    for name in AUTHORIZATION_PARAMETERS:
        for value in request.values.getlist(name):
            if len(value) > MAX_PARAMETER_LENGTH or any(not 0x20 <= ord(ch) <= 0x7E for ch in value):
                return name
            if name not in ("state", "nonce") and ('"' in value or "\\" in value):
                return name
    return None


def _authorization_error(error: OAuth2Error, *, see_other: bool = False):
    if error.redirect_uri:
        return _redirect_error(error, see_other=see_other)
    # An unknown client or an unregistered redirect URI: never redirect anywhere.
    return pages.message(
        "This authorization request cannot be completed",
        error.description or error.error,
        400,
        detail=f"Error: {error.error}. Tell the application's developer; nothing was shared.",
    )


# -- discovery ---------------------------------------------------------------------------------------


@bp.get("/.well-known/oauth-authorization-server")
def metadata():
    response = jsonify(_oauth().metadata())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/.well-known/openid-configuration")
def openid_configuration():
    response = jsonify(_oauth().openid_configuration())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/.well-known/jwks.json")
def jwks():
    response = jsonify(_oauth().jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# -- the authorization endpoint ------------------------------------------------------------------------


@bp.get(pages.AUTHORIZE_PATH)
def authorize():
    oauth, runtime = _oauth(), current_runtime()
    malformed = _malformed_parameter()
    if malformed:
        return pages.malformed_page(malformed)
    oauth_request = _oauth_request()
    with runtime.db.transaction("service_role") as conn, oauth.server.bound(conn, request_origin()):
        session = pages.find_session(conn)
        # The signed-in user, if any, so that OpenID Connect's prompt=none answers login_required
        # only when there is nobody signed in.
        end_user = User(session["user_id"], session["signed_in_at"]) if session else None
        try:
            grant = oauth.server.get_consent_grant(oauth_request, end_user=end_user)
        except OAuth2Error as error:
            return _authorization_error(error)
        if session is None:
            return redirect(url_for("oauth_login.login_page", next=request.full_path), 302)
        client = grant.request.client
        role = clients.membership_role(conn, organization_id=client.organization_id, user_id=session["user_id"])
        refusal = pages.refusal_page(session, client, role)
        if refusal is not None:
            return refusal
        # Only what this user can exercise is offered (a member is never asked about admin scopes).
        scopes = exercisable_scopes(grant.request.scope.split(), role)
        if not scopes or set(scopes) <= tokens.consented_scopes(conn, session["user_id"], client.client_id):
            # Consent given before for these scopes: straight back to the client with a code. With
            # nothing left to offer, the grant answers access_denied the same way, without a page.
            reply = oauth.server.create_authorization_response(oauth_request, grant_user=end_user, grant=grant)
            return _reply(reply)
        if "none" in request.args.get("prompt", "").split():  # no page may be shown: say so to the client
            no_page = ConsentRequiredError(state=grant.request.payload.state, redirect_uri=grant.redirect_uri)
            return _redirect_error(no_page, see_other=False)
        return pages.consent_page(conn, grant, session, scopes)


@bp.post(pages.AUTHORIZE_PATH)
def authorize_decision():
    oauth, runtime = _oauth(), current_runtime()
    oauth_request = _oauth_request()
    origin = request_origin()
    with runtime.db.transaction("service_role") as conn, oauth.server.bound(conn, origin):
        session = pages.find_session(conn)
        if session is None:
            return pages.message("Your session has ended", "Sign in again from the application to continue.", 401)
        if cross_site_reason() or not csrf_token_ok(
            "oauth-consent", pages.session_cookie(), request.form.get("csrf_token")
        ):
            return pages.message("This form has expired", "Go back to the application and start connecting again.", 400)
        malformed = _malformed_parameter()
        if malformed:
            return pages.malformed_page(malformed)
        try:
            grant = oauth.server.get_consent_grant(oauth_request)
        except OAuth2Error as error:
            return _authorization_error(error, see_other=True)
        client = grant.request.client
        role = clients.membership_role(conn, organization_id=client.organization_id, user_id=session["user_id"])
        refusal = pages.refusal_page(session, client, role)
        if refusal is not None:
            return refusal
        decision = request.form.get("confirm")
        if decision not in ("yes", "no"):
            return pages.message("Choose Allow or Deny", "The form was sent without a decision.", 400)
        user = None
        # The form's scope may have been edited: what is recorded (and granted) is narrowed again.
        scopes = exercisable_scopes(grant.request.scope.split(), role)
        if decision == "yes":
            user = User(session["user_id"], session["signed_in_at"])
            if scopes:
                tokens.record_consent(
                    conn,
                    user_id=session["user_id"],
                    client_id=client.client_id,
                    organization_id=client.organization_id,
                    scopes=scopes,
                    origin=origin,
                )
        reply = oauth.server.create_authorization_response(oauth_request, grant_user=user, grant=grant)
        return _reply(reply, see_other=True)


# -- token, revocation, introspection -------------------------------------------------------------------


def _server_call(run):
    oauth = _oauth()
    oauth_request = _backchannel_request()
    with oauth.system_transaction() as conn, oauth.server.bound(conn, request_origin()):
        reply = run(oauth.server, oauth_request)
    return _reply(reply)


@bp.post("/api/oauth/token")
def token():
    return _server_call(lambda server, req: server.create_token_response(req))


@bp.post("/api/oauth/revoke")
def revoke():
    return _server_call(lambda server, req: server.create_endpoint_response("revocation", req))


@bp.post("/api/oauth/introspect")
def introspect():
    return _server_call(lambda server, req: server.create_endpoint_response("introspection", req))


# -- OpenID Connect userinfo ------------------------------------------------------------------------------


@bp.route("/api/oauth/userinfo", methods=["GET", "POST"])
@token_required("openid")
def userinfo(conn):
    """The signed-in user's claims, as the token's scopes allow (OpenID Connect Core 5.3)."""
    response = jsonify(openid.user_info(conn, g.identity.user_id, " ".join(sorted(g.identity.scopes))))
    response.headers.update(pages.NO_STORE)
    return response
