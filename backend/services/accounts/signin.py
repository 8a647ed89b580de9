"""Password sign-in: guesses throttled per email, address and trusted browser, audited, and a
session when the password is right.

`authenticate` runs its own transactions; the guess-counting helpers take a service_role connection.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg

from backend.db import Database
from backend.services.accounts import sessions, users
from backend.services.accounts.users import normalize_email
from backend.services.shared import audit, rate_limit
from backend.services.shared.audit import RequestInfo
from backend.services.shared.passwords import PasswordHasher

if TYPE_CHECKING:
    from backend.config import Config


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
    email_ceiling: int
    email_drip_seconds: int
    device_ttl_seconds: int  # how long a device cookie is honoured
    key: bytes  # signs device cookies and keys the counters; empty: no device cookies

    @classmethod
    def from_config(cls, config: Config) -> LoginLimits:
        key = hmac.new(config.secret_key.encode(), b"questbridge sign-in throttling", hashlib.sha256).digest()
        return cls(**config.section("login_", cls), key=key)


@dataclass(frozen=True)
class LoginResult:
    user: dict | None = None
    session: sessions.NewSession | None = None  # when signed in
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


def trusted_device(key: bytes, email: str, cookie: str | None, ttl_seconds: int) -> str | None:
    """The device id of a device cookie issued to this email less than `ttl_seconds` ago, else None."""
    if not key or not cookie:
        return None
    parts = cookie.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    device, issued, signature = parts
    if not 0 <= time.time() - int(issued) <= ttl_seconds:
        return None
    expected = _device_signature(key, email, f"{device}.{issued}")
    return device if hmac.compare_digest(signature.encode(), expected.encode()) else None


def _device_signature(key: bytes, email: str, body: str) -> str:
    message = f"device\x00{normalize_email(email).lower()}\x00{body}".encode()
    return base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()).rstrip(b"=").decode()


def _audit_refused(conn: psycopg.Connection, action: str, user: dict | None, why: dict, origin: RequestInfo) -> None:
    """Audit a sign-in refused. Of the email typed it keeps the account's own email when one has
    it, else nothing (it may be a password typed into the wrong field)."""
    audit.record(
        conn,
        action,
        target_type="user" if user else None,
        target_id=user["id"] if user else None,
        metadata=({"email": user["email"]} if user else {}) | why,
        origin=origin,
        actor_id=user["id"] if user else None,
    )


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
    trusted = trusted_device(limits.key, email, device_cookie, limits.device_ttl_seconds)
    guesses = login_guesses(limits, email, origin.ip, trusted)
    with db.transaction("service_role") as conn:
        user = users.find_by_email(conn, email)
        refused = count_guess(conn, guesses)
        if refused is not None:
            limit, decision = refused
            _audit_refused(conn, "auth.login_throttled", user, {"scope": limit.scope}, origin)
            return LoginResult(retry_after=decision.retry_after)
    ok = hasher.verify(user["password_hash"] if user else None, password)
    with db.transaction("service_role") as conn:
        if not ok:
            _audit_refused(conn, "auth.login_failed", user, {"reason": "invalid_credentials"}, origin)
            return LoginResult()
        forgive_guess(conn, guesses)
        if hasher.needs_rehash(user["password_hash"]):
            users.rehash_password(conn, hasher, user["id"], password)
        audit.record(
            conn, "auth.login_succeeded", target_type="user", target_id=user["id"], origin=origin, actor_id=user["id"]
        )
        session = sessions.create_session(conn, user["id"], session_ttl_seconds, origin)
    device = issue_device_cookie(limits.key, user["email"]) if limits.key else None
    return LoginResult(user=user, session=session, device_cookie=device)
