"""A two-organization world for the row-level security tests, and a sandbox to attack it from.

Org A has an admin and two members, org B an admin and one member, and an outsider belongs to
neither. Every public table holds rows of both organizations, so a statement with no WHERE clause
run as someone of org A has org-B rows within reach. The world is built once per module (as
service_role, committed); each test runs in a transaction that is always rolled back, so every
test starts from the same rows, and the module empties every table when it is done.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from backend.db import Database, set_identity

# Every public table the tests inspect, with the columns of its primary key.
PRIMARY_KEYS = {
    "organizations": ("id",),
    "memberships": ("organization_id", "user_id"),
    "profiles": ("id",),
    "quests": ("id",),
    "tasks": ("id",),
    "submissions": ("id",),
    "task_completions": ("id",),
    "badges": ("id",),
    "notifications": ("id",),
    "audit_log": ("id",),
    "invitations": ("id",),
    "local_credentials": ("user_id",),
    "auth_sessions": ("id",),
    "password_reset_tokens": ("id",),
    "rate_limit_counters": ("bucket", "window_start"),
}
USERS = ("admin_a", "member_a", "member_a2", "admin_b", "member_b", "outsider")


def _id() -> str:
    return str(uuid.uuid4())


@dataclass
class RlsWorld:
    """Ids (as text, the way to_jsonb renders uuids) of everything the fixture created."""

    admin_a: str = field(default_factory=_id)
    member_a: str = field(default_factory=_id)
    member_a2: str = field(default_factory=_id)
    admin_b: str = field(default_factory=_id)
    member_b: str = field(default_factory=_id)
    outsider: str = field(default_factory=_id)
    org_a: str = field(default_factory=_id)
    org_b: str = field(default_factory=_id)
    quest_a: str = field(default_factory=_id)
    quest_b: str = field(default_factory=_id)
    task_a1: str = field(default_factory=_id)
    task_a2: str = field(default_factory=_id)
    task_b1: str = field(default_factory=_id)
    task_b2: str = field(default_factory=_id)
    rows: dict[str, dict[str, str | int]] = field(default_factory=dict)  # table -> label -> id

    @property
    def users(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in USERS}

    def org_of_user(self, user_id: str) -> str | None:
        if user_id in (self.admin_a, self.member_a, self.member_a2):
            return self.org_a
        if user_id in (self.admin_b, self.member_b):
            return self.org_b
        return None

    def identity(self, name: str) -> tuple[str, dict | None]:
        """The (role, claims) set_identity() takes for one of the fixture's people, anon or service_role."""
        if name in ("anon", "service_role"):
            return name, None
        return "authenticated", claims(self.users[name])

    def key(self, table: str, row: dict) -> tuple:
        return tuple(row[column] for column in PRIMARY_KEYS[table])

    def owner_org(self, table: str, row: dict) -> str | None:
        """The organization a row belongs to (None for rows of no organization)."""
        if table == "organizations":
            return row["id"]
        if table in ("profiles", "local_credentials", "auth_sessions", "password_reset_tokens"):
            return self.org_of_user(row["id"] if table == "profiles" else row["user_id"])
        return row.get("organization_id")

    def owner_user(self, table: str, row: dict) -> str | None:
        """The person a row is about (None for rows of no single person)."""
        if table == "profiles":
            return row["id"]
        return row.get("user_id")

    def org_b_rows(self, snapshot: dict) -> dict[str, dict[tuple, dict]]:
        return {
            table: {key: row for key, row in rows.items() if self.owner_org(table, row) == self.org_b}
            for table, rows in snapshot.items()
        }


def claims(user_id: str) -> dict:
    return {"sub": str(user_id), "role": "authenticated", "aud": "authenticated"}


