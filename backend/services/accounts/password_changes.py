"""A user's new password: changed with the current one, or set with an emailed reset token."""

from __future__ import annotations

import uuid

from backend.db import Database
from backend.errors import TooManyRequests, ValidationFailed
from backend.services.accounts import resets, sessions, signin, users
from backend.services.shared import audit
from backend.services.shared.audit import RequestInfo
from backend.services.shared.passwords import PasswordHasher, password_problem


def check_new_password(field: str, password: str, email: str | None) -> None:
    """Refuse a password too weak (or the email itself), naming the field it came in."""
    problem = password_problem(password, email)
    if problem:
        raise ValidationFailed.field(field, problem)


def change_password(
    db: Database,
    hasher: PasswordHasher,
    limits: signin.LoginLimits,
    *,
    user_id: uuid.UUID,
    current_password: str,
    new_password: str,
    origin: RequestInfo,
    session_ttl_seconds: int,
) -> tuple[dict, sessions.NewSession]:
    """Check the current password, counted like a login guess; store the new one, end every other
    session and audit it. Returns the user and the new session of the browser that changed it."""
    guess = signin.password_check_guesses(limits, user_id, origin.ip)
    with db.transaction("service_role") as conn:  # counted and committed before the check
        refused = signin.count_guess(conn, guess)
        user = users.find_by_id(conn, user_id)
    if refused is not None:
        raise TooManyRequests("too many wrong current passwords; try again later", retry_after=refused[1].retry_after)
    if user is None or not hasher.verify(user["password_hash"], current_password):
        raise ValidationFailed.field("current_password", "is not your current password", status=403)
    with db.transaction("service_role") as conn:
        signin.forgive_guess(conn, guess)
    with db.transaction("service_role") as conn:
        check_new_password("new_password", new_password, user["email"])
        if new_password == current_password:
            # A required change (an admin-set or leaked password) must actually change it.
            raise ValidationFailed.field("new_password", "must differ from your current password")
        users.set_password(conn, hasher, user["id"], new_password)
        audit.record(
            conn, "auth.password_changed", target_type="user", target_id=user["id"], origin=origin, actor_id=user["id"]
        )
        session = sessions.create_session(conn, user["id"], session_ttl_seconds, origin)
    return user, session


def reset_password(
    db: Database, hasher: PasswordHasher, *, token: str, password: str, origin: RequestInfo, session_ttl_seconds: int
) -> tuple[dict, sessions.NewSession]:
    """Spend a single-use reset token on a new password, audited; returns the user and a new session."""
    check_new_password("password", password, None)
    with db.transaction("service_role") as conn:
        user = resets.consume_reset_token(conn, token)
        if user is None:
            raise ValidationFailed.field("token", "is invalid, expired or already used", status=400)
        # Raised inside the transaction, so a refused password does not spend the token.
        check_new_password("password", password, user["email"])
        users.set_password(conn, hasher, user["id"], password)
        audit.record(
            conn,
            "auth.password_reset_completed",
            target_type="user",
            target_id=user["id"],
            origin=origin,
            actor_id=user["id"],
        )
        session = sessions.create_session(conn, user["id"], session_ttl_seconds, origin)
    return user, session
