"""OAuth clients as org admins register and manage them (RLS decides), and as the server loads them.

A client_id is random (24 characters); a confidential client's secret is 32 random bytes, shown
once and stored as its SHA-256 (a high-entropy secret needs no slow hash; see ADR 0006).
What a client may register, and how its redirect URIs match, is registration.py's.
"""

from __future__ import annotations

import hmac
import re
import secrets
import uuid
from dataclasses import dataclass

import psycopg
from authlib.oauth2.rfc6749 import ClientMixin

from backend.db import as_service_role, queries_beside
from backend.errors import Conflict, NotFound
from backend.services.oauth import registration
from backend.services.shared import audit
from backend.services.shared.audit import RequestInfo
from backend.services.shared.digest import secret_digest
from backend.services.shared.ownership import require_admin, require_admin_of, sole_administered
from backend.services.shared.pagination import page_params, paginate

SQL = queries_beside(__file__)

CLIENT_ID_FORMAT = re.compile(r"^[A-Za-z0-9_-]{16,64}\Z")  # what the table's check constraint allows
CLIENT_ID_PREFIX = "qbc_"
SECRET_PREFIX = "qbcs_"  # noqa: S105 (a prefix, not a secret)
PRINCIPAL_EMAIL_DOMAIN = "clients.questbridge.invalid"


def generate_client_id() -> str:
    return CLIENT_ID_PREFIX + secrets.token_urlsafe(15)  # 20 random characters, 120 bits


def generate_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Client(ClientMixin):
    """A registered client as Authlib sees it."""

    client_id: str
    organization_id: uuid.UUID
    name: str
    client_type: str
    secret_hash: bytes | None
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]
    grant_types: tuple[str, ...]
    pkce_required: bool
    principal_id: uuid.UUID | None

    @classmethod
    def from_row(cls, row: dict) -> Client:
        return cls(
            client_id=row["client_id"],
            organization_id=row["organization_id"],
            name=row["name"],
            client_type=row["client_type"],
            secret_hash=bytes(row["secret_hash"]) if row["secret_hash"] is not None else None,
            redirect_uris=tuple(row["redirect_uris"]),
            scopes=tuple(row["scopes"]),
            grant_types=tuple(row["grant_types"]),
            pkce_required=row["pkce_required"],
            principal_id=row["principal_id"],
        )

    @property
    def confidential(self) -> bool:
        return self.client_type == "confidential"

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        # OAuth 2.1: redirect_uri may be left out only when exactly one is registered.
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope):
        """The scope to grant: all of the client's scopes when none is asked, None (invalid_scope)
        when something outside them is asked, or a scope of blanks (it names nothing: RFC 6749 3.3)."""
        if not scope:
            return " ".join(self.scopes)
        requested = list(dict.fromkeys(scope.split()))
        if not requested or not set(requested) <= set(self.scopes):
            return None
        return " ".join(requested)

    def check_redirect_uri(self, redirect_uri):
        return registration.redirect_uri_matches(self.redirect_uris, redirect_uri)

    def check_client_secret(self, client_secret):
        return self.secret_hash is not None and hmac.compare_digest(self.secret_hash, secret_digest(client_secret))

    def check_endpoint_auth_method(self, method, endpoint):
        if self.confidential:
            return method in ("client_secret_basic", "client_secret_post")
        return method == "none"

    def check_response_type(self, response_type):
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type):
        return grant_type in self.grant_types


def load_client(conn: psycopg.Connection, client_id: str) -> Client | None:
    """The client for the server; conn runs as service_role."""
    if not isinstance(client_id, str) or not CLIENT_ID_FORMAT.match(client_id):
        return None
    row = conn.execute(SQL["load_client"], {"client_id": client_id}).fetchone()
    return Client.from_row(row) if row else None


def organization_name(conn: psycopg.Connection, organization_id: uuid.UUID) -> str | None:
    row = conn.execute(SQL["organization_name"], {"organization_id": organization_id}).fetchone()
    return row["name"] if row else None


def membership_role(conn: psycopg.Connection, *, organization_id: uuid.UUID, user_id: uuid.UUID) -> str | None:
    """The user's role in the organization, or None (conn runs as service_role)."""
    row = conn.execute(SQL["membership_role"], {"organization_id": organization_id, "user_id": user_id}).fetchone()
    return row["role"] if row else None


def load_client_with_failures(
    conn: psycopg.Connection, client_id: str, *, pair_bucket: str, ip_bucket: str, window_start
) -> tuple[Client | None, int, int]:
    """The client (or None) and the failed authentications counted for this client and address and
    for the address in the window starting at `window_start` (conn runs as service_role)."""
    row = conn.execute(
        SQL["load_client_with_failures"],
        {"client_id": client_id, "pair_bucket": pair_bucket, "ip_bucket": ip_bucket, "window_start": window_start},
    ).fetchone()
    client = Client.from_row(row) if row["client_id"] is not None else None
    return client, row["pair_failures"], row["ip_failures"]


def _authorize(conn: psycopg.Connection, client_id: str):
    """The organization of a client the caller administers (404 strangers, 403 members)."""
    return require_admin_of(conn, SQL["client_organization"], {"client_id": client_id}, "client")


def _public(row: dict) -> dict:
    return {key: value for key, value in row.items() if key != "id"}


def _audit(conn, action: str, organization_id, client_id: str, origin: RequestInfo, metadata: dict | None = None):
    audit.record(
        conn,
        action,
        organization_id=organization_id,
        target_type="oauth_client",
        target_id=client_id,
        metadata=metadata,
        origin=origin,
    )


