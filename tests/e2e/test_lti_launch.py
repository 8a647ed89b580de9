"""An LTI launch in Chromium, inside the LMS's frame: a course page on `localhost` (another site
than the tool's 127.0.0.1) frames the tool's login URL; lti1p3platform's authorization endpoint
posts the launch back cross-site; the state cookie and then the session cookie must come back
inside that frame (SameSite=None; Secure; Partitioned, which Chromium takes on http://127.0.0.1)."""

from __future__ import annotations

import socket
from urllib.parse import urlencode

from playwright.sync_api import expect
from werkzeug import Response

from backend.services.learning import create_quest
from tests.e2e.conftest import LiveServer
from tests.lti.lms import CLIENT_ID, ISSUER, LMS
from tests.support import AuthActions, World


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_launch_in_the_lms_frame_signs_the_learner_in(make_app, httpserver, browser):
    port = _free_port()
    app = make_app(webhooks_allowed_targets="127.0.0.1/32", public_url=f"http://127.0.0.1:{port}")
    world = World(app)
    org = world.organization("School")
    with world.as_user(org["admin"]) as conn:
        quest = create_quest(conn, org["admin"]["id"], org["id"], "Python")
    live = LiveServer(app, port).start()
    try:
        lms = LMS(httpserver, f"{live.url}/lti/launch")
        lms.custom = {"quest_id": str(quest["id"])}
        lms.return_url = f"http://localhost:{httpserver.port}/course/return"  # the course page's origin frames us
        admin = AuthActions(app.test_client()).headers(org["admin"])
        assert live.http.post(f"{live.url}/api/lti/platforms", json=lms.registration_body(org), headers=admin).ok
        login = f"{live.url}/lti/login?" + urlencode(
            {"iss": ISSUER, "client_id": CLIENT_ID, "login_hint": "42", "target_link_uri": f"{live.url}/lti/launch"}
        )
        course = f'<!doctype html><title>Course</title><iframe id="tool" src="{login}"></iframe>'
        httpserver.expect_request("/course").respond_with_handler(
            lambda request: Response(course, content_type="text/html")
        )
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(f"http://localhost:{httpserver.port}/course")
            frame = page.locator("#tool").element_handle().content_frame()
            frame.wait_for_url(f"{live.url}/learn/quests/{quest['id']}", timeout=10_000)
            # The learner page itself shows inside the course page (frame-ancestors names its origin).
            expect(frame.get_by_role("heading", name="Python")).to_be_visible()
            me = frame.evaluate("() => fetch('/api/auth/me').then(r => r.json())")
        finally:
            context.close()
        assert me["email"] == "ada@school.test"
    finally:
        live.stop()
