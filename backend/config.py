"""Every setting Questbridge reads, taken from the environment once and documented in README."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
import re
import secrets
import uuid
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent

ENVIRONMENTS = ("development", "test", "production")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names it."""


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _int(name: str, raw: str, minimum: int = 0, maximum: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be <= {maximum}, got {value}")
    return value


def _float(name: str, raw: str, minimum: float, maximum: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not minimum <= value <= maximum:  # also refuses nan
        raise ConfigError(f"{name} must be between {minimum:g} and {maximum:g}, got {raw!r}")
    return value


def _http_url(name: str, value: str | None) -> None:
    if value is None:
        return
    parsed = urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"{name} must be an http(s) URL, got {value!r}")


def _int_list(name: str, raw: str) -> tuple:
    values = tuple(_int(name, part.strip(), 0) for part in raw.split(",") if part.strip())
    if not values:
        raise ConfigError(f"{name} must list at least one number of seconds")
    return values


INBOUND_SCHEMES = ("standard-webhooks", "stripe", "hmac-hex")
INBOUND_SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\Z")
INBOUND_SOURCE_KEYS = {"scheme", "secrets", "organization_id", "tolerance_seconds", "signature_header"}


def _comma_list(raw: str) -> tuple:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _json_object(name: str, raw: str) -> dict:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a JSON object")
    return value


def _check_inbound_sources(sources: dict) -> None:
    """INBOUND_SOURCES: {"<source>": {"scheme", "secrets": [..], "organization_id"?, ...}}."""
    name = "INBOUND_SOURCES"
    for source, spec in sources.items():
        where = f"{name}[{source!r}]"
        if not isinstance(source, str) or not INBOUND_SOURCE_NAME.match(source) or source == "autograder":
            raise ConfigError(f"{name}: {source!r} is not a source name (a-z, 0-9, - and _; not 'autograder')")
        if not isinstance(spec, dict):
            raise ConfigError(f"{where} must be an object")
        unknown = set(spec) - INBOUND_SOURCE_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        if spec.get("scheme") not in INBOUND_SCHEMES:
            raise ConfigError(f"{where}.scheme must be one of {', '.join(INBOUND_SCHEMES)}")
        secrets_ = spec.get("secrets")
        if not isinstance(secrets_, list) or not secrets_ or not all(isinstance(s, str) and s for s in secrets_):
            raise ConfigError(f"{where}.secrets must be a non-empty list of non-empty strings")
        if spec["scheme"] == "standard-webhooks":
            for secret in secrets_:
                try:
                    base64.b64decode(secret.removeprefix("whsec_"), validate=True)
                except (binascii.Error, ValueError):
                    raise ConfigError(f"{where}.secrets: a standard-webhooks secret is whsec_ and base64") from None
        organization_id = spec.get("organization_id")
        if organization_id is not None:
            try:
                uuid.UUID(str(organization_id))
            except ValueError:
                raise ConfigError(f"{where}.organization_id must be a UUID") from None
        tolerance = spec.get("tolerance_seconds", 300)
        if isinstance(tolerance, bool) or not isinstance(tolerance, int) or not 1 <= tolerance <= 3600:
            raise ConfigError(f"{where}.tolerance_seconds must be an integer from 1 to 3600")
        header = spec.get("signature_header", "X-Signature")
        if not isinstance(header, str) or not re.fullmatch(r"[A-Za-z0-9-]{1,64}", header):
            raise ConfigError(f"{where}.signature_header must be an HTTP header name")


# A test send holds its web thread this long at most: well inside gunicorn's 30 s, and short
# enough that waiting requests never crowd out everyone else's.
MAX_TEST_WAIT_SECONDS = 10.0

API_KEY_TIERS = ("starter", "pro", "enterprise")
API_KEY_LIMITS = ("per_day", "per_minute")
MAX_API_KEY_LIMIT = 2**31 - 1  # the usage counters are integer columns


def _default_api_key_tiers() -> dict:
    return {
        "starter": {"per_day": 1000, "per_minute": 100},
        "pro": {"per_day": 10000, "per_minute": 1000},
        "enterprise": {"per_day": 100000, "per_minute": 10000},
    }


def _api_key_tiers(name: str, raw: str) -> dict:
    """API_KEY_TIERS: JSON changing some limits of the defaults, e.g. {"pro": {"per_minute": 2000}}."""
    tiers = _default_api_key_tiers()
    if not raw.strip():
        return tiers
    try:
        changes = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(changes, dict):
        raise ConfigError(f"{name} must be a JSON object of tiers")
    for tier, limits in changes.items():
        if tier not in tiers:
            raise ConfigError(f"{name}: {tier!r} is not a tier ({', '.join(API_KEY_TIERS)})")
        if not isinstance(limits, dict):
            raise ConfigError(f"{name}[{tier!r}] must be an object with per_day and/or per_minute")
        tiers[tier].update(limits)
    return tiers


def _check_api_key_tiers(tiers: dict) -> None:
    name = "API_KEY_TIERS"
    if not isinstance(tiers, dict) or set(tiers) != set(API_KEY_TIERS):
        raise ConfigError(f"{name} must define the tiers {', '.join(API_KEY_TIERS)}")
    for tier, limits in tiers.items():
        if not isinstance(limits, dict) or set(limits) != set(API_KEY_LIMITS):
            raise ConfigError(f"{name}[{tier!r}] must have per_day and per_minute and nothing else")
        for limit, value in limits.items():
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_API_KEY_LIMIT:
                raise ConfigError(f"{name}[{tier!r}].{limit} must be an integer from 1 to {MAX_API_KEY_LIMIT}")


def _networks(name: str, raw: str) -> tuple:
    networks = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(f"{name}: {part!r} is not an IP address or CIDR") from None
    return tuple(networks)


@dataclass(frozen=True)
class Config:
    env: str = "development"
    database_url: str | None = None
    data_dir: Path = PROJECT_ROOT / ".data"
    secret_key: str = ""
    jwt_secret: str = ""
    jwt_issuer: str = "questbridge"
    jwt_ttl_seconds: int = 3600
    supabase_url: str | None = None
    session_ttl_seconds: int = 7 * 24 * 3600
    session_cookie_secure: bool = False
    hsts_max_age_seconds: int = 0  # 0: no Strict-Transport-Security header (the default outside production)
    public_url: str = "http://127.0.0.1:8000"
    pool_min_size: int = 1
    pool_max_size: int = 10
    max_content_length: int = 1024 * 1024
    login_window_seconds: int = 900
    login_max_failures_per_email: int = 10
    login_max_failures_per_ip: int = 100
    login_email_ceiling: int = 30
    login_email_drip_seconds: int = 15
    password_reset_ttl_seconds: int = 3600
    invitation_ttl_seconds: int = 7 * 86400
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "Questbridge <no-reply@questbridge.local>"
    smtp_starttls: bool = True
    trusted_proxies: tuple = ()
    scheduler_enabled: bool = False
    cron_secret: str | None = None
    sentry_dsn: str | None = None
    metrics_token: str | None = None
    worker_metrics_port: int | None = None  # the standalone worker's /metrics; unset: none
    worker_metrics_host: str = "127.0.0.1"
    log_format: str = "console"
    log_level: str = "INFO"
    webhooks_backoff_seconds: tuple = (60, 120, 240, 480, 960)
    webhooks_max_attempts: int = 5
    webhooks_allowed_targets: str = ""
    webhooks_require_https: bool = False
    webhooks_concurrency: int = 256
    webhooks_batch_size: int = 200
    webhooks_lease_seconds: int = 60
    webhooks_poll_seconds: float = 1.0
    webhooks_sweep_seconds: float = 2.0
    webhooks_connect_timeout: float = 5.0
    webhooks_total_timeout: float = 15.0
    webhooks_retry_after_cap_seconds: int = 3600
    webhooks_disable_after_failing_seconds: int = 5 * 86400
    webhooks_retention_days: int = 30
    # POST /api/webhooks/test: how long a request waits for the engine's attempt, how many requests
    # of one process may wait at once, and the per-organization caps.
    webhooks_test_wait_seconds: float = 2.0
    webhooks_test_max_waiting: int = 2
    webhooks_test_max_in_flight: int = 3
    webhooks_test_per_minute: int = 10
    autograder_webhook_secrets: tuple = ()
    inbound_sources: dict = field(default_factory=dict)
    inbound_max_attempts: int = 3
    inbound_backoff_seconds: tuple = (10, 60)
    inbound_rate_limit_per_hour: int = 1000
    oauth_issuer: str | None = None  # None: PUBLIC_URL
    oauth_access_token_ttl_seconds: int = 3600
    oauth_refresh_token_ttl_seconds: int = 30 * 86400
    oauth_code_ttl_seconds: int = 600
    oauth_key_rotation_days: int = 30
    oauth_key_publish_ahead_seconds: int = 86400
    oauth_client_auth_window_seconds: int = 900
    oauth_client_auth_max_failures: int = 10
    oauth_client_auth_max_failures_per_ip: int = 100
    api_key_tiers: dict = field(default_factory=_default_api_key_tiers)
    api_keys_rate_limit_enabled: bool = True  # false only to measure the limiter's cost (bench/rate_limit.py)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def session_cookie_name(self) -> str:
        """`__Host-` binds a Secure cookie to this exact origin: no sibling subdomain or plain-http
        page can set or overwrite it (RFC 6265bis 4.1.3.2). Browsers take it only with Secure."""
        return "__Host-qb_session" if self.session_cookie_secure else "qb_session"

    @classmethod
    def from_env(cls, environ: dict | None = None, **overrides) -> Config:
        env = dict(os.environ if environ is None else environ)
        qb_env = env.get("QB_ENV", "development").strip() or "development"
        if qb_env not in ENVIRONMENTS:
            raise ConfigError(f"QB_ENV must be one of {', '.join(ENVIRONMENTS)}, got {qb_env!r}")
        database_url = env.get("DATABASE_URL") or None
        if qb_env == "test":
            database_url = env.get("TEST_DATABASE_URL") or database_url
        values = dict(
            env=qb_env,
            database_url=database_url,
            data_dir=Path(env.get("QB_DATA_DIR") or PROJECT_ROOT / ".data"),
            secret_key=env.get("SECRET_KEY", ""),
            jwt_secret=env.get("JWT_SECRET") or env.get("SUPABASE_JWT_SECRET") or "",
            jwt_issuer=env.get("JWT_ISSUER", "questbridge"),
            jwt_ttl_seconds=_int("JWT_TTL_SECONDS", env.get("JWT_TTL_SECONDS", "3600"), 60),
            supabase_url=(env.get("SUPABASE_URL") or "").rstrip("/") or None,
            session_cookie_secure=_bool(
                "SESSION_COOKIE_SECURE",
                env.get("SESSION_COOKIE_SECURE", "true" if qb_env == "production" else "false"),
            ),
            hsts_max_age_seconds=_int(
                "HSTS_MAX_AGE_SECONDS",
                env.get("HSTS_MAX_AGE_SECONDS", str(365 * 86400) if qb_env == "production" else "0"),
                0,
            ),
            public_url=(env.get("PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/"),
            pool_min_size=_int("DB_POOL_MIN_SIZE", env.get("DB_POOL_MIN_SIZE", "1"), 0),
            pool_max_size=_int("DB_POOL_MAX_SIZE", env.get("DB_POOL_MAX_SIZE", "10"), 1),
            login_window_seconds=_int("LOGIN_WINDOW_SECONDS", env.get("LOGIN_WINDOW_SECONDS", "900"), 1),
            login_max_failures_per_email=_int(
                "LOGIN_MAX_FAILURES_PER_EMAIL", env.get("LOGIN_MAX_FAILURES_PER_EMAIL", "10"), 1
            ),
            login_max_failures_per_ip=_int("LOGIN_MAX_FAILURES_PER_IP", env.get("LOGIN_MAX_FAILURES_PER_IP", "100"), 1),
            invitation_ttl_seconds=_int(
                "INVITATION_TTL_SECONDS", env.get("INVITATION_TTL_SECONDS", str(7 * 86400)), 3600, 30 * 86400
            ),
            login_email_ceiling=_int("LOGIN_EMAIL_CEILING", env.get("LOGIN_EMAIL_CEILING", "30"), 1),
            login_email_drip_seconds=_int(
                "LOGIN_EMAIL_DRIP_SECONDS", env.get("LOGIN_EMAIL_DRIP_SECONDS", "15"), 1, 3600
            ),
            smtp_host=env.get("SMTP_HOST") or None,
            smtp_port=_int("SMTP_PORT", env.get("SMTP_PORT", "587"), 1, 65535),
            smtp_user=env.get("SMTP_USER") or None,
            smtp_password=env.get("SMTP_PASSWORD") or None,
            smtp_from=env.get("SMTP_FROM", "Questbridge <no-reply@questbridge.local>"),
            smtp_starttls=_bool("SMTP_STARTTLS", env.get("SMTP_STARTTLS", "true")),
            trusted_proxies=_networks("TRUSTED_PROXIES", env.get("TRUSTED_PROXIES", "")),
            scheduler_enabled=_bool("SCHEDULER_ENABLED", env.get("SCHEDULER_ENABLED", "false")),
            cron_secret=env.get("CRON_SECRET") or None,
            sentry_dsn=env.get("SENTRY_DSN") or None,
            metrics_token=env.get("METRICS_TOKEN") or None,
            worker_metrics_port=(
                _int("WORKER_METRICS_PORT", env["WORKER_METRICS_PORT"], 1, 65535)
                if env.get("WORKER_METRICS_PORT")
                else None
            ),
            worker_metrics_host=env.get("WORKER_METRICS_HOST") or "127.0.0.1",
            log_format=env.get("LOG_FORMAT") or ("console" if qb_env == "development" else "json"),
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            webhooks_backoff_seconds=_int_list(
                "WEBHOOKS_BACKOFF_SECONDS", env.get("WEBHOOKS_BACKOFF_SECONDS", "60,120,240,480,960")
            ),
            webhooks_max_attempts=_int("WEBHOOKS_MAX_ATTEMPTS", env.get("WEBHOOKS_MAX_ATTEMPTS", "5"), 1),
            webhooks_allowed_targets=env.get("WEBHOOKS_ALLOWED_TARGETS", ""),
            webhooks_require_https=_bool(
                "WEBHOOKS_REQUIRE_HTTPS",
                env.get("WEBHOOKS_REQUIRE_HTTPS", "true" if qb_env == "production" else "false"),
            ),
            webhooks_concurrency=_int("WEBHOOKS_CONCURRENCY", env.get("WEBHOOKS_CONCURRENCY", "256"), 1),
            webhooks_lease_seconds=_int("WEBHOOKS_LEASE_SECONDS", env.get("WEBHOOKS_LEASE_SECONDS", "60"), 5),
            webhooks_retention_days=_int("WEBHOOKS_RETENTION_DAYS", env.get("WEBHOOKS_RETENTION_DAYS", "30"), 1),
            webhooks_test_wait_seconds=_float(
                "WEBHOOKS_TEST_WAIT_SECONDS", env.get("WEBHOOKS_TEST_WAIT_SECONDS", "2"), 0, MAX_TEST_WAIT_SECONDS
            ),
            webhooks_test_max_waiting=_int("WEBHOOKS_TEST_MAX_WAITING", env.get("WEBHOOKS_TEST_MAX_WAITING", "2"), 1),
            webhooks_test_max_in_flight=_int(
                "WEBHOOKS_TEST_MAX_IN_FLIGHT", env.get("WEBHOOKS_TEST_MAX_IN_FLIGHT", "3"), 1
            ),
            webhooks_test_per_minute=_int("WEBHOOKS_TEST_PER_MINUTE", env.get("WEBHOOKS_TEST_PER_MINUTE", "10"), 1),
            autograder_webhook_secrets=_comma_list(env.get("AUTOGRADER_WEBHOOK_SECRETS", "")),
            inbound_sources=_json_object("INBOUND_SOURCES", env.get("INBOUND_SOURCES", "")),
            inbound_max_attempts=_int("INBOUND_MAX_ATTEMPTS", env.get("INBOUND_MAX_ATTEMPTS", "3"), 1),
            inbound_backoff_seconds=_int_list("INBOUND_BACKOFF_SECONDS", env.get("INBOUND_BACKOFF_SECONDS", "10,60")),
            inbound_rate_limit_per_hour=_int(
                "INBOUND_RATE_LIMIT_PER_HOUR", env.get("INBOUND_RATE_LIMIT_PER_HOUR", "1000"), 1
            ),
            api_key_tiers=_api_key_tiers("API_KEY_TIERS", env.get("API_KEY_TIERS", "")),
            api_keys_rate_limit_enabled=_bool(
                "API_KEYS_RATE_LIMIT_ENABLED", env.get("API_KEYS_RATE_LIMIT_ENABLED", "true")
            ),
            oauth_issuer=(env.get("OAUTH_ISSUER") or "").rstrip("/") or None,
            oauth_access_token_ttl_seconds=_int(
                "OAUTH_ACCESS_TOKEN_TTL_SECONDS", env.get("OAUTH_ACCESS_TOKEN_TTL_SECONDS", "3600"), 60, 86400
            ),
            oauth_refresh_token_ttl_seconds=_int(
                "OAUTH_REFRESH_TOKEN_TTL_SECONDS", env.get("OAUTH_REFRESH_TOKEN_TTL_SECONDS", str(30 * 86400)), 3600
            ),
            oauth_key_rotation_days=_int("OAUTH_KEY_ROTATION_DAYS", env.get("OAUTH_KEY_ROTATION_DAYS", "30"), 1),
            oauth_key_publish_ahead_seconds=_int(
                "OAUTH_KEY_PUBLISH_AHEAD_SECONDS", env.get("OAUTH_KEY_PUBLISH_AHEAD_SECONDS", "86400"), 0
            ),
            oauth_client_auth_window_seconds=_int(
                "OAUTH_CLIENT_AUTH_WINDOW_SECONDS", env.get("OAUTH_CLIENT_AUTH_WINDOW_SECONDS", "900"), 1
            ),
            oauth_client_auth_max_failures=_int(
                "OAUTH_CLIENT_AUTH_MAX_FAILURES", env.get("OAUTH_CLIENT_AUTH_MAX_FAILURES", "10"), 1
            ),
            oauth_client_auth_max_failures_per_ip=_int(
                "OAUTH_CLIENT_AUTH_MAX_FAILURES_PER_IP", env.get("OAUTH_CLIENT_AUTH_MAX_FAILURES_PER_IP", "100"), 1
            ),
        )
        names = {f.name for f in fields(cls)}
        unknown = set(overrides) - names
        if unknown:
            raise ConfigError(f"unknown config overrides: {', '.join(sorted(unknown))}")
        values.update(overrides)
        return cls(**values).validated()

    def validated(self) -> Config:
        if self.log_format not in ("console", "json"):
            raise ConfigError(f"LOG_FORMAT must be console or json, got {self.log_format!r}")
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}")
        if self.pool_min_size > self.pool_max_size:
            raise ConfigError(
                f"DB_POOL_MIN_SIZE ({self.pool_min_size}) must not exceed DB_POOL_MAX_SIZE ({self.pool_max_size})"
            )
        _http_url("SUPABASE_URL", self.supabase_url)
        _http_url("PUBLIC_URL", self.public_url)
        _http_url("OAUTH_ISSUER", self.oauth_issuer)
        _check_inbound_sources(self.inbound_sources)
        _check_api_key_tiers(self.api_key_tiers)
        if self.is_production:
            missing = [
                name
                for name, value in (
                    ("DATABASE_URL", self.database_url),
                    ("SECRET_KEY", self.secret_key),
                    ("JWT_SECRET", self.jwt_secret),
                    # /metrics shows traffic, tenants' delivery figures and the database's state.
                    ("METRICS_TOKEN", self.metrics_token),
                )
                if not value
            ]
            if missing:
                raise ConfigError(f"production requires {', '.join(missing)}")
            if not self.session_cookie_secure:
                raise ConfigError(
                    "production requires SESSION_COOKIE_SECURE: the session cookie is __Host- prefixed, "
                    "which browsers accept only from https with the Secure attribute"
                )
            return self
        # Development and tests get per-data-dir random secrets so nothing guessable signs tokens.
        secret_key = self.secret_key or _local_secret(self.data_dir, "secret_key")
        jwt_secret = self.jwt_secret or _local_secret(self.data_dir, "jwt_secret")
        return replace(self, secret_key=secret_key, jwt_secret=jwt_secret)


def _local_secret(data_dir: Path, name: str) -> str:
    """A random secret kept in the data dir (mode 600), so sessions survive restarts in dev."""
    path = data_dir / "secrets" / name
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race; its value is the one to use
        return path.read_text().strip()
    try:
        os.write(fd, value.encode())
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    return value
