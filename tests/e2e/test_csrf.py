"""CSRF in a real browser: a page on another port of the same host (same-site, so SameSite=Lax
lets the session cookie travel) tries what the security review did to a signed-in admin."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import log_in

PAGE = """<!doctype html>
<html><body>
<form id="forged" method="post" action="{action}"></form>
<p id="fetched">pending</p>
<script>
  // A body-less no-cors POST (the kind of request a page may send anywhere, cookies included) ...
  fetch("{fetch_target}", {{method: "POST", mode: "no-cors", credentials: "include"}})
    .then(() => {{ document.getElementById("fetched").textContent = "sent"; }})
    .catch(() => {{ document.getElementById("fetched").textContent = "failed"; }})
    // ... then a body-less form post, which navigates this tab to the answer.
    .finally(() => document.getElementById("forged").submit());
</script>
</body></html>
"""


class AttackerSite:
    """One HTML page, served from its own port on 127.0.0.1."""

    def __init__(self, html: str):
        body = html.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def targets(live, admin):
    """An OAuth client and a webhook subscription of the admin's organization."""
    token = live.token(admin)
    org_id = str(admin["org"]["id"])
    client = live.call(
        "POST",
        "/api/oauth/clients",
        token=token,
        json={"organization_id": org_id, "name": "Canvas", "redirect_uris": ["https://lms.example.edu/cb"]},
    )
    assert client.status_code == 201, client.text
    subscription = live.call(
        "POST",
        "/api/webhooks/subscriptions",
        token=token,
        json={"organization_id": org_id, "target_url": "http://127.0.0.1:9/hook", "event_type": "*"},
    )
    assert subscription.status_code == 201, subscription.text
    return {"client_id": client.json()["client_id"], "subscription_id": subscription.json()["id"]}


def _secrets(live, targets) -> tuple:
    with live.runtime.db.transaction("service_role") as conn:
        client = conn.execute(
            "select secret_hash from public.oauth_clients where client_id = %s", (targets["client_id"],)
        ).fetchone()
        subscription = conn.execute(
            "select secret_encrypted, previous_secret_encrypted from public.webhook_subscriptions where id = %s",
            (targets["subscription_id"],),
        ).fetchone()
        rotations = conn.execute(
            "select count(*) as n from public.audit_log where action like '%%secret_rotated'"
        ).fetchone()["n"]
    return bytes(client["secret_hash"]), subscription["secret_encrypted"], rotations


def test_a_page_on_another_port_cannot_rotate_secrets_of_a_signed_in_admin(page, live, admin, targets, shoot):
    log_in(page, admin)
    before = _secrets(live, targets)
    attacker = AttackerSite(
        PAGE.format(
            action=f"{live.url}/api/oauth/clients/{targets['client_id']}/rotate-secret",
            fetch_target=f"{live.url}/api/webhooks/subscriptions/{targets['subscription_id']}/rotate-secret",
        )
    )
    try:
        with page.expect_navigation(url=f"{live.url}/api/oauth/clients/**"):
            page.goto(attacker.url)
        shoot(page, "csrf-forged-form-refused")
        # The browser did send the forged requests, cookie included; the server refused them.
        assert "csrf-failed" in page.content()
    finally:
        attacker.stop()

    assert _secrets(live, targets) == before
    # The admin is still signed in, and the admin UI itself (which sends the token) still works.
    page.goto("/admin/oauth-clients")
    page.get_by_label("Organization").select_option(label="Riverside Academy")
    row = page.locator("tr").filter(has_text=targets["client_id"])
    row.get_by_role("button", name="Rotate secret…").click()
    page.get_by_role("dialog").get_by_role("button", name="Rotate").click()
    expect(page.get_by_text("New client secret").first).to_be_visible()
    assert _secrets(live, targets)[0] != before[0]
