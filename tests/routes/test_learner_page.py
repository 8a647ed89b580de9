"""GET /api/quests/<id>/progress, what the learner page (/learn/quests/<id>) shows: the quest, its
tasks, and the caller's own submissions and grades, with grades as the autograder applies them."""

from __future__ import annotations

import time

import pytest

from backend.services import learning
from tests.routes.test_autograder import SECRET, grade, post, process
from tests.support import assert_problem, rows


@pytest.fixture
def app(make_app):
    return make_app(autograder_webhook_secrets=(SECRET,), inbound_backoff_seconds=(0,))


@pytest.fixture
def course(world):
    """Academy: one quest with the task the student already handed work in for, and a second task."""
    course = world.course("Academy")
    with world.as_user(course.org["admin"]) as conn:
        course.quest = learning.get_task(conn, course.task)["quest_id"]
        course.second = learning.create_task(conn, course.quest, "Functions", "code", 20, "def f(): ...")["id"]
    return course


def progress(client, headers, quest_id):
    return client.get(f"/api/quests/{quest_id}/progress", headers=headers)


def submit(client, headers, task_id, content):
    response = client.post(f"/api/tasks/{task_id}/submissions", json={"content": content}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_a_learner_sees_the_quest_its_tasks_and_their_own_submissions_newest_first(client, course, auth, world):
    student = auth.headers(course.student)
    later = submit(client, student, course.task, "for i in range(3): print(i)")
    classmate = world.add_member(course.org)
    submit(client, auth.headers(classmate), course.task, "someone else's work")

    response = progress(client, student, course.quest)
    assert response.status_code == 200
    page = response.get_json()
    assert (page["id"], page["title"]) == (str(course.quest), "Python")
    assert page["organization_id"] == str(course.org["id"])
    assert page["task_count"] == 2
    first, second = page["tasks"]
    assert (first["id"], first["title"], first["xp"], first["completed"]) == (str(course.task), "Loops", 10, False)
    assert (second["id"], second["title"], second["description"]) == (str(course.second), "Functions", "def f(): ...")
    assert [s["id"] for s in first["submissions"]] == [later, str(course.submission)]
    assert [s["content"] for s in first["submissions"]] == ["for i in range(3): print(i)", "print(1)"]
    assert {s["status"] for s in first["submissions"]} == {"submitted"}
    assert {(s["score"], s["max_score"], s["feedback"], s["graded_at"]) for s in first["submissions"]} == {
        (None, None, None, None)
    }
    assert all(s["created_at"].endswith("Z") for s in first["submissions"])
    assert second["submissions"] == []

    # The classmate sees their own work only; so does the org admin, who may read every submission.
    theirs = progress(client, auth.headers(classmate), course.quest).get_json()["tasks"][0]["submissions"]
    assert [s["content"] for s in theirs] == ["someone else's work"]
    admins = progress(client, auth.headers(course.org["admin"]), course.quest).get_json()["tasks"]
    assert [task["submissions"] for task in admins] == [[], []]


def test_a_completed_task_shows_as_completed(client, course, auth):
    student = auth.headers(course.student)
    assert client.post(f"/api/tasks/{course.second}/complete", headers=student).status_code == 200
    tasks = progress(client, student, course.quest).get_json()["tasks"]
    assert [task["completed"] for task in tasks] == [False, True]


def test_a_grade_appears_once_the_autograder_applies_it(client, app, course, auth):
    student = auth.headers(course.student)
    assert post(client, grade(course, score=7.5, feedback="Mind the edge cases.")).status_code == 202
    [waiting] = progress(client, student, course.quest).get_json()["tasks"][0]["submissions"]
    assert waiting["status"] == "submitted" and waiting["score"] is None

    assert process(app)["processed"] == 1
    [graded] = progress(client, student, course.quest).get_json()["tasks"][0]["submissions"]
    assert graded["status"] == "graded"
    assert (graded["score"], graded["max_score"], graded["feedback"]) == (7.5, 10, "Mind the edge cases.")
    assert graded["graded_at"].endswith("Z")

    # A regrade replaces what the page shows.
    assert post(client, grade(course, score=10, timestamp=int(time.time()) + 1)).status_code == 202
    assert process(app)["processed"] == 1
    [regraded] = progress(client, student, course.quest).get_json()["tasks"][0]["submissions"]
    assert (regraded["score"], regraded["feedback"]) == (10, "Good work; mind the edge cases.")


def test_a_submission_from_the_page_emits_task_submitted_as_before(client, db, course, auth):
    submission = submit(client, auth.headers(course.student), course.second, "def f(): return 1")
    events = rows(db, "select type, payload from public.webhook_events where organization_id = %s", course.org["id"])
    assert [e["type"] for e in events] == ["task.submitted"]
    assert events[0]["payload"]["data"]["submission_id"] == submission
    assert events[0]["payload"]["data"]["quest_id"] == str(course.quest)


def test_someone_outside_the_organization_gets_a_404(client, course, stranger_headers):
    assert_problem(progress(client, stranger_headers, course.quest), 404)


def test_an_unknown_quest_is_a_404(client, course, auth):
    assert_problem(progress(client, auth.headers(course.student), "00000000-0000-4000-8000-000000000000"), 404)


def test_the_page_needs_a_signed_in_caller(client, course):
    response = progress(client, {}, course.quest)
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
