"""Browser fixtures: the real app served on 127.0.0.1 from a thread, a local webhook receiver, and
Debian's Chromium driven by Playwright. Every test saves screenshots to test-artifacts/screenshots/.

Chromium is never downloaded (nothing outside the package registries is reachable): the tests use
/usr/bin/chromium, and fail, never skip, when it is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from werkzeug.serving import WSGIRequestHandler, make_server

from backend.config import PROJECT_ROOT
from tests.support import DEFAULT_PASSWORD, World

CHROMIUM = Path(os.environ.get("QB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DIST = PROJECT_ROOT / "frontend" / "dist"
SCREENSHOTS = PROJECT_ROOT / "test-artifacts" / "screenshots"
CRON_SECRET = "e2e-cron-secret-" + "c" * 24
AUTOGRADER_SECRET = "e2e-autograder-secret-" + "a" * 16
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}

# Chrome reports every non-2xx fetch as a console error; those are expected (401 before login,
# 422 from a refused form). Anything else on the console is a bug in the page.
EXPECTED_CONSOLE = re.compile(r"^Failed to load resource: the server responded with a status of (4\d\d)")


@pytest.fixture(scope="session")
def chromium_executable() -> Path:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing, so the admin UI's browser tests cannot run. Install Debian's Chromium "
            "(as root: apt-get update && apt-get install -y chromium); `make test` does this when run as root.",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def built_ui() -> Path:
    if not (DIST / "index.html").is_file():
        pytest.fail(
            "frontend/dist is missing: build the admin UI first (`make frontend`, which `make test` runs)",
            pytrace=False,
        )
    return DIST


@pytest.fixture(scope="module")
def browser(chromium_executable):
    """Per module, never per session: Playwright's sync API keeps an asyncio loop running in this
    thread while it is open, and later tests call asyncio.run() (the delivery engine)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(chromium_executable), args=CHROMIUM_ARGS, headless=True
        )
        yield instance
        instance.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    # Fresh each run, so what is there was taken by this run.
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


class QuietHandler(WSGIRequestHandler):
    """The app logs each request itself; werkzeug's access log would only repeat it."""

    def log_request(self, *args, **kwargs):
        pass


class LiveServer:
    """The test app behind a real threaded HTTP server on 127.0.0.1."""

    def __init__(self, app, port: int = 0):
        """`port` 0 takes any free one; a test that must know it first (PUBLIC_URL) picks it."""
        self.app = app
        self.runtime = app.extensions["questbridge"]
        self.server = make_server("127.0.0.1", port, app, threaded=True, request_handler=QuietHandler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.http = requests.Session()

    def start(self) -> LiveServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.http.close()

    def call(self, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def token(self, user: dict) -> str:
        response = self.call("POST", "/api/auth/login", json={"email": user["email"], "password": user["password"]})
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def engine_pass(self) -> dict:
        """One delivery engine pass, the way cron triggers it."""
        response = self.call("POST", "/api/webhooks/retry", token=CRON_SECRET)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def live(make_app, built_ui):
    app = make_app(
        webhooks_allowed_targets="127.0.0.1/32",
        cron_secret=CRON_SECRET,
        # One attempt, then dead: lets a test make a dead delivery without waiting for backoff.
        webhooks_max_attempts=1,
        # The autograder posts grades to the inbox; one failed attempt there makes an event dead.
        autograder_webhook_secrets=(AUTOGRADER_SECRET,),
        inbound_max_attempts=1,
        inbound_backoff_seconds=(0,),
    )
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture
def admin(live) -> dict:
    """An org admin of "Riverside Academy" (and of a second org, for the switcher)."""
    world = World(live.app)
    user = world.user(email="admin@riverside.example", password=DEFAULT_PASSWORD)
    org = world.organization("Riverside Academy", admin=user)
    other = world.organization("Hillview College", admin=user)
    return {**user, "org": org, "other_org": other}


@dataclass
class BrowserProblems:
    """What went wrong inside the page: uncaught errors and unexpected console errors."""

    errors: list[str] = field(default_factory=list)

    def check(self) -> None:
        assert not self.errors, "the page reported errors:\n" + "\n".join(self.errors)


def _watch(page, problems: BrowserProblems) -> None:
    page.on("pageerror", lambda error: problems.errors.append(f"uncaught: {error}"))

    def on_console(message):
        if message.type == "error" and not EXPECTED_CONSOLE.match(message.text):
            problems.errors.append(f"console: {message.text}")

    page.on("console", on_console)


def _new_page(browser, live, viewport):
    context = browser.new_context(viewport=viewport, base_url=live.url, locale="en-US", timezone_id="UTC")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems = BrowserProblems()
    _watch(page, problems)
    return context, page, problems


@pytest.fixture
def page(browser, live):
    context, page, problems = _new_page(browser, live, DESKTOP)
    yield page
    context.close()
    problems.check()


@pytest.fixture
def phone_page(browser, live):
    context, page, problems = _new_page(browser, live, PHONE)
    yield page
    context.close()
    problems.check()


@pytest.fixture
def shoot(screenshots):
    def _shoot(page, name: str) -> Path:
        path = screenshots / f"{name}.png"
        # A modal's backdrop covers the viewport only: shoot what the person sees then.
        page.screenshot(path=str(path), full_page=page.get_by_role("dialog").count() == 0)
        return path

    return _shoot


def log_in(page, user: dict, path: str = "/admin/") -> None:
    page.goto(path)
    page.get_by_label("Email").fill(user["email"])
    page.get_by_label("Password").fill(user["password"])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Log out").wait_for()
