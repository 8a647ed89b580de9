"""Config.from_env: names, defaults, production's requirements, and errors that name the variable."""

from __future__ import annotations

import dataclasses
import ipaddress
import stat

import pytest

from backend import create_app
from backend.config import Config, ConfigError
from backend.services.accounts.signin import LoginLimits
from backend.services.inbound.processor import InboxSettings
from backend.services.oauth.server import Settings as OAuthSettings
from backend.services.shared import mailer
from backend.services.shared.mailer import MailSettings
from backend.services.webhooks import subscriptions
from backend.services.webhooks.settings import EngineSettings
from tests.support import PRODUCTION


def test_production_starts_with_its_four_settings():
    config = Config.from_env(PRODUCTION)
    assert config.is_production
    assert config.database_url == PRODUCTION["DATABASE_URL"]
    assert config.secret_key == PRODUCTION["SECRET_KEY"]
    assert config.jwt_secret == PRODUCTION["JWT_SECRET"]
    assert config.session_cookie_secure is True
    assert config.session_cookie_name == "__Host-qb_session"
    assert config.hsts_max_age_seconds == 365 * 86400
    assert config.log_format == "json"


def test_development_sends_no_hsts_and_a_plain_cookie_name(tmp_path):
    config = Config.from_env({"QB_DATA_DIR": str(tmp_path)})
    assert config.hsts_max_age_seconds == 0
    assert (config.session_cookie_secure, config.session_cookie_name) == (False, "qb_session")


def test_production_refuses_a_session_cookie_without_secure():
    with pytest.raises(ConfigError, match="SESSION_COOKIE_SECURE"):
        Config.from_env(PRODUCTION | {"SESSION_COOKIE_SECURE": "false"})


@pytest.mark.parametrize("missing", ["DATABASE_URL", "SECRET_KEY", "JWT_SECRET", "METRICS_TOKEN"])
@pytest.mark.parametrize("how", ["absent", "empty"])
def test_production_refuses_to_start_without_each_setting(missing, how):
    environ = dict(PRODUCTION)
    if how == "absent":
        del environ[missing]
    else:
        environ[missing] = ""
    with pytest.raises(ConfigError, match=missing):
        Config.from_env(environ)


def test_production_names_every_missing_setting_at_once():
    with pytest.raises(ConfigError) as raised:
        Config.from_env({"QB_ENV": "production"})
    for name in ("DATABASE_URL", "SECRET_KEY", "JWT_SECRET", "METRICS_TOKEN"):
        assert name in str(raised.value)


def test_create_app_reads_the_environment_and_refuses_production_without_settings(monkeypatch):
    for name in ("DATABASE_URL", "SECRET_KEY", "JWT_SECRET", "SUPABASE_JWT_SECRET", "TEST_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QB_ENV", "production")
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        create_app()


