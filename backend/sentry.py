"""Error reporting to Sentry when SENTRY_DSN is set: no PII, no bodies, no credentials."""

from __future__ import annotations

import sentry_sdk
from sentry_sdk.integrations.flask import FlaskIntegration

from backend.config import Config
from backend.logs import SENSITIVE_KEY


def _scrub(event: dict, _hint: dict) -> dict:
    """Drop credential-bearing headers and query strings; bodies are never attached."""
    request = event.get("request") or {}
    headers = request.get("headers") or {}
    request["headers"] = {k: ("[redacted]" if SENSITIVE_KEY.search(k) else v) for k, v in headers.items()}
    request.pop("query_string", None)
    request.pop("cookies", None)
    request.pop("data", None)
    return event


def init_sentry(config: Config, release: str) -> bool:
    """Turn error reporting on when a DSN is configured; returns whether it is on."""
    if not config.sentry_dsn:
        return False
    sentry_sdk.init(
        dsn=config.sentry_dsn,
        integrations=[FlaskIntegration()],
        environment=config.env,
        release=f"questbridge@{release}",
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,  # frame locals can hold headers, passwords and tokens
        traces_sample_rate=0.0,
        before_send=_scrub,
    )
    return True
