"""structlog set-up: one JSON object per line (a readable console in development), secrets redacted."""

from __future__ import annotations

import logging
import re
import sys

import structlog

# Keys whose values never reach a log line, wherever they appear in an event.
SENSITIVE_KEY = re.compile(
    r"pass(word)?|secret|token|authorization|cookie|api[_-]?key|signature|credential|session",
    re.IGNORECASE,
)
REDACTED = "[redacted]"


def _redact(value):
    if isinstance(value, dict):
        return {k: REDACTED if SENSITIVE_KEY.search(str(k)) else _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    if isinstance(value, tuple):
        items = [_redact(v) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)  # named tuples too
    return value


def redact_secrets(_logger, _method, event_dict: dict) -> dict:
    return {
        key: (REDACTED if key != "event" and SENSITIVE_KEY.search(key) else _redact(value))
        for key, value in event_dict.items()
    }


def configure_logging(log_format: str = "json", level: str = "INFO", stream=None) -> None:
    stream = stream or sys.stdout
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    if log_format == "console":
        renderer = structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
        processors = [*shared, renderer]
    else:
        processors = [*shared, structlog.processors.format_exc_info, structlog.processors.JSONRenderer(sort_keys=False)]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    # Library loggers (psycopg_pool, apscheduler, werkzeug) go to the same stream.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
