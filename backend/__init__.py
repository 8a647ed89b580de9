"""Questbridge: the integration backbone of a learning platform. `create_app()` builds the web app."""

from __future__ import annotations

import re
import threading
import time
import uuid

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
from backend.runtime import EXTENSION, Runtime
from backend.sentry import init_sentry
from backend.services.inbound import autograder
from backend.services.inbound.handlers import Handlers
from backend.services.inbound.signatures import Source
from backend.services.lti.keys import ToolKeys
from backend.services.lti.keysets import KeySets
from backend.services.oauth.server import OAuth
from backend.services.shared.passwords import PasswordHasher
from backend.services.shared.secretbox import SecretBox
from backend.services.webhooks.ssrf import TargetPolicy
from backend.version import __version__

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}\Z")
log = structlog.get_logger("questbridge.http")


class QuestbridgeFlask(Flask):
    json_provider_class = APIJSONProvider
    request_class = CappedRequest


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
    secretbox = SecretBox(config.secret_key)
    target_policy = TargetPolicy.parse(config.webhooks_allowed_targets, config.webhooks_require_https)
    app.extensions[EXTENSION] = Runtime(
        config=config,
        db=database,
        hasher=PasswordHasher(cheap=config.env == "test"),
        verifier=TokenVerifier(config),
        secretbox=secretbox,
        target_policy=target_policy,
        oauth=OAuth(config, database, secretbox),
        lti_keys=ToolKeys(database, secretbox),
        # The LMS platforms' key sets, cached in this process and refetched once on an unknown kid.
        lti_key_sets=KeySets(target_policy, config.lti_key_set_cache_seconds),
        # INBOUND_SOURCES as Source objects (the config validated them).
        inbound_sources={name: Source.from_config(name, spec) for name, spec in config.inbound_sources.items()},
        # What the inbox applies, per (source, event type); events of any other type are stored `ignored`.
        inbox_handlers=Handlers({(autograder.SOURCE, autograder.EVENT_TYPE): autograder.apply_grade}),
        metrics=metrics.registry_for(database),
        test_send_waits=threading.BoundedSemaphore(config.webhooks_test_max_waiting),
    )

    _install_request_logging(app)
    app.before_request(refuse_announced_oversize)
    register_error_handlers(app)
    for blueprint in _blueprints():
        app.register_blueprint(blueprint)

    from backend import cli

    cli.register(app)

    if config.scheduler_enabled:
        from backend import scheduler

        scheduler.start_in_process(app)
    return app


def _blueprints() -> tuple:
    """Every blueprint of the app, one per resource (imported here: routes need the app's modules)."""
    from backend.routes import (
        admin_ui,
        api_keys,
        api_v1,
        auth,
        autograder,
        docs,
        external,
        health,
        inbound,
        invitations,
        learning,
        lti,
        lti_launch,
        monitoring,
        oauth,
        oauth_clients,
        oauth_login,
        organizations,
        webhook_ops,
        webhooks,
    )

    modules = (health, auth, organizations, invitations, learning, lti, lti_launch, webhook_ops, webhooks, monitoring)
    modules += (docs, autograder, inbound, api_keys, external, admin_ui, oauth, oauth_login, oauth_clients, api_v1)
    return tuple(module.bp for module in modules)


def _install_request_logging(app: Flask) -> None:
    hsts_max_age = app.extensions[EXTENSION].config.hsts_max_age_seconds

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
