"""What Authlib's grants and endpoints see: our users, codes and tokens as its models, and the
grants (code with PKCE, refresh, client credentials), revocation and introspection on our storage."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from backend.services.oauth import CLIENT_CREDENTIALS_SCOPES, clients, exercisable_scopes, tokens
from backend.services.oauth.adapters import call_conn, current_call
from backend.services.oauth.clients import Client
from backend.services.shared import audit

SECRET_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
TOKEN_AUTH_METHODS = [*SECRET_AUTH_METHODS, "none"]


@dataclass(frozen=True)
class User:
    id: uuid.UUID
    auth_time: datetime | None = None  # when they signed in, if they just authorized in a browser

    def get_user_id(self):
        return self.id


@dataclass(frozen=True)
class AuthorizationCode:
    code_hash: bytes
    client_id: str
    user_id: uuid.UUID
    redirect_uri: str | None
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    nonce: str | None = None
    auth_time: datetime | None = None

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    # What Authlib's OpenIDCode puts in the id_token.

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return int(self.auth_time.timestamp()) if self.auth_time else None

    def get_acr(self):
        return None

    def get_amr(self):
        return None


@dataclass(frozen=True)
class StoredToken:
    """An access or refresh token found by introspection, revocation or a refresh."""

    kind: str  # "access_token" or "refresh_token"
    client_id: str
    user_id: uuid.UUID
    scope: str
    issued_at: int
    expires_at: int
    revoked: bool
    grant_id: uuid.UUID | None = None
    jti: uuid.UUID | None = None
    token_hash: bytes | None = None

    def check_client(self, client):
        return self.client_id == client.get_client_id()

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return max(0, self.expires_at - int(time.time()))

    def is_expired(self):
        return self.expires_at <= time.time()

    def is_revoked(self):
        return self.revoked

    def get_user(self):
        return User(self.user_id)


def _refresh_token(row: dict) -> StoredToken:
    return StoredToken(
        kind="refresh_token",
        client_id=row["client_id"],
        user_id=row["user_id"],
        scope=row["scope"],
        issued_at=int(row["created_at"].timestamp()),
        expires_at=int(row["expires_at"].timestamp()),
        revoked=row["revoked_at"] is not None or row["rotated_at"] is not None,
        grant_id=row["grant_id"],
        token_hash=bytes(row["token_hash"]),
    )


def _access_token(row: dict) -> StoredToken:
    return StoredToken(
        kind="access_token",
        client_id=row["client_id"],
        user_id=row["user_id"],
        scope=row["scope"],
        issued_at=int(row["issued_at"].timestamp()),
        expires_at=int(row["expires_at"].timestamp()),
        revoked=row["revoked_at"] is not None,
        grant_id=row["grant_id"],
        jti=row["jti"],
    )


class PKCE(CodeChallenge):
    """RFC 7636 with S256 only: `plain` and a missing method are refused; required per client."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        challenge, method = data.get("code_challenge"), data.get("code_challenge_method")
        if not challenge and not method:
            if grant.request.client.pkce_required:
                raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256")
            return
        if method != "S256":
            raise InvalidRequestError("code_challenge_method must be S256 (plain is not accepted)")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result):
        code = grant.request.authorization_code
        if grant.request.client.pkce_required and not code.code_challenge:
            raise InvalidGrantError("this client requires PKCE but the code was issued without a code_challenge")
        super().validate_code_verifier(grant, result)


