"""Oversized requests answer RFC 9457 problem+json with the status that names the excess: 414 for
the request line, 431 for header fields, 413 for a body, whether its length is announced or it
comes chunked; never gunicorn's HTML, never a 400 for a body that is merely too large.

The production server is tested as `make run` starts it (gunicorn with gunicorn.conf.py) on a free
port, with raw sockets: no client library would send most of these requests. The same body limits
are checked under werkzeug's own server, which is what the Flask path sees without gunicorn.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass

import pytest
from werkzeug.serving import make_server

from tests.reliability.conftest import Children, child_env

MAX_CONTENT_LENGTH = 1024 * 1024  # backend.config's max_content_length default
AUTOGRADER_LIMIT = 256 * 1024


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def problem(self) -> dict:
        assert self.headers.get("content-type") == "application/problem+json", (self.headers, self.body[:300])
        problem = json.loads(self.body)
        assert problem["status"] == self.status and problem["title"] and problem["detail"], problem
        assert problem["type"].startswith("urn:questbridge:problem:"), problem
        return problem


def exchange(port: int, head: bytes, body_chunks=(), timeout: float = 15.0) -> Answer:
    """Send `head` then each body chunk (stopping quietly if the server has answered and closed),
    and read the one answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        for chunk in body_chunks:
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        received = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            received += data
            if _complete(received):
                break
    assert received, "no answer at all"
    head_part, _, payload = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head_part.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(status_line.split()[1]), headers, payload)


def _complete(received: bytes) -> bool:
    head, found, payload = received.partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return len(payload) >= int(value.strip())
    return False


def request_head(method: str, target: str, headers: dict[str, str] | list[tuple[str, str]] = ()) -> bytes:
    items = headers.items() if isinstance(headers, dict) else headers
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", *(f"{name}: {value}" for name, value in items)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunked(total: int, size: int = 64 * 1024):
    """`total` bytes of a JSON-ish body as HTTP/1.1 chunks, then the last chunk."""
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield f"{n:x}\r\n".encode() + b"x" * n + b"\r\n"
        sent += n
    yield b"0\r\n\r\n"


def fixed(total: int, size: int = 64 * 1024):
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


# -- the servers ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gunicorn_port(database_url, tmp_path_factory):
    """One gunicorn as `make run` starts it (gunicorn.conf.py), for the whole module."""
    root = tmp_path_factory.mktemp("gunicorn")
    children = Children(root)
    env = child_env(
        database_url, "oversized-" + "k" * 40, root / "data", AUTOGRADER_WEBHOOK_SECRETS="oversized-autograder-secret"
    )
    try:
        yield children.gunicorn(env, workers=1).port
    finally:
        children.stop_all()


@pytest.fixture
def werkzeug_port(make_app):
    app = make_app(autograder_webhook_secrets=("oversized-autograder-secret",))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


# -- request line and headers (gunicorn answers these before any application code runs) ----------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_overlong_request_line_is_414_problem_json(gunicorn_port, method):
    answer = exchange(gunicorn_port, request_head(method, "/api/quests?q=" + "a" * 20_000, {"Content-Length": "0"}))
    assert answer.status == 414
    problem = answer.problem()
    assert problem["title"] == "URI Too Long" and "request line" in problem["detail"]
    assert answer.headers["connection"] == "close"


@pytest.mark.parametrize(
    ("headers", "what"),
    [
        ({"X-Padding": "p" * 20_000}, "one header field"),
        ({"Cookie": "qb_session=" + "c" * 9000}, "one header field"),
        ([(f"X-Field-{i}", "v") for i in range(150)], "too many header fields"),
    ],
)
def test_oversized_header_fields_are_431_problem_json(gunicorn_port, headers, what):
    answer = exchange(gunicorn_port, request_head("GET", "/healthz", headers))
    assert answer.status == 431, what
    problem = answer.problem()
    assert problem["title"] == "Request Header Fields Too Large" and "header" in problem["detail"]


