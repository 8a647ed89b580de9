"""LTI tests share the route tests' organization and the headers of its admin, a member and a stranger."""

from tests.routes.conftest import admin_headers, member_headers, org, stranger_headers  # noqa: F401 (shared fixtures)
