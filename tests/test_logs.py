"""The log pipeline: secrets redacted wherever they sit in an event, one JSON object per line."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from backend.logs import REDACTED, configure_logging, redact_secrets


@pytest.fixture
def log_stream():
    stream = io.StringIO()
    configure_logging("json", "INFO", stream=stream)
    yield stream
    structlog.contextvars.clear_contextvars()


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "new_password",
        "Passwd",
        "pass",
        "client_secret",
        "webhook_secret",
        "token",
        "access_token",
        "refresh_token",
        "authorization",
        "Authorization",
        "cookie",
        "set_cookie",
        "api_key",
        "api-key",
        "apikey",
        "X-API-Key",
        "signature",
        "webhook-signature",
        "credentials",
        "session",
        "session_token",
    ],
)
def test_sensitive_keys_are_redacted_at_the_top_level(key):
    event = redact_secrets(None, "info", {"event": "x", key: "hunter2-value"})
    assert event[key] == REDACTED


@pytest.mark.parametrize("key", ["email", "user_id", "status", "path", "duration_ms", "method", "error_type"])
def test_ordinary_keys_are_kept(key):
    assert redact_secrets(None, "info", {"event": "x", key: "kept"})[key] == "kept"


def test_the_event_name_is_never_redacted():
    assert redact_secrets(None, "info", {"event": "password_reset_requested"})["event"] == "password_reset_requested"


def test_nested_structures_are_redacted_and_keep_their_shape():
    event = {
        "event": "outbound",
        "headers": {"Authorization": "Bearer abc", "Content-Type": "application/json"},
        "attempts": [{"status": 500, "signature": "v1,xyz"}, {"status": 200, "body": {"api_key": "k"}}],
        "pair": ({"token": "t"}, "plain"),
        "count": 3,
    }

    redacted = redact_secrets(None, "info", event)

    assert redacted["headers"] == {"Authorization": REDACTED, "Content-Type": "application/json"}
    assert redacted["attempts"] == [
        {"status": 500, "signature": REDACTED},
        {"status": 200, "body": {"api_key": REDACTED}},
    ]
    assert redacted["pair"] == ({"token": REDACTED}, "plain")
    assert redacted["count"] == 3
    assert event["headers"]["Authorization"] == "Bearer abc"  # the caller's objects are not changed


def test_named_tuples_survive_redaction():
    from collections import namedtuple

    Pair = namedtuple("Pair", "left right")
    redacted = redact_secrets(None, "info", {"event": "x", "pair": Pair({"password": "p"}, 2)})
    assert list(redacted["pair"]) == [{"password": REDACTED}, 2]


def test_json_lines_carry_level_timestamp_and_context_but_no_secrets(log_stream):
    structlog.contextvars.bind_contextvars(request_id="req-1")
    log = structlog.get_logger("test")

    log.info("login", email="a@example.test", password="hunter2", headers={"Cookie": "qb_session=abc"})
    log.debug("hidden at INFO")
    log.warning("second", token="tok-123")

    events = lines(log_stream)
    assert [e["event"] for e in events] == ["login", "second"]
    first = events[0]
    assert first["level"] == "info"
    assert first["request_id"] == "req-1"
    assert first["timestamp"].endswith("Z")
    assert first["email"] == "a@example.test"
    text = log_stream.getvalue()
    for secret in ("hunter2", "qb_session=abc", "tok-123"):
        assert secret not in text


def test_context_variables_are_redacted_too(log_stream):
    structlog.contextvars.bind_contextvars(api_key="qb_live_secret")
    structlog.get_logger("test").info("bound")
    assert lines(log_stream)[0]["api_key"] == REDACTED


def test_exceptions_are_rendered_into_the_json_line(log_stream):
    log = structlog.get_logger("test")
    try:
        raise ValueError("broken thing")
    except ValueError:
        log.exception("failed")
    [event] = lines(log_stream)
    assert event["level"] == "error"
    assert "ValueError: broken thing" in event["exception"]


def test_library_loggers_share_the_stream_at_warning(log_stream):
    logging.getLogger("psycopg.pool").info("chatter")
    logging.getLogger("psycopg.pool").warning("pool trouble")
    text = log_stream.getvalue()
    assert "pool trouble" in text
    assert "chatter" not in text


def test_console_format_is_readable_and_redacted():
    stream = io.StringIO()
    configure_logging("console", "INFO", stream=stream)
    structlog.get_logger("test").info("hello", password="hunter2", user="u1")
    text = stream.getvalue()
    assert "hello" in text and "u1" in text
    assert "hunter2" not in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])
