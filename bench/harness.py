"""What the benchmarks share: a throwaway database on DATABASE_URL's server (else the embedded
one), a free port, and the app under the production gunicorn config."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg
from psycopg import sql

from backend import migrate
from backend.config import PROJECT_ROOT
from backend.db import embedded_server_uri, with_database

SECRET_KEY = "bench-" + "s" * 40


def admin_url() -> str:
    """The server the benchmarks run on: DATABASE_URL's, else the embedded one (started if need be)."""
    return os.environ.get("DATABASE_URL") or embedded_server_uri(PROJECT_ROOT / ".data")


def fresh_database(name: str, admin: str | None = None) -> str:
    """`name` dropped, created again and migrated on `admin`'s server; its URL."""
    admin = admin or admin_url()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = with_database(admin, name)
    migrate.upgrade(url, log=lambda *_: None)
    return url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(app: str, port: int, env: dict, log_name: str) -> subprocess.Popen:
    """gunicorn -c gunicorn.conf.py `app` on 127.0.0.1:`port` in its own process group, with the
    production settings plus `env`, once /healthz answers; its output goes to a file in the
    temporary directory named `log_name`."""
    env = (
        os.environ
        | {
            "QB_ENV": "production",
            "SECRET_KEY": SECRET_KEY,
            "JWT_SECRET": "bench-" + "j" * 40,
            "METRICS_TOKEN": "bench-" + "m" * 40,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "SCHEDULER_ENABLED": "false",
        }
        | env
    )
    log = (Path(tempfile.gettempdir()) / log_name).open("w")
    process = subprocess.Popen(  # noqa: S603 (our own gunicorn, fixed arguments)
        [str(PROJECT_ROOT / ".venv/bin/gunicorn"), "-c", "gunicorn.conf.py", app],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                response.read()
            return process
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"gunicorn did not start; see {log.name}")
