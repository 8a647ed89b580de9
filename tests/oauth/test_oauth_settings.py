"""OAUTH_* settings from the environment, and what the server derives from them."""

from __future__ import annotations

import re

import pytest

from backend.config import Config, ConfigError
from backend.services.oauth.server import Settings


def config(tmp_path, **environ) -> Config:
    return Config.from_env({"QB_ENV": "test", "QB_DATA_DIR": str(tmp_path)} | environ)


def test_defaults(tmp_path):
    settings = Settings.from_config(config(tmp_path, PUBLIC_URL="https://qb.example.org/"))
    assert settings.issuer == "https://qb.example.org" and settings.audience == "https://qb.example.org/api"
    lifetimes = (settings.access_token_ttl_seconds, settings.refresh_token_ttl_seconds, settings.code_ttl_seconds)
    assert lifetimes == (3600, 30 * 86400, 600)
    assert (settings.client_auth_window_seconds, settings.client_auth_max_failures) == (900, 10)
    assert (settings.key_rotation_days, settings.key_publish_ahead_seconds) == (30, 86400)


def test_every_setting_is_read(tmp_path):
    settings = Settings.from_config(
        config(
            tmp_path,
            OAUTH_ISSUER="https://auth.example.org/",
            OAUTH_ACCESS_TOKEN_TTL_SECONDS="900",
            OAUTH_REFRESH_TOKEN_TTL_SECONDS="86400",
            OAUTH_KEY_ROTATION_DAYS="7",
            OAUTH_KEY_PUBLISH_AHEAD_SECONDS="600",
            OAUTH_CLIENT_AUTH_WINDOW_SECONDS="60",
            OAUTH_CLIENT_AUTH_MAX_FAILURES="3",
            OAUTH_CLIENT_AUTH_MAX_FAILURES_PER_IP="30",
        )
    )
    assert settings.issuer == "https://auth.example.org"
    assert (settings.access_token_ttl_seconds, settings.refresh_token_ttl_seconds) == (900, 86400)
    assert (settings.key_rotation_days, settings.key_publish_ahead_seconds) == (7, 600)
    assert (settings.client_auth_window_seconds, settings.client_auth_max_failures) == (60, 3)
    assert settings.client_auth_max_failures_per_ip == 30


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("OAUTH_ISSUER", "auth.example.org", "OAUTH_ISSUER must be an http(s) URL"),
        ("OAUTH_ACCESS_TOKEN_TTL_SECONDS", "10", "OAUTH_ACCESS_TOKEN_TTL_SECONDS must be >= 60"),
        ("OAUTH_ACCESS_TOKEN_TTL_SECONDS", "90000", "must be <= 86400"),
        ("OAUTH_REFRESH_TOKEN_TTL_SECONDS", "soon", "must be an integer"),
        ("OAUTH_CLIENT_AUTH_MAX_FAILURES", "0", "must be >= 1"),
        ("OAUTH_KEY_ROTATION_DAYS", "0", "must be >= 1"),
    ],
)
def test_bad_values_name_the_setting(tmp_path, name, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        config(tmp_path, **{name: value})