def test_supabase_jwt_secret_is_an_alias_of_jwt_secret():
    environ = {k: v for k, v in PRODUCTION.items() if k != "JWT_SECRET"} | {"SUPABASE_JWT_SECRET": "a" * 40}
    assert Config.from_env(environ).jwt_secret == "a" * 40
    both = environ | {"JWT_SECRET": "b" * 40}
    assert Config.from_env(both).jwt_secret == "b" * 40


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("QB_ENV", "staging", "QB_ENV"),
        ("JWT_TTL_SECONDS", "an hour", "JWT_TTL_SECONDS must be an integer, got 'an hour'"),
        ("JWT_TTL_SECONDS", "10", "JWT_TTL_SECONDS"),
        ("DB_POOL_MIN_SIZE", "-1", "DB_POOL_MIN_SIZE"),
        ("DB_POOL_MAX_SIZE", "0", "DB_POOL_MAX_SIZE"),
        ("DB_POOL_MIN_SIZE", "20", "DB_POOL_MIN_SIZE"),  # more than DB_POOL_MAX_SIZE (10)
        ("LOGIN_WINDOW_SECONDS", "0", "LOGIN_WINDOW_SECONDS"),
        ("LOGIN_MAX_FAILURES_PER_EMAIL", "lots", "LOGIN_MAX_FAILURES_PER_EMAIL"),
        ("LOGIN_MAX_FAILURES_PER_IP", "0", "LOGIN_MAX_FAILURES_PER_IP"),
        ("LOGIN_EMAIL_CEILING", "0", "LOGIN_EMAIL_CEILING"),
        ("LOGIN_EMAIL_DRIP_SECONDS", "0", "LOGIN_EMAIL_DRIP_SECONDS"),
        ("LOGIN_EMAIL_DRIP_SECONDS", "7200", "LOGIN_EMAIL_DRIP_SECONDS"),  # a lock in all but name
        ("SMTP_PORT", "smtp", "SMTP_PORT"),
        ("SMTP_PORT", "70000", "SMTP_PORT"),
        ("SMTP_STARTTLS", "maybe", "SMTP_STARTTLS"),
        ("SESSION_COOKIE_SECURE", "sometimes", "SESSION_COOKIE_SECURE"),
        ("HSTS_MAX_AGE_SECONDS", "-1", "HSTS_MAX_AGE_SECONDS"),
        ("SCHEDULER_ENABLED", "2", "SCHEDULER_ENABLED"),
        ("TRUSTED_PROXIES", "10.0.0.0/8, the-load-balancer", "TRUSTED_PROXIES"),
        ("TRUSTED_PROXIES", "10.0.0.0/33", "TRUSTED_PROXIES"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL"),
        ("SUPABASE_URL", "project.supabase.co", "SUPABASE_URL"),
        ("SUPABASE_URL", "ftp://project.supabase.co", "SUPABASE_URL"),
        ("PUBLIC_URL", "questbridge.example", "PUBLIC_URL"),
        ("INVITATION_TTL_SECONDS", "a week", "INVITATION_TTL_SECONDS"),
        ("INVITATION_TTL_SECONDS", "60", "INVITATION_TTL_SECONDS must be >= 3600"),
        ("INVITATION_TTL_SECONDS", str(31 * 86400), "INVITATION_TTL_SECONDS must be <= 2592000"),
    ],
)
def test_a_bad_value_names_its_variable(name, value, message):
    with pytest.raises(ConfigError) as raised:
        Config.from_env(dict(PRODUCTION) | {name: value})
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("name", "value", "attribute", "expected"),
    [
        ("SMTP_STARTTLS", "off", "smtp_starttls", False),
        ("SMTP_STARTTLS", "Yes", "smtp_starttls", True),
        ("SCHEDULER_ENABLED", "1", "scheduler_enabled", True),
        ("SESSION_COOKIE_SECURE", "true", "session_cookie_secure", True),
        ("HSTS_MAX_AGE_SECONDS", "600", "hsts_max_age_seconds", 600),
        ("SMTP_PORT", "2525", "smtp_port", 2525),
        ("LOGIN_EMAIL_CEILING", "50", "login_email_ceiling", 50),
        ("LOGIN_EMAIL_DRIP_SECONDS", "30", "login_email_drip_seconds", 30),
        ("LOG_LEVEL", "debug", "log_level", "DEBUG"),
        ("SUPABASE_URL", "https://project.supabase.co/", "supabase_url", "https://project.supabase.co"),
        ("PUBLIC_URL", "https://learn.example/", "public_url", "https://learn.example"),
        ("CRON_SECRET", "", "cron_secret", None),
        ("INVITATION_TTL_SECONDS", "86400", "invitation_ttl_seconds", 86400),
        (
            "TRUSTED_PROXIES",
            "10.0.0.0/8,, 2001:db8::/32 ,192.0.2.1",
            "trusted_proxies",
            (
                ipaddress.ip_network("10.0.0.0/8"),
                ipaddress.ip_network("2001:db8::/32"),
                ipaddress.ip_network("192.0.2.1/32"),
            ),
        ),
    ],
)
def test_values_are_parsed(name, value, attribute, expected):
    assert getattr(Config.from_env(dict(PRODUCTION) | {name: value}), attribute) == expected


def test_test_database_url_wins_only_under_test():
    environ = {"DATABASE_URL": "postgresql:///main", "TEST_DATABASE_URL": "postgresql:///test"}
    assert Config.from_env(environ | {"QB_ENV": "test"}).database_url == "postgresql:///test"
    assert Config.from_env(environ | {"QB_ENV": "development"}).database_url == "postgresql:///main"


def test_unknown_overrides_are_refused():
    with pytest.raises(ConfigError, match="jwt_secrett"):
        Config.from_env(PRODUCTION, jwt_secrett="typo")


def test_development_generates_private_secrets_that_persist(tmp_path):
    environ = {"QB_ENV": "development", "QB_DATA_DIR": str(tmp_path)}
    first, second = Config.from_env(environ), Config.from_env(environ)
    assert len(first.secret_key) >= 32 and len(first.jwt_secret) >= 32
    assert first.secret_key != first.jwt_secret
    assert (first.secret_key, first.jwt_secret) == (second.secret_key, second.jwt_secret)
    for name in ("secret_key", "jwt_secret"):
        assert stat.S_IMODE((tmp_path / "secrets" / name).stat().st_mode) == 0o600
    other = Config.from_env({"QB_ENV": "development", "QB_DATA_DIR": str(tmp_path / "elsewhere")})
    assert other.secret_key != first.secret_key


def test_explicit_secrets_are_kept_in_development(tmp_path):
    config = Config.from_env({"QB_DATA_DIR": str(tmp_path), "SECRET_KEY": "k" * 40, "JWT_SECRET": "j" * 40})
    assert (config.secret_key, config.jwt_secret) == ("k" * 40, "j" * 40)
    assert not (tmp_path / "secrets").exists()


