"""Real processes for fault tests: delivery workers and gunicorn started as subprocesses (and killed
with SIGKILL), a private embedded Postgres that a test may stop and start, and bulk seeding.

Everything listens on 127.0.0.1 or a Unix socket. Every wait is bounded; every process a test
starts is stopped at teardown, by its own pid.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import psycopg
import pytest
from psycopg.rows import dict_row

from backend import migrate
from backend.config import PROJECT_ROOT
from backend.db import Database, ensure_database, with_database
from backend.services.webhooks import signing
from backend.services.webhooks.subscriptions import SECRET_PURPOSE

START_TIMEOUT = 30.0
NO_ANSWER = (OSError, http.client.HTTPException)  # the connection failed or closed without an answer
# What a child must not inherit from the shell that runs pytest: it gets its settings from the test.
OWN_SETTINGS = ("QB_", "DATABASE_URL", "TEST_DATABASE_URL", "WEBHOOKS_", "INBOUND_", "AUTOGRADER_", "SCHEDULER_")


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.05, what="condition"):
    """Poll `predicate` until it is truthy; fail the test after `timeout` seconds, saying `what`
    (a string, or a callable giving one then, e.g. to show a log)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what() if callable(what) else what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(database_url: str, secret_key: str, data_dir: Path, **settings) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_SETTINGS) and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(
        QB_ENV="test",
        TEST_DATABASE_URL=database_url,
        QB_DATA_DIR=str(data_dir),
        SECRET_KEY=secret_key,
        JWT_SECRET="reliability-jwt-" + "j" * 32,
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
        WEBHOOKS_ALLOWED_TARGETS="127.0.0.1/32",
        PYTHONUNBUFFERED="1",
    )
    env.update({name: str(value) for name, value in settings.items()})
    return env


class Child:
    """One subprocess with its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict, log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and modules)
            argv, cwd=PROJECT_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def freeze(self) -> None:
        """SIGSTOP: the child opens and sends nothing more, and its sockets can be read off."""
        os.kill(self.pid, signal.SIGSTOP)

    def local_ports_to(self, port: int) -> set[int]:
        """The local ports of the child's TCP connections to 127.0.0.1:`port`."""
        connections = psutil.Process(self.pid).net_connections(kind="tcp")
        return {c.laddr.port for c in connections if c.raddr and c.raddr.port == port}

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind runs in the child."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


class Children:
    """Starts workers and gunicorns; stops every one of them at teardown."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.started: list[Child] = []

    def worker(self, env: dict) -> Child:
        """`python -m backend.workers.webhook_delivery --loop`, returned once its engine runs."""
        child = Child("worker", [sys.executable, "-m", "backend.workers.webhook_delivery", "--loop"], env, self.log_dir)
        self.started.append(child)
        wait_until(
            lambda: "delivery_worker_started" in child.log() or not child.alive(),
            START_TIMEOUT,
            what="the delivery worker to start",
        )
        assert child.alive(), child.log()
        return child

    def gunicorn(self, env: dict, workers: int = 2) -> Gunicorn:
        port = free_port()
        env = env | {"HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": str(workers)}
        argv = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "backend:create_app()"]
        child = Gunicorn("gunicorn", argv, env, self.log_dir, port, workers)
        self.started.append(child)
        child.wait_ready()
        return child

    def stop_all(self) -> None:
        for child in reversed(self.started):
            child.stop()


class Gunicorn(Child):
    def __init__(self, name, argv, env, log_dir, port: int, workers: int):
        super().__init__(name, argv, env, log_dir)
        self.port = port
        self.workers = workers
        self.url = f"http://127.0.0.1:{port}"

    def worker_pids(self) -> list[int]:
        return sorted(p.pid for p in psutil.Process(self.pid).children() if p.is_running())

    def wait_ready(self) -> None:
        def ready():
            assert self.alive(), self.log()
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:  # noqa: S310 (loopback)
                    healthy = response.status == 200
            except OSError:
                return False
            return healthy and len(self.worker_pids()) == self.workers

        wait_until(ready, START_TIMEOUT, interval=0.1, what="gunicorn to answer /healthz")


@pytest.fixture
def children(tmp_path):
    started = Children(tmp_path)
    yield started
    started.stop_all()


# -- a private Postgres ---------------------------------------------------------------------------


class PrivatePostgres:
    """An embedded server of our own (never the shared one): stop and start it at will."""

    def __init__(self, root: Path):
        import pgserver

        self.server = pgserver.get_server(root / "pg", cleanup_mode="delete")
        self.admin_uri = self.server.get_uri()
        self.socket_dir = self.server.get_postmaster_info().socket_dir
        self.running = True

    def _pg_ctl(self, args: list[str]) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(args, pgdata=self.server.pgdata, user=self.server.system_user, timeout=60)

    def stop(self) -> None:
        """A fast shutdown: every session is terminated, as in a failover or a restart for an upgrade."""
        self._pg_ctl(["-w", "-m", "fast", "stop"])
        self.running = False

    def start(self) -> None:
        self._pg_ctl(["-w", "-l", str(self.server.log), "-o", '-h ""', "-o", f"-k {self.socket_dir}", "start"])
        self.running = True

    def database(self, name: str) -> str:
        ensure_database(self.admin_uri, name)
        url = with_database(self.admin_uri, name)
        migrate.upgrade(url, log=lambda *_: None)
        return url

    def close(self) -> None:
        self.server.cleanup()


@pytest.fixture
def private_postgres():
    # A short path: the server's Unix socket lives in its data directory.
    root = Path(tempfile.mkdtemp(prefix="qbpg-"))
    server = PrivatePostgres(root)
    yield server
    if not server.running:
        server.start()  # the test failed while the server was down; pgserver stops a running one
    server.close()
    shutil.rmtree(root, ignore_errors=True)


# -- data --------------------------------------------------------------------------------------


def subscribe(db: Database, box, organization_id, url: str, event_types=("*",)) -> tuple[uuid.UUID, str]:
    """A subscription to `url`; returns its id and its signing secret."""
    secret = signing.generate_secret()
    with db.transaction("service_role") as conn:
        subscription_id = conn.execute(
            "insert into public.webhook_subscriptions (organization_id, target_url, event_types, secret_encrypted)"
            " values (%s, %s, %s, %s) returning id",
            (organization_id, url, list(event_types), box.encrypt(secret, SECRET_PURPOSE)),
        ).fetchone()["id"]
    return subscription_id, secret


def seed_tasks(db: Database, organization_id, titles: tuple[str, ...]) -> list[uuid.UUID]:
    """A quest of the organization with one task per title (10 xp each); the tasks' ids."""
    with db.transaction("service_role") as conn:
        quest = conn.execute(
            "insert into public.quests (organization_id, title) values (%s, 'Q') returning id", (organization_id,)
        ).fetchone()["id"]
        return [
            conn.execute(
                "insert into public.tasks (quest_id, organization_id, title, pillar, xp)"
                " values (%s, %s, %s, 'code', 10) returning id",
                (quest, organization_id, title),
            ).fetchone()["id"]
            for title in titles
        ]