def build_world(db: Database) -> RlsWorld:
    w = RlsWorld()
    with db.transaction("service_role") as conn:

        def insert(table: str, label: str | None = None, **values) -> None:
            values.setdefault("id", _id())
            columns = ", ".join(values)
            placeholders = ", ".join(f"%({column})s" for column in values)
            conn.execute(f"insert into public.{table} ({columns}) values ({placeholders})", values)
            if label:
                w.rows.setdefault(table, {})[label] = values["id"]

        for name, user_id in w.users.items():
            email = f"{name}@example.test"
            conn.execute("insert into auth.users (id, email) values (%s, %s)", (user_id, email))
            conn.execute("update public.profiles set display_name = %s where id = %s", (name, user_id))
            conn.execute(
                "insert into public.local_credentials (user_id, password_hash) values (%s, 'hash')", (user_id,)
            )
            conn.execute(
                "insert into public.auth_sessions (user_id, token_hash, expires_at)"
                " values (%s, %s, now() + interval '1 hour')",
                (user_id, name.encode() + b"-session"),
            )
            conn.execute(
                "insert into public.password_reset_tokens (user_id, token_hash, expires_at)"
                " values (%s, %s, now() + interval '1 hour')",
                (user_id, name.encode() + b"-reset"),
            )
        conn.execute("insert into public.rate_limit_counters (bucket, window_start, count) values ('ip:x', now(), 1)")

        # The creator becomes the first admin through the organizations trigger.
        conn.execute(
            "insert into public.organizations (id, name, created_by) values (%s, 'Org A', %s), (%s, 'Org B', %s)",
            (w.org_a, w.admin_a, w.org_b, w.admin_b),
        )
        conn.execute(
            "insert into public.memberships (organization_id, user_id, role)"
            " values (%s, %s, 'member'), (%s, %s, 'member'), (%s, %s, 'member')",
            (w.org_a, w.member_a, w.org_a, w.member_a2, w.org_b, w.member_b),
        )

        for org, quest, tasks in (
            (w.org_a, w.quest_a, (w.task_a1, w.task_a2)),
            (w.org_b, w.quest_b, (w.task_b1, w.task_b2)),
        ):
            insert("quests", id=quest, organization_id=org, title="Quest", created_by=None)
            for xp, task in zip((10, 20), tasks, strict=True):
                insert("tasks", id=task, quest_id=quest, organization_id=org, title="Task", pillar="p", xp=xp)

        # member_a has done task 1 of quest A, member_a2 all of it (and holds its badge).
        for user, org, task in (
            ("member_a", w.org_a, w.task_a1),
            ("member_a2", w.org_a, w.task_a1),
            ("member_b", w.org_b, w.task_b1),
        ):
            insert("submissions", user, task_id=task, organization_id=org, user_id=w.users[user], content="work")
        for label, user, org, task in (
            ("member_a:task_a1", "member_a", w.org_a, w.task_a1),
            ("member_a2:task_a1", "member_a2", w.org_a, w.task_a1),
            ("member_a2:task_a2", "member_a2", w.org_a, w.task_a2),
            ("member_b:task_b1", "member_b", w.org_b, w.task_b1),
            ("member_b:task_b2", "member_b", w.org_b, w.task_b2),
        ):
            insert("task_completions", label, task_id=task, organization_id=org, user_id=w.users[user])
        insert("badges", "member_a2", quest_id=w.quest_a, organization_id=w.org_a, user_id=w.member_a2)
        insert("badges", "member_b", quest_id=w.quest_b, organization_id=w.org_b, user_id=w.member_b)
        for user in ("admin_a", "member_a", "member_a2", "admin_b", "member_b"):
            insert(
                "notifications",
                user,
                user_id=w.users[user],
                organization_id=w.org_of_user(w.users[user]),
                type="badge_earned",
                title="Hello",
                data=Jsonb({}),
            )

        # Pending invitations in both organizations: to someone with an account and to a new email.
        for label, org, email, inviter in (
            ("a", w.org_a, "outsider@example.test", w.admin_a),
            ("b", w.org_b, "newcomer@example.test", w.admin_b),
        ):
            insert(
                "invitations",
                label,
                organization_id=org,
                email=email,
                role="member",
                token_hash=f"{label}-invitation".encode(),
                invited_by=inviter,
                expires_at=datetime.now(UTC) + timedelta(days=7),
            )

        for label, org, actor in (("a", w.org_a, w.admin_a), ("b", w.org_b, w.admin_b), ("none", None, w.member_a)):
            audit_id = conn.execute(
                "select private.write_audit(%s, 'membership.created', 'user', null, %s, null, null, %s) as id",
                (org, Jsonb({}), actor),
            ).fetchone()["id"]
            w.rows.setdefault("audit_log", {})[label] = audit_id
    return w


class Sandbox:
    """One connection inside a transaction that the test's end rolls back."""

    def __init__(self, conn: psycopg.Connection, world: RlsWorld):
        self.conn = conn
        self.world = world

    def run(self, identity: str, statement: str, params=None) -> tuple[int, list[dict] | None]:
        """One statement as identity, in a savepoint so that a refused statement leaves the sandbox usable."""
        role, identity_claims = self.world.identity(identity)
        with self.conn.transaction():
            set_identity(self.conn, role, identity_claims)
            cursor = self.conn.execute(statement, params)
            return cursor.rowcount, cursor.fetchall() if cursor.description else None

    def snapshot(self) -> dict[str, dict[tuple, dict]]:
        """Every row of every public table, read as service_role: table -> primary key -> row."""
        query = "select jsonb_build_object({}) as tables".format(
            ", ".join(
                f"'{table}', (select coalesce(jsonb_agg(to_jsonb(t)), '[]') from public.{table} t)"
                for table in PRIMARY_KEYS
            )
        )
        tables = self.run("service_role", query)[1][0]["tables"]
        return {table: {self.world.key(table, row): row for row in tables[table]} for table in PRIMARY_KEYS}


@pytest.fixture(scope="module")
def rls_db(database_url, cleanup_statements) -> Iterator[Database]:
    def empty_every_table():
        with psycopg.connect(database_url) as conn, conn.transaction():
            for statement in cleanup_statements:
                conn.execute(statement)

    empty_every_table()
    db = Database(database_url, min_size=1, max_size=2)
    try:
        yield db
    finally:
        db.close()
        empty_every_table()


@pytest.fixture(scope="module")
def rls_world(rls_db) -> RlsWorld:
    return build_world(rls_db)


@pytest.fixture
def sandbox(rls_db, rls_world) -> Iterator[Sandbox]:
    with rls_db.connection() as conn, conn.transaction(force_rollback=True):
        yield Sandbox(conn, rls_world)
