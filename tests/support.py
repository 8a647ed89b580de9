"""Helpers the tests share: problem assertions, direct reads, the world builder, sign-ins and a
running delivery engine. Fixtures stay in conftest.py; everything here is plain code to import."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

from backend.services import learning
from backend.services.accounts import organizations
from backend.services.accounts import users as accounts
from backend.services.keys import manage
from backend.services.shared.audit import RequestInfo
from backend.services.shared.passwords import PasswordHasher
from backend.services.webhooks import subscriptions
from backend.services.webhooks.engine import engine_for

DEFAULT_PASSWORD = "correct horse battery staple"
PROBLEM = "application/problem+json"
PROBLEM_TYPE = "urn:questbridge:problem:"
# The least environment a production configuration starts from.
PRODUCTION = {
    "QB_ENV": "production",
    "DATABASE_URL": "postgresql://app@db.internal/questbridge",
    "SECRET_KEY": "s" * 48,
    "JWT_SECRET": "j" * 48,
    "METRICS_TOKEN": "m" * 32,
}


def assert_problem(response, status: int, field: str | None = None, *, slug: str | None = None) -> dict:
    """A problem+json answer (RFC 9457) with this status, naming `field` among its errors and of
    type `slug` when given; returns the body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert {"type", "title", "status", "detail"} <= body.keys(), body
    assert body["type"].startswith(PROBLEM_TYPE), body
    assert body["status"] == status
    assert body["title"] and body["detail"], body
    if field is not None:
        assert field in body.get("errors", {}), body
    if slug is not None:
        assert body["type"] == PROBLEM_TYPE + slug, body
    return body


def one(db, query: str, *params) -> dict | None:
    """One row of a query run as service_role."""
    with db.transaction("service_role") as conn:
        return conn.execute(query, params).fetchone()


def rows(db, query: str, *params) -> list[dict]:
    """Every row of a query run as service_role."""
    with db.transaction("service_role") as conn:
        return conn.execute(query, params).fetchall()


def audit_entries(db, org: dict, action_prefix: str) -> list[dict]:
    """The organization's audit entries whose action starts with `action_prefix`, oldest first."""
    return rows(
        db,
        "select actor_id, action, target_id, metadata from public.audit_log"
        " where organization_id = %s and starts_with(action, %s) order by id",
        org["id"],
        action_prefix,
    )


