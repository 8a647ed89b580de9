"""AUTOGRADER_WEBHOOK_SECRETS, INBOUND_SOURCES and the inbox settings, read and validated at start."""

from __future__ import annotations

import json

import pytest

from backend.config import Config, ConfigError

GOOD = {"scheme": "stripe", "secrets": ["whsec_abc"]}


def load(**env) -> Config:
    return Config.from_env({"QB_ENV": "test", **env})


def test_defaults():
    config = load()
    assert config.autograder_webhook_secrets == ()
    assert config.inbound_sources == {}
    assert config.inbound_max_attempts == 3
    assert config.inbound_rate_limit_per_hour == 1000


def test_autograder_secrets_are_comma_separated():
    assert load(AUTOGRADER_WEBHOOK_SECRETS=" new-secret , old-secret ,").autograder_webhook_secrets == (
        "new-secret",
        "old-secret",
    )


def test_inbound_sources_are_parsed():
    sources = {
        "stripe": GOOD,
        "partner-1": {
            "scheme": "standard-webhooks",
            "secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
            "organization_id": "6f1d3c2b-8a7e-4f60-9b1a-2c3d4e5f6a7b",
            "tolerance_seconds": 600,
        },
        "ci": {"scheme": "hmac-hex", "secrets": ["s"], "signature_header": "X-Hub-Signature-256"},
    }
    assert load(INBOUND_SOURCES=json.dumps(sources)).inbound_sources == sources


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        "[]",
        json.dumps({"Bad Name": GOOD}),
        json.dumps({"autograder": GOOD}),
        json.dumps({"s": "stripe"}),
        json.dumps({"s": {"scheme": "md5", "secrets": ["x"]}}),
        json.dumps({"s": {"scheme": "stripe"}}),
        json.dumps({"s": {"scheme": "stripe", "secrets": []}}),
        json.dumps({"s": {"scheme": "stripe", "secrets": "one"}}),
        json.dumps({"s": {"scheme": "stripe", "secrets": [""]}}),
        json.dumps({"s": {"scheme": "standard-webhooks", "secrets": ["whsec_not base64!"]}}),
        json.dumps({"s": GOOD | {"organization_id": "acme"}}),
        json.dumps({"s": GOOD | {"tolerance_seconds": 0}}),
        json.dumps({"s": GOOD | {"tolerance_seconds": "300"}}),
        json.dumps({"s": GOOD | {"signature_header": "Bad Header:"}}),
        json.dumps({"s": GOOD | {"secret": ["typo"]}}),
    ],
)
def test_a_malformed_inbound_sources_is_refused_at_start_naming_the_variable(raw):
    with pytest.raises(ConfigError, match="INBOUND_SOURCES"):
        load(INBOUND_SOURCES=raw)


@pytest.mark.parametrize(
    ("name", "value"),
    [("INBOUND_MAX_ATTEMPTS", "0"), ("INBOUND_BACKOFF_SECONDS", "x"), ("INBOUND_RATE_LIMIT_PER_HOUR", "0")],
)
def test_malformed_inbox_settings_are_refused(name, value):
    with pytest.raises(ConfigError, match=name):
        load(**{name: value})


def test_overrides_are_validated_too():
    with pytest.raises(ConfigError, match="INBOUND_SOURCES"):
        Config.from_env({"QB_ENV": "test"}, inbound_sources={"s": {"scheme": "nope", "secrets": ["x"]}})
