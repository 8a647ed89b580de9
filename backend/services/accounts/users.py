"""Local accounts: users, password login with throttling, browser sessions and password resets.

Every function takes a connection already running as service_role (these tables hold secrets,
hashes, that no user role may read), but for `authenticate`, which runs its own transactions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg

from backend.db import Database, queries_beside
from backend.services.shared import audit, rate_limit
from backend.services.shared.audit import RequestInfo
from backend.services.shared.digest import secret_digest
from backend.services.shared.passwords import PasswordHasher

if TYPE_CHECKING:
    from backend.config import Config

SQL = queries_beside(__file__)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def normalize_email(email: str) -> str:
    return email.strip()


def create_user(
    conn: psycopg.Connection,
    hasher: PasswordHasher,
    email: str,
    password: str | None = None,
    *,
    must_change_password: bool = False,
    display_name: str | None = None,
) -> uuid.UUID:
    """A new local account (auth.users + profile + credentials); password None means invite-only."""
    user_id = uuid.uuid4()
    email = normalize_email(email)
    conn.execute(SQL["insert_auth_user"], {"id": user_id, "email": email})
    conn.execute(SQL["insert_profile"], {"id": user_id, "email": email, "display_name": display_name})
    conn.execute(
        SQL["insert_credentials"],
        {
            "user_id": user_id,
            "password_hash": hasher.hash(password) if password is not None else None,
            "must_change_password": must_change_password or password is None,
        },
    )
    return user_id


def find_by_email(conn: psycopg.Connection, email: str) -> dict | None:
    return conn.execute(SQL["find_by_email"], {"email": normalize_email(email)}).fetchone()


def find_by_id(conn: psycopg.Connection, user_id) -> dict | None:
    return conn.execute(SQL["find_by_id"], {"id": user_id}).fetchone()


DEVICE_COOKIE_TTL_SECONDS = 180 * 86400


@dataclass(frozen=True)
class LoginLimits:
    """How sign-in guesses are throttled (README: LOGIN_*).

    A wrong password counts against the email from that address and against the address; past
    either limit, that address is refused until the window ends. Other addresses are untouched,
    so a guesser cannot lock the owner out. All addresses together get `email_ceiling` wrong
    passwords for an email at once, then one every `email_drip_seconds`: a distributed guesser is
    slowed to that drip, and the owner waits at most one drip. A browser that signed in to the
    account before (a device cookie, OWASP) skips the shared limits and has a lockout of its own.
    """

    window_seconds: int
    max_failures_per_email: int  # per email from one address, and per trusted browser
    max_failures_per_ip: int
    email_ceiling: int = 30
    email_drip_seconds: int = 15
    key: bytes = b""  # signs device cookies and keys the counters; empty: no device cookies

    @classmethod
    def from_config(cls, config: Config) -> LoginLimits:
        return cls(
            window_seconds=config.login_window_seconds,
            max_failures_per_email=config.login_max_failures_per_email,
            max_failures_per_ip=config.login_max_failures_per_ip,
            email_ceiling=config.login_email_ceiling,
            email_drip_seconds=config.login_email_drip_seconds,
            key=hmac.new(config.secret_key.encode(), b"questbridge sign-in throttling", hashlib.sha256).digest(),
        )


@dataclass(frozen=True)
class NewSession:
    token: str  # the cookie value, stored only as its hash
    id: uuid.UUID  # what the access tokens of this sign-in name as session_id


@dataclass(frozen=True)
class LoginResult:
    user: dict | None = None
    session: NewSession | None = None  # when signed in
    retry_after: int | None = None  # set when throttled
    device_cookie: str | None = None  # when signed in: marks this browser as one the account uses

    @property
    def throttled(self) -> bool:
        return self.retry_after is not None


@dataclass(frozen=True)
class Lockout:
    """A fixed window: past `limit` guesses, the bucket is refused until the window ends."""

    scope: str
    bucket: str
    limit: int
    window_seconds: int

    def count(self, conn: psycopg.Connection) -> rate_limit.Decision:
        return rate_limit.hit(conn, self.bucket, self.limit, self.window_seconds)

    def forgive(self, conn: psycopg.Connection) -> None:
        rate_limit.release(conn, self.bucket, self.window_seconds)


@dataclass(frozen=True)
class Slowdown:
    """A paced bucket: `burst` guesses at once, then one every `interval_seconds`; never a lock."""

    scope: str
    bucket: str
    burst: int
    interval_seconds: int

    def count(self, conn: psycopg.Connection) -> rate_limit.Decision:
        return rate_limit.pace(conn, self.bucket, self.burst, self.interval_seconds)

    def forgive(self, conn: psycopg.Connection) -> None:
        rate_limit.give_back(conn, self.bucket, self.interval_seconds)


def _fingerprint(key: bytes, purpose: str, value: str) -> str:
    """A keyed, non-reversible name for what was typed: a password typed into the email field
    must not be stored, not even in a counter's name."""
    return hmac.new(key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()[:32]


def login_guesses(limits: LoginLimits, email: str, ip: str | None, device: str | None) -> list[Lockout | Slowdown]:
    """What one password login counts against, in the order counted."""
    account = _fingerprint(limits.key, "email", normalize_email(email).lower())
    if device is not None:
        # A browser this account signed in from before: a lockout of its own and none of the
        # limits strangers share, so no botnet can slow its owner down.
        return [Lockout("device", f"login:device:{device}", limits.max_failures_per_email, limits.window_seconds)]
    address = ip or "unknown"
    window = limits.window_seconds
    return [
        Lockout("email_ip", f"login:email_ip:{account}:{address}", limits.max_failures_per_email, window),
        Lockout("ip", f"login:ip:{address}", limits.max_failures_per_ip, window),
        # Last: a guess its own address's lockouts refuse spends none of the email's shared allowance.
        Slowdown("email", f"login:email:{account}", limits.email_ceiling, limits.email_drip_seconds),
    ]


def password_check_guesses(limits: LoginLimits, user_id, ip: str | None) -> list[Lockout | Slowdown]:
    """What one check of a signed-in user's current password counts against: the same shape as a login."""
    address = ip or "unknown"
    return [
        Lockout("user_ip", f"password_check:{user_id}:{address}", limits.max_failures_per_email, limits.window_seconds),
        Slowdown("user", f"password_check:{user_id}", limits.email_ceiling, limits.email_drip_seconds),
    ]


def count_guess(
    conn: psycopg.Connection, limits: list[Lockout | Slowdown]
) -> tuple[Lockout | Slowdown, rate_limit.Decision] | None:
    """Count a guess (a password login, a current-password check) in each limit before it is
    checked, each count one atomic statement, so parallel guesses cannot all slip under a limit.
    None when every limit admits it; else the refusing limit and its decision, with nothing
    counted. `forgive_guess` takes the counts back when the guess proves right."""
    counted = []
    for limit in limits:
        decision = limit.count(conn)
        if not decision.allowed:
            forgive_guess(conn, counted)
            return limit, decision
        counted.append(limit)
    return None


def forgive_guess(conn: psycopg.Connection, limits: list[Lockout | Slowdown]) -> None:
    for limit in limits:
        limit.forgive(conn)


def issue_device_cookie(key: bytes, email: str) -> str:
    """`<device id>.<issued at>.<signature>`: proof that this browser signed in to this account."""
    body = f"{secrets.token_urlsafe(16)}.{int(time.time())}"
    return f"{body}.{_device_signature(key, email, body)}"


def trusted_device(key: bytes, email: str, cookie: str | None) -> str | None:
    """The device id of a device cookie issued to this email and not yet expired, else None."""
    if not key or not cookie:
        return None
    parts = cookie.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    device, issued, signature = parts
    if not 0 <= time.time() - int(issued) <= DEVICE_COOKIE_TTL_SECONDS:
        return None
    expected = _device_signature(key, email, f"{device}.{issued}")
    return device if hmac.compare_digest(signature.encode(), expected.encode()) else None


def _device_signature(key: bytes, email: str, body: str) -> str:
    message = f"device\x00{normalize_email(email).lower()}\x00{body}".encode()
    return base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()).rstrip(b"=").decode()


