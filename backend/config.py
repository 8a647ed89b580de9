"""Every setting Questbridge reads: one declaration each (environment name, parser, default, bounds,
meaning), from which parsing, validation and the README's table come."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from backend.parsers import (
    ConfigError,
    base_url,
    boolean,
    comma_list,
    http_url,
    int_list,
    integer,
    json_object,
    networks,
    number,
    optional,
    optional_integer,
    path,
    text,
    upper,
)
from backend.services.inbound import sources
from backend.services.keys import tiers

PROJECT_ROOT = Path(__file__).resolve().parent.parent

ENVIRONMENTS = ("development", "test", "production")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


# A test send holds its web thread this long at most: well inside gunicorn's 30 s, and short
# enough that waiting requests never crowd out everyone else's.
MAX_TEST_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class Setting:
    """How one Config field is read: from `env` (or an alias), parsed and bounded by `parse`, with
    `default` as the text used when it is unset (`by_env`: a different text in some QB_ENVs).
    `blank_is_unset`: an empty value counts as unset rather than being parsed."""

    env: str
    parse: Callable[[str, str], object]
    default: str
    meaning: str
    by_env: dict = field(default_factory=dict)
    aliases: tuple = ()
    blank_is_unset: bool = False

    def default_for(self, qb_env: str) -> str:
        return self.by_env.get(qb_env, self.default)

    def read(self, environ: dict, qb_env: str):
        for name in (self.env, *self.aliases):
            raw = environ.get(name)
            if raw is not None and not (raw == "" and self.blank_is_unset):
                return self.parse(self.env, raw)
        return self.parse(self.env, self.default_for(qb_env))


def setting(env: str, parse, default: str, meaning: str, **options):
    """A Config field read from the environment; its Python default is `default` parsed."""
    spec = Setting(env, parse, default, meaning, **options)
    value = parse(env, default)
    if isinstance(value, dict | list):
        return field(default_factory=lambda: parse(env, default), metadata={"setting": spec})
    return field(default=value, metadata={"setting": spec})


PRODUCTION_ON = {"production": "true"}


@dataclass(frozen=True)
class Config:
    env: str = "development"  # QB_ENV, read first: other defaults depend on it
    database_url: str | None = None  # DATABASE_URL; in tests TEST_DATABASE_URL comes first
    data_dir: Path = setting(
        "QB_DATA_DIR", path, str(PROJECT_ROOT / ".data"), "embedded Postgres and dev secrets", blank_is_unset=True
    )
    secret_key: str = setting("SECRET_KEY", text, "", "sessions, CSRF, and the key of webhook secrets at rest")
    jwt_secret: str = setting(
        "JWT_SECRET", text, "", "HS256 secret of user JWTs", aliases=("SUPABASE_JWT_SECRET",), blank_is_unset=True
    )
    jwt_issuer: str = setting("JWT_ISSUER", text, "questbridge", "iss of the access tokens we issue")
    jwt_ttl_seconds: int = setting("JWT_TTL_SECONDS", integer(60), "3600", "lifetime of the access tokens we issue")
    supabase_url: str | None = setting("SUPABASE_URL", base_url, "", "accept asymmetric Supabase tokens via its JWKS")
    session_ttl_seconds: int = setting(
        "SESSION_TTL_SECONDS", integer(300, 90 * 86400), str(7 * 86400), "how long a sign-in's session lasts"
    )
    session_cookie_secure: bool = setting(
        "SESSION_COOKIE_SECURE",
        boolean,
        "false",
        "session cookie over https only, as __Host-qb_session",
        by_env=PRODUCTION_ON,
    )
    hsts_max_age_seconds: int = setting(
        "HSTS_MAX_AGE_SECONDS",
        integer(0),
        "0",
        "Strict-Transport-Security max-age; 0 sends none",
        by_env={"production": str(365 * 86400)},
    )
    public_url: str = setting(
        "PUBLIC_URL", base_url, "http://127.0.0.1:8000", "base URL of the links in emails", blank_is_unset=True
    )
    pool_min_size: int = setting("DB_POOL_MIN_SIZE", integer(0), "1", "connection pool per process: fewest")
    pool_max_size: int = setting("DB_POOL_MAX_SIZE", integer(1), "10", "connection pool per process: most")
    max_content_length: int = setting(
        "MAX_CONTENT_LENGTH",
        integer(1024, 64 * 1024 * 1024),
        str(1024 * 1024),
        "largest request body accepted, in bytes",
    )
    login_window_seconds: int = setting("LOGIN_WINDOW_SECONDS", integer(1), "900", "window of the sign-in lockouts")
    login_max_failures_per_email: int = setting(
        "LOGIN_MAX_FAILURES_PER_EMAIL", integer(1), "10", "wrong passwords per window for one email from one address"
    )
    login_max_failures_per_ip: int = setting(
        "LOGIN_MAX_FAILURES_PER_IP", integer(1), "100", "wrong passwords per window from one address"
    )
    login_email_ceiling: int = setting(
        "LOGIN_EMAIL_CEILING", integer(1), "30", "wrong passwords for one email from everywhere before the drip"
    )
    login_email_drip_seconds: int = setting(
        "LOGIN_EMAIL_DRIP_SECONDS", integer(1, 3600), "15", "one attempt per this past the ceiling"
    )
    login_device_ttl_seconds: int = setting(
        "LOGIN_DEVICE_TTL_SECONDS",
        integer(3600, 400 * 86400),
        str(180 * 86400),
        "how long a browser that signed in skips the shared sign-in limits",
    )
    password_reset_ttl_seconds: int = setting(
        "PASSWORD_RESET_TTL_SECONDS", integer(300, 7 * 86400), "3600", "how long a password reset's link works"
    )
    invitation_ttl_seconds: int = setting(
        "INVITATION_TTL_SECONDS", integer(3600, 30 * 86400), str(7 * 86400), "how long an invitation's link works"
    )
    smtp_host: str | None = setting("SMTP_HOST", optional, "", "mail server; unset prints emails to the console")
    smtp_port: int = setting("SMTP_PORT", integer(1, 65535), "587", "mail server port")
    smtp_user: str | None = setting("SMTP_USER", optional, "", "mail server user")
    smtp_password: str | None = setting("SMTP_PASSWORD", optional, "", "mail server password")
    smtp_from: str = setting("SMTP_FROM", text, "Questbridge <no-reply@questbridge.local>", "From of our emails")
    smtp_starttls: bool = setting("SMTP_STARTTLS", boolean, "true", "STARTTLS to the mail server")
    trusted_proxies: tuple = setting("TRUSTED_PROXIES", networks, "", "CIDRs whose X-Forwarded-* are believed")
    scheduler_enabled: bool = setting(
        "SCHEDULER_ENABLED", boolean, "false", "run the APScheduler jobs in the web process"
    )
    cron_secret: str | None = setting("CRON_SECRET", optional, "", "bearer secret of POST /api/webhooks/retry")
    sentry_dsn: str | None = setting("SENTRY_DSN", optional, "", "report unexpected errors to Sentry")
    metrics_token: str | None = setting("METRICS_TOKEN", optional, "", "bearer token of GET /metrics")
    worker_metrics_port: int | None = setting(
        "WORKER_METRICS_PORT", optional_integer(1, 65535), "", "the standalone worker's /metrics port"
    )
    worker_metrics_host: str = setting(
        "WORKER_METRICS_HOST", text, "127.0.0.1", "the standalone worker's /metrics address", blank_is_unset=True
    )
    log_format: str = setting(
        "LOG_FORMAT",
        text,
        "console",
        "console or json",
        by_env={"test": "json", "production": "json"},
        blank_is_unset=True,
    )
    log_level: str = setting("LOG_LEVEL", upper, "INFO", "structlog level", blank_is_unset=True)
    webhooks_backoff_seconds: tuple = setting(
        "WEBHOOKS_BACKOFF_SECONDS", int_list, "60,120,240,480,960", "retry schedule of outbound webhooks"
    )
    webhooks_max_attempts: int = setting("WEBHOOKS_MAX_ATTEMPTS", integer(1), "5", "attempts before a delivery is dead")
    webhooks_allowed_targets: str = setting(
        "WEBHOOKS_ALLOWED_TARGETS", text, "", "hosts or CIDRs exempt from the SSRF guard"
    )
    webhooks_require_https: bool = setting(
        "WEBHOOKS_REQUIRE_HTTPS", boolean, "false", "refuse http:// webhook targets", by_env=PRODUCTION_ON
    )
    webhooks_concurrency: int = setting("WEBHOOKS_CONCURRENCY", integer(1), "256", "deliveries in flight per engine")
    webhooks_batch_size: int = setting(
        "WEBHOOKS_BATCH_SIZE", integer(1, 10000), "200", "deliveries claimed per statement"
    )
    webhooks_lease_seconds: int = setting("WEBHOOKS_LEASE_SECONDS", integer(5), "60", "how long a claim is held")
    webhooks_poll_seconds: float = setting(
        "WEBHOOKS_POLL_SECONDS", number(0.01, 60), "1.0", "an idle engine looks for due work this often"
    )
    webhooks_sweep_seconds: float = setting(
        "WEBHOOKS_SWEEP_SECONDS", number(0.1, 600), "2.0", "an engine reclaims expired leases this often"
    )
    webhooks_connect_timeout: float = setting(
        "WEBHOOKS_CONNECT_TIMEOUT", number(0.1, 60), "5.0", "seconds to connect to a receiver"
    )
    webhooks_total_timeout: float = setting(
        "WEBHOOKS_TOTAL_TIMEOUT", number(1, 120), "15.0", "seconds a receiver has to answer"
    )
    webhooks_retry_after_cap_seconds: int = setting(
        "WEBHOOKS_RETRY_AFTER_CAP_SECONDS", integer(1, 86400), "3600", "longest Retry-After honoured"
    )
    webhooks_disable_after_failing_seconds: int = setting(
        "WEBHOOKS_DISABLE_AFTER_FAILING_SECONDS",
        integer(3600),
        str(5 * 86400),
        "a subscription failing this long is disabled",
    )
    webhooks_retention_days: int = setting(
        "WEBHOOKS_RETENTION_DAYS", integer(1), "30", "finished webhook events kept this many days"
    )
    webhooks_test_wait_seconds: float = setting(
        "WEBHOOKS_TEST_WAIT_SECONDS",
        number(0, MAX_TEST_WAIT_SECONDS),
        "2",
        "how long a test send waits for its attempt",
    )
    webhooks_test_max_waiting: int = setting(
        "WEBHOOKS_TEST_MAX_WAITING", integer(1), "2", "test sends one process lets wait at once"
    )
    webhooks_test_max_in_flight: int = setting(
        "WEBHOOKS_TEST_MAX_IN_FLIGHT", integer(1), "3", "test events in flight per organization"
    )
    webhooks_test_per_minute: int = setting(
        "WEBHOOKS_TEST_PER_MINUTE", integer(1), "10", "test events a minute per organization"
    )
    autograder_webhook_secrets: tuple = setting(
        "AUTOGRADER_WEBHOOK_SECRETS", comma_list, "", "platform HMAC secrets of the autograder webhook"
    )
    inbound_sources: dict = setting(
        "INBOUND_SOURCES", json_object, "{}", "JSON: the sources of POST /api/inbound/<source>"
    )
    inbound_max_attempts: int = setting(
        "INBOUND_MAX_ATTEMPTS", integer(1), "3", "attempts at applying an inbound event"
    )
    inbound_backoff_seconds: tuple = setting("INBOUND_BACKOFF_SECONDS", int_list, "10,60", "waits between them")
    inbound_rate_limit_per_hour: int = setting(
        "INBOUND_RATE_LIMIT_PER_HOUR", integer(1), "1000", "inbound webhooks per hour per address and source"
    )
    oauth_issuer: str | None = setting("OAUTH_ISSUER", base_url, "", "the OAuth issuer; unset: PUBLIC_URL")
    oauth_access_token_ttl_seconds: int = setting(
        "OAUTH_ACCESS_TOKEN_TTL_SECONDS", integer(60, 86400), "3600", "lifetime of OAuth access tokens"
    )
    oauth_refresh_token_ttl_seconds: int = setting(
        "OAUTH_REFRESH_TOKEN_TTL_SECONDS", integer(3600), str(30 * 86400), "absolute lifetime of refresh tokens"
    )
    oauth_code_ttl_seconds: int = setting(
        "OAUTH_CODE_TTL_SECONDS",
        integer(10, 600),
        "600",
        "lifetime of authorization codes (RFC 6749: 10 minutes at most)",
    )
    oauth_key_rotation_days: int = setting(
        "OAUTH_KEY_ROTATION_DAYS", integer(1), "30", "age at which the signing key rotates"
    )
    oauth_key_publish_ahead_seconds: int = setting(
        "OAUTH_KEY_PUBLISH_AHEAD_SECONDS", integer(0), "86400", "the next key is published this long before it signs"
    )
    lti_key_rotation_days: int = setting(
        "LTI_KEY_ROTATION_DAYS", integer(1), "90", "age at which the LTI tool key rotates"
    )
    lti_key_publish_ahead_seconds: int = setting(
        "LTI_KEY_PUBLISH_AHEAD_SECONDS", integer(0), "86400", "the next LTI key is published this long before it signs"
    )
    lti_key_set_cache_seconds: int = setting(
        "LTI_KEY_SET_CACHE_SECONDS", integer(0), "300", "how long a platform's key set is kept before it is refetched"
    )
    oauth_client_auth_window_seconds: int = setting(
        "OAUTH_CLIENT_AUTH_WINDOW_SECONDS", integer(1), "900", "window of the client-authentication lockouts"
    )
    oauth_client_auth_max_failures: int = setting(
        "OAUTH_CLIENT_AUTH_MAX_FAILURES", integer(1), "10", "failed client authentications per client and address"
    )
    oauth_client_auth_max_failures_per_ip: int = setting(
        "OAUTH_CLIENT_AUTH_MAX_FAILURES_PER_IP", integer(1), "100", "failed client authentications per address"
    )
    api_key_tiers: dict = setting("API_KEY_TIERS", tiers.parse_tiers, "", "JSON changing some tier limits")
    api_keys_rate_limit_enabled: bool = setting(
        "API_KEYS_RATE_LIMIT_ENABLED", boolean, "true", "false only for bench/rate_limit.py's baseline"
    )

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def session_cookie_name(self) -> str:
        """`__Host-` binds a Secure cookie to this exact origin: no sibling subdomain or plain-http
        page can set or overwrite it (RFC 6265bis 4.1.3.2). Browsers take it only with Secure."""
        return "__Host-qb_session" if self.session_cookie_secure else "qb_session"

    def section(self, prefix: str, of: type) -> dict:
        """The fields of the dataclass `of` that this Config holds as `<prefix><field>`, with their
        values: a domain's settings object is built without naming each setting twice."""
        names = {f.name for f in fields(self)}
        return {f.name: getattr(self, prefix + f.name) for f in fields(of) if prefix + f.name in names}

    @classmethod
    def settings(cls) -> dict[str, Setting]:
        """Field name -> its declaration, for every field read from the environment."""
        return {f.name: f.metadata["setting"] for f in fields(cls) if "setting" in f.metadata}

    @classmethod
    def from_env(cls, environ: dict | None = None, **overrides) -> Config:
        env = dict(os.environ if environ is None else environ)
        qb_env = env.get("QB_ENV", "development").strip() or "development"
        if qb_env not in ENVIRONMENTS:
            raise ConfigError(f"QB_ENV must be one of {', '.join(ENVIRONMENTS)}, got {qb_env!r}")
        database_url = env.get("DATABASE_URL") or None
        if qb_env == "test":
            database_url = env.get("TEST_DATABASE_URL") or database_url
        values = {"env": qb_env, "database_url": database_url}
        values |= {name: spec.read(env, qb_env) for name, spec in cls.settings().items()}
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
        http_url("SUPABASE_URL", self.supabase_url)
        http_url("PUBLIC_URL", self.public_url)
        http_url("OAUTH_ISSUER", self.oauth_issuer)
        try:
            sources.check_sources(self.inbound_sources)
        except sources.SourceConfigError as exc:
            raise ConfigError(str(exc)) from None
        tiers.check_tiers(self.api_key_tiers)
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
