"""Organizations' own autograder secrets: created and rotated by their admins (shown once, stored
encrypted, audited), grading only their own organization's submissions, beside the platform-wide
secrets that keep grading every organization's. Two real organizations, over HTTP."""

from __future__ import annotations

import json
import threading
import uuid

import psycopg
import pytest

from backend.services.inbound import autograder_secrets
from tests.routes.test_autograder import assert_problem, grade, one, post, process, rows

PLATFORM_SECRET = "platform-wide-autograder-secret"
PATH = "/api/inbound/autograder-secrets"


@pytest.fixture
def app(make_app):
    return make_app(autograder_webhook_secrets=(PLATFORM_SECRET,), inbound_backoff_seconds=(0,))


@pytest.fixture
def academy(world):
    return world.course("Academy")


@pytest.fixture
def rival(world):
    return world.course("Rival School")


def rotate(client, headers, org, **body):
    return client.post(f"{PATH}/rotate", json={"organization_id": str(org["id"])} | body, headers=headers)


def create_secret(client, auth, course) -> str:
    response = rotate(client, auth.headers(course.org["admin"]), course.org)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["secret"]


def status_of(db, submission_id) -> str:
    return one(db, "select status from public.submissions where id = %s", submission_id)["status"]


# -- grading with an organization's own secret ------------------------------------------------------


def test_an_organizations_secret_grades_its_own_submissions(client, app, db, auth, academy):
    secret = create_secret(client, auth, academy)
    response = post(client, grade(academy), secret=secret)
    assert response.status_code == 202, response.get_json()
    process(app)
    graded = one(db, "select status, score from public.submissions where id = %s", academy.submission)
    assert graded["status"] == "graded" and graded["score"] == 8
    event = one(db, "select organization_id from public.inbound_events where id = %s", response.get_json()["event_id"])
    assert event["organization_id"] == academy.org["id"]


def test_a_secret_of_one_organization_never_grades_anothers_submission(client, app, db, auth, academy, rival):
    """Academy's autograder (or whoever holds its secret) tries to grade Rival School's student: refused
    in the same words as a forged signature and as a submission that does not exist."""
    academy_secret = create_secret(client, auth, academy)
    create_secret(client, auth, rival)  # Rival has a secret of its own too: still not Academy's

    foreign = assert_problem(post(client, grade(rival), secret=academy_secret), 401)
    forged = assert_problem(post(client, grade(rival), secret="guessed-" + "x" * 40), 401)
    nowhere = assert_problem(post(client, grade(rival, submission_id=str(uuid.uuid4())), secret=academy_secret), 401)
    assert foreign == forged == nowhere
    assert foreign["detail"] == "X-Autograder-Signature: the signature does not match"

    process(app)
    assert status_of(db, rival.submission) == "submitted"
    assert rows(db, "select id from public.inbound_events") == []
    failures = rows(db, "select organization_id, reason from public.inbound_verification_failures")
    assert failures == [{"organization_id": None, "reason": "the signature does not match"}] * 3


def test_platform_secrets_keep_grading_every_organization(client, app, db, auth, academy, rival):
    create_secret(client, auth, academy)
    for course in (academy, rival):
        assert post(client, grade(course), secret=PLATFORM_SECRET).status_code == 202
    process(app)
    assert status_of(db, academy.submission) == status_of(db, rival.submission) == "graded"
    # The platform path also still tells a platform autograder about an unknown submission.
    assert_problem(post(client, grade(academy, submission_id=str(uuid.uuid4())), secret=PLATFORM_SECRET), 404)


def test_the_platform_path_never_reads_organization_secrets(client, app, auth, academy, database_url):
    """No extra query when a platform secret matches: while another session holds the table locked,
    a grade signed by a platform secret is accepted at once; one signed by the organization's own
    secret waits for the lock (so the lock does stand in the way of anything that reads it)."""
    secret = create_secret(client, auth, academy)
    answers: dict[str, int] = {}

    def send(name: str, signed_with: str) -> threading.Thread:
        def run():
            answers[name] = post(client, grade(academy, feedback=name), secret=signed_with).status_code

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    with psycopg.connect(database_url) as locker, locker.transaction():
        locker.execute("lock table public.autograder_secrets in access exclusive mode")
        platform = send("platform", PLATFORM_SECRET)
        platform.join(20)
        assert not platform.is_alive() and answers["platform"] == 202
        organization = send("organization", secret)
        organization.join(1)
        assert organization.is_alive()  # blocked on the lock
    organization.join(20)
    assert answers["organization"] == 202


def test_without_platform_secrets_organization_secrets_still_grade(make_app, db, auth, academy, rival, world):
    app = make_app(autograder_webhook_secrets=())
    client = app.test_client()
    assert_problem(post(client, grade(academy), secret="anything"), 503)  # nothing could verify a grade yet
    secret = rotate(client, auth.headers(academy.org["admin"]), academy.org).get_json()["secret"]
    assert post(client, grade(academy), secret=secret).status_code == 202
    assert_problem(post(client, grade(rival), secret=secret), 401)
    assert_problem(post(client, grade(academy), signature=False), 401)


