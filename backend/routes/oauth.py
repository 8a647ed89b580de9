"""The OAuth 2.0 authorization server over HTTP: metadata and keys, the authorization endpoint with
its login and consent pages, token, revocation and introspection, client registration for org
admins, and the applications a user authorized.

The pages are server-rendered (autoescaped Jinja), CSRF-protected with tokens bound to the
session (or, before sign-in, to a nonce cookie), never framed, never cached.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

import click
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749.errors import InvalidRequestError, InvalidScopeError, OAuth2Error
from flask import Blueprint, current_app, g, jsonify, make_response, redirect, render_template, request, url_for
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from backend.auth import (
    cross_site_reason,
    csrf_token,
    csrf_token_ok,
    login_device,
    login_required,
    remember_login_device,
    request_origin,
    set_session_cookie,
    transport_scheme,
    user_transaction,
)
from backend.errors import NotFound
from backend.routes.common import NoBody, PageQuery, StrictBoolean, json_body, not_blank, page, query_args
from backend.runtime import current_runtime
from backend.services.accounts import sessions, signin
from backend.services.oauth import (
    CLIENT_TYPES,
    DEFAULT_GRANT_TYPES,
    DEFAULT_SCOPES,
    SCOPES,
    clients,
    exercisable_scopes,
    keys,
    registration,
    tokens,
)
from backend.services.oauth.adapters import HttpRequest, Reply, basic_credentials
from backend.services.oauth.grants import User
from backend.services.oauth.server import OAuth

bp = Blueprint("oauth", __name__)

AUTHORIZE_PATH = "/api/oauth/authorize"
LOGIN_PATH = "/api/oauth/login"
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")
PARAMETER_NAME = re.compile(r"^[a-z_]{1,64}\Z")  # safe to quote in an error_description
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _oauth() -> OAuth:
    return current_runtime().oauth


# -- schemas ---------------------------------------------------------------------------------------


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


# -- pages -----------------------------------------------------------------------------------------


def _page(template: str, status: int = 200, *, form_targets: tuple[str, ...] = (), **context):
    """A server-rendered page that no one may frame or cache, with a per-response style nonce."""
    nonce = secrets.token_urlsafe(16)
    response = make_response(render_template(template, csp_nonce=nonce, **context), status)
    # form-action also governs where the form's answer may redirect: the client's redirect URI.
    form_action = " ".join(("'self'", *form_targets))
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; form-action {form_action}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers.update(NO_STORE)
    return response


def _message(heading: str, message: str, status: int, detail: str | None = None):
    return _page("oauth/message.html", status, heading=heading, message=message, detail=detail, is_error=status >= 400)


def _login_nonce_cookie() -> str:
    # Its path is the login form's, so it cannot take __Host-; __Secure- still keeps plain-http
    # pages from planting one.
    return "__Secure-qb_oauth_login" if current_runtime().config.session_cookie_secure else "qb_oauth_login"


def _safe_next(value: str | None) -> str | None:
    """`next` only ever leads back to our own authorization endpoint (no open redirect)."""
    if not value or len(value) > 8192 or "\\" in value or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path != AUTHORIZE_PATH or parts.fragment:
        return None
    return AUTHORIZE_PATH + (f"?{parts.query}" if parts.query else "")


def _session_cookie() -> str | None:
    return request.cookies.get(current_runtime().config.session_cookie_name) or None


def _session(conn) -> dict | None:
    cookie = _session_cookie()
    return sessions.find_session(conn, cookie) if cookie else None


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
    response.headers.update(NO_STORE)
    return response


@bp.errorhandler(OAuth2Error)
def _oauth_error(error: OAuth2Error):
    """An OAuth error raised outside Authlib's own handling (e.g. insecure_transport)."""
    status, body, headers = error()
    response = jsonify(body)
    response.status_code = status
    for name, value in headers:
        response.headers[name] = value
    response.headers.update(NO_STORE)
    return response


def _redirect_error(error: OAuth2Error, *, see_other: bool):
    """An authorization error sent back to the client (its redirect URI is known good), with iss."""
    location = add_params_to_uri(error.redirect_uri, [*error.get_body(), ("iss", _oauth().settings.issuer)])
    response = redirect(location, 303 if see_other else 302)
    response.headers.update(NO_STORE)
    return response


MAX_PARAMETER_LENGTH = 2048
AUTHORIZATION_PARAMETERS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)


def _malformed_parameter() -> str | None:
    """The first authorization parameter that is too long or holds characters RFC 6749 does not
    allow in it, if any: only visible ASCII and spaces, and no quote or backslash outside `state`."""
    for name in AUTHORIZATION_PARAMETERS:
        for value in request.values.getlist(name):
            if len(value) > MAX_PARAMETER_LENGTH or any(not 0x20 <= ord(ch) <= 0x7E for ch in value):
                return name
            if name != "state" and ('"' in value or "\\" in value):
                return name
    return None


