"""kill -9 gunicorn workers during a burst of autograder grades: every grade that got a 202 is
applied exactly once.

Eight clients post one signed grade per submission to gunicorn (two workers); a standalone worker
drains the inbox. Mid-burst a gunicorn worker is killed, twice. A client whose connection died
sends the same signed bytes again, as an autograder would: it gets 202 (the first try was never
stored) or 409 with the stored event's id (it was). In the end every submission has one inbound
event, processed once: one grade, one notification, one `submission.graded` event.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import queue
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest

from tests.reliability.conftest import NO_ANSWER, child_env, http_json, query, seed_submissions, seed_tasks, wait_until
from tests.support import World

SECRET = "reliability-autograder-secret"
GRADES = 300
CLIENTS = 8
KILL_AT = (GRADES // 3, 2 * GRADES // 3)  # answered posts before each kill
RESENDS = 20


@dataclass
class Grade:
    submission_id: str
    score: int
    raw: bytes = b""
    answers: list = field(default_factory=list)  # (status or None, event id or None) per try


def _post_until_answered(url: str, grade: Grade) -> None:
    headers = {
        "X-Autograder-Signature": hmac.new(SECRET.encode(), grade.raw, hashlib.sha256).hexdigest(),
        "User-Agent": "reliability-autograder/1.0",
    }
    for _ in range(RESENDS):
        try:
            status, body = http_json("POST", url + "/api/webhooks/autograder/", grade.raw, headers, timeout=20)
        except NO_ANSWER:
            grade.answers.append((None, None))
            time.sleep(0.05)
            continue
        grade.answers.append((status, (body or {}).get("event_id")))
        if status in (202, 409):
            return
        time.sleep(0.2)  # a 503 while gunicorn replaces the worker: try again


@pytest.mark.timeout(180)
def test_kill_9_of_gunicorn_workers_mid_burst_applies_each_accepted_grade_once(
    make_app, database_url, children, tmp_path
):
    app = make_app()
    runtime = app.extensions["questbridge"]
    world = World(app)
    org = world.organization("Grading Org")
    student = world.add_member(org)
    (task,) = seed_tasks(runtime.db, org["id"], ("T",))
    submissions = seed_submissions(runtime.db, org["id"], task, student["id"], GRADES)
    grades = [Grade(submission, n % 11) for n, submission in enumerate(submissions)]

    env = child_env(
        database_url,
        runtime.config.secret_key,
        tmp_path / "data",
        AUTOGRADER_WEBHOOK_SECRETS=SECRET,
        INBOUND_RATE_LIMIT_PER_HOUR=100_000,
    )
    web = children.gunicorn(env, workers=2)
    inbox_worker = children.worker(env)

    todo: queue.Queue = queue.Queue()
    for grade in grades:
        todo.put(grade)
    answered = itertools.count(1)
    answered_so_far = 0

    def client():
        nonlocal answered_so_far
        while True:
            try:
                grade = todo.get_nowait()
            except queue.Empty:
                return
            body = {
                "submission_id": grade.submission_id,
                "score": grade.score,
                "max_score": 10,
                "feedback": f"score {grade.score}",
                "timestamp": int(time.time()),
            }
            grade.raw = json.dumps(body).encode()
            _post_until_answered(web.url, grade)
            answered_so_far = next(answered)  # itertools.count is atomic under the GIL

    clients = [threading.Thread(target=client, daemon=True) for _ in range(CLIENTS)]
    for thread in clients:
        thread.start()
    killed = []
    for threshold in KILL_AT:
        wait_until(lambda t=threshold: answered_so_far >= t, 60, interval=0.005, what=f"{threshold} answers")
        victim = web.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)
    for thread in clients:
        thread.join(90)
    assert not any(thread.is_alive() for thread in clients)
    assert web.alive() and inbox_worker.alive()
    assert len(web.worker_pids()) == 2 and not set(killed) & set(web.worker_pids())  # gunicorn replaced them

    # Every grade was finally answered 202 or 409 (its first try was stored before the kill).
    finals = [grade.answers[-1] for grade in grades]
    assert {status for status, _ in finals} <= {202, 409}, Counter(status for status, _ in finals)
    broken = sum(1 for grade in grades for status, _ in grade.answers if status is None)

    def processed() -> int:
        return query(database_url, "select count(*) as n from public.inbound_events where status = 'processed'")[0]["n"]

    wait_until(lambda: processed() >= GRADES, 60, interval=0.2, what="every grade to be processed")
    inbound = query(
        database_url,
        "select id, subject_id, status, attempts from public.inbound_events where source = 'autograder'",
    )
    by_submission = {str(row["subject_id"]): row for row in inbound}
    assert len(inbound) == GRADES and set(by_submission) == {g.submission_id for g in grades}
    assert {(row["status"], row["attempts"]) for row in inbound} == {("processed", 1)}
    for grade in grades:
        stored = str(by_submission[grade.submission_id]["id"])
        # Every answer that named an event named this one: a 202 and a later 409 agree.
        assert {event_id for status, event_id in grade.answers if status in (202, 409)} == {stored}

    graded = query(database_url, "select id, status, score from public.submissions where task_id = %s", (task,))
    assert {(str(r["id"]), r["status"], int(r["score"])) for r in graded} == {
        (g.submission_id, "graded", g.score) for g in grades
    }
    notified = Counter(
        r["submission_id"]
        for r in query(
            database_url,
            "select data ->> 'submission_id' as submission_id from public.notifications"
            " where type = 'assignment_graded' and user_id = %s",
            (student["id"],),
        )
    )
    assert notified == Counter({g.submission_id: 1 for g in grades})
    emitted = Counter(
        r["submission_id"]
        for r in query(
            database_url,
            "select payload -> 'data' ->> 'submission_id' as submission_id from public.webhook_events"
            " where type = 'submission.graded' and organization_id = %s",
            (org["id"],),
        )
    )
    assert emitted == Counter({g.submission_id: 1 for g in grades})
    print(
        f"\n{GRADES} grades from {CLIENTS} clients, gunicorn workers {killed} killed: "
        f"{broken} posts lost their connection and were sent again; final answers "
        f"{dict(Counter(status for status, _ in finals))}"
    )
