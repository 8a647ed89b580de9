"""Invitations and resets end to end in Chromium: from the email a real SMTP server captured to a
signed-in dashboard. The live app mails through aiosmtpd on 127.0.0.1, and its PUBLIC_URL is the
live server itself, so the links in the emails are opened exactly as they were sent."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import DESKTOP, LiveServer, _new_page, log_in
from tests.mail import INVITATION_LINK, RESET_LINK, free_port, running_inbox
from tests.support import DEFAULT_PASSWORD, World

NEW_PASSWORD = "a brand new passphrase 42"


@pytest.fixture
def inbox():
    with running_inbox() as inbox:
        yield inbox


@pytest.fixture
def live(make_app, built_ui, inbox):
    port = free_port()
    app = make_app(
        smtp_host="127.0.0.1",
        smtp_port=inbox.port,
        smtp_starttls=False,
        public_url=f"http://127.0.0.1:{port}",
    )
    server = LiveServer(app, port=port).start()
    yield server
    server.stop()


@pytest.fixture
def browser_for(browser, live):
    """A fresh browser profile per person: no cookie or storage shared between them."""
    opened = []

    def _open():
        context, page, problems = _new_page(browser, live, DESKTOP)
        opened.append((context, problems))
        return page

    yield _open
    for context, problems in opened:
        context.close()
        problems.check()


@pytest.fixture
def riverside(live) -> dict:
    world = World(live.app)
    admin = world.user(email="admin@riverside.example", password=DEFAULT_PASSWORD)
    org = world.organization("Riverside Academy", admin=admin)
    return {"world": world, "admin": admin, "org": org}


def heading(page, name: str):
    return page.get_by_role("heading", name=name, level=1, exact=True)


def emailed_link(inbox, to: str, pattern: re.Pattern) -> str:
    inbox.wait_for(1)
    [message] = inbox.to(to)
    match = pattern.search(message.get_content())
    assert match, message.get_content()
    return match.group(0)


def open_link_and_check_the_token_left_the_address(page, link: str) -> None:
    token = link.rsplit("token=", 1)[1]
    page.goto(link)
    page.wait_for_function("() => !location.href.includes('token=')")
    assert token not in page.url
    assert page.evaluate("location.hash") == ""


def back_leads_away_from_the_link(page) -> None:
    """Every entry the link touched was replaced, so Back leaves the app instead of reopening it."""
    page.go_back()
    assert page.url == "about:blank"


def test_a_new_email_from_the_captured_invitation_to_a_signed_in_dashboard(live, riverside, inbox, browser_for, shoot):
    admin_page = browser_for()
    log_in(admin_page, riverside["admin"], "/admin/members")
    expect(heading(admin_page, "Members")).to_be_visible()
    admin_page.get_by_role("button", name="Invite member").click()
    admin_page.get_by_label("Email").fill("new.teacher@riverside.example")
    admin_page.get_by_label("Role").select_option("member")
    admin_page.get_by_role("button", name="Send invitation").click()
    expect(admin_page.get_by_text("Invitation sent to new.teacher@riverside.example.")).to_be_visible()
    invitations = admin_page.get_by_test_id("invitations-table")
    expect(invitations.get_by_role("row").filter(has_text="new.teacher")).to_contain_text("pending")
    shoot(admin_page, "members-invited")

    link = emailed_link(inbox, "new.teacher@riverside.example", INVITATION_LINK)
    assert link.startswith(f"{live.url}/admin/invitation#token=")

    invitee = browser_for()
    open_link_and_check_the_token_left_the_address(invitee, link)
    expect(heading(invitee, "Join Riverside Academy")).to_be_visible()
    expect(invitee.get_by_text("admin@riverside.example invited")).to_be_visible()
    shoot(invitee, "invitation-new-account")
    invitee.get_by_label("Choose a password").fill("short")
    invitee.get_by_role("button", name="Accept and join").click()
    expect(invitee.get_by_text("must be at least 10 characters", exact=True)).to_be_visible()
    expect(invitee.get_by_label("Choose a password")).to_have_attribute("aria-invalid", "true")
    invitee.get_by_label("Choose a password").fill(NEW_PASSWORD)
    invitee.get_by_role("button", name="Accept and join").click()

    expect(heading(invitee, "Dashboard")).to_be_visible()
    expect(invitee).to_have_url(re.compile(rf"^{re.escape(live.url)}/admin/?$"))
    expect(invitee.locator(".org-name")).to_have_text("Riverside Academy")
    expect(invitee.locator(".user-email")).to_have_text("new.teacher@riverside.example")
    assert any(cookie["name"] == "qb_session" for cookie in invitee.context.cookies())
    me = invitee.request.get(f"{live.url}/api/auth/me").json()
    assert me["organizations"] == [{"id": str(riverside["org"]["id"]), "name": "Riverside Academy", "role": "member"}]
    shoot(invitee, "invitation-accepted-dashboard")
    back_leads_away_from_the_link(invitee)

    # The link worked once; the admin sees a member now, and the invitation accepted.
    again = browser_for()
    again.goto(link)
    expect(again.get_by_role("alert")).to_contain_text("This invitation link no longer works")
    admin_page.reload()
    expect(admin_page.get_by_test_id("members-table")).to_contain_text("new.teacher@riverside.example")
    expect(invitations.get_by_role("row").filter(has_text="new.teacher")).to_contain_text("accepted")


def test_an_existing_account_accepts_from_the_prompt(live, riverside, inbox, browser_for, shoot):
    world = riverside["world"]
    teacher = world.user(email="teacher@hillview.example", password=DEFAULT_PASSWORD)
    world.organization("Hillview College", admin=teacher)
    invited = live.call(
        "POST",
        f"/api/organizations/{riverside['org']['id']}/members",
        live.token(riverside["admin"]),
        json={"email": "Teacher@Hillview.example", "role": "admin"},
    )
    assert invited.status_code == 201, invited.text
    members = live.call("GET", f"/api/organizations/{riverside['org']['id']}/members", live.token(riverside["admin"]))
    assert "teacher@hillview.example" not in members.text.lower()  # not a member until they accept

    page = browser_for()
    log_in(page, teacher)
    prompt = page.get_by_role("region", name="An invitation for you")
    expect(prompt).to_contain_text("admin@riverside.example invited you to join Riverside Academy as admin.")
    expect(page.locator(".org-name")).to_have_text("Hillview College")
    shoot(page, "invitation-prompt")
    prompt.get_by_role("button", name="Accept the invitation to Riverside Academy").click()

    expect(prompt).to_have_count(0)
    switcher = page.get_by_label("Organization")
    expect(switcher.locator("option:checked")).to_have_text("Riverside Academy")
    expect(switcher.locator("option")).to_have_text(["Hillview College", "Riverside Academy"])
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Members").click()
    expect(page.get_by_test_id("members-table")).to_contain_text("teacher@hillview.example")
    shoot(page, "invitation-prompt-accepted")


def test_an_admin_reset_from_the_captured_email_to_a_signed_in_dashboard(live, riverside, inbox, browser_for, shoot):
    student = riverside["world"].add_member(riverside["org"])
    admin_page = browser_for()
    log_in(admin_page, riverside["admin"], "/admin/members")
    admin_page.get_by_role("button", name=f"Send {student['email']} a password reset").click()
    admin_page.get_by_role("dialog").get_by_role("button", name="Send reset link").click()
    expect(admin_page.get_by_text(f"A password reset link was emailed to {student['email']}.")).to_be_visible()

    link = emailed_link(inbox, student["email"], RESET_LINK)
    assert link.startswith(f"{live.url}/admin/reset-password#token=")

    page = browser_for()
    open_link_and_check_the_token_left_the_address(page, link)
    expect(heading(page, "Choose a new password")).to_be_visible()
    shoot(page, "reset-password")
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set password and sign in").click()

    expect(heading(page, "Dashboard")).to_be_visible()
    expect(page.locator(".user-email")).to_have_text(student["email"])
    expect(page.locator(".org-name")).to_have_text("Riverside Academy")
    refused = live.call("POST", "/api/auth/login", json={"email": student["email"], "password": DEFAULT_PASSWORD})
    assert refused.status_code == 401
    assert live.call("POST", "/api/auth/login", json={"email": student["email"], "password": NEW_PASSWORD}).ok
    back_leads_away_from_the_link(page)