def _malformed_page(name: str):
    return _message(
        "This authorization request cannot be completed",
        f"The {name} parameter is too long or holds characters it may not contain.",
        400,
        detail="Error: invalid_request. Tell the application's developer; nothing was shared.",
    )


def _authorization_error(error: OAuth2Error, *, see_other: bool = False):
    if error.redirect_uri:
        return _redirect_error(error, see_other=see_other)
    # An unknown client or an unregistered redirect URI: never redirect anywhere.
    return _message(
        "This authorization request cannot be completed",
        error.description or error.error,
        400,
        detail=f"Error: {error.error}. Tell the application's developer; nothing was shared.",
    )


def _refuse_user(session: dict, client, role: str | None) -> object | None:
    """A page for users who may not authorize this client, or None."""
    if session["must_change_password"]:
        return _message(
            "Change your password first",
            "You must choose a new password before connecting applications to your account.",
            403,
        )
    if role is None:
        return _message(
            "This application belongs to another organization",
            f"{client.name} was registered by an organization that {session['email']} is not a member of.",
            403,
            detail="Sign out and sign in with the account of that organization, or ask its admins.",
        )
    return None


def _consent_page(conn, grant, session: dict, scopes: list[str]):
    client = grant.request.client
    data = grant.request.payload.data
    params = [
        (name, data[name])
        for name in ("response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method")
        if data.get(name)
    ]
    params.append(("scope", " ".join(scopes)))
    redirect_parts = urlsplit(grant.redirect_uri)
    redirect_origin = f"{redirect_parts.scheme}://{redirect_parts.netloc}"
    return _page(
        "oauth/consent.html",
        form_targets=(redirect_origin,),
        client_name=client.name,
        organization_name=clients.organization_name(conn, client.organization_id),
        user_email=session["email"],
        scopes=[{"name": scope, "description": SCOPES[scope]} for scope in scopes],
        redirect_host=redirect_parts.netloc,
        action=url_for("oauth.authorize_decision"),
        csrf_token=csrf_token("oauth-consent", _session_cookie()),
        params=params,
    )


# -- discovery ---------------------------------------------------------------------------------------


@bp.get("/.well-known/oauth-authorization-server")
def metadata():
    response = jsonify(_oauth().metadata())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/.well-known/jwks.json")