def test_gunicorns_own_answers_carry_hsts_like_the_apps(database_url, tmp_path):
    children = Children(tmp_path)
    env = child_env(database_url, "oversized-" + "k" * 40, tmp_path / "data", HSTS_MAX_AGE_SECONDS="600")
    try:
        port = children.gunicorn(env, workers=1).port
        refused = exchange(port, request_head("GET", "/healthz?q=" + "a" * 20_000))
        answered = exchange(port, request_head("GET", "/healthz"))
    finally:
        children.stop_all()
    assert refused.status == 414 and answered.status == 200
    for answer in (refused, answered):
        assert answer.headers["strict-transport-security"] == "max-age=600; includeSubDomains"


def test_other_malformed_requests_are_400_problem_json_not_html(gunicorn_port):
    answer = exchange(gunicorn_port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n")
    assert answer.status == 400
    answer.problem()


def test_ordinary_requests_still_pass(gunicorn_port):
    answer = exchange(gunicorn_port, request_head("GET", "/healthz?" + "a" * 3000, {"X-Padding": "p" * 4000}))
    assert answer.status == 200


# -- bodies: announced or chunked, under gunicorn and under werkzeug --------------------------------


@pytest.fixture(params=["gunicorn", "werkzeug"])
def port(request):
    return request.getfixturevalue(f"{request.param}_port")


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/oauth/token"])
def test_a_chunked_body_over_the_limit_is_413(port, path):
    content_type = "application/x-www-form-urlencoded" if path == "/api/oauth/token" else "application/json"
    head = request_head("POST", path, {"Content-Type": content_type, "Transfer-Encoding": "chunked"})
    answer = exchange(port, head, chunked(MAX_CONTENT_LENGTH + 64 * 1024))
    assert answer.status == 413, answer.body[:300]
    problem = answer.problem()
    assert problem["title"] == "Payload Too Large" and "1024 KiB" in problem["detail"]
    assert problem["errors"] == {"body": [f"must be at most {MAX_CONTENT_LENGTH} bytes"]}


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/oauth/token", "/api/organizations"])
def test_an_announced_body_over_the_limit_is_413_before_it_is_read(port, path):
    content_type = "application/x-www-form-urlencoded" if path == "/api/oauth/token" else "application/json"
    head = request_head("POST", path, {"Content-Type": content_type, "Content-Length": str(MAX_CONTENT_LENGTH + 1)})
    answer = exchange(port, head, fixed(64 * 1024))  # the server answers without waiting for the rest
    assert answer.status == 413, answer.body[:300]
    assert answer.problem()["errors"] == {"body": [f"must be at most {MAX_CONTENT_LENGTH} bytes"]}


def test_a_chunked_body_within_the_limit_is_read_whole(port):
    body = json.dumps({"email": "nobody@example.test", "password": "p" * 500}).encode()
    head = request_head("POST", "/api/auth/login", {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    answer = exchange(port, head, [f"{len(body):x}\r\n".encode() + body + b"\r\n", b"0\r\n\r\n"])
    assert answer.status == 401  # the body was parsed: wrong credentials, not a size problem


def test_the_autograders_own_limit_stays_256_kib_chunked_or_not(port):
    head = {"Content-Type": "application/json", "X-Autograder-Signature": "0" * 64}
    chunked_answer = exchange(
        port,
        request_head("POST", "/api/webhooks/autograder/", head | {"Transfer-Encoding": "chunked"}),
        chunked(AUTOGRADER_LIMIT + 1),
    )
    announced = exchange(
        port,
        request_head("POST", "/api/webhooks/autograder/", head | {"Content-Length": str(AUTOGRADER_LIMIT + 1)}),
        fixed(64 * 1024),
    )
    for answer in (chunked_answer, announced):
        assert answer.status == 413
        assert answer.problem()["errors"] == {"body": [f"must be at most {AUTOGRADER_LIMIT} bytes"]}
