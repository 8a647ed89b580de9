"""The objects every request and job shares, built once by create_app and reached one way: current_runtime()."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from backend.auth import TokenVerifier
    from backend.config import Config
    from backend.db import Database
    from backend.services.inbound.handlers import Handlers
    from backend.services.inbound.signatures import Source
    from backend.services.lti.keys import ToolKeys
    from backend.services.lti.keysets import KeySets
    from backend.services.oauth.server import OAuth
    from backend.services.shared.passwords import PasswordHasher
    from backend.services.shared.secretbox import SecretBox
    from backend.services.webhooks.ssrf import TargetPolicy

EXTENSION = "questbridge"


@dataclass
class Runtime:
    config: Config
    db: Database
    hasher: PasswordHasher
    verifier: TokenVerifier
    secretbox: SecretBox
    target_policy: TargetPolicy
    oauth: OAuth
    lti_keys: ToolKeys
    lti_key_sets: KeySets
    inbound_sources: dict[str, Source]
    inbox_handlers: Handlers
    metrics: CollectorRegistry
    # At most WEBHOOKS_TEST_MAX_WAITING test sends of this process wait for their attempt at once.
    test_send_waits: threading.BoundedSemaphore
    openapi: dict | None = field(default=None)  # the OpenAPI document, built on first request


def runtime_of(app) -> Runtime:
    return app.extensions[EXTENSION]


def current_runtime() -> Runtime:
    """The runtime of the app handling this request (or CLI command)."""
    return runtime_of(current_app)
