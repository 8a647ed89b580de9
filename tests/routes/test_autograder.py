"""The autograder webhook end to end: receipt (signature, fields, freshness, replay, size, rate
limit), processing by the inbox (grade, notification, event, audit; all or nothing; retries and
dead events), regrades, concurrency, and the entry points that drain the inbox."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import math
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from werkzeug.serving import make_server

from backend.scheduler import add_jobs
from backend.services.inbound import processor
from tests.support import PROBLEM, assert_problem, one, rows

URL = "/api/webhooks/autograder/"
SECRET = "autograder-current-secret"
OLD_SECRET = "autograder-previous-secret"


@pytest.fixture
def app(make_app):
    return make_app(
        autograder_webhook_secrets=(SECRET, OLD_SECRET),
        inbound_backoff_seconds=(0,),
        cron_secret="cron-secret",
    )


@pytest.fixture
def course(world):
    return world.course("Academy")


def grade(course, **overrides) -> dict:
    body = {
        "submission_id": str(course.submission),
        "score": 8,
        "max_score": 10,
        "feedback": "Good work; mind the edge cases.",
        "timestamp": int(time.time()),
    }
    return body | overrides


def sign(raw: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def post(client, body, secret=SECRET, signature=None, headers=None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", "User-Agent": "grader/1.0"}
    if signature is not False:
        sent["X-Autograder-Signature"] = signature if signature is not None else sign(raw, secret)
    return client.post(URL, data=raw, headers=sent | (headers or {}))


def process(app) -> dict:
    runtime = app.extensions["questbridge"]
    return processor.run_pass(runtime.db, processor.InboxSettings.from_config(runtime.config), runtime.inbox_handlers)


# -- a valid grade, from receipt to everything it changes -------------------------------------


def test_a_valid_grade_is_accepted_then_applied_once(client, app, db, course, auth):
    body = grade(course, score=7.5, max_score=10, feedback="x" * 300, timestamp=time.time())  # to the microsecond
    raw = json.dumps(body).encode()
    response = post(client, raw)
    assert response.status_code == 202, response.get_json()
    answer = response.get_json()
    assert answer["status"] == "accepted"
    event_id = answer["event_id"]

    stored = one(db, "select *, host(client_ip) as ip from public.inbound_events where id = %s", event_id)
    assert stored["source"] == "autograder" and stored["type"] == "grade" and stored["status"] == "pending"
    assert stored["raw_body"] == raw.decode()
    assert bytes(stored["body_sha256"]) == hashlib.sha256(raw).digest()
    assert stored["idempotency_key"] == hashlib.sha256(raw).hexdigest()
    assert stored["ip"] == "127.0.0.1" and stored["user_agent"] == "grader/1.0"
    assert stored["organization_id"] == course.org["id"] and stored["subject_id"] == course.submission
    assert stored["attempts"] == 0 and stored["received_at"] is not None
    # Accepting is not applying: nothing has changed yet, and the audit entries of the receipt's
    # steps are written with the grade, in its transaction.
    assert one(db, "select status from public.submissions where id = %s", course.submission)["status"] == "submitted"
    assert rows(db, "select id from public.audit_log where target_id = %s", event_id) == []

    assert process(app) == {"claimed": 1, "processed": 1, "ignored": 0, "failed": 0, "dead": 0}

    submission = one(db, "select * from public.submissions where id = %s", course.submission)
    assert submission["status"] == "graded"
    assert float(submission["score"]) == 7.5 and float(submission["max_score"]) == 10
    assert submission["feedback"] == "x" * 300 and submission["graded_at"] is not None

    notes = rows(db, "select * from public.notifications where user_id = %s", course.student["id"])
    assert len(notes) == 1 and notes[0]["type"] == "assignment_graded"
    data = notes[0]["data"]
    assert data["score"] == 7.5 and data["max_score"] == 10 and data["percentage"] == 75
    assert data["feedback_excerpt"] == "x" * 199 + "…"
    assert data["submission_id"] == str(course.submission)

    events = rows(db, "select type, payload from public.webhook_events where organization_id = %s", course.org["id"])
    assert [e["type"] for e in events] == ["submission.graded"]
    assert events[0]["payload"]["data"]["score"] == 7.5
    assert events[0]["payload"]["data"]["submission_id"] == str(course.submission)

    actions = [
        r["action"] for r in rows(db, "select action from public.audit_log where target_id = %s order by id", event_id)
    ]
    assert actions == [
        "autograder.received",
        "autograder.signature_verified",
        "autograder.replay_checked",
        "autograder.submission_found",
        "autograder.grade_applied",
        "autograder.notification_sent",
    ]
    receipt = {
        r["action"]: r
        for r in rows(
            db,
            "select action, metadata, host(ip) as ip, user_agent, organization_id from public.audit_log"
            " where target_id = %s and target_type = 'inbound_event'",
            event_id,
        )
    }
    digest = hashlib.sha256(raw).hexdigest()
    assert receipt["autograder.received"]["metadata"] == {"bytes": len(raw), "body_sha256": digest}
    assert receipt["autograder.signature_verified"]["metadata"] == {
        "scheme": "hmac-sha256-hex",
        "header": "X-Autograder-Signature",
    }
    replay_checked = {"idempotency_key": digest, "timestamp": body["timestamp"]}
    assert receipt["autograder.replay_checked"]["metadata"] == replay_checked
    assert receipt["autograder.submission_found"]["metadata"] == {"submission_id": str(course.submission)}
    assert {(r["ip"], r["user_agent"], r["organization_id"]) for r in receipt.values()} == {
        ("127.0.0.1", "grader/1.0", course.org["id"])
    }

    done = one(db, "select * from public.inbound_events where id = %s", event_id)
    assert done["status"] == "processed" and done["attempts"] == 1 and done["outcome"] == "graded"
    assert done["processed_at"] is not None and done["processing_ms"] >= 0

    # Processing again changes nothing: the event is done.
    assert process(app)["claimed"] == 0
    assert len(rows(db, "select id from public.notifications where user_id = %s", course.student["id"])) == 1

    shown = client.get(f"/api/inbound/events/{event_id}", headers=auth.headers(course.org["admin"]))
    assert shown.status_code == 200
    shown = shown.get_json()
    assert {k: shown[k] for k in ("id", "source", "status", "attempts", "error")} == {
        "id": event_id,
        "source": "autograder",
        "status": "processed",
        "attempts": 1,
        "error": None,
    }
    assert shown["received_at"].endswith("Z") and shown["processed_at"].endswith("Z")
    assert shown["payload"]["submission_id"] == str(course.submission)


def test_a_sha256_prefixed_signature_is_accepted(client, course):
    raw = json.dumps(grade(course)).encode()
    assert post(client, raw, signature="sha256=" + sign(raw)).status_code == 202


# -- signatures ---------------------------------------------------------------------------------


def _tampered(raw: bytes) -> bytes:
    return raw.replace(b'"score": 8', b'"score": 9')


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("missing", "the signature header is missing"),
        ("empty", "the signature header is missing"),
        ("tampered", "the signature does not match"),
        ("wrong_secret", "the signature does not match"),
        ("garbage", "the signature does not match"),
        ("signature_of_another_body", "the signature does not match"),
    ],
)
def test_an_unauthentic_request_is_refused_and_logged(client, app, db, course, case, reason):
    raw = json.dumps(grade(course)).encode()
    signature = {
        "missing": False,
        "empty": "",
        "tampered": sign(raw),
        "wrong_secret": sign(raw, "not-our-secret"),
        "garbage": "sha256=zzzz",
        "signature_of_another_body": sign(json.dumps(grade(course, score=1)).encode()),
    }[case]
    body = _tampered(raw) if case == "tampered" else raw
    response = post(client, body, signature=signature)
    problem = assert_problem(response, 401)
    assert reason in problem["detail"]
    assert "WWW-Authenticate" not in response.headers
    assert one(db, "select count(*) as n from public.inbound_events")["n"] == 0
    failure = one(db, "select *, host(client_ip) as ip from public.inbound_verification_failures")
    assert failure["source"] == "autograder" and failure["reason"] == reason
    assert failure["ip"] == "127.0.0.1" and failure["user_agent"] == "grader/1.0"
    logged = json.dumps({k: str(v) for k, v in failure.items()})
    for secret in (SECRET, OLD_SECRET, sign(raw)):
        assert secret not in logged
    assert process(app)["claimed"] == 0


def test_every_configured_secret_verifies_during_a_rotation(client, make_app, course):
    assert post(client, grade(course, feedback="signed with the old secret"), secret=OLD_SECRET).status_code == 202
    rotated = make_app(autograder_webhook_secrets=(SECRET,)).test_client()
    problem = assert_problem(post(rotated, grade(course, feedback="old again"), secret=OLD_SECRET), 401)
    assert "does not match" in problem["detail"]
    assert post(rotated, grade(course, feedback="new"), secret=SECRET).status_code == 202


def test_no_configured_secret_means_503(make_app, course):
    client = make_app(autograder_webhook_secrets=()).test_client()
    problem = assert_problem(post(client, grade(course)), 503)
    assert "AUTOGRADER_WEBHOOK_SECRETS" in problem["detail"]


# -- freshness and replays ----------------------------------------------------------------------


def test_the_same_signed_payload_again_is_a_409_replay(client, app, db, course):
    body = grade(course)
    first = post(client, body)
    assert first.status_code == 202
    again = post(client, body)
    problem = assert_problem(again, 409)
    assert problem["event_id"] == first.get_json()["event_id"]
    assert one(db, "select count(*) as n from public.inbound_events")["n"] == 1
    assert [r["reason"] for r in rows(db, "select reason from public.inbound_verification_failures")] == [
        "replay: this signed payload was already received"
    ]
    # Also once the first one is processed: the key is durable, not a cache.
    process(app)
    assert_problem(post(client, body), 409)
    assert one(db, "select count(*) as n from public.notifications")["n"] == 1


@pytest.mark.parametrize(
    ("offset", "status", "reason"),
    [
        (-301, 409, "more than 300 seconds old"),
        (-3600, 409, "more than 300 seconds old"),
        (301, 409, "more than 300 seconds in the future"),
        (-290, 202, None),
        (290, 202, None),
    ],
)
def test_timestamps_more_than_five_minutes_off_are_refused(client, db, course, offset, status, reason):
    # Whole seconds rounded away from now, so the offset is at least |offset| when the server looks
    # (rounding a future time down made +301 arrive as 300.x, accepted, on a slow machine).
    now = math.ceil(time.time()) if offset > 0 else math.floor(time.time())
    response = post(client, grade(course, timestamp=now + offset))
    assert response.status_code == status, response.get_json()
    if reason:
        problem = assert_problem(response, 409, "timestamp")
        assert reason in problem["detail"]
        assert one(db, "select reason from public.inbound_verification_failures")["reason"].endswith(reason)
        assert one(db, "select count(*) as n from public.inbound_events")["n"] == 0


def test_an_iso_timestamp_is_accepted(client, course):
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    assert post(client, grade(course, timestamp=now)).status_code == 202
    stale = (datetime.now(UTC) - timedelta(minutes=6)).isoformat()
    assert_problem(post(client, grade(course, timestamp=stale)), 409, "timestamp")


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"score": 11}, "score"),
        ({"score": -1}, "score"),
        ({"max_score": 0}, "max_score"),
        ({"max_score": -5}, "max_score"),
        ({"max_score": 10001, "score": 1}, "max_score"),
        ({"score": "8"}, "score"),
        ({"score": True}, "score"),
        ({"max_score": None}, "max_score"),
        ({"submission_id": "not-a-uuid"}, "submission_id"),
        ({"submission_id": 5}, "submission_id"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": "2026-11-22T10:00:00"}, "timestamp"),
        ({"timestamp": True}, "timestamp"),
        ({"timestamp": 1e300}, "timestamp"),
        ({"feedback": 42}, "feedback"),
        ({"feedback": "nul \x00 inside"}, "feedback"),
        ({"feedback": "lone \ud800 surrogate"}, "feedback"),
        ({"score": 0, "max_score": 0.0000004}, "max_score"),  # kept to 6 places, it would be 0
        ({"score": 0.0000005, "max_score": 0.0000005}, "max_score"),
    ],
)
def test_bad_fields_are_a_400_naming_the_field(client, db, course, change, field):
    assert_problem(post(client, grade(course, **change)), 400, field)
    assert one(db, "select count(*) as n from public.inbound_events")["n"] == 0


@pytest.mark.parametrize("field", ["submission_id", "score", "max_score", "timestamp"])
def test_missing_fields_are_a_400(client, course, field):
    body = grade(course)
    del body[field]
    assert_problem(post(client, body), 400, field)


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[1, 2]",
        b'"a string"',
        b'{"score": NaN}',
        b"\xff\xfe{}",
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["broken", "array", "string", "nan", "not-utf8", "deeply-nested"],
)
def test_a_signed_body_that_is_not_a_json_object_is_a_400(client, raw):
    assert_problem(post(client, raw), 400, "body")


def test_an_unknown_submission_is_a_404(client, db, course):
    assert_problem(post(client, grade(course, submission_id=str(uuid.uuid4()))), 404, "submission_id")
    assert one(db, "select count(*) as n from public.inbound_events")["n"] == 0


def test_a_body_over_256_kib_is_refused_before_parsing(client, db, course):
    raw = json.dumps(grade(course, feedback="x" * (256 * 1024))).encode()
    problem = assert_problem(post(client, raw), 413, "body")
    assert "256 KiB" in problem["detail"]
    # Just under the limit passes the size check (and then fails on the feedback length, a 400).
    small = json.dumps(grade(course, feedback="y" * (100_001))).encode()
    assert len(small) < 256 * 1024
    assert_problem(post(client, small), 400, "feedback")
    assert one(db, "select count(*) as n from public.inbound_verification_failures")["n"] == 0


# -- the rate limit -----------------------------------------------------------------------------


def _fill_window(db, ip: str, count: int) -> None:
    start = int(time.time()) - int(time.time()) % 3600
    with db.transaction("service_role") as conn:
        conn.execute(
            "insert into public.rate_limit_counters (bucket, window_start, count) values (%s, to_timestamp(%s), %s)",
            (f"inbound:autograder:{ip}", start, count),
        )


def test_the_thousandth_request_in_an_hour_passes_and_the_next_is_a_429(client, db, course):
    _fill_window(db, "127.0.0.1", 999)
    assert post(client, grade(course)).status_code == 202
    refused = post(client, grade(course, feedback="one too many"))
    assert_problem(refused, 429)
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    # Forgeries are throttled as well, and a forged X-Forwarded-For from an untrusted peer is ignored.
    spoofed = post(client, grade(course, feedback="spoofed"), headers={"X-Forwarded-For": "203.0.113.9"})
    assert_problem(spoofed, 429)
    assert_problem(post(client, grade(course), signature="bad"), 429)


def test_behind_a_trusted_proxy_the_forwarded_client_is_limited(make_app, db, course):
    import ipaddress

    client = make_app(
        autograder_webhook_secrets=(SECRET,), trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),)
    ).test_client()
    _fill_window(db, "203.0.113.9", 1000)
    limited = post(client, grade(course), headers={"X-Forwarded-For": "203.0.113.9"})
    assert_problem(limited, 429)
    other = post(client, grade(course), headers={"X-Forwarded-For": "198.51.100.7"})
    assert other.status_code == 202
    stored = one(db, "select host(client_ip) as ip from public.inbound_events")
    assert stored["ip"] == "198.51.100.7"


# -- regrades -----------------------------------------------------------------------------------


def test_a_newer_grade_is_a_regrade_and_an_older_one_never_overwrites_it(client, app, db, course):
    now = int(time.time())
    assert post(client, grade(course, score=5, timestamp=now - 60, feedback="first")).status_code == 202
    process(app)
    assert post(client, grade(course, score=9, timestamp=now - 10, feedback="regraded")).status_code == 202
    process(app)
    submission = one(db, "select score, feedback from public.submissions where id = %s", course.submission)
    assert (float(submission["score"]), submission["feedback"]) == (9, "regraded")
    emitted = rows(db, "select payload from public.webhook_events where type = 'submission.graded' order by created_at")
    assert [e["payload"]["data"]["score"] for e in emitted] == [5, 9]
    assert [e["payload"]["data"]["regrade"] for e in emitted] == [False, True]

    # Signed before the regrade but arriving after it: stored, processed, and changes nothing.
    late = post(client, grade(course, score=1, timestamp=now - 30, feedback="late"))
    assert late.status_code == 202
    process(app)
    submission = one(db, "select score, feedback from public.submissions where id = %s", course.submission)
    assert (float(submission["score"]), submission["feedback"]) == (9, "regraded")
    assert len(rows(db, "select id from public.webhook_events where type = 'submission.graded'")) == 2
    assert len(rows(db, "select id from public.notifications where type = 'assignment_graded'")) == 2
    late_id = late.get_json()["event_id"]
    event = one(db, "select status, outcome from public.inbound_events where id = %s", late_id)
    assert event["status"] == "processed" and event["outcome"].startswith("superseded")
    audited = rows(db, "select action, metadata from public.audit_log where target_id = %s order by id", late_id)
    assert [a["action"] for a in audited] == [
        "autograder.received",
        "autograder.signature_verified",
        "autograder.replay_checked",
        "autograder.submission_found",
        "autograder.grade_superseded",
    ]
    assert audited[-1]["metadata"]["submission_id"] == str(course.submission)


def test_of_two_grades_signed_in_the_same_second_the_one_received_later_stands(client, app, db, course):
    now = int(time.time())
    first = post(client, grade(course, score=3, timestamp=now, feedback="received first"))
    second = post(client, grade(course, score=7, timestamp=now, feedback="received second"))
    assert (first.status_code, second.status_code) == (202, 202)
    # The second is applied before the first is: the first must then change nothing.
    with db.transaction("service_role") as conn:
        conn.execute(
            "update public.inbound_events set next_attempt_at = now() + interval '1 hour' where id = %s",
            (first.get_json()["event_id"],),
        )
    process(app)
    with db.transaction("service_role") as conn:
        conn.execute(
            "update public.inbound_events set next_attempt_at = now() where id = %s", (first.get_json()["event_id"],)
        )
    process(app)
    submission = one(db, "select score, feedback from public.submissions where id = %s", course.submission)
    assert (float(submission["score"]), submission["feedback"]) == (7, "received second")
    event = one(db, "select outcome from public.inbound_events where id = %s", first.get_json()["event_id"])
    assert event["outcome"].startswith("superseded")
    assert len(rows(db, "select id from public.webhook_events where type = 'submission.graded'")) == 1


# -- failures: all or nothing, retries, dead events --------------------------------------------


@pytest.fixture
def notifications_refuse_grades(db):
    """A real constraint that the last writes of processing violate, until the test lifts it."""
    with db.transaction("service_role") as conn:
        conn.execute("set local role postgres")
        conn.execute(
            "alter table public.notifications add constraint test_refuse_grades"
            " check (type <> 'assignment_graded') not valid"
        )

    def lift():
        with db.transaction("service_role") as conn:
            conn.execute("set local role postgres")
            conn.execute("alter table public.notifications drop constraint if exists test_refuse_grades")

    yield lift
    lift()


def test_a_failure_mid_processing_rolls_everything_back_and_retries(
    client, app, db, course, notifications_refuse_grades
):
    event_id = post(client, grade(course)).get_json()["event_id"]
    assert process(app) == {"claimed": 1, "processed": 0, "ignored": 0, "failed": 1, "dead": 0}

    event = one(db, "select * from public.inbound_events where id = %s", event_id)
    assert event["status"] == "failed" and event["attempts"] == 1
    assert "test_refuse_grades" in event["error"]
    # The grade was written before the notification failed; none of it survived.
    submission = one(db, "select * from public.submissions where id = %s", course.submission)
    assert submission["status"] == "submitted" and submission["score"] is None
    assert one(db, "select count(*) as n from public.webhook_events")["n"] == 0
    assert one(db, "select count(*) as n from public.notifications")["n"] == 0
    assert rows(db, "select action from public.audit_log where target_id = %s", str(event_id)) == []

    notifications_refuse_grades()
    assert process(app)["processed"] == 1
    event = one(db, "select * from public.inbound_events where id = %s", event_id)
    assert event["status"] == "processed" and event["attempts"] == 2 and event["error"] is None
    assert one(db, "select status from public.submissions where id = %s", course.submission)["status"] == "graded"


def test_three_failed_attempts_make_an_event_dead_and_an_admin_retries_it(
    client, app, db, course, auth, world, notifications_refuse_grades
):
    event_id = post(client, grade(course)).get_json()["event_id"]
    outcomes = [process(app) for _ in range(4)]
    assert [o["failed"] for o in outcomes] == [1, 1, 0, 0]
    assert [o["dead"] for o in outcomes] == [0, 0, 1, 0]
    event = one(db, "select status, attempts from public.inbound_events where id = %s", event_id)
    assert (event["status"], event["attempts"]) == ("dead", 3)

    admin = auth.headers(course.org["admin"])
    assert_problem(client.post(f"/api/inbound/events/{event_id}/retry", headers=auth.headers(course.student)), 403)
    stranger = auth.headers(world.organization("Elsewhere")["admin"])
    assert_problem(client.post(f"/api/inbound/events/{event_id}/retry", headers=stranger), 404)
    assert_problem(client.post(f"/api/inbound/events/{uuid.uuid4()}/retry", headers=admin), 404)

    notifications_refuse_grades()
    retried = client.post(f"/api/inbound/events/{event_id}/retry", headers=admin)
    assert retried.status_code == 202, retried.get_json()
    assert retried.get_json()["status"] == "pending" and retried.get_json()["attempts"] == 0
    audit = one(db, "select actor_id from public.audit_log where action = 'inbound_event.retried'")
    assert audit["actor_id"] == course.org["admin"]["id"]

    assert process(app)["processed"] == 1
    assert one(db, "select status from public.submissions where id = %s", course.submission)["status"] == "graded"
    problem = assert_problem(client.post(f"/api/inbound/events/{event_id}/retry", headers=admin), 409, "status")
    assert "processed" in problem["detail"]


def test_a_submission_deleted_after_acceptance_fails_until_dead(client, app, db, course):
    event_id = post(client, grade(course)).get_json()["event_id"]
    with db.transaction("service_role") as conn:
        conn.execute("delete from public.submissions where id = %s", (course.submission,))
    for _ in range(3):
        process(app)
    event = one(db, "select status, attempts, error from public.inbound_events where id = %s", event_id)
    assert event["status"] == "dead" and event["attempts"] == 3
    assert "no longer exists" in event["error"]


def test_backoff_delays_the_next_attempt(make_app, db, course, notifications_refuse_grades):
    app = make_app(autograder_webhook_secrets=(SECRET,), inbound_backoff_seconds=(30, 120))
    client = app.test_client()
    event_id = post(client, grade(course)).get_json()["event_id"]
    process(app)
    event = one(db, "select next_attempt_at - now() as wait from public.inbound_events where id = %s", event_id)
    assert timedelta(seconds=25) < event["wait"] <= timedelta(seconds=30)
    assert process(app)["claimed"] == 0  # not due yet


# -- reading events and failures ---------------------------------------------------------------


def test_reading_an_event_is_for_admins_of_its_organization(client, db, course, auth, world):
    event_id = post(client, grade(course)).get_json()["event_id"]
    assert client.get(f"/api/inbound/events/{event_id}", headers=auth.headers(course.org["admin"])).status_code == 200
    assert_problem(client.get(f"/api/inbound/events/{event_id}", headers=auth.headers(course.student)), 403)
    stranger = auth.headers(world.organization("Elsewhere")["admin"])
    assert_problem(client.get(f"/api/inbound/events/{event_id}", headers=stranger), 404)
    assert_problem(client.get(f"/api/inbound/events/{event_id}"), 401)
    listed = client.get("/api/inbound/events", headers=stranger).get_json()
    assert listed == {"data": [], "next_cursor": None}
    mine = client.get("/api/inbound/events?status=pending", headers=auth.headers(course.org["admin"])).get_json()
    assert [e["id"] for e in mine["data"]] == [event_id]
    assert_problem(client.get("/api/inbound/events?status=nope", headers=stranger), 422, "status")


def test_platform_admins_list_the_verification_failures(client, db, course, auth, world):
    post(client, grade(course), signature="deadbeef")
    platform = world.user()
    with db.transaction("service_role") as conn:
        conn.execute("update public.profiles set platform_admin = true where id = %s", (platform["id"],))
    listed = client.get("/api/inbound/failures?source=autograder", headers=auth.headers(platform))
    assert listed.status_code == 200
    [failure] = listed.get_json()["data"]
    assert failure["reason"] == "the signature does not match"
    assert failure["client_ip"] == "127.0.0.1" and failure["user_agent"] == "grader/1.0"
    assert failure["created_at"].endswith("Z")
    # An org admin cannot tell which organization a forged request was aimed at, so sees none.
    org_admin = client.get("/api/inbound/failures", headers=auth.headers(course.org["admin"]))
    assert org_admin.get_json()["data"] == []


# -- concurrency and a real HTTP server ---------------------------------------------------------


@pytest.fixture
def served(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()


def _http_post(port: int, raw: bytes, headers: dict) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", URL, body=raw, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_a_hundred_concurrent_identical_posts_make_one_event_and_one_grade(app, db, course, served):
    raw = json.dumps(grade(course)).encode()
    headers = {"Content-Type": "application/json", "X-Autograder-Signature": sign(raw)}
    start = threading.Barrier(100)

    def send(_):
        start.wait()
        return _http_post(served, raw, headers)

    with ThreadPoolExecutor(max_workers=100) as pool:
        statuses = list(pool.map(send, range(100)))
    assert sorted(set(statuses)) == [202, 409]
    assert statuses.count(202) == 1 and statuses.count(409) == 99
    assert one(db, "select count(*) as n from public.inbound_events")["n"] == 1

    # Several processors at once still apply it once.
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: process(app), range(4)))
    assert sum(r["processed"] for r in results) == 1
    assert one(db, "select count(*) as n from public.notifications")["n"] == 1
    assert one(db, "select count(*) as n from public.webhook_events where type = 'submission.graded'")["n"] == 1
    assert one(db, "select count(*) as n from public.audit_log where action = 'autograder.grade_applied'")["n"] == 1


def test_a_chunked_body_is_cut_off_at_the_limit(db, course, served):
    conn = http.client.HTTPConnection("127.0.0.1", served, timeout=30)
    chunk = b"x" * 65536

    def body():
        for _ in range(6):  # 384 KiB, no Content-Length
            yield chunk

    conn.request("POST", URL, body=body(), headers={"Content-Type": "application/json"}, encode_chunked=True)
    response = conn.getresponse()
    assert response.status == 413
    assert response.getheader("Content-Type") == PROBLEM
    conn.close()


# -- entry points that drain the inbox ----------------------------------------------------------


def test_the_cron_endpoint_drains_the_inbox_too(client, db, course):
    post(client, grade(course))
    response = client.post("/api/webhooks/retry", headers={"Authorization": "Bearer cron-secret"})
    assert response.status_code == 200
    body = response.get_json()
    assert {"claimed", "delivered", "retrying", "dead"} <= set(body)
    assert body["inbound"] == {"claimed": 1, "processed": 1, "ignored": 0, "failed": 0, "dead": 0}
    assert one(db, "select status from public.submissions where id = %s", course.submission)["status"] == "graded"


def test_the_scheduler_runs_the_inbox_in_the_web_process_and_the_worker(app):
    from apscheduler.schedulers.background import BackgroundScheduler

    runtime = app.extensions["questbridge"]
    for delivery_sweep in (True, False):  # the standalone worker passes delivery_sweep=False
        scheduler = add_jobs(BackgroundScheduler(timezone="UTC"), runtime, delivery_sweep=delivery_sweep)
        job = scheduler.get_job("inbound_inbox")
        assert job is not None and job.func.__self__.__class__ is processor.InboxWorker
        assert job.trigger.interval == timedelta(seconds=1)


def test_the_inbox_job_is_woken_by_notify(client, app, db, course):
    runtime = app.extensions["questbridge"]
    worker = processor.InboxWorker(
        runtime.db, processor.InboxSettings.from_config(runtime.config), runtime.inbox_handlers
    )
    result = {}
    runner = threading.Thread(target=lambda: result.update(worker.run(listen_seconds=4.0)))
    runner.start()
    try:
        deadline = time.monotonic() + 5
        while worker._listener is None and time.monotonic() < deadline:
            time.sleep(0.01)
        # Posted after the run's first drain: only NOTIFY can make this run apply it.
        assert post(client, grade(course)).status_code == 202
        runner.join(10)
    finally:
        worker.close()
    assert result.get("processed") == 1
    assert one(db, "select status from public.submissions where id = %s", course.submission)["status"] == "graded"


def test_org_admins_see_the_replays_and_stale_grades_of_their_submissions(client, course, auth, world):
    body = grade(course)
    assert post(client, body).status_code == 202
    assert_problem(post(client, body), 409)
    assert_problem(post(client, grade(course, timestamp=int(time.time()) - 3600)), 409, "timestamp")
    post(client, grade(course), signature="deadbeef")  # forged: nobody can tell whose it was

    admin = client.get("/api/inbound/failures?source=autograder", headers=auth.headers(course.org["admin"]))
    reasons = sorted(f["reason"] for f in admin.get_json()["data"])
    assert reasons == ["replay: this signed payload was already received", "the timestamp is more than 300 seconds old"]
    stranger = world.organization("Elsewhere")["admin"]
    assert client.get("/api/inbound/failures", headers=auth.headers(stranger)).get_json()["data"] == []


def test_the_path_without_its_trailing_slash_is_the_same_endpoint(client, course):
    raw = json.dumps(grade(course)).encode()
    response = client.post(
        URL.rstrip("/"),
        data=raw,
        headers={"Content-Type": "application/json", "X-Autograder-Signature": sign(raw, SECRET)},
    )
    assert response.status_code == 202, response.get_data(as_text=True)
