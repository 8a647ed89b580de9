"""Questbridge: the integration backbone of a learning platform. `create_app()` builds the web app."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass

import structlog
from flask import Flask, g, request

from backend.auth import TokenVerifier
from backend.config import Config
from backend.db import Database, resolve_database_url
from backend.errors import register_error_handlers
from backend.jsonutil import APIJSONProvider
from backend.logs import configure_logging
from backend.services.passwords import PasswordHasher
from backend.services.secretbox import SecretBox
from backend.services.ssrf import TargetPolicy

__version__ = "0.1.0"

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
log = structlog.get_logger("questbridge.http")


class QuestbridgeFlask(Flask):
    json_provider_class = APIJSONProvider


@dataclass
class Runtime:
    """What every request and job needs, kept in app.extensions["questbridge"]."""

    config: Config
    db: Database
    hasher: PasswordHasher
    verifier: TokenVerifier
    secretbox: SecretBox
    target_policy: TargetPolicy


def create_app(config: Config | None = None) -> Flask:
    config = config or Config.from_env()
    configure_logging(config.log_format, config.log_level)

    app = QuestbridgeFlask(__name__, static_folder=None)
    app.config.update(
        SECRET_KEY=config.secret_key,
        MAX_CONTENT_LENGTH=config.max_content_length,
    )

    database = Database(resolve_database_url(config), min_size=config.pool_min_size, max_size=config.pool_max_size)
    app.extensions["questbridge"] = Runtime(
        config=config,
        db=database,
        hasher=PasswordHasher(cheap=config.env == "test"),
        verifier=TokenVerifier(config),
        secretbox=SecretBox(config.secret_key),
        target_policy=TargetPolicy.parse(config.webhooks_allowed_targets, config.webhooks_require_https),
    )

    _install_request_logging(app)
    register_error_handlers(app)

    from backend.routes import auth, health, learning, organizations, webhook_ops, webhooks

    for module in (health, auth, organizations, learning, webhook_ops, webhooks):
        app.register_blueprint(module.bp)

    from backend import cli

    cli.register(app)

    if config.scheduler_enabled:
        from backend import scheduler

        scheduler.start_in_process(app)
    return app


def _install_request_logging(app: Flask) -> None:
    @app.before_request
    def _start():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID.match(incoming) else str(uuid.uuid4())
        g.started = time.perf_counter()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=g.request_id)

    @app.after_request
    def _finish(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        duration_ms = round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 2)
        # The path only: query strings can carry codes and tokens.
        log.info(
            "request",
            method=request.method,
            path=request.path,
            status=response.status_code,
            duration_ms=duration_ms,
        )
        return response
