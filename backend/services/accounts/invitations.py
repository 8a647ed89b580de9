"""Invitations: the only way into an organization. An admin invites an email; the person becomes a
member by accepting it (the emailed link, or the prompt once signed in), or declines it.

Until then the organization sees the invitation (email, role, status, dates) and nothing about
the person: inviting does the same work and gives the same answer whether or not the email has
an account. The admin side runs as the caller (RLS decides); the invitee side takes a
service_role connection and the user id explicitly, like users.py and sessions.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from backend.db import as_service_role, queries_beside
from backend.errors import Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized, ValidationFailed
from backend.services.accounts import users
from backend.services.shared import audit, rate_limit
from backend.services.shared.audit import RequestInfo
from backend.services.shared.digest import new_token, secret_digest
from backend.services.shared.ownership import caller_id, require_admin
from backend.services.shared.pagination import page_params, paginate
from backend.services.shared.passwords import PasswordHasher, password_problem
from backend.services.webhooks.events import emit_event

SQL = queries_beside(__file__)
STATUSES = ("pending", "accepted", "declined", "revoked", "expired")
# Emails one organization may send one address in an hour (invitations, renewals and resends),
# and one admin in all: enough for real use, too few to flood an inbox or spray many.
EMAILS_PER_ADDRESS_PER_HOUR = 5
EMAILS_PER_ADMIN_PER_HOUR = 50
UNUSABLE_LINK = "is invalid, expired or already used"


@dataclass(frozen=True)
class IssuedLink:
    """An invitation as its organization sees it, with what its email needs (the token, for the
    email only)."""

    invitation: dict
    token: str
    organization_name: str
    inviter_email: str | None


@dataclass(frozen=True)
class Joined:
    user: dict  # {id, email} of the new member
    organization: dict  # {id, name, role}
    new_account: bool


# --- the organization's side ---------------------------------------------------------------------


def invite(
    conn: psycopg.Connection,
    organization_id,
    email: str,
    role: str,
    origin: RequestInfo,
    ttl_seconds: int,
    names: dict | None = None,
) -> IssuedLink:
    """Invite an email, or renew its open invitation; no account is looked up or created. `names`
    ({given_name, family_name}, each optional) are those of the account accepting may create."""
    require_admin(conn, organization_id)
    email = users.normalize_email(email)
    if conn.execute(SQL["member_with_email"], {"organization_id": organization_id, "email": email}).fetchone():
        raise Conflict(
            "email: is already a member of this organization",
            errors={"email": ["is already a member of this organization"]},
        )
    inviter = caller_id(conn)
    token = new_token()
    with as_service_role(conn):
        _count_email(conn, organization_id, email, inviter)
        row = conn.execute(
            SQL["upsert_invitation"],
            {
                "organization_id": organization_id,
                "email": email,
                "role": role,
                "token_hash": secret_digest(token),
                "invited_by": inviter,
                "given_name": (names or {}).get("given_name"),
                "family_name": (names or {}).get("family_name"),
                "ttl": ttl_seconds,
            },
        ).fetchone()
        letter = conn.execute(SQL["letter"], {"organization_id": organization_id, "invited_by": inviter}).fetchone()
    action = "invitation.created" if row["created"] else "invitation.renewed"
    _audit(conn, action, organization_id, row["id"], {"email": email, "role": role}, origin)
    invitation = conn.execute(SQL["get_invitation"], {"id": row["id"], "organization_id": organization_id}).fetchone()
    return IssuedLink(invitation, token, letter["organization_name"], letter["inviter_email"])


def list_invitations(
    conn: psycopg.Connection, organization_id, status: str | None, limit: int, cursor: str | None
) -> tuple[list[dict], str | None]:
    require_admin(conn, organization_id)
    params = page_params(cursor, limit) | {"organization_id": organization_id, "status": status}
    return paginate(conn.execute(SQL["list_invitations"], params).fetchall(), limit)


def resend(
    conn: psycopg.Connection, organization_id, invitation_id, origin: RequestInfo, ttl_seconds: int
) -> IssuedLink:
    """A new link (the previous one stops working) and a fresh lifetime for an open invitation."""
    invitation = _open_invitation(
        conn, organization_id, invitation_id, "the invitation was {}: invite the email again instead"
    )
    inviter = caller_id(conn)
    token = new_token()
    with as_service_role(conn):
        _count_email(conn, organization_id, invitation["email"], inviter)
        conn.execute(
            SQL["renew_link"],
            {
                "id": invitation_id,
                "organization_id": organization_id,
                "token_hash": secret_digest(token),
                "ttl": ttl_seconds,
            },
        )
        letter = conn.execute(SQL["letter"], {"organization_id": organization_id, "invited_by": inviter}).fetchone()
    _audit(conn, "invitation.resent", organization_id, invitation_id, {"email": invitation["email"]}, origin)
    invitation = _invitation(conn, organization_id, invitation_id)
    return IssuedLink(invitation, token, letter["organization_name"], letter["inviter_email"])


def revoke(conn: psycopg.Connection, organization_id, invitation_id, origin: RequestInfo) -> None:
    """Withdraw an open invitation: its link stops working and its invitee is no longer offered it."""
    invitation = _open_invitation(conn, organization_id, invitation_id, "the invitation was already {}")
    with as_service_role(conn):
        conn.execute(SQL["revoke"], {"id": invitation_id, "organization_id": organization_id})
    _audit(conn, "invitation.revoked", organization_id, invitation_id, {"email": invitation["email"]}, origin)


def _open_invitation(conn: psycopg.Connection, organization_id, invitation_id, refusal: str) -> dict:
    """An invitation still open (pending or expired), for one of its organization's admins; else
    409 with `refusal` naming its status."""
    require_admin(conn, organization_id)
    invitation = _invitation(conn, organization_id, invitation_id)
    if invitation["status"] not in ("pending", "expired"):
        raise Conflict(refusal.format(invitation["status"]))
    return invitation


def _audit(
    conn: psycopg.Connection, action: str, organization_id, invitation_id, metadata: dict, origin=None, actor_id=None
) -> None:
    audit.record(
        conn,
        action,
        organization_id=organization_id,
        target_type="invitation",
        target_id=invitation_id,
        metadata=metadata,
        origin=origin,
        actor_id=actor_id,
    )


def _invitation(conn: psycopg.Connection, organization_id, invitation_id) -> dict:
    row = conn.execute(SQL["get_invitation"], {"id": invitation_id, "organization_id": organization_id}).fetchone()
    if row is None:
        raise NotFound("invitation not found")
    return row


def _count_email(conn: psycopg.Connection, organization_id, email: str, inviter) -> None:
    for bucket, limit in (
        (f"invitation_email:{organization_id}:{email.lower()}", EMAILS_PER_ADDRESS_PER_HOUR),
        (f"invitation_email:admin:{inviter}", EMAILS_PER_ADMIN_PER_HOUR),
    ):
        decision = rate_limit.hit(conn, bucket, limit, 3600)
        if not decision.allowed:
            raise TooManyRequests("too many invitation emails; try again later", retry_after=decision.retry_after)


# --- the invitee's side --------------------------------------------------------------------------


def pending_for(conn: psycopg.Connection, user_id) -> list[dict]:
    """The open invitations sent to the user's email, for the prompt and GET /api/auth/me."""
    return conn.execute(SQL["pending_for_user"], {"user_id": user_id}).fetchall()


