"""POST /api/inbound/<source>: Standard Webhooks (signed by the `standardwebhooks` package),
Stripe-style (signed as Stripe documents, checked with Stripe's own library) and hmac-hex senders;
duplicates, handlers per (source, type), ignored types, refusals and who may read them."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
import uuid
from datetime import UTC, datetime

import pytest
import stripe
from standardwebhooks.webhooks import Webhook

from backend.services.inbound import processor
from backend.services.inbound.handlers import NO_HANDLER, InboundEvent
from backend.services.shared import audit
from tests.support import assert_problem, one

ORG_ID = uuid.UUID("6f1d3c2b-8a7e-4f60-9b1a-2c3d4e5f6a7b")
STD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STD_OLD_SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
STRIPE_SECRET = "whsec_test_stripe_endpoint_secret"
STRIPE_OLD_SECRET = "whsec_test_stripe_previous_secret"
CI_SECRET = "ci-shared-secret"

SOURCES = {
    "partner": {"scheme": "standard-webhooks", "secrets": [STD_SECRET, STD_OLD_SECRET], "organization_id": str(ORG_ID)},
    "payments": {"scheme": "stripe", "secrets": [STRIPE_SECRET, STRIPE_OLD_SECRET], "organization_id": str(ORG_ID)},
    "ci": {"scheme": "hmac-hex", "secrets": [CI_SECRET], "signature_header": "X-Hub-Signature-256"},
}


@pytest.fixture
def app(make_app):
    return make_app(inbound_sources=SOURCES, inbound_backoff_seconds=(0,))


@pytest.fixture
def org(world, db):
    admin = world.user()
    # Inserted, not created through the service: the configured sources name this organization's id.
    with db.transaction("service_role") as conn:
        conn.execute(
            "insert into public.organizations (id, name, created_by) values (%s, 'Partner org', %s)",
            (ORG_ID, admin["id"]),
        )
    return {"id": ORG_ID, "admin": admin}


@pytest.fixture
def handled(app):
    """Handlers as an integrator registers them; each application leaves an audit entry."""

    def handler(conn, event: InboundEvent) -> str:
        audit.record(
            conn,
            "test_inbound.applied",
            organization_id=event.organization_id,
            target_type="inbound_event",
            target_id=event.id,
            metadata={"source": event.source, "type": event.type, "payload": event.payload["data"]},
        )
        return "applied"

    registered = [("partner", "member.synced"), ("payments", "invoice.paid"), ("ci", "build.finished")]
    handlers = app.extensions["questbridge"].inbox_handlers
    for source, event_type in registered:
        handlers.add(source, event_type, handler)
    yield
    for source, event_type in registered:
        handlers.remove(source, event_type)


def process(app) -> dict:
    runtime = app.extensions["questbridge"]
    return processor.run_pass(runtime.db, processor.InboxSettings.from_config(runtime.config), runtime.inbox_handlers)


def applications(db) -> list[dict]:
    with db.transaction("service_role") as conn:
        return conn.execute(
            "select target_id, metadata from public.audit_log where action = 'test_inbound.applied' order by id"
        ).fetchall()


# -- Standard Webhooks --------------------------------------------------------------------------


def standard_message(event_type="member.synced", data=None, msg_id=None, at=None, secret=STD_SECRET):
    payload = json.dumps({"type": event_type, "timestamp": "2026-11-22T10:00:00Z", "data": data or {"n": 1}})
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, payload),
        "Content-Type": "application/json",
        "User-Agent": "partner-sender/2",
    }
    return payload.encode(), headers


def test_a_standard_webhooks_message_is_accepted_and_handled_once(client, app, db, org, handled):
    body, headers = standard_message(data={"member": "ada"})
    response = client.post("/api/inbound/partner", data=body, headers=headers)
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["status"] == "accepted"
    event_id = response.get_json()["event_id"]
    stored = one(db, "select * from public.inbound_events where id = %s", event_id)
    assert stored["source"] == "partner" and stored["type"] == "member.synced"
    assert stored["provider_event_id"] == headers["webhook-id"]
    assert stored["organization_id"] == ORG_ID
    assert int(stored["sent_at"].timestamp()) == int(headers["webhook-timestamp"])
    assert stored["raw_body"] == body.decode()

    assert process(app)["processed"] == 1
    [applied] = applications(db)
    assert applied["target_id"] == event_id and applied["metadata"]["payload"] == {"member": "ada"}
    assert one(db, "select status, outcome from public.inbound_events where id = %s", event_id) == {
        "status": "processed",
        "outcome": "applied",
    }


def test_a_duplicate_message_id_is_acknowledged_and_never_processed_twice(client, app, db, org, handled):
    body, headers = standard_message()
    first = client.post("/api/inbound/partner", data=body, headers=headers)
    assert first.status_code == 202
    process(app)
    again = client.post("/api/inbound/partner", data=body, headers=headers)
    assert again.status_code == 200
    assert again.get_json() == {"status": "duplicate", "event_id": first.get_json()["event_id"]}
    # A retry signed afresh by the sender (new timestamp, same id) is the same event.
    body2, headers2 = standard_message(msg_id=headers["webhook-id"], data={"n": 2})
    assert client.post("/api/inbound/partner", data=body2, headers=headers2).get_json()["status"] == "duplicate"
    process(app)
    assert len(applications(db)) == 1
    assert one(db, "select count(*) as n from public.inbound_events")["n"] == 1


def test_the_previous_secret_still_verifies_during_a_rotation(client, org, handled):
    body, headers = standard_message(secret=STD_OLD_SECRET)
    assert client.post("/api/inbound/partner", data=body, headers=headers).status_code == 202


@pytest.mark.parametrize(
    ("alter", "reason"),
    [
        ("body", "no signature matches"),
        ("signature", "no signature matches"),
        ("id", "no signature matches"),
        ("missing_signature", "missing webhook-id, webhook-timestamp or webhook-signature header"),
        ("wrong_secret", "no signature matches"),
        ("stale", "webhook-timestamp is too old"),
        ("future", "webhook-timestamp is too far in the future"),
    ],
)
def test_an_altered_standard_webhooks_message_is_refused(client, app, db, org, handled, alter, reason):
    at = datetime.now(UTC)
    if alter == "stale":
        at = datetime.fromtimestamp(time.time() - 301, UTC)
    elif alter == "future":
        at = datetime.fromtimestamp(time.time() + 301, UTC)
    secret = "whsec_" + "c29tZW9uZSBlbHNlcyBzZWNyZXQ=" if alter == "wrong_secret" else STD_SECRET
    body, headers = standard_message(at=at, secret=secret)
    if alter == "body":
        body = body.replace(b'"n": 1', b'"n": 2')
    elif alter == "signature":
        headers["webhook-signature"] = "v1," + "A" * 43 + "="
    elif alter == "id":
        headers["webhook-id"] = "msg_other"
    elif alter == "missing_signature":
        del headers["webhook-signature"]
    problem = assert_problem(client.post("/api/inbound/partner", data=body, headers=headers), 401)
    assert reason in problem["detail"]
    assert one(db, "select count(*) as n from public.inbound_events")["n"] == 0
    failure = one(db, "select * from public.inbound_verification_failures")
    assert failure["source"] == "partner" and failure["reason"] == reason
    assert failure["organization_id"] == ORG_ID and failure["user_agent"] == "partner-sender/2"


def test_an_unknown_event_type_is_stored_as_ignored(client, app, db, org, handled, auth):
    body, headers = standard_message(event_type="member.deleted")
    response = client.post("/api/inbound/partner", data=body, headers=headers)
    assert response.status_code == 202
    assert response.get_json()["status"] == "ignored"
    event_id = response.get_json()["event_id"]
    assert process(app)["claimed"] == 0
    assert applications(db) == []
    shown = client.get(f"/api/inbound/events/{event_id}", headers=auth.headers(org["admin"])).get_json()
    assert shown["status"] == "ignored" and shown["outcome"] == NO_HANDLER


def test_handlers_are_per_source(client, app, db, org, handled):
    """invoice.paid has a handler for payments, not for partner: from partner it is ignored."""
    body, headers = standard_message(event_type="invoice.paid")
    assert client.post("/api/inbound/partner", data=body, headers=headers).get_json()["status"] == "ignored"


# -- Stripe-style -------------------------------------------------------------------------------


def stripe_payload(event_id=None, event_type="invoice.paid") -> bytes:
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "data": {"object": {"id": "in_123", "amount_paid": 2000}},
        }
    ).encode()


def stripe_header(payload: bytes, secrets=(STRIPE_SECRET,), timestamp=None) -> str:
    """As https://docs.stripe.com/webhooks#verify-manually describes: v1 is the hex HMAC-SHA256,
    keyed with the endpoint secret, of "<timestamp>.<raw body>"; one v1 per secret."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    signatures = [f"v1={hmac.new(s.encode(), signed, hashlib.sha256).hexdigest()}" for s in secrets]
    return ",".join([f"t={timestamp}", *signatures])


