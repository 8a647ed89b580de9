"""Outbound webhook subscriptions and the delivery log, as org admins manage them (RLS decides).

Signing secrets are generated here, stored encrypted, and shown to the admin only when they are
created or rotated; `active_secrets` is how anything that signs gets them back.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import psycopg

from backend.db import Database, as_service_role, queries_beside
from backend.errors import Conflict, NotFound, TooManyRequests, ValidationFailed
from backend.services.shared import audit, rate_limit
from backend.services.shared.audit import RequestInfo
from backend.services.shared.ownership import require_admin, require_admin_of
from backend.services.shared.pagination import page_params, paginate
from backend.services.shared.secretbox import SecretBox
from backend.services.webhooks import events, signing, ssrf

SQL = queries_beside(__file__)

SECRET_PURPOSE = "webhook-subscription"  # noqa: S105 (the secretbox purpose, not a secret)
DELIVERY_STATUSES = ("pending", "delivering", "retrying", "delivered", "dead")
DEFAULT_GRACE_SECONDS = 86400
MAX_GRACE_SECONDS = 7 * 86400
MAX_EVENT_TYPES = 100
TEST_EVENT = "webhook.test"


def check_target(url: str, policy: ssrf.TargetPolicy) -> str:
    """The URL to store, once the SSRF guard accepts it (it resolves names: call it outside a transaction)."""
    try:
        target, _addresses = ssrf.check(url, policy)
    except ssrf.TargetRefused as refused:
        raise ValidationFailed.field("target_url", str(refused)) from None
    return target.url


def _url_for_audit(url: str) -> str:
    """The target without its query string, which may carry a receiver's token."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def active_secrets(box: SecretBox, row: dict, now: datetime) -> list[str]:
    """The secrets a delivery is signed with: the current one, then the previous one until it expires."""
    secrets = [box.decrypt(row["secret_encrypted"], SECRET_PURPOSE)]
    previous, expires_at = row.get("previous_secret_encrypted"), row.get("previous_secret_expires_at")
    if previous is not None and expires_at is not None and expires_at > now:
        secrets.append(box.decrypt(previous, SECRET_PURPOSE))
    return secrets


def _authorize(conn: psycopg.Connection, lookup: str, row_id, what: str):
    """The organization of a subscription or delivery the caller administers (404 strangers, 403 members)."""
    return require_admin_of(conn, SQL[lookup], {"id": row_id}, what)


def _notify_engine(conn: psycopg.Connection) -> None:
    conn.execute(SQL["notify"], {"channel": events.NOTIFY_CHANNEL})  # delivered on commit only


def create_subscription(
    conn: psycopg.Connection,
    box: SecretBox,
    *,
    user_id: uuid.UUID,
    organization_id: uuid.UUID,
    target_url: str,
    event_types: list[str],
    description: str,
    origin: RequestInfo,
) -> dict:
    """A new subscription and its signing secret, returned in clear this once."""
    require_admin(conn, organization_id)
    subscription_id = uuid.uuid4()
    secret = signing.generate_secret()
    conn.execute(
        SQL["insert_subscription"],
        {
            "id": subscription_id,
            "organization_id": organization_id,
            "target_url": target_url,
            "description": description,
            "event_types": event_types,
            "secret_encrypted": box.encrypt(secret, SECRET_PURPOSE),
            "created_by": user_id,
        },
    )
    audit.record(
        conn,
        "webhook_subscription.created",
        organization_id=organization_id,
        target_type="webhook_subscription",
        target_id=subscription_id,
        metadata={"target_url": _url_for_audit(target_url), "event_types": event_types},
        origin=origin,
    )
    return get_subscription(conn, subscription_id) | {"secret": secret}


def get_subscription(conn: psycopg.Connection, subscription_id: uuid.UUID) -> dict:
    _authorize(conn, "subscription_organization", subscription_id, "subscription")
    row = conn.execute(SQL["get_subscription"], {"id": subscription_id}).fetchone()
    if row is None:
        raise NotFound("subscription not found")
    return row


@dataclass(frozen=True)
class TestSendLimits:
    """How many test sends an organization may have unfinished, and queue a minute."""

    max_in_flight: int
    per_minute: int
    in_flight_retry_after: int  # seconds: the longest one attempt takes once an engine sends it

    @classmethod
    def from_config(cls, config) -> TestSendLimits:
        retry_after = math.ceil(config.webhooks_total_timeout)
        return cls(**config.section("webhooks_test_", cls), in_flight_retry_after=retry_after)