def _typed_email(user: dict | None) -> dict:
    """What an audit entry of a failed sign-in keeps of the email typed: the account's own email
    when one has it, else nothing (it may be a password typed into the wrong field)."""
    return {"email": user["email"]} if user else {}


def authenticate(
    db: Database,
    hasher: PasswordHasher,
    email: str,
    password: str,
    limits: LoginLimits,
    origin: RequestInfo,
    session_ttl_seconds: int,
    device_cookie: str | None = None,
) -> LoginResult:
    """A password login, audited, with a new session when it succeeds.

    The guess is counted (`login_guesses`) in its own committed transaction before the password
    is checked: parallel guesses cannot outrun the limits, and no counter row stays locked while
    argon2 runs. A right password is forgiven its count.
    """
    guesses = login_guesses(limits, email, origin.ip, trusted_device(limits.key, email, device_cookie))
    with db.transaction("service_role") as conn:
        user = find_by_email(conn, email)
        refused = count_guess(conn, guesses)
        if refused is not None:
            limit, decision = refused
            audit.record(
                conn,
                "auth.login_throttled",
                target_type="user" if user else None,
                target_id=user["id"] if user else None,
                metadata=_typed_email(user) | {"scope": limit.scope},
                origin=origin,
                actor_id=user["id"] if user else None,
            )
            return LoginResult(retry_after=decision.retry_after)
    ok = hasher.verify(user["password_hash"] if user else None, password)
    with db.transaction("service_role") as conn:
        if not ok:
            audit.record(
                conn,
                "auth.login_failed",
                target_type="user" if user else None,
                target_id=user["id"] if user else None,
                metadata=_typed_email(user) | {"reason": "invalid_credentials"},
                origin=origin,
                actor_id=user["id"] if user else None,
            )
            return LoginResult()
        forgive_guess(conn, guesses)
        if hasher.needs_rehash(user["password_hash"]):
            conn.execute(SQL["rehash_password"], {"user_id": user["id"], "password_hash": hasher.hash(password)})
        audit.record(
            conn, "auth.login_succeeded", target_type="user", target_id=user["id"], origin=origin, actor_id=user["id"]
        )
        session = create_session(conn, user["id"], session_ttl_seconds, origin)
    device = issue_device_cookie(limits.key, user["email"]) if limits.key else None
    return LoginResult(user=user, session=session, device_cookie=device)