def accept(conn: psycopg.Connection, user_id, invitation_id, origin: RequestInfo) -> Joined:
    """The signed-in user accepts an invitation sent to their own email."""
    row = _answer(conn, user_id, invitation_id, "accepted")
    user = users.find_by_id(conn, user_id)
    return _join(conn, row, user, new_account=False, origin=origin)


def decline(conn: psycopg.Connection, user_id, invitation_id) -> None:
    _record_declined(conn, _answer(conn, user_id, invitation_id, "declined"))


def _answer(conn: psycopg.Connection, user_id, invitation_id, status: str) -> dict:
    row = conn.execute(SQL["answer_for_user"], {"id": invitation_id, "user_id": user_id, "status": status}).fetchone()
    if row is not None:
        return row
    state = conn.execute(SQL["state_for_user"], {"id": invitation_id, "user_id": user_id}).fetchone()
    if state is None:
        raise NotFound("invitation not found")
    raise Conflict(
        "the invitation expired" if state["status"] == "expired" else f"the invitation was {state['status']}"
    )


def preview(conn: psycopg.Connection, token: str) -> dict:
    """What the holder of a link is invited to, and whether its email already has an account (so the
    page asks them to sign in, or to choose a password)."""
    row = conn.execute(SQL["by_token"], {"token_hash": secret_digest(token)}).fetchone()
    if row is None:
        raise ValidationFailed.field("token", UNUSABLE_LINK, status=400)
    return row