def queue_test_delivery(conn: psycopg.Connection, subscription_id: uuid.UUID, limits: TestSendLimits) -> dict:
    """webhook.test for one subscription (org admins), queued for the delivery engines, which are
    woken on commit: {event_id, delivery_id, status}.

    429 once the organization has `max_in_flight` test deliveries waiting or being sent, or has
    queued `per_minute` in the last minute. A refused, disabled or unknown subscription spends
    nothing of either.
    """
    subscription = get_subscription(conn, subscription_id)
    if not subscription["active"]:
        raise Conflict("the subscription is disabled; enable it before testing")
    organization_id = subscription["organization_id"]
    with as_service_role(conn):
        # Admissions of one organization take turns until their transactions end, so each count
        # sees every test delivery admitted before it: concurrent requests cannot all slip under.
        conn.execute(SQL["lock_test_sends"], {"organization_id": organization_id})
        unfinished = conn.execute(SQL["unfinished_test_deliveries"], {"organization_id": organization_id}).fetchone()
        if unfinished["count"] >= limits.max_in_flight:
            raise TooManyRequests(
                f"this organization already has {_test_events(limits.max_in_flight)} waiting or being sent, "
                f"the most it may have at once; try again in {limits.in_flight_retry_after} seconds",
                retry_after=limits.in_flight_retry_after,
            )
        decision = rate_limit.hit(conn, f"webhook_test:{organization_id}", limits.per_minute, 60)
        if not decision.allowed:
            raise TooManyRequests(
                f"an organization may send at most {_test_events(limits.per_minute)} a minute; "
                f"try again in {decision.retry_after} seconds",
                retry_after=decision.retry_after,
            )
    event_id, delivery_id = events.emit_to_subscription(
        conn,
        organization_id=organization_id,
        subscription_id=subscription["id"],
        event_type=TEST_EVENT,
        data={"message": "This is a test event from Questbridge.", "subscription_id": str(subscription["id"])},
    )
    return {"event_id": event_id, "delivery_id": delivery_id, "status": "pending"}


def _test_events(count: int) -> str:
    return f"{count} test event" if count == 1 else f"{count} test events"


def wait_for_test_attempt(db: Database, delivery_id: uuid.UUID, seconds: float) -> dict | None:
    """A test delivery's status, with its latest attempt (`attempt` and the rest not None) as soon
    as an engine has recorded one, or as it stands after `seconds`; None if it is gone.

    Each look is one primary-key lookup on a system connection held for that statement only, and
    the looks thin out from 50 ms to 250 ms apart: a waiting request holds no connection, and
    nothing on the receiver (an engine sends). The caller queued and was authorized for this
    delivery in its own transaction, which is why a system connection may read it.
    """
    deadline = time.monotonic() + seconds
    pause = 0.05
    while True:
        with db.system_connection() as conn:
            row = conn.execute(SQL["test_delivery_attempt"], {"id": delivery_id}).fetchone()
        left = deadline - time.monotonic()
        if row is None or row["attempt"] is not None or left <= 0:
            return row
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.25)


def list_subscriptions(
    conn: psycopg.Connection, organization_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[dict], str | None]:
    require_admin(conn, organization_id)
    params = page_params(cursor, limit) | {"organization_id": organization_id}
    return paginate(conn.execute(SQL["list_subscriptions"], params).fetchall(), limit)


def update_subscription(
    conn: psycopg.Connection, subscription_id: uuid.UUID, changes: dict, origin: RequestInfo
) -> dict:
    """Change any of target_url, event_types, active, description; re-activating clears the disabled state."""
    organization_id = _authorize(conn, "subscription_organization", subscription_id, "subscription")
    params = {name: changes.get(name) for name in ("target_url", "event_types", "active", "description")}
    row = conn.execute(SQL["update_subscription"], params | {"id": subscription_id}).fetchone()
    if row is None:
        raise NotFound("subscription not found")
    metadata: dict = {"changed": sorted(name for name, value in params.items() if value is not None)}
    if params["target_url"] is not None:
        metadata["target_url"] = _url_for_audit(params["target_url"])
    for name in ("event_types", "active"):
        if params[name] is not None:
            metadata[name] = params[name]
    audit.record(
        conn,
        "webhook_subscription.updated",
        organization_id=organization_id,
        target_type="webhook_subscription",
        target_id=subscription_id,
        metadata=metadata,
        origin=origin,
    )
    return row


def delete_subscription(conn: psycopg.Connection, subscription_id: uuid.UUID, origin: RequestInfo) -> None:
    """Remove a subscription; its deliveries and their attempts go with it."""
    organization_id = _authorize(conn, "subscription_organization", subscription_id, "subscription")
    if conn.execute(SQL["delete_subscription"], {"id": subscription_id}).fetchone() is None:
        raise NotFound("subscription not found")
    audit.record(
        conn,
        "webhook_subscription.deleted",
        organization_id=organization_id,
        target_type="webhook_subscription",
        target_id=subscription_id,
        origin=origin,
    )


