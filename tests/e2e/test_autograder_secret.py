"""An organization's own autograder secret, made in the admin UI's Inbound page in Chromium: shown
once, it grades that organization's submissions and no other's, and a rotation from the page
replaces it."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from playwright.sync_api import expect

from tests.e2e.conftest import log_in
from tests.e2e.test_admin_ui import choose_organization, heading, main_nav, quest_with_tasks, submit
from tests.support import World


def post_signed(live, submission_id: str, secret: str, feedback: str):
    raw = json.dumps(
        {
            "submission_id": submission_id,
            "score": 7,
            "max_score": 10,
            "feedback": feedback,
            "timestamp": int(time.time()),
        }
    ).encode()
    signature = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return live.call(
        "POST",
        "/api/webhooks/autograder/",
        data=raw,
        headers={"Content-Type": "application/json", "X-Autograder-Signature": signature},
    )


def test_an_organizations_autograder_secret_grades_only_its_own_submissions(page, live, admin, shoot):
    world = World(live.app)
    student = world.add_member(admin["org"])
    [task] = quest_with_tasks(live, live.token(admin), admin["org"]["id"], 1)
    ours = submit(live, live.token(student), task)
    elsewhere = world.organization("Elsewhere School")
    their_student = world.add_member(elsewhere)
    [their_task] = quest_with_tasks(live, live.token(elsewhere["admin"]), elsewhere["id"], 1)
    theirs = submit(live, live.token(their_student), their_task)

    log_in(page, admin)
    choose_organization(page, "Riverside Academy")
    main_nav(page).get_by_role("link", name="Inbound events").click()
    expect(heading(page, "Inbound events")).to_be_visible()
    panel = page.get_by_test_id("autograder-secret")
    expect(panel).to_contain_text("no autograder secret of its own yet")
    panel.get_by_role("button", name="Create secret").click()
    revealed = panel.get_by_test_id("secret-value")
    expect(revealed).to_be_visible()
    first = revealed.input_value()
    assert first.startswith("agsec_")
    shoot(page, "inbound-autograder-secret-created")

    assert post_signed(live, ours, first, "ours").status_code == 202
    refused = post_signed(live, theirs, first, "theirs")
    assert refused.status_code == 401 and refused.json()["detail"].endswith("the signature does not match")

    panel.get_by_role("button", name="Done").click()
    expect(panel).to_contain_text("Last rotated")
    panel.get_by_role("button", name="Rotate secret…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("radio", name="Immediately (the old secret stops now)").check()
    dialog.get_by_role("button", name="Rotate").click()
    expect(panel.get_by_test_id("secret-value")).not_to_have_value(first)
    second = panel.get_by_test_id("secret-value").input_value()
    assert second.startswith("agsec_") and second != first
    shoot(page, "inbound-autograder-secret-rotated")

    assert post_signed(live, ours, first, "old secret").status_code == 401
    assert post_signed(live, ours, second, "new secret").status_code == 202
    assert live.engine_pass()["inbound"]["processed"] == 2

    main_nav(page).get_by_role("link", name="Audit log").click()
    table = page.get_by_test_id("audit-table")
    expect(table).to_contain_text("autograder_secret.created")
    expect(table).to_contain_text("autograder_secret.rotated")
