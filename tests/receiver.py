"""A real HTTP receiver on 127.0.0.1 for webhook tests, whose answers can be changed mid-test."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    peer_port: int = 0  # the sender's local port: which connection, hence which process, sent it
    at: float = field(default_factory=time.time)


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"ok"
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    reset: bool = False  # close the connection without answering
    # Hold the request until this is set (at most `delay` seconds, when a delay is given too).
    release: threading.Event | None = None


class Receiver:
    """`receiver.answer = Answer(...)` or `receiver.script([...])` decides the next answers."""

    def __init__(self):
        self.requests: list[Received] = []
        self.answered = 0  # requests answered (or reset) so far
        self.answer = Answer()
        self._script: list[Answer] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    receiver.requests.append(Received(self.path, headers, body, self.client_address[1]))
                    answer = receiver._script.pop(0) if receiver._script else receiver.answer
                try:
                    if answer.release is not None:
                        answer.release.wait(answer.delay or None)
                    elif answer.delay:
                        time.sleep(answer.delay)
                    if answer.reset:
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                finally:
                    with receiver._lock:
                        receiver.answered += 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def held(self) -> int:
        """Requests received and not answered yet."""
        with self._lock:
            return len(self.requests) - self.answered

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, answers: list[Answer]) -> None:
        with self._lock:
            self._script = list(answers)

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