# -- creating and rotating --------------------------------------------------------------------------


def test_the_secret_is_shown_once_stored_encrypted_and_audited(client, app, db, auth, academy):
    headers = auth.headers(academy.org["admin"])
    before = client.get(f"{PATH}?organization_id={academy.org['id']}", headers=headers)
    assert before.status_code == 200 and before.get_json()["configured"] is False

    created = rotate(client, headers, academy.org)
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    body = created.get_json()
    secret = body["secret"]
    assert secret.startswith("agsec_") and len(secret) >= 40
    assert body["configured"] is True and body["organization_id"] == str(academy.org["id"])
    assert body["created_by"] == str(academy.org["admin"]["id"]) and body["previous_secret_expires_at"] is None

    described = client.get(f"{PATH}?organization_id={academy.org['id']}", headers=headers)
    assert described.status_code == 200
    assert secret not in described.get_data(as_text=True) and "secret" not in described.get_json()
    assert described.get_json() | {"secret": secret} == body

    stored = one(db, "select secret_encrypted from public.autograder_secrets")
    assert secret.encode() not in bytes(stored["secret_encrypted"])
    box = app.extensions["questbridge"].secretbox
    assert box.decrypt(stored["secret_encrypted"], autograder_secrets.SECRET_PURPOSE) == secret

    rotate(client, headers, academy.org, grace_seconds=60)
    entries = rows(
        db,
        "select actor_id, action, target_type, target_id, metadata from public.audit_log"
        " where action like 'autograder_secret.%%' order by id",
    )
    assert entries == [
        {
            "actor_id": academy.org["admin"]["id"],
            "action": "autograder_secret.created",
            "target_type": "autograder_secret",
            "target_id": str(academy.org["id"]),
            "metadata": {},
        },
        {
            "actor_id": academy.org["admin"]["id"],
            "action": "autograder_secret.rotated",
            "target_type": "autograder_secret",
            "target_id": str(academy.org["id"]),
            "metadata": {"grace_seconds": 60},
        },
    ]
    assert all(secret not in json.dumps(entry, default=str) for entry in entries)


def test_rotation_keeps_the_previous_secret_for_its_grace_period_only(client, app, db, auth, academy):
    headers = auth.headers(academy.org["admin"])
    first = create_secret(client, auth, academy)
    rotated = rotate(client, headers, academy.org, grace_seconds=3600)
    assert rotated.status_code == 200
    second = rotated.get_json()["secret"]
    assert second != first and rotated.get_json()["previous_secret_expires_at"] is not None
    assert post(client, grade(academy, feedback="old secret, in its grace period"), secret=first).status_code == 202
    assert post(client, grade(academy, feedback="new secret"), secret=second).status_code == 202

    with db.transaction("service_role") as conn:
        conn.execute("update public.autograder_secrets set previous_secret_expires_at = now() - interval '1 second'")
    assert_problem(post(client, grade(academy, feedback="old secret, grace over"), secret=first), 401)
    assert post(client, grade(academy, feedback="new secret still"), secret=second).status_code == 202

    third = rotate(client, headers, academy.org, grace_seconds=0).get_json()
    assert third["previous_secret_expires_at"] is None
    assert_problem(post(client, grade(academy, feedback="second secret, no grace"), secret=second), 401)
    assert post(client, grade(academy, feedback="third"), secret=third["secret"]).status_code == 202


def test_only_the_organizations_admins_see_or_rotate_its_secret(client, auth, world, academy, rival):
    create_secret(client, auth, academy)
    described = f"{PATH}?organization_id={academy.org['id']}"
    member = auth.headers(academy.student)
    assert_problem(client.get(described, headers=member), 403)
    assert_problem(rotate(client, member, academy.org), 403)
    for stranger in (rival.org["admin"], world.user()):
        headers = auth.headers(stranger)
        assert_problem(client.get(described, headers=headers), 404)
        assert_problem(rotate(client, headers, academy.org), 404)
    assert_problem(client.get(described), 401)
    assert_problem(client.post(f"{PATH}/rotate", json={"organization_id": str(academy.org["id"])}), 401)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "organization_id"),
        ({"organization_id": "not-a-uuid"}, "organization_id"),
        ({"grace_seconds": -1}, "grace_seconds"),
        ({"grace_seconds": 7 * 86400 + 1}, "grace_seconds"),
        ({"grace_seconds": "60"}, "grace_seconds"),
        ({"secret": "agsec_choose-my-own"}, "secret"),
    ],
)
def test_bad_rotation_bodies_are_422_naming_the_field(client, auth, academy, body, field):
    payload = ({"organization_id": str(academy.org["id"])} | body) if field != "organization_id" else body
    response = client.post(f"{PATH}/rotate", json=payload, headers=auth.headers(academy.org["admin"]))
    assert field in assert_problem(response, 422)["errors"]


def test_a_missing_organization_id_in_the_query_is_422(client, auth, academy):
    problem = assert_problem(client.get(PATH, headers=auth.headers(academy.org["admin"])), 422)
    assert "organization_id" in problem["errors"]