def _create_principal(conn: psycopg.Connection, client_id: str, organization_id, name: str) -> uuid.UUID:
    """The member of the organization that client-credentials tokens act as."""
    principal_id = uuid.uuid4()
    with as_service_role(conn):
        conn.execute(
            SQL["insert_principal"],
            {
                "id": principal_id,
                "email": f"oauth-client-{principal_id}@{PRINCIPAL_EMAIL_DOMAIN}",
                "client_id": client_id,
            },
        )
        conn.execute(SQL["name_principal"], {"id": principal_id, "display_name": name.strip()[:100]})
        conn.execute(SQL["insert_principal_membership"], {"id": principal_id, "organization_id": organization_id})
    return principal_id


def create_client(
    conn: psycopg.Connection,
    *,
    user_id: uuid.UUID,
    organization_id: uuid.UUID | None,
    data: dict,
    origin: RequestInfo,
) -> dict:
    """Register a client for `organization_id` (None: the one the caller administers); its secret
    (confidential clients) is returned in clear this once."""
    if organization_id is None:
        organization_id = sole_administered(conn)
    require_admin(conn, organization_id)
    data = registration.check_registration(data)
    client_id = generate_client_id()
    secret = generate_secret() if data["client_type"] == "confidential" else None
    principal_id = (
        _create_principal(conn, client_id, organization_id, data["name"])
        if "client_credentials" in data["grant_types"]
        else None
    )
    conn.execute(
        SQL["insert_client"],
        {
            "client_id": client_id,
            "organization_id": organization_id,
            "name": data["name"].strip(),
            "client_type": data["client_type"],
            "secret_hash": secret_digest(secret) if secret else None,
            "redirect_uris": data["redirect_uris"],
            "scopes": data["scopes"],
            "grant_types": data["grant_types"],
            "pkce_required": data["pkce_required"],
            "principal_id": principal_id,
            "created_by": user_id,
        },
    )
    _audit(
        conn,
        "oauth_client.created",
        organization_id,
        client_id,
        origin,
        {
            "name": data["name"].strip(),
            "client_type": data["client_type"],
            "redirect_uris": data["redirect_uris"],
            "scopes": data["scopes"],
            "grant_types": data["grant_types"],
            "pkce_required": data["pkce_required"],
        },
    )
    if not data["pkce_required"]:
        _audit(conn, "oauth_client.pkce_changed", organization_id, client_id, origin, {"pkce_required": False})
    return get_client(conn, client_id) | {"client_secret": secret}


def get_client(conn: psycopg.Connection, client_id: str) -> dict:
    _authorize(conn, client_id)
    row = conn.execute(SQL["get_client"], {"client_id": client_id}).fetchone()
    if row is None:
        raise NotFound("client not found")
    return _public(row)


def list_clients(conn: psycopg.Connection, organization_id, limit: int, cursor: str | None):
    """The clients of one organization, or of every organization the caller administers."""
    if organization_id is not None:
        require_admin(conn, organization_id)
    params = {"organization_id": organization_id} | page_params(cursor, limit)
    rows, next_cursor = paginate(conn.execute(SQL["list_clients"], params).fetchall(), limit)
    return [_public(row) for row in rows], next_cursor


def update_client(conn: psycopg.Connection, client_id: str, changes: dict, origin: RequestInfo) -> dict:
    """Change name, redirect_uris or pkce_required; switching PKCE off is audited on its own."""
    organization_id = _authorize(conn, client_id)
    current = conn.execute(SQL["get_client"], {"client_id": client_id}).fetchone()
    params = {"client_id": client_id, "name": None, "redirect_uris": None, "pkce_required": None}
    if "name" in changes:
        params["name"] = changes["name"].strip()
    if "redirect_uris" in changes:
        params["redirect_uris"] = registration.check_redirect_uris(changes["redirect_uris"], current["grant_types"])
    if "pkce_required" in changes:
        registration.check_pkce(current["client_type"], changes["pkce_required"])
        params["pkce_required"] = changes["pkce_required"]
    conn.execute(SQL["update_client"], params)
    changed = sorted(name for name in ("name", "redirect_uris", "pkce_required") if params[name] is not None)
    metadata = {"changed": changed}
    if params["redirect_uris"] is not None:
        metadata["redirect_uris"] = params["redirect_uris"]
    _audit(conn, "oauth_client.updated", organization_id, client_id, origin, metadata)
    if params["pkce_required"] is not None and params["pkce_required"] != current["pkce_required"]:
        _audit(
            conn,
            "oauth_client.pkce_changed",
            organization_id,
            client_id,
            origin,
            {"pkce_required": params["pkce_required"]},
        )
    return get_client(conn, client_id)


def delete_client(conn: psycopg.Connection, client_id: str, origin: RequestInfo) -> None:
    """Remove a client: its codes, grants and tokens go with it, so its tokens stop working at once."""
    organization_id = _authorize(conn, client_id)
    row = conn.execute(SQL["delete_client"], {"client_id": client_id}).fetchone()
    if row is None:
        raise NotFound("client not found")
    if row["principal_id"] is not None:
        with as_service_role(conn):
            conn.execute(SQL["delete_principal"], {"id": row["principal_id"]})
    _audit(conn, "oauth_client.deleted", organization_id, client_id, origin)


def rotate_secret(conn: psycopg.Connection, client_id: str, origin: RequestInfo) -> dict:
    """A new secret for a confidential client; the old one stops working at once."""
    organization_id = _authorize(conn, client_id)
    secret = generate_secret()
    row = conn.execute(SQL["rotate_secret"], {"client_id": client_id, "secret_hash": secret_digest(secret)}).fetchone()
    if row is None:
        raise Conflict("client_type: a public client has no secret to rotate", errors={"client_type": ["is public"]})
    _audit(conn, "oauth_client.secret_rotated", organization_id, client_id, origin)
    return {"client_id": client_id, "client_secret": secret, "secret_rotated_at": row["secret_rotated_at"]}