def test_a_stripe_signed_event_is_accepted(client, app, db, org, handled):
    payload = stripe_payload()
    header = stripe_header(payload)
    stripe.WebhookSignature.verify_header(payload, header, STRIPE_SECRET, tolerance=300)  # Stripe agrees
    response = client.post(
        "/api/inbound/payments", data=payload, headers={"Stripe-Signature": header, "Content-Type": "application/json"}
    )
    assert response.status_code == 202, response.get_json()
    stored = one(db, "select provider_event_id, type from public.inbound_events")
    assert stored == {"provider_event_id": json.loads(payload)["id"], "type": "invoice.paid"}
    assert process(app)["processed"] == 1
    assert applications(db)[0]["metadata"]["payload"] == {"object": {"id": "in_123", "amount_paid": 2000}}


def test_several_v1_signatures_any_of_which_matches(client, org, handled):
    payload = stripe_payload()
    timestamp = int(time.time())
    wrong = hmac.new(b"not-the-secret", f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    right = stripe_header(payload, timestamp=timestamp).split(",")[1]
    header = f"t={timestamp},v1={wrong},{right},v0=ignored"
    assert client.post("/api/inbound/payments", data=payload, headers={"Stripe-Signature": header}).status_code == 202
    rolled = stripe_payload()
    header = stripe_header(rolled, secrets=(STRIPE_OLD_SECRET,))
    assert client.post("/api/inbound/payments", data=rolled, headers={"Stripe-Signature": header}).status_code == 202


def test_a_duplicate_stripe_event_id_is_acknowledged(client, app, db, org, handled):
    payload = stripe_payload(event_id="evt_repeat")
    first = client.post("/api/inbound/payments", data=payload, headers={"Stripe-Signature": stripe_header(payload)})
    assert first.status_code == 202
    later = stripe_header(payload, timestamp=int(time.time()) + 5)  # Stripe retries with a new t
    again = client.post("/api/inbound/payments", data=payload, headers={"Stripe-Signature": later})
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    process(app)
    process(app)
    assert len(applications(db)) == 1


@pytest.mark.parametrize(
    ("alter", "reason"),
    [
        ("body", "no v1 signature matches"),
        ("secret", "no v1 signature matches"),
        ("timestamp", "no v1 signature matches"),
        ("missing", "the Stripe-Signature header is missing"),
        ("no_v1", "Stripe-Signature has no v1 signature"),
        ("no_t", "Stripe-Signature has no t=<unix seconds>"),
        ("stale", "more than 300 seconds old"),
        ("future", "more than 300 seconds in the future"),
    ],
)
def test_an_altered_stripe_event_is_refused(client, db, org, handled, alter, reason):
    payload = stripe_payload()
    now = int(time.time())
    header = {
        "body": stripe_header(payload),
        "secret": stripe_header(payload, secrets=("whsec_someone_else",)),
        "timestamp": stripe_header(payload, timestamp=now).replace(f"t={now}", f"t={now + 1}"),
        "missing": None,
        "no_v1": f"t={now},v0=abc",
        "no_t": stripe_header(payload).split(",", 1)[1],
        "stale": stripe_header(payload, timestamp=now - 301),
        "future": stripe_header(payload, timestamp=math.ceil(time.time()) + 301),  # 301 s ahead, not 300.x
    }[alter]
    if alter == "body":
        payload = payload.replace(b"2000", b"1")
    if alter == "stale":
        with pytest.raises(stripe.SignatureVerificationError):  # Stripe refuses it too
            stripe.WebhookSignature.verify_header(payload, header, STRIPE_SECRET, tolerance=300)
    headers = {} if header is None else {"Stripe-Signature": header}
    problem = assert_problem(client.post("/api/inbound/payments", data=payload, headers=headers), 401)
    assert reason in problem["detail"]
    assert one(db, "select reason from public.inbound_verification_failures")["reason"].endswith(reason)
    assert one(db, "select count(*) as n from public.inbound_events")["n"] == 0


# -- hmac-hex -----------------------------------------------------------------------------------


def ci_post(client, body: dict | bytes, secret=CI_SECRET, prefix="sha256="):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    signature = prefix + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return client.post("/api/inbound/ci", data=raw, headers={"X-Hub-Signature-256": signature})


def test_an_hmac_hex_event_is_accepted_with_or_without_the_prefix(client, app, db, handled):
    assert ci_post(client, {"id": "b-1", "type": "build.finished", "data": {"ok": True}}).status_code == 202
    assert ci_post(client, {"id": "b-2", "type": "build.finished", "data": {}}, prefix="").status_code == 202
    assert ci_post(client, {"id": "b-1", "type": "build.finished", "data": {}}).get_json()["status"] == "duplicate"
    assert process(app)["processed"] == 2
    # No organization configured for this source: the events belong to none.
    assert one(db, "select count(*) as n from public.inbound_events where organization_id is null")["n"] == 2


def test_an_hmac_hex_event_with_a_wrong_signature_is_refused(client, db, handled):
    assert_problem(ci_post(client, {"id": "b-1", "type": "build.finished"}, secret="wrong"), 401)
    assert_problem(client.post("/api/inbound/ci", data=b'{"id": "b", "type": "t"}'), 401)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "build.finished"}, "id"),
        ({"id": "", "type": "build.finished"}, "id"),
        ({"id": 7, "type": "build.finished"}, "id"),
        ({"id": "x" * 256, "type": "build.finished"}, "id"),
        ({"id": "b-1"}, "type"),
        ({"id": "b-1", "type": ["a"]}, "type"),
        ({"id": "b-1", "type": "nul\x00"}, "type"),
        ({"id": "b-1", "type": "\ud800"}, "type"),
        ({"id": "\udfff", "type": "build.finished"}, "id"),
        (b"[]", "body"),
        (b"not json", "body"),
    ],
)
def test_a_verified_body_without_an_id_or_type_is_a_400(client, db, handled, body, field):
    assert_problem(ci_post(client, body), 400, field)
    assert one(db, "select count(*) as n from public.inbound_events")["n"] == 0