def seed_submissions(db: Database, organization_id, task_id, user_id, count: int) -> list[str]:
    """`count` submissions of `user_id` to a task, inserted in one statement; their ids."""
    with db.transaction("service_role") as conn:
        rows = conn.execute(
            "insert into public.submissions (task_id, organization_id, user_id, content)"
            " select %s, %s, %s, 'work ' || n from generate_series(1, %s) as n returning id",
            (task_id, organization_id, user_id, count),
        ).fetchall()
    return [str(row["id"]) for row in rows]


def seed_deliveries(db: Database, organization_id, subscription_id, count: int) -> None:
    """`count` events with one pending delivery each to one subscription, inserted in bulk."""
    with db.transaction("service_role") as conn:
        conn.execute(
            """
            with ev as (
              insert into public.webhook_events (organization_id, type, payload)
              select %(org)s, 'task.completed',
                     jsonb_build_object('id', gen_random_uuid(), 'type', 'task.completed',
                       'timestamp', to_char(now() at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                       'organization_id', %(org)s::text, 'data', jsonb_build_object('n', n))
              from generate_series(1, %(n)s) as n
              returning id
            )
            insert into public.webhook_deliveries (event_id, subscription_id, organization_id, event_type)
            select ev.id, %(sub)s, %(org)s, 'task.completed' from ev
            """,
            {"org": organization_id, "sub": subscription_id, "n": count},
        )
        conn.execute("analyze public.webhook_deliveries")


def query(db_url: str, sql: str, params=None) -> list[dict]:
    """Read as the login role on a fresh connection (no pool to go stale across a restart)."""
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


def http_json(method: str, url: str, body=None, headers: dict | None = None, timeout: float = 10.0):
    """One request on a fresh connection; returns (status, parsed JSON or None); raises NO_ANSWER."""
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1"
    raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        sent = {"Content-Type": "application/json"} | (headers or {})
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=raw, headers=sent)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(data) if data else None
    except ValueError:
        return response.status, None


# -- receivers that misbehave ------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """What a receiver does with one request."""

    status: int = 200
    headers: dict = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (longer than the sender's timeout: a hang)
    reset: bool = False  # abort the connection with a TCP RST instead of answering


@dataclass(frozen=True)
class Served:
    webhook_id: str
    at: float  # time.time() when the request had been read
    reply: Reply


class ScriptedReceiver:
    """A threaded HTTP server on 127.0.0.1 whose reply to each request is `script(webhook_id, n)`,
    n counting that webhook-id's requests from 1; it records every request and the reply given."""

    def __init__(self, script: Callable[[str, int], Reply]):
        self.served: list[Served] = []
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                webhook_id = self.headers.get("webhook-id", "")
                with receiver._lock:
                    n = receiver._counts[webhook_id] = receiver._counts.get(webhook_id, 0) + 1
                    reply = script(webhook_id, n)
                    receiver.served.append(Served(webhook_id, time.time(), reply))
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.reset:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a client that gave up on a hanging reply leaves a broken pipe behind

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def by_delivery(self) -> dict[str, list[Served]]:
        grouped: dict[str, list[Served]] = {}
        with self._lock:
            for served in self.served:
                grouped.setdefault(served.webhook_id, []).append(served)
        return grouped

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
