"""Helpers shared by the OAuth tests: registering clients, PKCE pairs, reading forms and redirects."""

from __future__ import annotations

import base64
import secrets
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urlsplit

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from tests.support import audit_entries

REDIRECT_URI = "https://lms.example.edu/oauth/callback"
LOOPBACK_REDIRECT_URI = "http://127.0.0.1/callback"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, create_s256_code_challenge(verifier)


def basic_auth(client_id: str, secret: str) -> dict:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def register(http, headers: dict, org: dict, **overrides) -> dict:
    """Register a client through the API (an org admin's headers); returns the 201 body."""
    body = {
        "organization_id": str(org["id"]),
        "name": "Canvas at Example University",
        "redirect_uris": [REDIRECT_URI],
        "scopes": ["read:profile", "read:quests", "read:progress", "webhooks:manage"],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
    } | overrides
    response = http.post("/api/oauth/clients", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def query_of(location: str) -> dict:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def without_query(location: str) -> str:
    parts = urlsplit(location)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class FormReader(HTMLParser):
    """The inputs and buttons of the first form on a page: name -> value."""

    def __init__(self):
        super().__init__()
        self.action = None
        self.fields: dict[str, str] = {}
        self.buttons: dict[str, list[str]] = {}
        self._in_form = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and self.action is None:
            self.action, self._in_form = attrs.get("action"), True
        elif self._in_form and tag == "input" and attrs.get("name"):
            self.fields[attrs["name"]] = attrs.get("value") or ""
        elif self._in_form and tag == "button" and attrs.get("name"):
            self.buttons.setdefault(attrs["name"], []).append(attrs.get("value"))

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False


def read_form(html: str) -> FormReader:
    reader = FormReader()
    reader.feed(html)
    return reader


def authorize_query(client: dict, challenge: str | None, **overrides) -> str:
    params = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": client["redirect_uris"][0],
        "scope": "read:profile read:quests",
        "state": secrets.token_urlsafe(8),
    }
    if challenge is not None:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    params |= overrides
    return urlencode({key: value for key, value in params.items() if value is not None})


# -- driving the flow with Flask's test client ------------------------------------------------------


def signed_in(app, user: dict):
    """A test client holding `user`'s session cookie, like a browser after signing in."""
    browser = app.test_client()
    response = browser.post("/api/auth/login", json={"email": user["email"], "password": user["password"]})
    assert response.status_code == 200, response.get_json()
    return browser


def submit_consent(browser, page, confirm: str = "yes", **changes):
    form = read_form(page.get_data(as_text=True))
    assert form.action == "/api/oauth/authorize"
    return browser.post(form.action, data=form.fields | {"confirm": confirm} | changes)


def authorize(browser, client: dict, challenge: str | None, confirm: str = "yes", **params) -> str:
    """Run the authorization endpoint (and the consent page when shown); the redirect's Location."""
    page = browser.get("/api/oauth/authorize?" + authorize_query(client, challenge, **params))
    if page.status_code == 302:
        return page.headers["Location"]
    assert page.status_code == 200, page.get_data(as_text=True)
    answer = submit_consent(browser, page, confirm)
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return answer.headers["Location"]


def exchange(http, client: dict, code: str, verifier: str | None, redirect_uri: str | None = None, **extra):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri or client["redirect_uris"][0],
    }
    if verifier is not None:
        data["code_verifier"] = verifier
    data |= extra
    headers = basic_auth(client["client_id"], client["client_secret"]) if client.get("client_secret") else {}
    if not headers:
        data["client_id"] = client["client_id"]
    return http.post("/api/oauth/token", data=data, headers=headers)


def user_tokens(app, http, client: dict, user: dict, scope: str = "read:profile read:quests") -> dict:
    """The token response of a complete authorization-code + PKCE flow for `user`."""
    verifier, challenge = pkce_pair()
    location = authorize(signed_in(app, user), client, challenge, scope=scope)
    response = exchange(http, client, query_of(location)["code"], verifier)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def refresh(http, client: dict, refresh_token: str, **extra):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token} | extra
    return http.post("/api/oauth/token", data=data, headers=basic_auth(client["client_id"], client["client_secret"]))


def client_credentials(http, client: dict, **extra):
    data = {"grant_type": "client_credentials"} | extra
    return http.post("/api/oauth/token", data=data, headers=basic_auth(client["client_id"], client["client_secret"]))


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def audit_actions(db, org) -> list[dict]:
    """The organization's OAuth audit entries, oldest first."""
    return audit_entries(db, org, "oauth_")
