"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives, and the links in it."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiosmtpd.controller import Controller

# The single-use links of the emails; the token travels in the fragment, never to a server.
INVITATION_LINK = re.compile(r"(https?://[^\s/]+)/admin/invitation#token=([A-Za-z0-9_-]+)")
RESET_LINK = re.compile(r"(https?://[^\s/]+)/admin/reset-password#token=([A-Za-z0-9_-]+)")


class Inbox:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.recipients: list[list[str]] = []
        self._arrived = threading.Condition()
        self.port: int | None = None

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self._arrived:
            self.messages.append(message)
            self.recipients.append(list(envelope.rcpt_tos))
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 5.0) -> list:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.messages) >= count, timeout)
        assert len(self.messages) >= count, f"expected {count} message(s), got {len(self.messages)}"
        return self.messages

    def to(self, address: str) -> list:
        """The messages sent to `address` so far."""
        with self._arrived:
            return [m for m, rcpt in zip(self.messages, self.recipients, strict=True) if address in rcpt]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_inbox() -> Iterator[Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.port = controller.port
    try:
        yield inbox
    finally:
        controller.stop()


def link_token(message, pattern: re.Pattern = RESET_LINK) -> str:
    """The token of the link of `pattern` in an email."""
    body = message.get_content()
    match = pattern.search(body)
    assert match, body
    return match.group(2)