def walk_pages(client, url, headers, limit):
    """Every item of a list endpoint, following next_cursor; also returns the number of pages."""
    items, cursor, pages = [], None, 0
    while True:
        separator = "&" if "?" in url else "?"
        query = f"{separator}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(url + query, headers=headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert len(body["data"]) <= limit
        items.extend(body["data"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages


def room_in_the_window(need_seconds: float, window_seconds: int = 60) -> None:
    """Sleep into the next fixed window when fewer than `need_seconds` are left of this one, so that
    what a test counts lands in one window. UTC days start on a minute boundary, so room in the
    minute is room in the day too."""
    left = window_seconds - time.time() % window_seconds
    if left < need_seconds:
        time.sleep(left + 0.05)


class World:
    """Builds users, organizations and memberships through the services, as their users would (an
    organization is created by its admin) or as the system does (users, limits)."""

    def __init__(self, app):
        self.app = app
        self.runtime = app.extensions["questbridge"]
        self.hasher: PasswordHasher = self.runtime.hasher

    def user(self, email: str | None = None, password: str = DEFAULT_PASSWORD, **kwargs) -> dict:
        email = email or f"user-{uuid.uuid4().hex[:10]}@example.test"
        with self.runtime.db.transaction("service_role") as conn:
            user_id = accounts.create_user(conn, self.hasher, email, password, **kwargs)
        return {"id": user_id, "email": email, "password": password}

    def organization(self, name: str = "Org", admin: dict | None = None) -> dict:
        admin = admin or self.user()
        with self.as_user(admin) as conn:
            created = organizations.create_organization(conn, admin["id"], name, RequestInfo())
        return {"id": created["id"], "name": name, "admin": admin}

    def add_member(self, org: dict, user: dict | None = None, role: str = "member") -> dict:
        user = user or self.user()
        # Members join by invitation and consent (ADR 0009); a test that needs one directly inserts it.
        with self.runtime.db.transaction("service_role") as conn:
            conn.execute(
                "insert into public.memberships (organization_id, user_id, role) values (%s, %s, %s)",
                (org["id"], user["id"], role),
            )
        return user

    def allow(self, org: dict, tiers=("starter", "pro", "enterprise"), max_api_keys: int = 100) -> dict:
        """Set what the organization may hold in API keys, as a platform admin would."""
        with self.runtime.db.transaction("service_role") as conn:
            manage.set_limits(conn, org["id"], list(tiers), max_api_keys, RequestInfo())
        return org

    def course(self, name: str = "Academy") -> SimpleNamespace:
        """An organization whose member handed in work for the one task of its one quest: the quest
        and task made by its admin through the learning service."""
        org = self.organization(name)
        student = self.add_member(org)
        with self.as_user(org["admin"]) as conn:
            quest = learning.create_quest(conn, org["admin"]["id"], org["id"], "Python")
            task = learning.create_task(conn, quest["id"], "Loops", "code", 10)
        # Inserted, not learning.submit: its task.submitted event would be among the events tests count.
        with self.runtime.db.transaction("service_role") as conn:
            submission = conn.execute(
                "insert into public.submissions (task_id, organization_id, user_id, content)"
                " values (%s, %s, %s, 'print(1)') returning id",
                (task["id"], org["id"], student["id"]),
            ).fetchone()["id"]
        return SimpleNamespace(org=org, student=student, task=task["id"], submission=submission)

    def subscription(self, org: dict, event_types: list[str]) -> uuid.UUID:
        """A subscription the organization's admin made through the service; its id."""
        with self.as_user(org["admin"]) as conn:
            created = subscriptions.create_subscription(
                conn,
                self.runtime.secretbox,
                user_id=org["admin"]["id"],
                organization_id=org["id"],
                target_url="https://hooks.example.org/in",
                event_types=event_types,
                description="",
                origin=RequestInfo(),
            )
        return created["id"]

    def as_user(self, user: dict):
        """A transaction run as `user` signed in (RLS decides, as for their requests)."""
        return self.runtime.db.transaction("authenticated", claims=self.claims(user))

    def claims(self, user: dict) -> dict:
        return {"sub": str(user["id"]), "role": "authenticated", "aud": "authenticated", "email": user["email"]}


class AuthActions:
    """Logs users in through the real endpoint and hands back Authorization headers."""

    def __init__(self, client):
        self.client = client
        # Bearer logins go through a cookie-less client so the main client stays anonymous.
        self._bearer_client = client.application.test_client(use_cookies=False)
        self.csrf: dict = {}  # the X-CSRF-Token header of the main client's session, once signed in

    def login(self, email: str, password: str = DEFAULT_PASSWORD):
        """Log in with the main client: its cookie jar keeps the session cookie, and `csrf` the
        header its unsafe requests must carry, as the admin UI sends it."""
        response = self.client.post("/api/auth/login", json={"email": email, "password": password})
        if response.status_code == 200:
            self.csrf = csrf_header(response)
        return response

    def headers(self, user: dict) -> dict:
        response = self._bearer_client.post(
            "/api/auth/login", json={"email": user["email"], "password": user.get("password", DEFAULT_PASSWORD)}
        )
        assert response.status_code == 200, response.get_json()
        return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def csrf_header(signed_in) -> dict:
    """The X-CSRF-Token header for the session a sign-in answer (login, password change) set."""
    return {"X-CSRF-Token": signed_in.get_json()["csrf_token"]}


@contextmanager
def running_engine(runtime, **settings) -> Iterator[None]:
    """A delivery engine in a thread of its own, as a worker runs it (run_forever, woken by NOTIFY),
    for the duration of the block; `settings` override the app's EngineSettings."""
    settings = {"poll_seconds": 0.2} | settings
    started, failed = threading.Event(), []
    control: dict = {}

    async def run() -> None:
        control["loop"], control["stop"] = asyncio.get_running_loop(), asyncio.Event()
        async with engine_for(runtime, **settings) as engine:
            started.set()
            await engine.run_forever(control["stop"])

    def main() -> None:
        try:
            asyncio.run(run())
        except BaseException as exc:
            failed.append(exc)
            started.set()

    thread = threading.Thread(target=main, name="test-delivery-engine", daemon=True)
    thread.start()
    assert started.wait(30), "the delivery engine did not start"
    if failed:
        raise failed[0]
    try:
        yield
    finally:
        control["loop"].call_soon_threadsafe(control["stop"].set)
        thread.join(60)
        assert not thread.is_alive(), "the delivery engine did not stop"
        if failed:
            raise failed[0]
