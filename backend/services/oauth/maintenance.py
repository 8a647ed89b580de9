"""The scheduled OAuth job: delete expired codes, grants and tokens and retired keys; rotate the
signing keys (access tokens', id_tokens') when due. One runner at a time across every process (an advisory lock)."""

from __future__ import annotations

import structlog

from backend.config import Config
from backend.db import Database
from backend.services.oauth import keys, tokens
from backend.services.oauth.server import Settings
from backend.services.shared.secretbox import SecretBox

log = structlog.get_logger(__name__)

LOCK_KEY = 0x5142_4F41_5554_4800  # "QBOAUTH"


def run(db: Database, box: SecretBox, config: Config) -> dict | None:
    """One pass; None when another process holds the lock."""
    settings = Settings.from_config(config)

    def maintain(conn) -> dict:
        deleted = tokens.delete_expired(conn)
        retired = keys.delete_retired(conn)
        rotation = {
            "rotation_days": settings.key_rotation_days,
            "ahead_seconds": settings.key_publish_ahead_seconds,
            "token_ttl_seconds": settings.access_token_ttl_seconds,
        }
        rotated = keys.rotate_if_due(conn, box, **rotation)
        id_token_rotated = keys.rotate_if_due(conn, box, **rotation, family=keys.ID_TOKEN_FAMILY)
        return {
            "codes": deleted["codes"],
            "grants": deleted["grants"],
            "access_tokens": deleted["access_tokens"],
            "keys_retired": retired,
            "key_scheduled": rotated["kid"] if rotated else None,
            "id_token_key_scheduled": id_token_rotated["kid"] if id_token_rotated else None,
        }

    result = db.try_singleton(LOCK_KEY, maintain)
    if result is not None:
        log.info("oauth_maintenance_done", **result)
    return result
