"""LMS platforms an organization registers to launch Questbridge as an LTI 1.3 tool, as org admins
manage them (RLS decides), and what the tool tells each platform: its URLs and Canvas's JSON.

The platform's URLs follow the webhook target rules (the SSRF policy; https where it is required):
the tool fetches the key set and the token endpoint itself, and sends browsers to the login URL.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import psycopg

from backend.db import queries_beside
from backend.errors import NotFound, ValidationFailed
from backend.services.shared import audit
from backend.services.shared.audit import RequestInfo
from backend.services.shared.ownership import require_admin, require_admin_of
from backend.services.shared.pagination import page_params, paginate
from backend.services.webhooks import ssrf

SQL = queries_beside(__file__)

URL_FIELDS = ("auth_login_url", "auth_token_url", "key_set_url")
FIELDS = ("name", "issuer", "client_id", "deployment_ids", *URL_FIELDS, "auth_token_audience")
AGS = "https://purl.imsglobal.org/spec/lti-ags/scope"
AGS_SCOPES = (f"{AGS}/lineitem", f"{AGS}/lineitem.readonly", f"{AGS}/result.readonly", f"{AGS}/score")
CANVAS_DEEP_LINKING_PLACEMENTS = ("assignment_selection", "link_selection")


def check_urls(data: dict, policy: ssrf.TargetPolicy) -> dict:
    """`data` with each platform URL it holds as the SSRF guard accepts it (the guard resolves
    names: call it outside a transaction); a refusal is a 422 naming the field."""
    checked = dict(data)
    for name in URL_FIELDS:
        if name in checked:
            try:
                checked[name] = ssrf.check(checked[name], policy)[0].url
            except ssrf.TargetRefused as refused:
                raise ValidationFailed.field(name, str(refused)) from None
    return checked


@dataclass(frozen=True)
class ToolUrls:
    """Where platforms reach the tool, under the app's public base URL."""

    base_url: str

    @property
    def login_url(self) -> str:
        return f"{self.base_url}/lti/login"

    @property
    def launch_url(self) -> str:
        return f"{self.base_url}/lti/launch"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/lti/jwks.json"

    def for_platform(self, platform_id=None) -> dict:
        """The `tool` object of a platform: what its admin pastes into the LMS. Deep-linking
        requests are launches too, so they go to the launch URL. Without a platform (the LMS gives
        the client id only once these are pasted) the Canvas URL names none."""
        canvas = f"{self.base_url}/lti/canvas.json"
        return {
            "login_url": self.login_url,
            "launch_url": self.launch_url,
            "jwks_url": self.jwks_url,
            "redirect_uris": [self.launch_url],
            "deep_linking_url": self.launch_url,
            "canvas_config_url": f"{canvas}?{urlencode({'platform_id': str(platform_id)})}" if platform_id else canvas,
        }


def _authorize(conn: psycopg.Connection, platform_id: uuid.UUID) -> uuid.UUID:
    """The organization of a platform the caller administers (404 strangers, 403 members)."""
    return require_admin_of(conn, SQL["platform_organization"], {"id": platform_id}, "platform")


def _values(fields: dict) -> dict:
    """Every registration field (None where not given), each deployment id listed once."""
    values = {name: fields.get(name) for name in FIELDS}
    if values["deployment_ids"] is not None:
        values["deployment_ids"] = list(dict.fromkeys(values["deployment_ids"]))
    return values


def create_platform(
    conn: psycopg.Connection, *, user_id: uuid.UUID, organization_id: uuid.UUID, fields: dict, origin: RequestInfo
) -> dict:
    """Register a platform; `fields` has passed check_urls. (issuer, client_id) taken → 409."""
    require_admin(conn, organization_id)
    values = _values(fields)
    values["deployment_ids"] = values["deployment_ids"] or []
    row = conn.execute(
        SQL["insert_platform"], values | {"organization_id": organization_id, "created_by": user_id}
    ).fetchone()
    audit.record(
        conn,
        "lti_platform.created",
        organization_id=organization_id,
        target_type="lti_platform",
        target_id=row["id"],
        metadata={"issuer": values["issuer"], "client_id": values["client_id"]},
        origin=origin,
    )
    return get_platform(conn, row["id"])


def get_platform(conn: psycopg.Connection, platform_id: uuid.UUID) -> dict:
    _authorize(conn, platform_id)
    row = conn.execute(SQL["get_platform"], {"id": platform_id}).fetchone()
    if row is None:
        raise NotFound("platform not found")
    return row


def list_platforms(
    conn: psycopg.Connection, organization_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[dict], str | None]:
    require_admin(conn, organization_id)
    params = page_params(cursor, limit) | {"organization_id": organization_id}
    return paginate(conn.execute(SQL["list_platforms"], params).fetchall(), limit)


def update_platform(conn: psycopg.Connection, platform_id: uuid.UUID, changes: dict, origin: RequestInfo) -> dict:
    """Change any of the registration's fields; `auth_token_audience: null` clears it."""
    organization_id = _authorize(conn, platform_id)
    params = _values(changes)
    params["clear_audience"] = "auth_token_audience" in changes and changes["auth_token_audience"] is None
    row = conn.execute(SQL["update_platform"], params | {"id": platform_id}).fetchone()
    if row is None:
        raise NotFound("platform not found")
    audit.record(
        conn,
        "lti_platform.updated",
        organization_id=organization_id,
        target_type="lti_platform",
        target_id=platform_id,
        metadata={"changed": sorted(changes)},
        origin=origin,
    )
    return get_platform(conn, platform_id)


def delete_platform(conn: psycopg.Connection, platform_id: uuid.UUID, origin: RequestInfo) -> None:
    organization_id = _authorize(conn, platform_id)
    if conn.execute(SQL["delete_platform"], {"id": platform_id}).rowcount == 0:
        raise NotFound("platform not found")
    audit.record(
        conn,
        "lti_platform.deleted",
        organization_id=organization_id,
        target_type="lti_platform",
        target_id=platform_id,
        origin=origin,
    )


def canvas_configuration(conn: psycopg.Connection, platform_id: uuid.UUID | None, urls: ToolUrls) -> dict:
    """Canvas's developer-key JSON, for a registered platform or (platform_id None) before one is.
    Canvas fetches it without our session, so it says nothing about the platform beyond the tool's
    own URLs; an unknown id is 404. conn runs as service_role."""
    if platform_id is not None and not conn.execute(SQL["platform_exists"], {"id": platform_id}).fetchone()["found"]:
        raise NotFound("platform not found")
    placements = [
        {"placement": placement, "message_type": "LtiDeepLinkingRequest", "target_link_uri": urls.launch_url}
        for placement in CANVAS_DEEP_LINKING_PLACEMENTS
    ]
    return {
        "title": "Questbridge",
        "description": "Quests for your course: learners launch into them and their grades return to the gradebook.",
        "oidc_initiation_url": urls.login_url,
        "target_link_uri": urls.launch_url,
        "public_jwk_url": urls.jwks_url,
        "scopes": list(AGS_SCOPES),
        "extensions": [
            {
                "platform": "canvas.instructure.com",
                "domain": urlsplit(urls.base_url).netloc,
                "privacy_level": "public",
                "settings": {"text": "Questbridge", "placements": placements},
            }
        ],
    }