def test_test_sends_default_to_a_short_wait_and_small_caps():
    config = Config.from_env(PRODUCTION)
    assert config.webhooks_test_wait_seconds == 2.0
    assert (config.webhooks_test_max_waiting, config.webhooks_test_max_in_flight) == (2, 3)
    assert config.webhooks_test_per_minute == 10


@pytest.mark.parametrize(
    ("name", "value", "attribute", "expected"),
    [
        ("WEBHOOKS_TEST_WAIT_SECONDS", "0", "webhooks_test_wait_seconds", 0.0),
        ("WEBHOOKS_TEST_WAIT_SECONDS", "1.5", "webhooks_test_wait_seconds", 1.5),
        ("WEBHOOKS_TEST_MAX_WAITING", "8", "webhooks_test_max_waiting", 8),
        ("WEBHOOKS_TEST_MAX_IN_FLIGHT", "1", "webhooks_test_max_in_flight", 1),
        ("WEBHOOKS_TEST_PER_MINUTE", "60", "webhooks_test_per_minute", 60),
    ],
)
def test_test_send_settings_are_parsed(name, value, attribute, expected):
    assert getattr(Config.from_env(dict(PRODUCTION) | {name: value}), attribute) == expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WEBHOOKS_TEST_WAIT_SECONDS", "soon", "WEBHOOKS_TEST_WAIT_SECONDS must be a number, got 'soon'"),
        ("WEBHOOKS_TEST_WAIT_SECONDS", "-1", "WEBHOOKS_TEST_WAIT_SECONDS must be between 0 and 10"),
        ("WEBHOOKS_TEST_WAIT_SECONDS", "15", "WEBHOOKS_TEST_WAIT_SECONDS must be between 0 and 10"),
        ("WEBHOOKS_TEST_WAIT_SECONDS", "nan", "WEBHOOKS_TEST_WAIT_SECONDS must be between 0 and 10"),
        ("WEBHOOKS_TEST_MAX_WAITING", "0", "WEBHOOKS_TEST_MAX_WAITING must be >= 1"),
        ("WEBHOOKS_TEST_MAX_IN_FLIGHT", "0", "WEBHOOKS_TEST_MAX_IN_FLIGHT must be >= 1"),
        ("WEBHOOKS_TEST_PER_MINUTE", "ten", "WEBHOOKS_TEST_PER_MINUTE must be an integer"),
    ],
)
def test_a_bad_test_send_setting_names_its_variable(name, value, message):
    with pytest.raises(ConfigError) as raised:
        Config.from_env(dict(PRODUCTION) | {name: value})
    assert message in str(raised.value)


# --- the settings objects of each domain ---------------------------------------------------------

DOMAIN_SETTINGS = [
    # (the object, the Config prefix its fields are read under, its fields that come from elsewhere)
    pytest.param(LoginLimits, "login_", {"key"}, id="sign-in"),
    pytest.param(MailSettings, "smtp_", {"sender", "console_fallback", "timeout_seconds"}, id="mail"),
    pytest.param(OAuthSettings, "oauth_", {"audience"}, id="oauth"),
    pytest.param(EngineSettings, "webhooks_", {"jitter", "user_agent"}, id="webhooks"),
    pytest.param(subscriptions.TestSendLimits, "webhooks_test_", {"in_flight_retry_after"}, id="test-sends"),
    pytest.param(InboxSettings, "inbound_", {"lease_seconds", "batch_size"}, id="inbox"),
]


@pytest.mark.parametrize(("settings", "prefix", "elsewhere"), DOMAIN_SETTINGS)
def test_a_domains_settings_read_every_field_config_holds(settings, prefix, elsewhere):
    """A renamed setting would otherwise drop out of its domain's object without a word."""
    read = Config().section(prefix, settings)
    assert set(read) == {f.name for f in dataclasses.fields(settings)} - elsewhere
    assert all(read[name] == getattr(Config(), prefix + name) for name in read)


def test_a_domains_settings_follow_the_environment(tmp_path):
    config = Config.from_env(
        {
            "QB_ENV": "test",
            "QB_DATA_DIR": str(tmp_path),
            "LOGIN_DEVICE_TTL_SECONDS": "7200",
            "SMTP_PORT": "2525",
            "WEBHOOKS_LEASE_SECONDS": "90",
            "WEBHOOKS_TEST_PER_MINUTE": "4",
            "INBOUND_MAX_ATTEMPTS": "7",
        }
    )
    assert LoginLimits.from_config(config).device_ttl_seconds == 7200
    assert mailer.settings_from(config).port == 2525
    assert EngineSettings.from_config(config).lease_seconds == 90
    assert EngineSettings.from_config(config, lease_seconds=5).lease_seconds == 5
    assert subscriptions.TestSendLimits.from_config(config).per_minute == 4
    assert InboxSettings.from_config(config).max_attempts == 7
