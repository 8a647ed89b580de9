"""The emails that carry single-use links: invitations to an organization and admin-asked resets.

The token travels in the link's fragment (after `#`): browsers never send a fragment to a server,
so it reaches no access log and no Referer; the admin UI reads it and clears it from the address
bar before anything else loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from backend.services.shared import mailer

if TYPE_CHECKING:
    from backend.config import Config

log = structlog.get_logger(__name__)

INVITATION_PATH = "/admin/invitation"
RESET_PATH = "/admin/reset-password"


@dataclass(frozen=True)
class Message:
    subject: str
    body: str


def lifetime(ttl_seconds: int) -> str:
    if ttl_seconds % 86400 == 0:
        return f"{ttl_seconds // 86400} day(s)"
    if ttl_seconds % 3600 == 0:
        return f"{ttl_seconds // 3600} hour(s)"
    return f"{max(1, ttl_seconds // 60)} minute(s)"


def link(public_url: str, path: str, token: str) -> str:
    return f"{public_url}{path}#token={token}"


def invitation(
    public_url: str, token: str, organization_name: str, role: str, inviter_email: str | None, ttl_seconds: int
) -> Message:
    """The same words whether or not the email has an account: the page behind the link asks for
    a new password or for a sign-in, as the case may be."""
    by = f" ({inviter_email})" if inviter_email else ""
    body = (
        f"An admin of {organization_name}{by} invited you to join it on Questbridge as {role}.\n\n"
        f"To accept or decline, open:\n\n{link(public_url, INVITATION_PATH, token)}\n\n"
        f"You join only if you accept. The link works once and expires in {lifetime(ttl_seconds)}.\n"
        "If you did not expect this, ignore this email: nothing changes.\n"
    )
    return Message(f"Invitation to join {organization_name} on Questbridge", body)


def password_reset(public_url: str, token: str, organization_name: str, ttl_seconds: int) -> Message:
    body = (
        f"An admin of {organization_name} asked for your Questbridge password to be reset. "
        f"Choose a new one here:\n\n{link(public_url, RESET_PATH, token)}\n\n"
        f"The link works once and expires in {lifetime(ttl_seconds)}.\n"
        "If you did not expect this, ignore this email: your password stays as it is.\n"
    )
    return Message("Reset your Questbridge password", body)


def send(settings: mailer.MailSettings, to: str, message: Message, kind: str) -> bool:
    """Hand the message to the mail server; False (logged, without the link) when none took it."""
    try:
        mailer.send(settings, to, message.subject, message.body)
    except mailer.MailError as exc:
        log.warning(f"{kind}_not_sent", reason=str(exc))
        return False
    return True


def send_invitation(
    config: Config, to: str, token: str, organization_name: str, role: str, inviter_email: str | None
) -> bool:
    """Email an invitation's link; False when no mail server took it (the invitation stands)."""
    message = invitation(
        config.public_url, token, organization_name, role, inviter_email, config.invitation_ttl_seconds
    )
    return send(mailer.settings_from(config), to, message, "invitation")


def send_password_reset(config: Config, to: str, token: str, organization_name: str) -> bool:
    """Email a reset link; False when no mail server took it (then nothing can use the token)."""
    message = password_reset(config.public_url, token, organization_name, config.password_reset_ttl_seconds)
    return send(mailer.settings_from(config), to, message, "password_reset")
