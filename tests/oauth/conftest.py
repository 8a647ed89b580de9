"""The app served on 127.0.0.1 by a real HTTP server in a thread, for third-party clients."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from urllib.parse import urljoin

import pytest
import requests
from werkzeug.serving import make_server

from tests.oauth.support import read_form, register
from tests.support import World


@dataclass
class Live:
    app: object
    url: str

    def browse(self, authorization_url: str, user: dict, confirm: str = "yes") -> str:
        """What a person does in a browser: sign in, read the consent page, answer. Returns the
        Location the browser is finally sent to (the client's redirect URI with code or error)."""
        browser = requests.Session()
        answer = browser.get(authorization_url, allow_redirects=False, timeout=10)
        while answer.status_code in (302, 303):
            location = urljoin(self.url, answer.headers["Location"])
            if not location.startswith(self.url):
                return location
            answer = browser.get(location, allow_redirects=False, timeout=10)
            if "/api/oauth/login" in location:
                form = read_form(answer.text)
                answer = browser.post(
                    urljoin(self.url, form.action),
                    data=form.fields | {"email": user["email"], "password": user["password"]},
                    allow_redirects=False,
                    timeout=10,
                )
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-Frame-Options"] == "DENY"
        form = read_form(answer.text)
        answer = browser.post(
            urljoin(self.url, form.action), data=form.fields | {"confirm": confirm}, allow_redirects=False, timeout=10
        )
        assert answer.status_code == 303, answer.text
        return answer.headers["Location"]


@pytest.fixture
def live(make_app):
    holder = {}
    server = make_server("127.0.0.1", 0, lambda environ, start: holder["app"](environ, start), threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    holder["app"] = make_app(public_url=url)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Live(holder["app"], url)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def live_world(live) -> World:
    """The world of the live server's app (the `world` of the other tests is the test client's)."""
    return World(live.app)


@pytest.fixture
def academy(live, live_world):
    """An organization, its admin, a learner, and a confidential client its admin registered."""
    academy_org = live_world.organization("Academy")
    admin_session = requests.Session()
    login = admin_session.post(
        f"{live.url}/api/auth/login",
        json={"email": academy_org["admin"]["email"], "password": academy_org["admin"]["password"]},
        timeout=10,
    )
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    client = register(_Http(live.url), headers, academy_org)
    return {
        "org": academy_org,
        "admin": academy_org["admin"],
        "learner": live_world.add_member(academy_org),
        "client": client,
        "headers": headers,
    }


@pytest.fixture
def register_live(live, academy):
    """Register another client of the academy, as its admin, over real HTTP; returns the 201 body."""
    return lambda **overrides: register(_Http(live.url), academy["headers"], academy["org"], **overrides)


class _Http:
    """Just enough of Flask's test client for `register` over real HTTP."""

    def __init__(self, url: str):
        self.url = url

    def post(self, path, json, headers):
        response = requests.post(self.url + path, json=json, headers=headers, timeout=10)
        response.get_json = response.json
        return response


@pytest.fixture
def lms(client, admin_headers, org):
    """A client the organization's admin registered."""
    return register(client, admin_headers, org)


@pytest.fixture
def learner(world, org):
    return world.add_member(org)
