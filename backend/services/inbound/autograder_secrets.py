"""Organizations' own autograder secrets: each verifies grades of its organization's submissions
only, beside the platform-wide AUTOGRADER_WEBHOOK_SECRETS. Stored encrypted (they must be used
again to check each HMAC) and rotated like webhook signing secrets: the new secret is shown once,
and the previous one keeps verifying for a grace period.
"""

from __future__ import annotations

import secrets
import uuid

import psycopg

from backend.db import as_service_role, queries_beside
from backend.errors import ValidationFailed
from backend.services.shared import audit
from backend.services.shared.audit import RequestInfo
from backend.services.shared.ownership import require_admin
from backend.services.shared.secretbox import SecretBox

SQL = queries_beside(__file__)

SECRET_PURPOSE = "autograder-secret"  # noqa: S105 (the secretbox purpose, not a secret)
SECRET_PREFIX = "agsec_"  # noqa: S105 (lets secret scanners and people recognise one)
DEFAULT_GRACE_SECONDS = 86400
MAX_GRACE_SECONDS = 7 * 86400


def generate_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _described(organization_id, row: dict | None) -> dict:
    if row is None:
        return {
            "organization_id": organization_id,
            "configured": False,
            "created_at": None,
            "rotated_at": None,
            "created_by": None,
            "rotated_by": None,
            "previous_secret_expires_at": None,
        }
    return {
        "organization_id": row["organization_id"],
        "configured": True,
        "created_at": row["created_at"],
        "rotated_at": row["rotated_at"],
        "created_by": row["created_by"],
        "rotated_by": row["rotated_by"],
        "previous_secret_expires_at": row["previous_secret_expires_at"],
    }


def describe(conn: psycopg.Connection, organization_id) -> dict:
    """Whether the organization has a secret, and when it was made and rotated (org admins; never the secret)."""
    require_admin(conn, organization_id)
    row = conn.execute(SQL["metadata"], {"organization_id": organization_id}).fetchone()
    return _described(organization_id, row)


def rotate(
    conn: psycopg.Connection,
    box: SecretBox,
    *,
    user_id: uuid.UUID,
    organization_id: uuid.UUID,
    grace_seconds: int,
    origin: RequestInfo,
) -> tuple[dict, bool]:
    """A new secret for the organization, in clear this once, and whether it is its first; the
    previous one keeps verifying for grace_seconds (0: it stops at once)."""
    if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
        raise ValidationFailed.field("grace_seconds", f"must be between 0 and {MAX_GRACE_SECONDS}")
    require_admin(conn, organization_id)
    secret = generate_secret()
    with as_service_role(conn):
        row = conn.execute(
            SQL["rotate"],
            {
                "organization_id": organization_id,
                "secret_encrypted": box.encrypt(secret, SECRET_PURPOSE),
                "grace_seconds": grace_seconds,
                "user_id": user_id,
            },
        ).fetchone()
    created = row["created"]
    audit.record(
        conn,
        "autograder_secret.created" if created else "autograder_secret.rotated",
        organization_id=organization_id,
        target_type="autograder_secret",
        target_id=organization_id,
        metadata={} if created else {"grace_seconds": grace_seconds},
        origin=origin,
    )
    return _described(organization_id, row) | {"secret": secret}, created


def secrets_for_submission(
    conn: psycopg.Connection, box: SecretBox, submission_id: uuid.UUID
) -> tuple[uuid.UUID | None, list[str]]:
    """The organization of a submission and the secrets of that organization in force now, or
    (None, []) when there is no such submission or its organization has no secret. `conn` is a
    system connection (one statement)."""
    row = conn.execute(SQL["secrets_for_submission"], {"submission_id": submission_id}).fetchone()
    if row is None:
        return None, []
    stored = [row["secret_encrypted"], row["previous_secret_encrypted"]]
    return row["organization_id"], [box.decrypt(value, SECRET_PURPOSE) for value in stored if value is not None]


def any_configured(conn: psycopg.Connection) -> bool:
    """Whether some organization has a secret (`conn` as the system)."""
    return conn.execute(SQL["any_configured"]).fetchone()["configured"]
