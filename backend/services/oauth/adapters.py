"""Authlib's framework-agnostic requests and replies, and the storage connection of one call
(docs/decisions/0012-authlib-adapters.md)."""

from __future__ import annotations

from collections import defaultdict
from contextvars import ContextVar
from dataclasses import dataclass, field

import psycopg
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from authlib.oauth2.rfc6749.util import extract_basic_authorization

from backend.services.shared.audit import RequestInfo


class _Payload(OAuth2Payload):
    def __init__(self, values):
        self._values = values

    @property
    def data(self):
        return self._values

    @property
    def datalist(self):
        values = defaultdict(list)
        for key in self._values:
            values[key].extend(self._values.getlist(key))
        return values


class HttpRequest(OAuth2Request):
    """An OAuth request as the route read it: `args` and `form` are MultiDicts, `values` both."""

    def __init__(self, method: str, uri: str, headers, args, form, values):
        super().__init__(method, uri, headers=headers)
        self._args = args
        self._form = form
        self.payload = _Payload(values)

    @property
    def args(self):
        return self._args

    @property
    def form(self):
        return self._form


@dataclass
class Reply:
    """The server's answer (status, body, headers), which the route turns into an HTTP response."""

    status: int
    body: dict | str
    headers: list[tuple[str, str]] = field(default_factory=list)

    # Not dead: Authlib's RFC 9207 hook (IssuerParameter) reads and rewrites `response.location`
    # to add `iss` to every authorization redirect.
    @property
    def location(self) -> str | None:
        return next((value for name, value in self.headers if name.lower() == "location"), None)

    @location.setter
    def location(self, value: str) -> None:
        self.headers = [(name, v) for name, v in self.headers if name.lower() != "location"] + [("Location", value)]


@dataclass
class Call:
    """What one bound server call reads and writes with: its service_role connection, the caller's
    origin, and the clients loaded so far (Authlib asks for the same client several times)."""

    conn: psycopg.Connection
    origin: RequestInfo
    clients: dict = field(default_factory=dict)


current_call: ContextVar[Call] = ContextVar("questbridge_oauth_call")


def call_conn() -> psycopg.Connection:
    """The connection of the server call in progress: what the grants and endpoints store with."""
    return current_call.get().conn


def basic_credentials(headers) -> tuple[str | None, str | None]:
    """HTTP Basic client credentials; a header that does not decode is no credentials (invalid_client)."""
    try:
        return extract_basic_authorization(headers)
    except ValueError:  # not base64 of UTF-8, not ASCII, or nothing after the scheme
        return None, None


def basic_request_credentials(request) -> tuple[str | None, str | None]:
    return basic_credentials(request.headers)


def post_credentials(request) -> tuple[str | None, str | None]:
    return request.form.get("client_id"), request.form.get("client_secret")
