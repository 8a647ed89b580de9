"""The OAuth 2.0 authorization server (OAuth 2.1 defaults) on Authlib, with our own psycopg storage."""

from __future__ import annotations

WEBHOOKS_MANAGE = "webhooks:manage"  # the scope the webhook subscription routes accept tokens with
SCOPES: dict[str, str] = {
    "read:profile": "See your name, email address and the organization you belong to",
    "read:quests": "See the quests and tasks of your organization",
    "read:progress": "See your progress: the tasks you completed, your xp and badges",
    "write:submissions": "Hand in work on tasks in your name",
    WEBHOOKS_MANAGE: "Manage your organization's webhook subscriptions (if you are one of its admins)",
    # OpenID Connect: signing in to the application with your Questbridge account.
    "openid": "Sign you in to the application with your Questbridge account",
    "profile": "See your name (first and last name)",
    "email": "See your email address",
}
OPENID_SCOPES = ("openid", "profile", "email")
# Scopes only the admins of the client's organization can exercise: never offered to its members,
# nor carried by a token issued for one (the routes would refuse the member anyway).
ADMIN_SCOPES = frozenset({WEBHOOKS_MANAGE})
# Client-credentials tokens act for the client's organization with a member's read access.
CLIENT_CREDENTIALS_SCOPES = ("read:profile", "read:quests")
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
DEFAULT_GRANT_TYPES = ("authorization_code", "refresh_token")
DEFAULT_SCOPES = ("read:profile", "read:quests", "read:progress")
CLIENT_TYPES = ("confidential", "public")


def exercisable_scopes(scopes: list[str], role: str | None) -> list[str]:
    """The scopes, in order, that a user of `role` in the client's organization can exercise."""
    return [scope for scope in scopes if role == "admin" or scope not in ADMIN_SCOPES]
