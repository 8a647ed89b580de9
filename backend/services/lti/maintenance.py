"""The scheduled LTI job: delete retired tool keys, rotate the current one when it is due, and
delete the login states no launch answered in time.
One runner at a time across every process (an advisory lock)."""

from __future__ import annotations

import structlog

from backend.config import Config
from backend.db import Database
from backend.services.lti import keys, launch
from backend.services.shared import signing_keys
from backend.services.shared.secretbox import SecretBox

log = structlog.get_logger(__name__)

LOCK_KEY = 0x5142_4C54_494B_4559  # "QBLTIKEY"


def run(db: Database, box: SecretBox, config: Config) -> dict | None:
    """One pass; None when another process holds the lock."""

    def maintain(conn) -> dict:
        retired = signing_keys.delete_retired(conn, keys.FAMILY)
        rotated = signing_keys.rotate_if_due(
            conn,
            box,
            keys.FAMILY,
            rotation_days=config.lti_key_rotation_days,
            ahead_seconds=config.lti_key_publish_ahead_seconds,
            signed_lifetime_seconds=keys.SIGNED_LIFETIME_SECONDS,
        )
        expired = launch.delete_expired_states(conn)
        return {
            "keys_retired": retired,
            "key_scheduled": rotated["kid"] if rotated else None,
            "states_deleted": expired,
        }

    result = db.try_singleton(LOCK_KEY, maintain)
    if result is not None:
        log.info("lti_maintenance_done", **result)
    return result
