"""Questbridge: the integration backbone of a learning platform. `create_app()` builds the web app."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass

import structlog
from flask import Flask, g, request

from backend import metrics
from backend.auth import TokenVerifier
from backend.bodies import CappedRequest, refuse_announced_oversize
from backend.config import Config
from backend.db import Database, resolve_database_url
from backend.errors import register_error_handlers
from backend.jsonutil import APIJSONProvider
from backend.logs import configure_logging
from backend.sentry import init_sentry
from backend.services.shared.passwords import PasswordHasher
from backend.services.shared.secretbox import SecretBox
from backend.services.webhooks.ssrf import TargetPolicy

__version__ = "0.1.0"

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}\Z")
log = structlog.get_logger("questbridge.http")


class QuestbridgeFlask(Flask):
    json_provider_class = APIJSONProvider
    request_class = CappedRequest


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
    init_sentry(config, __version__)

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

    app.extensions["questbridge_metrics"] = metrics.registry_for(database)
    _install_request_logging(app)
    app.before_request(refuse_announced_oversize)
    register_error_handlers(app)

    from backend.routes import (
        auth,
        docs,
        health,
        invitations,
        learning,
        monitoring,
        organizations,
        webhook_ops,
        webhooks,
    )

    for module in (health, auth, organizations, invitations, learning, webhook_ops, webhooks, monitoring, docs):
        app.register_blueprint(module.bp)

    from backend.routes import autograder, inbound

    for module in (autograder, inbound):
        app.register_blueprint(module.bp)

    from backend.routes import api_keys, external

    for module in (api_keys, external):
        app.register_blueprint(module.bp)

    from backend.routes import admin_ui

    app.register_blueprint(admin_ui.bp)

    from backend.routes import api_v1, oauth

    for module in (oauth, api_v1):
        app.register_blueprint(module.bp)

    from backend import cli

    cli.register(app)

    if config.scheduler_enabled:
        from backend import scheduler

        scheduler.start_in_process(app)
    return app


def _install_request_logging(app: Flask) -> None:
    hsts_max_age = app.extensions["questbridge"].config.hsts_max_age_seconds

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
        if response.status_code == 204:
            response.headers.pop("Content-Type", None)  # no content, so no content type
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if hsts_max_age:
            # Every answer, errors included: one plain-http answer is all a downgrade needs.
            response.headers.setdefault("Strict-Transport-Security", f"max-age={hsts_max_age}; includeSubDomains")
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        duration_ms = round(elapsed * 1000, 2)
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        metrics.HTTP_REQUEST_DURATION.labels(request.method, route, str(response.status_code)).observe(elapsed)
        # The path only: query strings can carry codes and tokens.
        log.info(
            "request",
            method=request.method,
            path=request.path,
            status=response.status_code,
            duration_ms=duration_ms,
        )
        return response