# -- limits, unknown sources --------------------------------------------------------------------


def test_an_unknown_source_is_a_404(client):
    assert_problem(client.post("/api/inbound/nobody", data=b"{}"), 404)


def test_an_oversized_body_is_a_413(client, db):
    raw = json.dumps({"id": "big", "type": "build.finished", "data": "x" * (256 * 1024)}).encode()
    assert_problem(ci_post(client, raw), 413, "body")
    assert one(db, "select count(*) as n from public.inbound_verification_failures")["n"] == 0


def test_sources_are_rate_limited_per_client_ip(client, db, org, handled):
    start = int(time.time()) - int(time.time()) % 3600
    with db.transaction("service_role") as conn:
        conn.execute(
            "insert into public.rate_limit_counters (bucket, window_start, count)"
            " values ('inbound:ci:127.0.0.1', to_timestamp(%s), 1000)",
            (start,),
        )
    response = ci_post(client, {"id": "b-9", "type": "build.finished"})
    assert_problem(response, 429)
    assert int(response.headers["Retry-After"]) >= 1
    payload = stripe_payload()  # another source, another bucket
    other = client.post("/api/inbound/payments", data=payload, headers={"Stripe-Signature": stripe_header(payload)})
    assert other.status_code == 202


# -- who sees what ------------------------------------------------------------------------------


