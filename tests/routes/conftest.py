"""Fixtures the route tests share: a local SMTP inbox and an app that mails through it."""

import pytest

from tests.mail import running_inbox


@pytest.fixture
def smtp_server():
    with running_inbox() as inbox:
        yield inbox


@pytest.fixture
def mail_app(make_app, smtp_server):
    return make_app(smtp_host="127.0.0.1", smtp_port=smtp_server.port, smtp_starttls=False)
