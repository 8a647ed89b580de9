"""Fixtures most route tests share: an organization, and headers for its admin, a member and a stranger."""

import pytest

from tests.mail import running_inbox


@pytest.fixture
def org(world):
    return world.organization("Academy")


@pytest.fixture
def admin_headers(org, auth):
    return auth.headers(org["admin"])


@pytest.fixture
def member_headers(org, world, auth):
    return auth.headers(world.add_member(org))


@pytest.fixture
def stranger_headers(world, auth):
    """The admin of another organization."""
    return auth.headers(world.organization("Elsewhere")["admin"])


@pytest.fixture
def smtp_server():
    with running_inbox() as inbox:
        yield inbox


@pytest.fixture
def mail_app(make_app, smtp_server):
    return make_app(smtp_host="127.0.0.1", smtp_port=smtp_server.port, smtp_starttls=False)