def rotate_secret(
    conn: psycopg.Connection, box: SecretBox, subscription_id: uuid.UUID, grace_seconds: int, origin: RequestInfo
) -> dict:
    """A new signing secret; the old one keeps signing for grace_seconds (0: it stops at once)."""
    if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
        raise ValidationFailed.field("grace_seconds", f"must be between 0 and {MAX_GRACE_SECONDS}")
    organization_id = _authorize(conn, "subscription_organization", subscription_id, "subscription")
    secret = signing.generate_secret()
    with as_service_role(conn):
        row = conn.execute(
            SQL["rotate_secret"],
            {
                "id": subscription_id,
                "organization_id": organization_id,
                "grace_seconds": grace_seconds,
                "secret_encrypted": box.encrypt(secret, SECRET_PURPOSE),
            },
        ).fetchone()
    if row is None:
        raise NotFound("subscription not found")
    audit.record(
        conn,
        "webhook_subscription.secret_rotated",
        organization_id=organization_id,
        target_type="webhook_subscription",
        target_id=subscription_id,
        metadata={"grace_seconds": grace_seconds},
        origin=origin,
    )
    return {"id": subscription_id, "secret": secret, "previous_secret_expires_at": row["previous_secret_expires_at"]}


def list_deliveries(
    conn: psycopg.Connection,
    limit: int,
    cursor: str | None,
    *,
    organization_id: uuid.UUID | None = None,
    subscription_id: uuid.UUID | None = None,
    status: str | None = None,
    event_type: str | None = None,
) -> tuple[list[dict], str | None]:
    """Deliveries of one organization or one subscription (at least one is required), newest first."""
    if organization_id is None and subscription_id is None:
        raise ValidationFailed.field("organization_id", "send organization_id or subscription_id")
    if organization_id is not None:
        require_admin(conn, organization_id)
    if subscription_id is not None:
        _authorize(conn, "subscription_organization", subscription_id, "subscription")
    params = page_params(cursor, limit) | {
        "organization_id": organization_id,
        "subscription_id": subscription_id,
        "status": status,
        "event_type": event_type,
    }
    return paginate(conn.execute(SQL["list_deliveries"], params).fetchall(), limit)


def get_delivery(conn: psycopg.Connection, delivery_id: uuid.UUID) -> dict:
    """A delivery with the event it carries and the log of its attempts."""
    _authorize(conn, "delivery_organization", delivery_id, "delivery")
    delivery = conn.execute(SQL["get_delivery"], {"id": delivery_id}).fetchone()
    if delivery is None:
        raise NotFound("delivery not found")
    delivery["attempts_log"] = conn.execute(SQL["delivery_attempts"], {"delivery_id": delivery_id}).fetchall()
    return delivery


def redeliver(conn: psycopg.Connection, delivery_id: uuid.UUID, origin: RequestInfo) -> dict:
    """Queue a delivery again under the same id (the webhook-id header), its attempts reset."""
    organization_id = _authorize(conn, "delivery_organization", delivery_id, "delivery")
    row = conn.execute(SQL["redeliver"], {"id": delivery_id}).fetchone()
    if row is None:
        raise Conflict(
            "status: the delivery is being sent right now; redeliver it once this attempt ends",
            errors={"status": ["is delivering"]},
        )
    _notify_engine(conn)
    audit.record(
        conn,
        "webhook_delivery.redelivered",
        organization_id=organization_id,
        target_type="webhook_delivery",
        target_id=delivery_id,
        origin=origin,
    )
    return row


def redeliver_dead(
    conn: psycopg.Connection,
    *,
    subscription_id: uuid.UUID | None,
    organization_id: uuid.UUID | None = None,
    since: datetime | None,
    until: datetime | None,
    origin: RequestInfo,
) -> int:
    """Queue again every dead delivery created in [since, until) of a subscription, or with
    subscription_id None of every subscription of `organization_id`; returns how many."""
    if subscription_id is not None:
        organization_id = _authorize(conn, "subscription_organization", subscription_id, "subscription")
    else:
        require_admin(conn, organization_id)
    count = conn.execute(
        SQL["redeliver_dead"],
        {"subscription_id": subscription_id, "organization_id": organization_id, "since": since, "until": until},
    ).rowcount
    if count:
        _notify_engine(conn)
    audit.record(
        conn,
        "webhook_subscription.dead_redelivered" if subscription_id else "webhook_deliveries.dead_redelivered",
        organization_id=organization_id,
        target_type="webhook_subscription" if subscription_id else "organization",
        target_id=subscription_id or organization_id,
        metadata={
            "count": count,
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
        },
        origin=origin,
    )
    return count
