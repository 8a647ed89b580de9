"""Who a verified resource-link launch signs in (issue 16 point 4): the user linked to the
platform's `sub`, else a new account made from the name and email claims, a member of the
platform's organization; the quest it opens; and the launch, kept for grade passback.

An account is never found by the LTI email: the platform vouches for it, we cannot. A new account
takes that email only when no account has it; otherwise (or with no email claim) it gets an
address under `.invalid` (RFC 2606), which no mail reaches, since profiles need a unique email.
LTI roles are never read: a new member is a `member`, an existing membership keeps its role.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import psycopg

from backend.db import as_service_role, queries_beside
from backend.errors import NotFound, ValidationFailed
from backend.services.accounts import sessions, users
from backend.services.lti.launch import LTI, Launch
from backend.services.shared import audit
from backend.services.shared.audit import RequestInfo
from backend.services.shared.ownership import require_admin_of
from backend.services.shared.passwords import PasswordHasher

SQL = queries_beside(__file__)

AGS_ENDPOINT = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
UNREACHABLE_DOMAIN = "lti.invalid"
HOSTNAME = re.compile(r"^[a-z0-9.-]{1,253}\Z")  # what urlsplit lowercased; IPv6 literals are left out


@dataclass(frozen=True)
class ResourceLink:
    id: uuid.UUID  # what an org admin maps with PUT /api/lti/resource-links/<id>
    title: str | None
    quest_id: uuid.UUID | None  # None: the link opens no quest yet


@dataclass(frozen=True)
class SignedIn:
    user_id: uuid.UUID
    email: str
    session: sessions.NewSession
    quest_id: uuid.UUID
    launch_id: uuid.UUID


def _text(value, maximum: int) -> str | None:
    return value.strip()[:maximum] or None if isinstance(value, str) else None


def _display_name(claims: dict) -> str | None:
    name = _text(claims.get("name"), 100)
    given, family = _text(claims.get("given_name"), 100), _text(claims.get("family_name"), 100)
    return name or _text(" ".join(part for part in (given, family) if part), 100)


def resource_link(conn: psycopg.Connection, launch: Launch) -> ResourceLink:
    """The launch's resource link, recorded (so that an admin can map it), and its quest: the
    custom claim `quest_id`, else the link's mapping, if it is a quest of the platform's
    organization. conn runs as service_role."""
    link = launch.claims[LTI + "resource_link"]
    row = conn.execute(
        SQL["record_resource_link"],
        {
            "platform_id": launch.platform.id,
            "resource_link_id": link["id"],
            "title": _text(link.get("title"), 500),
        },
    ).fetchone()
    custom = launch.claims.get(LTI + "custom")
    candidate = custom.get("quest_id") if isinstance(custom, dict) else None
    try:
        quest_id = uuid.UUID(str(candidate)) if candidate else row["quest_id"]
    except ValueError:
        quest_id = None
    if quest_id is not None:
        params = {"quest_id": quest_id, "organization_id": launch.platform.organization_id}
        if not conn.execute(SQL["quest_in_organization"], params).fetchone()["found"]:
            quest_id = None
    return ResourceLink(row["id"], _text(link.get("title"), 500), quest_id)


def _user_of(conn: psycopg.Connection, hasher: PasswordHasher, launch: Launch) -> tuple[uuid.UUID, str]:
    params = {"platform_id": launch.platform.id, "subject": launch.claims["sub"]}
    conn.execute(SQL["lock_subject"], params)
    linked = conn.execute(SQL["linked_user"], params).fetchone()
    if linked is not None:
        return linked["user_id"], linked["email"]
    email = _text(launch.claims.get("email"), 254)
    usable = email is not None and EMAIL.match(email)
    if not usable or conn.execute(SQL["email_taken"], {"email": email}).fetchone()["taken"]:
        email = f"lti-{uuid.uuid4().hex}@{UNREACHABLE_DOMAIN}"
    user_id = users.create_user(
        conn,
        hasher,
        email,
        None,
        display_name=_display_name(launch.claims),
        given_name=_text(launch.claims.get("given_name"), 100),
        family_name=_text(launch.claims.get("family_name"), 100),
        signs_in_elsewhere=True,
    )
    conn.execute(SQL["insert_link"], params | {"user_id": user_id})
    return user_id, email


def sign_in(
    conn: psycopg.Connection,
    hasher: PasswordHasher,
    launch: Launch,
    quest_id: uuid.UUID,
    *,
    session_ttl_seconds: int,
    origin: RequestInfo,
) -> SignedIn:
    """The launch's user (found or created), a member of the platform's organization, signed in
    with a new session; the launch recorded with its AGS endpoint. conn runs as service_role."""
    user_id, email = _user_of(conn, hasher, launch)
    organization_id = launch.platform.organization_id
    if conn.execute(SQL["join_organization"], {"organization_id": organization_id, "user_id": user_id}).fetchone():
        audit.record(
            conn,
            "member.joined_through_lti",
            organization_id=organization_id,
            target_type="user",
            target_id=user_id,
            metadata={"platform_id": str(launch.platform.id)},
            origin=origin,
            actor_id=user_id,
        )
    endpoint = launch.claims.get(AGS_ENDPOINT)
    endpoint = endpoint if isinstance(endpoint, dict) else {}
    scopes = endpoint.get("scope")
    launch_row = conn.execute(
        SQL["insert_launch"],
        {
            "platform_id": launch.platform.id,
            "user_id": user_id,
            "deployment_id": launch.deployment_id,
            "resource_link_id": launch.claims[LTI + "resource_link"]["id"],
            "quest_id": quest_id,
            "ags_lineitem": _text(endpoint.get("lineitem"), 2048),
            "ags_lineitems": _text(endpoint.get("lineitems"), 2048),
            "ags_scopes": [s for s in scopes if isinstance(s, str)] if isinstance(scopes, list) else [],
            "frame_origin": launch_frame_origin(launch.claims),
        },
    ).fetchone()
    session = sessions.create_session(conn, user_id, session_ttl_seconds, origin)
    return SignedIn(user_id, email, session, quest_id, launch_row["id"])


def set_resource_link_quest(
    conn: psycopg.Connection, resource_link_id: uuid.UUID, quest_id: uuid.UUID, origin: RequestInfo
) -> dict:
    """Map a resource link to a quest of its platform's organization (org admins; conn runs as the
    user, whose RLS shows them their organization's quests)."""
    organization_id = require_admin_of(
        conn, SQL["resource_link_organization"], {"id": resource_link_id}, "resource link"
    )
    params = {"quest_id": quest_id, "organization_id": organization_id}
    if not conn.execute(SQL["quest_in_organization"], params).fetchone()["found"]:
        raise ValidationFailed.field("quest_id", "is not a quest of the platform's organization")
    with as_service_role(conn):
        row = conn.execute(SQL["set_resource_link_quest"], {"id": resource_link_id, "quest_id": quest_id}).fetchone()
    if row is None:
        raise NotFound("resource link not found")
    audit.record(
        conn,
        "lti_resource_link.mapped",
        organization_id=organization_id,
        target_type="lti_resource_link",
        target_id=resource_link_id,
        metadata={"quest_id": str(quest_id)},
        origin=origin,
    )
    return row


def launch_frame_origin(claims: dict) -> str | None:
    """The origin of the page that framed a launch: its launch_presentation return_url's (the course
    page, on the LMS's own host: for Canvas not the issuer's), else the issuer's; None if neither is
    a plain http(s) origin (nothing odd may reach a CSP header)."""
    presentation = claims.get(LTI + "launch_presentation")
    candidates = (presentation.get("return_url") if isinstance(presentation, dict) else None, claims.get("iss"))
    for candidate in candidates:
        if not isinstance(candidate, str):
            continue
        parts = urlsplit(candidate)
        try:
            port = parts.port
        except ValueError:
            continue
        if parts.scheme in ("https", "http") and parts.hostname and HOSTNAME.match(parts.hostname):
            return f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port else "")
    return None


def frame_origins(conn: psycopg.Connection, user_id: uuid.UUID) -> list[str]:
    """The origins that framed the user's launches (the learner pages let them frame). conn runs as
    service_role."""
    return [row["frame_origin"] for row in conn.execute(SQL["frame_origins"], {"user_id": user_id})]
