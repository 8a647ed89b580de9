"""The admin UI in headless Chromium against the real server, database, delivery engine and a local
webhook receiver: what an org admin does, checked on the page and at the receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from contextlib import contextmanager

import pytest
from playwright.sync_api import expect
from standardwebhooks import Webhook, WebhookVerificationError

from tests.e2e.conftest import AUTOGRADER_SECRET, log_in
from tests.receiver import Answer
from tests.support import World, running_engine

REFRESHED = 12_000  # the pages refresh every 5 s: two refreshes and some slack


def main_nav(page):
    return page.get_by_role("navigation", name="Main")


def heading(page, name: str):
    return page.get_by_role("heading", name=name, level=1, exact=True)


def choose_organization(page, name: str) -> None:
    page.get_by_label("Organization").select_option(label=name)


def quest_with_tasks(live, token: str, org_id, count: int) -> list[str]:
    quest = live.call("POST", "/api/quests", token, json={"organization_id": str(org_id), "title": "E2E quest"})
    assert quest.status_code == 201, quest.text
    task_ids = []
    for number in range(count):
        task = live.call(
            "POST",
            f"/api/quests/{quest.json()['id']}/tasks",
            token,
            json={"title": f"Task {number + 1}", "pillar": "knowledge", "xp": 10},
        )
        assert task.status_code == 201, task.text
        task_ids.append(task.json()["id"])
    return task_ids


def complete(live, token: str, task_id: str) -> None:
    response = live.call("POST", f"/api/tasks/{task_id}/complete", token)
    assert response.status_code == 200, response.text


def received(receiver, event_type: str):
    return [r for r in receiver.requests if r.headers.get("x-questbridge-event") == event_type]


def signed_with(secret: str, request) -> bool:
    try:
        Webhook(secret).verify(request.body, request.headers)
    except WebhookVerificationError:
        return False
    return True


def active_box(page):
    return page.get_by_role("checkbox", name=re.compile(r"^Active"))


def clipboard(page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def assert_no_sideways_scroll(locator, what: str) -> None:
    overflow = locator.evaluate("node => node.scrollWidth - node.clientWidth")
    assert overflow <= 0, f"{what} scrolls sideways by {overflow}px"


def assert_within_the_screen(page, locator, what: str) -> None:
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, f"{what} overflows: {box}"


def submit(live, token: str, task_id: str) -> str:
    response = live.call("POST", f"/api/tasks/{task_id}/submissions", token, json={"content": "My essay"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def post_grade(live, submission_id: str, score: float) -> str:
    """What the autograder sends: a grade signed with the shared secret."""
    raw = json.dumps(
        {
            "submission_id": submission_id,
            "score": score,
            "max_score": 10,
            "feedback": "Clear argument; cite your sources.",
            "timestamp": int(time.time()),
        }
    ).encode()
    signature = hmac.new(AUTOGRADER_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    response = live.call(
        "POST",
        "/api/webhooks/autograder/",
        data=raw,
        headers={"Content-Type": "application/json", "X-Autograder-Signature": signature},
    )
    assert response.status_code == 202, response.text
    return response.json()["event_id"]


@contextmanager
def grading_breaks(live):
    """A real constraint that the last write of grade processing (the student's notification)
    violates: processing fails with a database error until the returned function lifts it."""

    def alter(statement: str) -> None:
        with live.runtime.db.transaction("service_role") as conn:
            conn.execute("set local role postgres")
            conn.execute(statement)

    alter(
        "alter table public.notifications add constraint e2e_refuse_grades"
        " check (type <> 'assignment_graded') not valid"
    )

    def lift() -> None:
        alter("alter table public.notifications drop constraint if exists e2e_refuse_grades")

    try:
        yield lift
    finally:
        lift()


def test_sign_in_by_keyboard_through_a_deep_link_then_switch_organization_and_log_out(page, live, admin, shoot):
    page.goto("/admin/deliveries?status=dead")
    expect(page).to_have_url(re.compile(r"/admin/login\?next=%2Fdeliveries%3Fstatus%3Ddead$"))
    expect(page.get_by_label("Email")).to_be_focused()
    shoot(page, "login")

    page.keyboard.type(admin["email"])
    page.keyboard.press("Tab")
    page.keyboard.type("not the password")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("invalid email or password")
    shoot(page, "login-error")

    page.get_by_label("Password").fill(admin["password"])
    page.keyboard.press("Enter")
    expect(heading(page, "Deliveries")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/admin/deliveries\?status=dead$"))
    expect(page.get_by_label("Status")).to_have_value("dead")

    # A reload of a deep link is served by Flask and keeps the session (HttpOnly cookie).
    page.reload()
    expect(heading(page, "Deliveries")).to_be_visible()

    # On a fresh load, Tab reaches the skip link first; it jumps to the content. Then the menu by
    # keyboard alone, and the new page's heading takes focus.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
    subscriptions_link = main_nav(page).get_by_role("link", name="Subscriptions")
    for _ in range(12):  # back from the content through the menu
        page.keyboard.press("Shift+Tab")
        if subscriptions_link.evaluate("node => node === document.activeElement"):
            break
    expect(subscriptions_link).to_be_focused()
    page.keyboard.press("Enter")
    expect(heading(page, "Subscriptions")).to_be_visible()
    expect(heading(page, "Subscriptions")).to_be_focused()

    # The switcher lists both organizations; the choice survives a reload.
    switcher = page.get_by_label("Organization")
    expect(switcher.locator("option")).to_have_text(["Hillview College", "Riverside Academy"])
    choose_organization(page, "Riverside Academy")
    page.reload()
    expect(page.get_by_label("Organization").locator("option:checked")).to_have_text("Riverside Academy")

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert page.request.get(f"{live.url}/api/auth/me").status == 401
    page.goto("/admin/subscriptions")
    expect(page).to_have_url(re.compile(r"/admin/login\?next=%2Fsubscriptions$"))


def test_subscription_from_creation_to_delivery_rotation_and_deletion(page, live, admin, receiver, shoot):
    token = live.token(admin)
    org_id = admin["org"]["id"]
    tasks = quest_with_tasks(live, token, org_id, 5)

    log_in(page, admin)
    choose_organization(page, "Riverside Academy")
    main_nav(page).get_by_role("link", name="Subscriptions").click()
    expect(page.get_by_text("No subscriptions yet")).to_be_visible()
    shoot(page, "subscriptions-empty")

    # A refused target: the problem+json field error appears under the URL input, linked to it.
    page.get_by_role("link", name="New subscription").click()
    expect(heading(page, "New subscription")).to_be_visible()
    url_input = page.get_by_label("Target URL")
    url_input.fill("http://10.1.2.3/hook")
    page.get_by_label("task.completed").check()
    page.get_by_role("button", name="Create subscription").click()
    expect(url_input).to_have_attribute("aria-invalid", "true")
    error_id = url_input.get_attribute("aria-describedby").split()[-1]
    expect(page.locator(f'[id="{error_id}"]')).to_contain_text("points at 10.1.2.3")
    expect(page.get_by_role("alert")).to_contain_text("Validation Failed")
    shoot(page, "subscription-new-refused-target")

    url_input.fill(f"{receiver.url}/hooks/questbridge")
    page.get_by_role("button", name="Create subscription").click()
    expect(heading(page, "Subscription created")).to_be_visible()
    secret = page.get_by_test_id("secret-value").input_value()
    assert secret.startswith("whsec_")
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_text("Copied to the clipboard.")).to_be_visible()
    assert clipboard(page) == secret
    shoot(page, "subscription-created-secret")
    page.get_by_role("button", name="Done").click()
    expect(heading(page, "Subscription")).to_be_visible()
    subscription_id = page.url.rsplit("/", 1)[-1]

    # Send a test event while no engine runs: the page says it is queued and links to its delivery,
    # which an engine then sends.
    page.get_by_role("button", name="Send test event").click()
    result = page.get_by_test_id("test-result")
    expect(result).to_contain_text("Queued: the receiver has not answered yet.")
    expect(result).to_contain_text("pending")
    shoot(page, "subscription-detail-test-queued")
    assert received(receiver, "webhook.test") == []
    result.get_by_role("link", name="Follow the delivery").click()
    expect(heading(page, "Delivery")).to_be_visible()
    expect(page.locator(".facts .badge").first).to_have_text("pending")
    with running_engine(live.runtime):
        expect(page.locator(".facts .badge").first).to_have_text("delivered", timeout=REFRESHED)
        expect(page.get_by_test_id("attempts-table")).to_contain_text("200")

        # With an engine running, as the worker runs it, the page shows the receiver's answer.
        page.goto(f"/admin/subscriptions/{subscription_id}")
        page.get_by_role("button", name="Send test event").click()
        expect(result).to_contain_text("delivered")
        expect(result).to_contain_text("200")
        shoot(page, "subscription-detail-test-sent")
    assert [signed_with(secret, r) for r in received(receiver, "webhook.test")] == [True, True]

    # Complete a task through the API; the delivery appears pending, then delivered on its own.
    complete(live, token, tasks[0])
    main_nav(page).get_by_role("link", name="Deliveries").click()
    row = page.locator("tr[data-status]").filter(has_text="task.completed")
    expect(row).to_have_attribute("data-status", "pending")
    shoot(page, "deliveries-pending")
    assert live.engine_pass()["delivered"] == 1
    expect(row).to_have_attribute("data-status", "delivered", timeout=REFRESHED)
    shoot(page, "deliveries-delivered")
    [first] = received(receiver, "task.completed")
    assert signed_with(secret, first)
    assert json.loads(first.body)["data"]["task_id"] == tasks[0]

    # Its detail: every attempt with status, duration and the receiver's body; redeliver it.
    row.get_by_role("link", name=re.compile("Details")).click()
    expect(heading(page, "Delivery")).to_be_visible()
    attempts = page.get_by_test_id("attempts-table")
    expect(attempts).to_contain_text("200")
    expect(attempts).to_contain_text("ok")
    shoot(page, "delivery-detail")
    page.get_by_role("button", name="Redeliver").click()
    expect(page.get_by_text("Queued again")).to_be_visible()
    live.engine_pass()
    expect(attempts.locator("tbody tr")).to_have_count(2, timeout=REFRESHED)  # the log keeps the first attempt
    expect(page.locator(".facts .badge").first).to_have_text("delivered", timeout=REFRESHED)
    again = received(receiver, "task.completed")
    assert len(again) == 2 and again[1].headers["webhook-id"] == first.headers["webhook-id"]

    # Rotate the secret: shown once, copyable; both secrets sign during the grace period.
    page.goto(f"/admin/subscriptions/{subscription_id}")
    page.get_by_role("button", name="Rotate secret…").click()
    dialog = page.get_by_role("dialog", name="Rotate the signing secret")
    expect(dialog.get_by_label("24 hours (recommended)")).to_be_checked()
    shoot(page, "subscription-rotate-dialog")
    dialog.get_by_role("button", name="Rotate", exact=True).click()
    expect(dialog).to_be_hidden()
    new_secret = page.get_by_test_id("secret-value").input_value()
    assert new_secret.startswith("whsec_") and new_secret != secret
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_text("Copied to the clipboard.")).to_be_visible()
    assert clipboard(page) == new_secret
    shoot(page, "subscription-secret-rotated")
    complete(live, token, tasks[1])
    live.engine_pass()
    latest = received(receiver, "task.completed")[-1]
    assert json.loads(latest.body)["data"]["task_id"] == tasks[1]
    assert signed_with(new_secret, latest) and signed_with(secret, latest)

    # Edit: add an event type and disable it; a test send then explains why it is refused.
    page.get_by_label("quest.completed").check()
    active_box(page).uncheck()
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Subscription saved.")).to_be_visible()
    expect(page.locator(".facts").get_by_text("disabled")).to_be_visible()
    stored = live.call("GET", f"/api/webhooks/subscriptions/{subscription_id}", token).json()
    assert stored["active"] is False and sorted(stored["event_types"]) == ["quest.completed", "task.completed"]
    page.get_by_role("button", name="Send test event").click()
    expect(page.get_by_role("alert")).to_contain_text("the subscription is disabled; enable it before testing")
    shoot(page, "subscription-edited-disabled")

    # A dead delivery (the receiver fails, one attempt allowed here), then bulk redelivery.
    active_box(page).check()
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Subscription saved.")).to_be_visible()
    receiver.answer = Answer(status=500, body=b"receiver exploded")
    complete(live, token, tasks[2])
    live.engine_pass()
    main_nav(page).get_by_role("link", name="Deliveries").click()
    page.get_by_label("Status").select_option("dead")
    event_type = page.get_by_label("Event type")
    event_type.fill("task.completed")
    event_type.press("Enter")
    expect(page).to_have_url(re.compile(r"event_type=task\.completed"))
    expect(page).to_have_url(re.compile(r"status=dead"))
    dead_rows = page.locator("tr[data-status]")
    expect(dead_rows).to_have_count(1)
    expect(dead_rows.first).to_have_attribute("data-status", "dead")
    expect(dead_rows.first).to_contain_text("500")
    shoot(page, "deliveries-dead-filtered")
    event_type.fill("")
    expect(page).not_to_have_url(re.compile(r"event_type="))
    page.get_by_label("Subscription").select_option(subscription_id)
    page.get_by_role("button", name="Redeliver dead…").click()
    confirm = page.get_by_role("dialog", name="Redeliver dead deliveries?")
    confirm.get_by_role("button", name="Redeliver dead").click()
    expect(page.get_by_text(re.compile(r"^1 dead delivery queued again\.$"))).to_be_visible()
    receiver.answer = Answer()
    live.engine_pass()
    expect(page.get_by_text("No deliveries match these filters")).to_be_visible(timeout=REFRESHED)

    # Delete, after a confirmation that Escape cancels.
    page.goto(f"/admin/subscriptions/{subscription_id}")
    page.get_by_role("button", name="Delete subscription…").click()
    confirm = page.get_by_role("dialog", name="Delete this subscription?")
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Escape")
    expect(confirm).to_be_hidden()
    expect(page.get_by_role("button", name="Delete subscription…")).to_be_focused()
    page.get_by_role("button", name="Delete subscription…").click()
    shoot(page, "subscription-delete-confirm")
    confirm.get_by_role("button", name="Delete", exact=True).click()
    expect(heading(page, "Subscriptions")).to_be_visible()
    expect(page.get_by_text("No subscriptions yet")).to_be_visible()
    assert live.call("GET", f"/api/webhooks/subscriptions/{subscription_id}", token).status_code == 404


def test_test_sends_past_the_organizations_cap_are_refused_with_the_reason(page, live, admin, receiver, shoot):
    """No engine runs, so the test events stay queued; the fourth is past the in-flight cap (3)."""
    token = live.token(admin)
    created = live.call(
        "POST",
        "/api/webhooks/subscriptions",
        token,
        json={"organization_id": str(admin["org"]["id"]), "target_url": receiver.url, "event_types": ["*"]},
    )
    assert created.status_code == 201, created.text
    log_in(page, admin, f"/admin/subscriptions/{created.json()['id']}")
    send = page.get_by_role("button", name="Send test event")
    result = page.get_by_test_id("test-result")
    for _ in range(3):
        send.click()
        expect(result).to_contain_text("Queued")
        expect(send).to_be_enabled()

    send.click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Too Many Requests")
    expect(alert).to_contain_text("already has 3 test events waiting or being sent")
    expect(alert).to_contain_text("try again in 15 seconds")
    expect(result).to_have_count(0)
    shoot(page, "subscription-detail-test-refused")
    assert receiver.requests == []


def test_dashboard_counts_chart_and_refresh_by_themselves(page, live, admin, receiver, shoot):
    token = live.token(admin)
    org_id = admin["org"]["id"]
    created = live.call(
        "POST",
        "/api/webhooks/subscriptions",
        token,
        json={"organization_id": str(org_id), "target_url": f"{receiver.url}/hook", "event_types": ["*"]},
    )
    assert created.status_code == 201, created.text
    World(live.app).allow(admin["org"], tiers=("starter", "pro"))
    key = live.call(
        "POST", "/v1/admin/external/keys", token, json={"organization_id": str(org_id), "name": "LMS", "tier": "pro"}
    )
    assert key.status_code == 201, key.text
    tasks = quest_with_tasks(live, token, org_id, 3)
    complete(live, token, tasks[0])
    live.engine_pass()

    log_in(page, admin)
    choose_organization(page, "Riverside Academy")
    expect(heading(page, "Dashboard")).to_be_visible()
    cards = page.get_by_test_id("metric-cards")
    delivered = cards.locator(".card").filter(has_text="Delivered").locator("dd").first
    expect(delivered).to_have_text("1")
    expect(page.get_by_role("img", name=re.compile(r"^Success rate, 60 points"))).to_be_visible()
    expect(page.get_by_role("img", name=re.compile(r"^Latency, 60 points"))).to_be_visible()
    expect(page.get_by_test_id("recent-deliveries")).to_contain_text("task.completed")

    # No reload: the dashboard refreshes every 5 seconds.
    complete(live, token, tasks[1])
    expect(cards.locator(".card").filter(has_text="Queue depth").locator("dd").first).to_have_text(
        "1", timeout=REFRESHED
    )
    live.engine_pass()
    expect(delivered).to_have_text("2", timeout=REFRESHED)
    expect(page.get_by_text("Success rate: 100.0%")).to_be_visible()

    usage = page.get_by_role("region", name="API key usage by tier")
    pro = usage.get_by_role("row").filter(has=page.get_by_role("rowheader", name="pro"))
    expect(pro.get_by_role("cell").first).to_have_text("1")  # one live key
    shoot(page, "dashboard")
    # At 1280 px the usage table fits its half of the page: every column in sight, no sideways scroll.
    assert_no_sideways_scroll(usage.locator(".table-wrap"), "the API key usage table")
    usage.evaluate("node => node.scrollIntoView({block: 'end'})")  # the page, not the table, scrolls
    expect(usage.get_by_role("columnheader", name="Rate-limited")).to_be_in_viewport(ratio=1)
    expect(pro.get_by_role("cell").last).to_be_in_viewport(ratio=1)


def test_api_key_created_rotated_and_revoked(page, live, admin, shoot):
    log_in(page, admin)
    choose_organization(page, "Riverside Academy")
    main_nav(page).get_by_role("link", name="API keys").click()
    expect(page.get_by_text("No API keys yet")).to_be_visible()
    expect(page.get_by_test_id("key-limits")).to_have_text(re.compile(r"^0 of 5 keys in use; tiers: starter\."))
    shoot(page, "api-keys-empty")
    # A new organization issues starter keys only: that is all the form offers.
    page.get_by_role("button", name="New API key").click()
    expect(page.get_by_label("Tier").locator("option")).to_have_text(["Starter (1,000 requests a day, 100 a minute)"])
    page.get_by_role("button", name="Cancel").click()

    # A platform admin allows pro; the page offers it from then on.
    World(live.app).allow(admin["org"], tiers=("starter", "pro"), max_api_keys=3)
    page.reload()
    expect(page.get_by_test_id("key-limits")).to_have_text(re.compile(r"^0 of 3 keys in use; tiers: starter, pro\."))
    page.get_by_role("button", name="New API key").click()
    page.get_by_label("Name").fill("Canvas production")
    page.get_by_label("Tier").select_option("pro")
    allowlist = page.get_by_label("IP allowlist (optional)")
    allowlist.fill("127.0.0.1/32\nnot-an-address")
    page.get_by_role("button", name="Create key").click()
    expect(allowlist).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field-invalid .field-error")).to_contain_text("not-an-address")
    shoot(page, "api-key-new-refused-allowlist")

    allowlist.fill("127.0.0.1/32\n203.0.113.0/24")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("secret-value")
    expect(secret).to_have_value(re.compile(r".{20,}"))
    api_key = secret.input_value()
    page.get_by_role("button", name="Copy").click()
    assert clipboard(page) == api_key
    row = page.locator("tr[data-key-id]").filter(has_text="Canvas production")
    expect(row).to_contain_text("pro")
    expect(row).to_contain_text("127.0.0.1/32, 203.0.113.0/24")
    expect(row).to_contain_text("active")
    key_id = row.get_attribute("data-key-id")
    row = page.locator(f'tr[data-key-id="{key_id}"]')  # its replacement will carry the same name
    expect(page.get_by_test_id("key-limits")).to_have_text(re.compile(r"^1 of 3 keys in use"))
    shoot(page, "api-key-created")
    described = live.call("GET", "/v1/external/key", headers={"X-API-Key": api_key})
    assert described.status_code == 200, described.text
    assert described.json()["tier"] == "pro" and described.json()["key_id"] == key_id

    # Rotate keeping the key id: a new secret, shown once, under the same id.
    row.get_by_role("button", name="Rotate…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label(re.compile("^Keep the key id"))).to_be_checked()
    shoot(page, "api-key-rotate-dialog")
    dialog.get_by_role("button", name="Rotate", exact=True).click()
    expect(dialog).to_be_hidden()
    rotated = page.get_by_test_id("secret-value").input_value()
    assert rotated != api_key
    expect(page.get_by_text(f"Key id {key_id}")).to_be_visible()
    assert live.call("GET", "/v1/external/key", headers={"X-API-Key": rotated}).json()["key_id"] == key_id
    shoot(page, "api-key-rotated")

    # Rotate to a new key id (preserve_key_id false): a replacement with its own id and secret,
    # same name, tier and allowlist; the old id is "replaced" and works through the grace period.
    row.get_by_role("button", name="Rotate…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("radio", name=re.compile("^New key id")).check()
    expect(dialog.get_by_label(re.compile("^Keep the key id"))).not_to_be_checked()
    shoot(page, "api-key-rotate-new-id-dialog")
    dialog.get_by_role("button", name="Rotate", exact=True).click()
    expect(dialog).to_be_hidden()
    replacement = page.get_by_test_id("secret-value").input_value()
    assert replacement not in (api_key, rotated)
    described = live.call("GET", "/v1/external/key", headers={"X-API-Key": replacement})
    assert described.status_code == 200, described.text
    new_key_id = described.json()["key_id"]
    assert new_key_id != key_id
    expect(page.get_by_text(f"Key id {new_key_id}")).to_be_visible()
    new_row = page.locator(f'tr[data-key-id="{new_key_id}"]')
    expect(new_row).to_contain_text("Canvas production")
    expect(new_row).to_contain_text("pro")
    expect(new_row).to_contain_text("127.0.0.1/32, 203.0.113.0/24")
    expect(new_row.locator(".badge")).to_have_text("active")
    expect(row.locator(".badge")).to_have_text("replaced")
    expect(row.get_by_role("button", name="Rotate…")).to_have_count(0)  # rotate its replacement instead
    old_still_works = live.call("GET", "/v1/external/key", headers={"X-API-Key": rotated})
    assert old_still_works.status_code == 200 and old_still_works.json()["key_id"] == key_id
    shoot(page, "api-key-rotated-new-id")

    # Revoke the replacement: confirmed, shown as revoked with the key it replaced, and both are
    # refused by the API from then on.
    new_row.get_by_role("button", name="Revoke…").click()
    page.get_by_role("dialog", name="Revoke this API key?").get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("API key Canvas production revoked.")).to_be_visible()
    expect(page.get_by_test_id("key-limits")).to_have_text(re.compile(r"^0 of 3 keys in use"))
    expect(page.get_by_test_id("secret-value")).to_have_count(0)
    for revoked in (new_row, row):
        expect(revoked.locator(".badge")).to_have_text("revoked")
        expect(revoked.get_by_role("button")).to_have_count(0)
    assert live.call("GET", "/v1/external/key", headers={"X-API-Key": replacement}).status_code == 401
    assert live.call("GET", "/v1/external/key", headers={"X-API-Key": rotated}).status_code == 401
    shoot(page, "api-keys-revoked")


def test_oauth_clients_inbound_events_and_audit_log(page, live, admin, receiver, shoot):
    token = live.token(admin)
    created = live.call(
        "POST",
        "/api/webhooks/subscriptions",
        token,
        json={
            "organization_id": str(admin["org"]["id"]),
            "target_url": f"{receiver.url}/hook",
            "event_types": ["task.completed"],
        },
    )
    assert created.status_code == 201, created.text

    log_in(page, admin)
    choose_organization(page, "Riverside Academy")

    main_nav(page).get_by_role("link", name="Subscriptions").click()
    expect(page.get_by_test_id("subscriptions-table")).to_contain_text(f"{receiver.url}/hook")
    shoot(page, "subscriptions")

    main_nav(page).get_by_role("link", name="OAuth clients").click()
    expect(heading(page, "OAuth clients")).to_be_visible()
    expect(page.get_by_text("No OAuth clients yet")).to_be_visible()
    page.get_by_role("button", name="New OAuth client").click()
    page.get_by_label("Name", exact=True).fill("Moodle")  # not the profile scope's "…first and last name"
    page.get_by_label("Redirect URIs").fill("https://moodle.example.org/oauth/callback")
    page.get_by_label("read:quests").check()
    page.get_by_role("button", name="Create client").click()
    first_secret = page.get_by_test_id("secret-value").input_value()
    assert first_secret
    client_id = page.get_by_test_id("client-id").inner_text()
    row = page.locator("tr").filter(has_text=client_id)
    expect(row).to_contain_text("https://moodle.example.org/oauth/callback")
    shoot(page, "oauth-client-created")
    row.get_by_role("button", name="Rotate secret…").click()
    page.get_by_role("dialog").get_by_role("button", name="Rotate").click()
    expect(page.get_by_text("New client secret").first).to_be_visible()
    assert page.get_by_test_id("secret-value").input_value() not in ("", first_secret)
    row.get_by_role("button", name="Delete…").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Moodle deleted.")).to_be_visible()
    expect(row).to_have_count(0)
    # The deleted client's secret does not stay on screen.
    expect(page.get_by_test_id("secret-value")).to_have_count(0)
    expect(page.get_by_text("New client secret")).to_have_count(0)
    shoot(page, "oauth-clients")

    main_nav(page).get_by_role("link", name="Inbound events").click()
    expect(heading(page, "Inbound events")).to_be_visible()
    expect(page.get_by_text("No inbound events yet")).to_be_visible()
    page.get_by_label("Status").select_option("dead")
    expect(page.get_by_text("No dead inbound events")).to_be_visible()
    shoot(page, "inbound-events")

    main_nav(page).get_by_role("link", name="Audit log").click()
    expect(heading(page, "Audit log")).to_be_visible()
    table = page.get_by_test_id("audit-table")
    expect(table).to_contain_text("webhook_subscription.created")
    expect(table).to_contain_text(admin["email"])
    # The client's id is shown whole (cut by CSS where space ends, whole in its title), so clients
    # whose ids share the qbc_ prefix stay apart.
    expect(table.locator(f'.id-clip[title="{client_id}"]').first).to_have_text(client_id)
    shoot(page, "audit-log")
    # At 1280 px every column is in sight, IP included, without sideways scrolling.
    assert_no_sideways_scroll(page.locator(".table-wrap").filter(has=table), "the audit log")
    expect(table.get_by_role("columnheader", name="IP")).to_be_in_viewport(ratio=1)
    expect(table.locator('td[data-label="IP"]').first).to_be_in_viewport(ratio=1)


def test_a_dead_inbound_grade_is_retried_from_the_inbound_events_page(page, live, admin, shoot):
    token = live.token(admin)
    world = World(live.app)
    student = world.add_member(admin["org"], world.user(email="student@riverside.example"))
    [task] = quest_with_tasks(live, token, admin["org"]["id"], 1)
    submission_id = submit(live, live.token(student), task)

    with grading_breaks(live) as repair:
        # The autograder's signed grade is accepted, then processing fails: one attempt, then dead.
        event_id = post_grade(live, submission_id, 9)
        assert live.engine_pass()["inbound"]["dead"] == 1
        event = live.call("GET", f"/api/inbound/events/{event_id}", token).json()
        assert event["status"] == "dead" and "e2e_refuse_grades" in event["error"]

        log_in(page, admin)
        choose_organization(page, "Riverside Academy")
        main_nav(page).get_by_role("link", name="Inbound events").click()
        expect(heading(page, "Inbound events")).to_be_visible()
        row = page.locator(f'tr[data-event-id="{event_id}"]')
        expect(row).to_have_attribute("data-status", "dead")
        expect(row).to_contain_text("autograder")
        expect(row).to_contain_text("e2e_refuse_grades")
        shoot(page, "inbound-event-dead")

        # Its detail, in the page; the filter for dead events finds it too.
        row.get_by_role("rowheader").get_by_role("button").click()
        detail = page.get_by_role("region", name=re.compile(r"^Event "))
        expect(detail).to_contain_text(event_id)
        expect(detail.locator(".badge")).to_have_text("dead")
        page.get_by_label("Status").select_option("dead")
        expect(page.locator("tr[data-event-id]")).to_have_count(1)
        shoot(page, "inbound-event-detail")

        # Mend what broke, then retry it from the page: queued again, processed by the next pass.
        repair()
        row.get_by_role("button", name="Retry").click()
        expect(page.get_by_text(re.compile(r"queued for processing again"))).to_be_visible()
        retried = live.call("GET", f"/api/inbound/events/{event_id}", token).json()
        assert retried["status"] == "pending" and retried["attempts"] == 0
        assert live.engine_pass()["inbound"]["processed"] == 1
        page.get_by_label("Status").select_option("")
        expect(row).to_have_attribute("data-status", "processed", timeout=REFRESHED)
        expect(row.get_by_role("button", name="Retry")).to_have_count(0)
        expect(detail.locator(".badge")).to_have_text("processed", timeout=REFRESHED)
        shoot(page, "inbound-event-retried")

    notifications = live.call("GET", "/api/notifications", live.token(student)).json()
    assert [n["type"] for n in notifications["data"]].count("assignment_graded") == 1
    main_nav(page).get_by_role("link", name="Audit log").click()
    expect(page.get_by_test_id("audit-table")).to_contain_text("inbound_event.retried")


def test_unknown_ids_read_as_not_found(page, live, admin, shoot):
    log_in(page, admin)
    for path in (f"/admin/deliveries/{uuid.uuid4()}", "/admin/deliveries/not-a-uuid"):
        page.goto(path)
        expect(heading(page, "Delivery")).to_be_visible()
        expect(page.get_by_role("alert")).to_contain_text("Delivery not found")
        expect(page.get_by_text(re.compile("unavailable|Update the server"))).to_have_count(0)
    # Not a UUID: no route matches, and the problem's detail says so.
    expect(page.get_by_role("alert")).to_contain_text("The requested URL was not found on the server.")
    page.goto(f"/admin/deliveries/{uuid.uuid4()}")
    expect(page.get_by_role("alert")).to_have_text("Delivery not found")  # the server's detail, said once
    shoot(page, "delivery-not-found")

    page.goto(f"/admin/inbound?event={uuid.uuid4()}")
    detail = page.get_by_role("region", name=re.compile(r"^Event "))
    expect(detail.get_by_role("alert")).to_contain_text("Inbound event not found")
    expect(page.get_by_text(re.compile("unavailable|Update the server"))).to_have_count(0)
    shoot(page, "inbound-event-not-found")


def test_a_detail_page_and_a_dialog_fit_a_phone_screen(phone_page, live, admin, receiver, shoot):
    page = phone_page
    token = live.token(admin)
    created = live.call(
        "POST",
        "/api/webhooks/subscriptions",
        token,
        json={
            "organization_id": str(admin["org"]["id"]),
            "target_url": f"{receiver.url}/a-rather-long/path/for/the/partner/webhooks",
            "event_types": ["task.completed"],
        },
    )
    assert created.status_code == 201, created.text
    subscription_id = created.json()["id"]
    receiver.answer = Answer(
        status=500, body=b'{"error": "the partner endpoint failed", "trace": "' + b"x" * 300 + b'"}'
    )
    [task] = quest_with_tasks(live, token, admin["org"]["id"], 1)
    complete(live, token, task)
    live.engine_pass()
    listed = live.call("GET", "/api/webhooks/deliveries", token, params={"subscription_id": subscription_id}).json()
    [delivery] = listed["data"]

    log_in(page, admin, f"/admin/deliveries/{delivery['id']}")
    expect(heading(page, "Delivery")).to_be_visible()
    attempts = page.get_by_test_id("attempts-table")
    expect(attempts).to_contain_text("500")
    expect(attempts).to_contain_text("the partner endpoint failed")
    page.wait_for_load_state("networkidle")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the delivery detail is {overflow}px wider than the phone screen"
    shoot(page, "phone-delivery-detail")

    page.goto(f"/admin/subscriptions/{subscription_id}")
    page.get_by_role("button", name="Rotate secret…").click()
    dialog = page.get_by_role("dialog", name="Rotate the signing secret")
    expect(dialog.get_by_label("24 hours (recommended)")).to_be_checked()
    assert_within_the_screen(page, dialog, "the rotate dialog")
    expect(dialog.get_by_role("button", name="Rotate", exact=True)).to_be_in_viewport(ratio=1)
    shoot(page, "phone-subscription-rotate-dialog")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


@pytest.mark.parametrize(
    "name",
    ["Dashboard", "Subscriptions", "Deliveries", "API keys", "OAuth clients", "Inbound events", "Members", "Audit log"],
)
def test_pages_fit_a_phone_screen(phone_page, live, admin, receiver, shoot, name):
    page = phone_page
    token = live.token(admin)
    live.call(
        "POST",
        "/api/webhooks/subscriptions",
        token,
        json={
            "organization_id": str(admin["org"]["id"]),
            "target_url": f"{receiver.url}/a-rather-long/path/for/the/partner/webhooks",
            "event_types": ["task.completed", "quest.completed"],
        },
    )
    tasks = quest_with_tasks(live, token, admin["org"]["id"], 1)
    complete(live, token, tasks[0])
    live.engine_pass()
    log_in(page, admin)
    choose_organization(page, "Riverside Academy")

    # The organization label is out of sight on a phone but still names the switcher.
    label = page.locator(".org-switcher label")
    assert label.evaluate("node => getComputedStyle(node).display") != "none"
    expect(page.get_by_role("combobox", name="Organization")).to_be_visible()
    assert label.bounding_box()["width"] <= 1

    nav = main_nav(page)
    expect(nav).to_be_hidden()
    page.get_by_role("button", name="Menu").click()
    expect(nav).to_be_visible()
    expect(page.get_by_role("button", name="Menu")).to_have_attribute("aria-expanded", "true")
    nav.get_by_role("link", name=name).click()
    expect(nav).to_be_hidden()
    expect(heading(page, name)).to_be_visible()
    page.wait_for_load_state("networkidle")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} is {overflow}px wider than the phone screen"
    shoot(page, f"phone-{name.lower().replace(' ', '-')}")