def accept_with_token(
    conn: psycopg.Connection,
    hasher: PasswordHasher,
    token: str,
    password: str | None,
    signed_in_user_id,
    origin: RequestInfo,
    names: dict | None = None,
) -> Joined:
    """Accept through the emailed link. A new email gets its account here, with the password chosen
    now (the link proves control of the email) and the names sent now or, failing them, the
    invitation's; an existing account must be the one signed in.
    Every refusal is raised inside the caller's transaction, so the link stays usable."""
    row = _answer_by_token(conn, token, "accepted")
    user = users.find_by_email(conn, row["email"])
    if user is not None:
        if signed_in_user_id is None:
            raise Unauthorized(f"sign in as {user['email']} to accept this invitation", slug="sign-in-required")
        if user["id"] != signed_in_user_id:
            raise Forbidden(
                f"this invitation is for {user['email']}: sign in with that email to accept it",
                slug="invitation-for-another-account",
            )
        return _join(conn, row, user, new_account=False, origin=origin)
    if not password:
        raise ValidationFailed.field("password", "is required: choose the password of your new account")
    problem = password_problem(password, row["email"])
    if problem:
        raise ValidationFailed.field("password", problem)
    names = names or {}
    user_id = users.create_user(
        conn,
        hasher,
        row["email"],
        password,
        given_name=names.get("given_name") or row["given_name"],
        family_name=names.get("family_name") or row["family_name"],
    )
    audit.record(conn, "auth.account_created", target_type="user", target_id=user_id, origin=origin, actor_id=user_id)
    return _join(conn, row, {"id": user_id, "email": row["email"]}, new_account=True, origin=origin)


def decline_with_token(conn: psycopg.Connection, token: str) -> None:
    _record_declined(conn, _answer_by_token(conn, token, "declined"))


def _answer_by_token(conn: psycopg.Connection, token: str, status: str) -> dict:
    """Single use under concurrency: only one UPDATE moves an open invitation on."""
    row = conn.execute(SQL["answer_by_token"], {"token_hash": secret_digest(token), "status": status}).fetchone()
    if row is None:
        raise ValidationFailed.field("token", UNUSABLE_LINK, status=400)
    return row


def _join(conn: psycopg.Connection, invitation: dict, user: dict, *, new_account: bool, origin: RequestInfo) -> Joined:
    """The membership, its audit entries and `user.registered`, in the acceptance's transaction."""
    organization_id, user_id = invitation["organization_id"], user["id"]
    joined = conn.execute(
        SQL["insert_membership"],
        {"organization_id": organization_id, "user_id": user_id, "role": invitation["role"]},
    ).fetchone()
    accepted = {"email": invitation["email"], "role": invitation["role"]}
    _audit(conn, "invitation.accepted", organization_id, invitation["id"], accepted, origin, actor_id=user_id)
    if joined is not None:
        audit.record(
            conn,
            "membership.created",
            organization_id=organization_id,
            target_type="user",
            target_id=user_id,
            metadata={"role": invitation["role"], "invitation_id": str(invitation["id"])},
            origin=origin,
            actor_id=user_id,
        )
        emit_event(
            conn,
            organization_id,
            "user.registered",
            {"user_id": user_id, "email": user["email"], "role": invitation["role"]},
        )
    organization = conn.execute(
        SQL["organization_of"], {"organization_id": organization_id, "user_id": user_id}
    ).fetchone()
    return Joined(user={"id": user_id, "email": user["email"]}, organization=organization, new_account=new_account)


def _record_declined(conn: psycopg.Connection, invitation: dict) -> None:
    """In the organization's log with no actor, address or user agent: declining tells it nothing
    about the person, not even whether they have an account."""
    _audit(conn, "invitation.declined", invitation["organization_id"], invitation["id"], {"email": invitation["email"]})


def delete_expired(conn: psycopg.Connection) -> int:
    return conn.execute(SQL["delete_expired"]).rowcount
