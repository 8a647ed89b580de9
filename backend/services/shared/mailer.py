"""Outgoing email: SMTP when SMTP_HOST is set, otherwise printed to the server console."""

from __future__ import annotations

import smtplib
import sys
from dataclasses import dataclass
from email.message import EmailMessage


class MailError(RuntimeError):
    """The message could not be handed to a mail server; the text says why, never the body."""


@dataclass(frozen=True)
class MailSettings:
    host: str | None
    port: int = 587
    user: str | None = None
    password: str | None = None
    sender: str = "Questbridge <no-reply@questbridge.local>"
    starttls: bool = True
    # Without SMTP the message goes to the console. Never in production: its stderr is shipped
    # with the logs, and these messages carry single-use sign-in links.
    console_fallback: bool = True
    timeout_seconds: float = 10


def settings_from(config) -> MailSettings:
    """The mail settings of a Config (the SMTP_* variables)."""
    smtp = config.section("smtp_", MailSettings)  # host, port, user, password, starttls
    return MailSettings(**smtp, sender=config.smtp_from, console_fallback=not config.is_production)


def send(settings: MailSettings, to: str, subject: str, body: str, console=None) -> None:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    if not settings.host:
        if not settings.console_fallback:
            raise MailError("SMTP_HOST is not set")
        # Development without a mail server: the operator reads the message on the console.
        # Deliberately not a log line, so log shipping never carries the link in it.
        out = console or sys.stderr
        print(
            f"----- email (SMTP_HOST unset) -----\nTo: {to}\nSubject: {subject}\n\n{body}----- end of email -----",
            file=out,
            flush=True,
        )
        return
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds) as smtp:
            if settings.starttls:
                smtp.starttls()
            if settings.user:
                smtp.login(settings.user, settings.password or "")
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"{type(exc).__name__} from {settings.host}:{settings.port}") from None
