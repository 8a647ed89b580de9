"""The learner page /learn/quests/<id> in Chromium, where an LTI launch lands: a plain member signs
in there, hands in work through the learning routes, and sees the autograder's grade on reload."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.test_admin_ui import heading, post_grade, quest_with_tasks
from tests.support import World, rows


def test_a_member_hands_in_work_on_the_learner_page_and_sees_the_grade(page, live, admin, shoot):
    world = World(live.app)
    learner = world.add_member(admin["org"], world.user(email="learner@riverside.example"))
    first, _ = quest_with_tasks(live, live.token(admin), admin["org"]["id"], 2)
    quest = live.call("GET", "/api/quests", live.token(learner)).json()["data"][0]

    page.goto(f"/learn/quests/{quest['id']}")
    expect(page.get_by_role("heading", name="Questbridge", level=1)).to_be_visible()
    page.get_by_label("Email").fill(learner["email"])
    page.get_by_label("Password").fill(learner["password"])
    page.get_by_role("button", name="Sign in").click()

    expect(heading(page, "E2E quest")).to_be_visible()
    assert page.url.endswith(f"/learn/quests/{quest['id']}")
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
    task = page.get_by_role("region", name="Task 1")
    expect(task).to_contain_text("not started")
    task.get_by_label("Your work for Task 1").fill("My essay on loops")
    task.get_by_role("button", name="Submit work").click()
    expect(task.get_by_text("Your work was handed in.")).to_be_visible()
    submissions = task.get_by_test_id(f"submissions-{first}")
    expect(submissions).to_contain_text("My essay on loops")
    expect(submissions).to_contain_text("Not graded yet")
    expect(task.locator(".panel-header")).to_contain_text("submitted")
    shoot(page, "learner-quest-submitted")

    # The page's POST went through the learning route: task.submitted fired for this learner.
    [event] = rows(
        live.runtime.db,
        "select payload from public.webhook_events where type = 'task.submitted' and organization_id = %s",
        admin["org"]["id"],
    )
    submission_id = event["payload"]["data"]["submission_id"]
    assert event["payload"]["data"]["user_id"] == str(learner["id"])

    post_grade(live, submission_id, 8.5)
    assert live.engine_pass()["inbound"]["processed"] == 1
    page.reload()
    task = page.get_by_role("region", name="Task 1")
    expect(task.get_by_test_id(f"submissions-{first}")).to_contain_text("8.5 / 10")
    expect(task).to_contain_text("Clear argument; cite your sources.")
    expect(task.locator(".panel-header")).to_contain_text("graded")
    shoot(page, "learner-quest-graded")