def create_session(conn: psycopg.Connection, user_id, ttl_seconds: int, origin: RequestInfo) -> NewSession:
    """A new session of a sign-in: its cookie, and its id for the access tokens issued with it."""
    token = new_token()
    row = conn.execute(
        SQL["insert_session"],
        {
            "user_id": user_id,
            "token_hash": secret_digest(token),
            "ttl": ttl_seconds,
            "ip": origin.ip,
            "user_agent": (origin.user_agent or "")[:512] or None,
        },
    ).fetchone()
    return NewSession(token, row["id"])


def find_session(conn: psycopg.Connection, token: str) -> dict | None:
    return conn.execute(SQL["find_session"], {"token_hash": secret_digest(token)}).fetchone()


def revoke_session(conn: psycopg.Connection, token: str | None = None, session_id=None):
    """End a session, named by its cookie or by its id (a bearer token's session_id); its user, or None."""
    if token is not None:
        row = conn.execute(SQL["revoke_session"], {"token_hash": secret_digest(token)}).fetchone()
    else:
        row = conn.execute(SQL["revoke_session_by_id"], {"id": session_id}).fetchone()
    return row["user_id"] if row else None


def session_alive(conn: psycopg.Connection, session_id) -> bool:
    return conn.execute(SQL["session_alive"], {"id": session_id}).fetchone()["alive"]


def issue_reset_token(conn: psycopg.Connection, user_id, requested_by, ttl_seconds: int, organization_id) -> str:
    """A single-use reset token asked for by one organization; its earlier unused tokens for the
    user stop working, another organization's do not."""
    conn.execute(SQL["invalidate_organization_reset_tokens"], {"user_id": user_id, "organization_id": organization_id})
    token = new_token()
    conn.execute(
        SQL["insert_reset_token"],
        {
            "user_id": user_id,
            "token_hash": secret_digest(token),
            "requested_by": requested_by,
            "ttl": ttl_seconds,
            "organization_id": organization_id,
        },
    )
    return token


def consume_reset_token(conn: psycopg.Connection, token: str) -> dict | None:
    """Spend a reset token; returns its user ({id, email}), or None when invalid, expired or used.

    The caller sets the password in the same transaction, or rolls back to leave the token usable.
    """
    row = conn.execute(SQL["consume_reset_token"], {"token_hash": secret_digest(token)}).fetchone()
    return {"id": row["user_id"], "email": row["email"]} if row else None


def set_password(conn: psycopg.Connection, hasher: PasswordHasher, user_id, new_password: str) -> None:
    """Store a new password, clear must_change_password and end every existing session."""
    conn.execute(
        SQL["update_password_hash"],
        {"user_id": user_id, "password_hash": hasher.hash(new_password), "must_change_password": False},
    )
    conn.execute(SQL["revoke_user_sessions"], {"user_id": user_id})
    conn.execute(SQL["invalidate_reset_tokens"], {"user_id": user_id})


def my_profile(conn: psycopg.Connection) -> dict | None:
    """The caller's profile; runs as the user (authenticated)."""
    return conn.execute(SQL["my_profile"]).fetchone()


def my_organizations(conn: psycopg.Connection) -> list[dict]:
    return conn.execute(SQL["my_organizations"]).fetchall()


def delete_expired(conn: psycopg.Connection) -> dict:
    return conn.execute(SQL["delete_expired"]).fetchone()
