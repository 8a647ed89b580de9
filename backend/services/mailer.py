"""Outgoing email: SMTP when SMTP_HOST is set, otherwise printed to the server console."""

from __future__ import annotations

import smtplib
import sys
from dataclasses import dataclass
from email.message import EmailMessage


@dataclass(frozen=True)
class MailSettings:
    host: str | None
    port: int = 587
    user: str | None = None
    password: str | None = None
    sender: str = "Questbridge <no-reply@questbridge.local>"
    starttls: bool = True


def send(settings: MailSettings, to: str, subject: str, body: str, console=None) -> None:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    if not settings.host:
        # Development without a mail server: the operator reads the message on the console.
        # Deliberately not a log line, so log shipping never carries the link in it.
        out = console or sys.stderr
        print(
            f"----- email (SMTP_HOST unset) -----\nTo: {to}\nSubject: {subject}\n\n{body}----- end of email -----",
            file=out,
            flush=True,
        )
        return
    with smtplib.SMTP(settings.host, settings.port, timeout=10) as smtp:
        if settings.starttls:
            smtp.starttls()
        if settings.user:
            smtp.login(settings.user, settings.password or "")
        smtp.send_message(message)