def jwks():
    response = jsonify(_oauth().keyring.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# -- the authorization endpoint ------------------------------------------------------------------------


@bp.get(AUTHORIZE_PATH)
def authorize():
    oauth, runtime = _oauth(), current_runtime()
    malformed = _malformed_parameter()
    if malformed:
        return _malformed_page(malformed)
    oauth_request = _oauth_request()
    with runtime.db.transaction("service_role") as conn, oauth.server.bound(conn, request_origin()):
        try:
            grant = oauth.server.get_consent_grant(oauth_request)
        except OAuth2Error as error:
            return _authorization_error(error)
        session = _session(conn)
        if session is None:
            return redirect(url_for("oauth.login_page", next=request.full_path), 302)
        client = grant.request.client
        role = clients.membership_role(conn, organization_id=client.organization_id, user_id=session["user_id"])
        refusal = _refuse_user(session, client, role)
        if refusal is not None:
            return refusal
        # Only what this user can exercise is offered (a member is never asked about admin scopes).
        scopes = exercisable_scopes(grant.request.scope.split(), role)
        if not scopes or set(scopes) <= tokens.consented_scopes(conn, session["user_id"], client.client_id):
            # Consent given before for these scopes: straight back to the client with a code. With
            # nothing left to offer, the grant answers access_denied the same way, without a page.
            reply = oauth.server.create_authorization_response(
                oauth_request, grant_user=User(session["user_id"]), grant=grant
            )
            return _reply(reply)
        return _consent_page(conn, grant, session, scopes)


@bp.post(AUTHORIZE_PATH)
def authorize_decision():
    oauth, runtime = _oauth(), current_runtime()
    oauth_request = _oauth_request()
    origin = request_origin()
    with runtime.db.transaction("service_role") as conn, oauth.server.bound(conn, origin):
        session = _session(conn)
        if session is None:
            return _message("Your session has ended", "Sign in again from the application to continue.", 401)
        if cross_site_reason() or not csrf_token_ok("oauth-consent", _session_cookie(), request.form.get("csrf_token")):
            return _message("This form has expired", "Go back to the application and start connecting again.", 400)
        malformed = _malformed_parameter()
        if malformed:
            return _malformed_page(malformed)
        try:
            grant = oauth.server.get_consent_grant(oauth_request)
        except OAuth2Error as error:
            return _authorization_error(error, see_other=True)
        client = grant.request.client
        role = clients.membership_role(conn, organization_id=client.organization_id, user_id=session["user_id"])
        refusal = _refuse_user(session, client, role)
        if refusal is not None:
            return refusal
        decision = request.form.get("confirm")
        if decision not in ("yes", "no"):
            return _message("Choose Allow or Deny", "The form was sent without a decision.", 400)
        user = None
        # The form's scope may have been edited: what is recorded (and granted) is narrowed again.
        scopes = exercisable_scopes(grant.request.scope.split(), role)
        if decision == "yes":
            user = User(session["user_id"])
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


# -- sign-in for the authorization flow -------------------------------------------------------------


def _login_page(status: int = 200, message: str | None = None, email: str | None = None, nonce: str | None = None):
    nonce = nonce or request.cookies.get(_login_nonce_cookie()) or secrets.token_urlsafe(24)
    response = _page(
        "oauth/login.html",
        status,
        action=url_for("oauth.login"),
        csrf_token=csrf_token("oauth-login", nonce),
        next=_safe_next(request.values.get("next")),
        message=message,
        email=email,
    )
    response.set_cookie(
        _login_nonce_cookie(),
        nonce,
        httponly=True,
        samesite="Lax",
        secure=current_runtime().config.session_cookie_secure,
        path=LOGIN_PATH,
    )
    return response


@bp.get(LOGIN_PATH)
def login_page():
    target = _safe_next(request.args.get("next"))
    if target is not None and _session_cookie():
        with current_runtime().db.transaction("service_role") as conn:
            signed_in = _session(conn) is not None
        if signed_in:
            return redirect(target, 302)
    return _login_page()


@bp.post(LOGIN_PATH)
def login():
    runtime = current_runtime()
    if cross_site_reason():
        # Login CSRF: the nonce cookie its token is bound to can be planted by a sibling origin
        # (cookies ignore ports; Domain= reaches from a subdomain), so the browser's word counts.
        return _login_page(
            403, "Sign in from this page itself, not from another site.", nonce=secrets.token_urlsafe(24)
        )
    if not csrf_token_ok("oauth-login", request.cookies.get(_login_nonce_cookie()), request.form.get("csrf_token")):
        return _login_page(400, "The sign-in form expired; please try again.", nonce=secrets.token_urlsafe(24))
    email = (request.form.get("email") or "").strip()
    password = request.form.get("password") or ""
    if not 3 <= len(email) <= 254 or not 1 <= len(password) <= 1024 or "\x00" in email + password:
        return _login_page(422, "Enter your email address and password.", email=email[:254].replace("\x00", ""))
    origin = request_origin()
    result = signin.authenticate(
        runtime.db,
        runtime.hasher,
        email,
        password,
        signin.LoginLimits.from_config(runtime.config),
        origin,
        runtime.config.session_ttl_seconds,
        device_cookie=login_device(),
    )
    if result.throttled:
        response = _login_page(429, "Too many failed sign-ins; try again later.", email=email)
        response.headers["Retry-After"] = str(result.retry_after)
        return response
    if result.user is None:
        return _login_page(401, "Invalid email or password.", email=email)
    target = _safe_next(request.form.get("next"))
    response = (
        redirect(target, 303)
        if target
        else _message("You are signed in", "You can close this page and return to the application.", 200)
    )
    response.headers.update(NO_STORE)
    set_session_cookie(response, result.session.token)
    remember_login_device(response, result.device_cookie)
    response.delete_cookie(
        _login_nonce_cookie(),
        path=LOGIN_PATH,
        httponly=True,
        samesite="Lax",
        secure=runtime.config.session_cookie_secure,
    )
    return response


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


# -- `flask --app backend oauth …` ---------------------------------------------------------------------------


@bp.cli.command("rotate-keys", help="Publish the next access-token signing key now; it signs after --ahead seconds.")
@click.option(
    "--ahead",
    "ahead_seconds",
    type=click.IntRange(min=0),
    default=None,
    help="Default: OAUTH_KEY_PUBLISH_AHEAD_SECONDS.",
)
def rotate_keys(ahead_seconds):
    oauth, runtime = _oauth(), current_runtime()
    ahead = oauth.settings.key_publish_ahead_seconds if ahead_seconds is None else ahead_seconds
    with runtime.db.transaction("service_role") as conn:
        result = keys.rotate(
            conn, runtime.secretbox, ahead_seconds=ahead, token_ttl_seconds=oauth.settings.access_token_ttl_seconds
        )
    state = "scheduled" if result["created"] else "already scheduled"
    click.echo(f"next signing key {result['kid']} {state}; it signs from {result['activates_at'].isoformat()}")
    click.echo(
        current_app.json.dumps(
            {"kid": result["kid"], "activates_at": result["activates_at"], "created": result["created"]}
        )
    )