def test_the_configured_organizations_admins_see_its_events_and_failures(client, db, org, handled, auth, world):
    body, headers = standard_message()
    event_id = client.post("/api/inbound/partner", data=body, headers=headers).get_json()["event_id"]
    client.post("/api/inbound/partner", data=body, headers=headers | {"webhook-signature": "v1,AAAA"})
    ci_post(client, {"id": "b-1", "type": "build.finished"}, secret="wrong")

    admin = auth.headers(org["admin"])
    events = client.get("/api/inbound/events", headers=admin).get_json()["data"]
    assert [e["id"] for e in events] == [event_id]
    failures = client.get("/api/inbound/failures", headers=admin).get_json()["data"]
    assert [f["source"] for f in failures] == ["partner"]  # not ci's, which belongs to no organization

    stranger = auth.headers(world.organization("Elsewhere")["admin"])
    assert client.get("/api/inbound/failures", headers=stranger).get_json()["data"] == []
    assert_problem(client.get(f"/api/inbound/events/{event_id}", headers=stranger), 404)

    platform = world.user()
    with db.transaction("service_role") as conn:
        conn.execute("update public.profiles set platform_admin = true where id = %s", (platform["id"],))
    everything = client.get("/api/inbound/failures", headers=auth.headers(platform)).get_json()["data"]
    assert sorted(f["source"] for f in everything) == ["ci", "partner"]
    assert client.get(f"/api/inbound/events/{event_id}", headers=auth.headers(platform)).status_code == 200


def test_a_configured_organization_that_does_not_exist_is_a_503_so_the_sender_retries(client, db, handled):
    payload = stripe_payload()
    response = client.post("/api/inbound/payments", data=payload, headers={"Stripe-Signature": stripe_header(payload)})
    assert_problem(response, 503)
    assert "Retry-After" in response.headers