NO_EXERCISABLE_SCOPE = "the user cannot exercise any of the requested scopes"


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def create_authorization_response(self, redirect_uri, grant_user):
        """The code carries only the scopes the user can exercise (RFC 6749 3.3: the token answer's
        `scope` tells the client); when none is left, access_denied."""
        if grant_user:
            role = clients.membership_role(
                call_conn(), organization_id=self.request.client.organization_id, user_id=grant_user.id
            )
            granted = exercisable_scopes(self.request.scope.split(), role)
            if not granted:
                raise AccessDeniedError(description=NO_EXERCISABLE_SCOPE, redirect_uri=redirect_uri)
            self.request.scope = " ".join(granted)
        return super().create_authorization_response(redirect_uri, grant_user)

    def save_authorization_code(self, code, request):
        data = request.payload.data
        challenge = data.get("code_challenge") or None
        tokens.save_code(
            call_conn(),
            code,
            client_id=request.client.client_id,
            user_id=request.user.id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope or "",
            code_challenge=challenge,
            code_challenge_method="S256" if challenge else None,
            ttl_seconds=self.server.settings.code_ttl_seconds,
            nonce=(data.get("nonce") or None) if "openid" in (request.scope or "").split() else None,
            auth_time=request.user.auth_time,
        )

    def query_authorization_code(self, code, client):
        row = tokens.redeem_code(call_conn(), code, client.client_id)
        if row is None:
            return None
        return AuthorizationCode(
            code_hash=bytes(row["code_hash"]),
            client_id=row["client_id"],
            user_id=row["user_id"],
            redirect_uri=row["redirect_uri"],
            scope=row["scope"],
            code_challenge=row["code_challenge"],
            code_challenge_method=row["code_challenge_method"],
            nonce=row["nonce"],
            auth_time=row["auth_time"],
        )

    def delete_authorization_code(self, authorization_code):
        """Nothing to do: redeeming spent the code, and its row stays to recognize a replay."""

    def authenticate_user(self, authorization_code):
        return User(authorization_code.user_id)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotated on every use

    def authenticate_refresh_token(self, refresh_token):
        row = tokens.redeem_refresh_token(call_conn(), refresh_token)
        return _refresh_token(row) if row else None

    def authenticate_user(self, refresh_token):
        return User(refresh_token.user_id)

    def issue_token(self, user, refresh_token):
        """Narrowed, like the code, to what the user can exercise now: an admin who became a
        member keeps the grant but no longer gets admin scopes."""
        scope = self.request.payload.scope or refresh_token.get_scope()
        role = clients.membership_role(
            call_conn(), organization_id=self.request.client.organization_id, user_id=user.id
        )
        if role is None:  # left or was removed from the client's organization: the grant ends there
            raise InvalidGrantError("the user is no longer a member of the client's organization")
        granted = exercisable_scopes(scope.split(), role)
        if not granted:
            raise InvalidGrantError(NO_EXERCISABLE_SCOPE)
        return self.generate_token(
            user=user, scope=" ".join(granted), include_refresh_token=self.INCLUDE_NEW_REFRESH_TOKEN
        )

    def revoke_old_credential(self, refresh_token):
        tokens.mark_rotated(call_conn(), refresh_token.token_hash)


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """Tokens for the client's organization: they act as its principal, a member, read-only."""

    TOKEN_ENDPOINT_AUTH_METHODS = SECRET_AUTH_METHODS

    def validate_token_request(self):
        super().validate_token_request()
        client: Client = self.request.client
        if client.principal_id is None:
            raise UnauthorizedClientError("the client has no principal for client_credentials")
        allowed = [scope for scope in client.scopes if scope in CLIENT_CREDENTIALS_SCOPES]
        requested = list(dict.fromkeys((self.request.payload.scope or "").split())) or allowed
        if not requested or not set(requested) <= set(allowed):
            raise InvalidScopeError(
                "client_credentials tokens carry only "
                + " and ".join(CLIENT_CREDENTIALS_SCOPES)
                + ", within the client's scopes"
            )
        self.request.scope = " ".join(requested)

    def create_token_response(self):
        client: Client = self.request.client
        principal = User(client.principal_id)
        self.request.user = principal
        token = self.generate_token(user=principal, scope=self.request.scope, include_refresh_token=False)
        self.save_token(token)
        # No user consented to this token: the organization's audit log is where it shows.
        audit.record(
            call_conn(),
            "oauth_client.token_issued",
            organization_id=client.organization_id,
            target_type="oauth_client",
            target_id=client.client_id,
            metadata={"grant_type": "client_credentials", "scope": self.request.scope},
            origin=current_call.get().origin,
            actor_id=client.principal_id,
        )
        return 200, token, self.TOKEN_RESPONSE_HEADER


class _TokenLookup:
    """query_token shared by revocation and introspection: our JWTs by jti, refresh tokens by hash."""

    def query_token(self, token_string, token_type_hint):
        order = ("access_token", "refresh_token")
        if token_type_hint == "refresh_token":  # noqa: S105 (a hint's name)
            order = order[::-1]
        for kind in order:
            found = self._find(kind, token_string)
            if found is not None:
                return found
        return None

    def _find(self, kind: str, token_string: str) -> StoredToken | None:
        if kind == "refresh_token":
            row = tokens.find_refresh_token(call_conn(), token_string)
            return _refresh_token(row) if row else None
        claims = self.server.read_own_jwt(token_string)
        if claims is None:
            return None
        row = tokens.find_access_token(call_conn(), claims.get("jti"))
        return _access_token(row) if row else None


class Revocation(_TokenLookup, RevocationEndpoint):
    CLIENT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def revoke_token(self, token, request):
        if token.kind == "refresh_token":
            tokens.revoke_grant(call_conn(), token.grant_id, "refresh_token_revoked")
        else:
            tokens.revoke_access_token(call_conn(), token.jti)


class Introspection(_TokenLookup, IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = SECRET_AUTH_METHODS  # introspection needs a confidential client

    def check_permission(self, token, client, request):
        return token.client_id == client.get_client_id()  # a client sees only its own tokens

    def introspect_token(self, token):
        body = {
            "active": True,
            "scope": token.scope,
            "client_id": token.client_id,
            "sub": str(token.user_id),
            "iss": self.server.settings.issuer,
            "exp": token.expires_at,
            "iat": token.issued_at,
        }
        if token.kind == "access_token":
            body |= {"token_type": "Bearer", "aud": self.server.settings.audience, "jti": str(token.jti)}
        return body
