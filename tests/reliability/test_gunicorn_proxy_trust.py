"""Under the real gunicorn with the project's gunicorn.conf.py, X-Forwarded-Proto is believed only
from TRUSTED_PROXIES: gunicorn's own scheme handling (wsgi.url_scheme) follows the app's list, so
a client cannot talk the OAuth server's https check round by writing the header itself."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from urllib.error import HTTPError

import pytest

from tests.reliability.conftest import child_env

ISSUER = "https://auth.questbridge.example"


def token_request(url: str, headers: dict) -> tuple[int, dict]:
    """A client-credentials request from an unknown client: the transport is checked first, so the
    error says which of the two checks refused it."""
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": "qbc_unknown"}).encode()
    request = urllib.request.Request(f"{url}/api/oauth/token", data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return response.status, json.loads(response.read())
    except HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize(
    ("trusted", "expected_error"),
    [("", "insecure_transport"), ("127.0.0.1/32", "invalid_client")],
    ids=["untrusted-peer", "trusted-proxy"],
)
def test_forwarded_proto_counts_only_from_a_trusted_proxy(database_url, children, tmp_path, trusted, expected_error):
    env = child_env(database_url, "proxy-trust-" + "s" * 32, tmp_path / "data", OAUTH_ISSUER=ISSUER)
    if trusted:
        env["TRUSTED_PROXIES"] = trusted
    web = children.gunicorn(env, workers=1)

    status, body = token_request(web.url, {"X-Forwarded-Proto": "https"})

    assert body["error"] == expected_error, body
    assert status in (400, 401)
    # Without the header, plain http to an https issuer is refused either way.
    assert token_request(web.url, {})[1]["error"] == "insecure_transport"
