"""Row-level security: who may read and change which rows, proven with raw SQL run as each role.

The statements carry no WHERE clause, so only grants and policies stand between someone in org A
and the rows of org B. Each statement runs in its own savepoint as its role with its claims, the
way db.transaction() sets them, and the test's transaction is rolled back (see conftest.py).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from psycopg import errors

from backend.db import set_identity
from tests.sql.conftest import claims

# What a statement is expected to do.
DENIED = "denied"  # raises 42501 insufficient_privilege (no grant, or a WITH CHECK refuses the row)
NONE = "none"  # runs and touches no row
OWN = "own"  # touches exactly the caller's own rows
ORG = "org"  # touches exactly the rows of the caller's organization, org A
ALLOWED = "allowed"  # the insert adds its one row
KEEPS_AN_ADMIN = "keeps_an_admin"  # refused (23514 memberships_keep_an_admin): it would leave org A no admin

IDENTITIES = ("anon", "member_a", "admin_a")
OPERATIONS = ("select", "update", "delete", "insert_in_b", "insert_in_a")

# Updates change a value on every row they reach, so a reached row always shows in the diff.
UPDATES = {
    "organizations": "update public.organizations set name = 'pwned'",
    # Both directions at once; the policies judge every row against the statement's snapshot.
    "memberships": "update public.memberships set role = case role when 'admin' then 'member' else 'admin' end",
    "profiles": "update public.profiles set display_name = 'pwned'",
    "quests": "update public.quests set title = 'pwned'",
    "tasks": "update public.tasks set title = 'pwned'",
    "submissions": "update public.submissions set feedback = 'pwned'",
    "task_completions": "update public.task_completions set xp_awarded = 0",
    "badges": "update public.badges set awarded_at = now() - interval '1 day'",
    "notifications": "update public.notifications set read_at = now()",
    "audit_log": "update public.audit_log set action = 'pwned.action'",
    "invitations": "update public.invitations set status = 'revoked', responded_at = now()",
}

# table -> (statement, values for a row in org B, values for a row in org A), given (world, caller id).
# "In org B" is a row of org B, or one in the name of someone of org B; "in org A" is the row the
# caller would legitimately add (a new organization of their own, a member for org A, ...).
INSERTS = {
    "organizations": (
        "insert into public.organizations (name, created_by) values ('New org', %(user)s)",
        lambda w, me: {"user": w.admin_b},
        lambda w, me: {"user": me},
    ),
    "memberships": (
        "insert into public.memberships (organization_id, user_id, role) values (%(org)s, %(user)s, %(role)s)",
        lambda w, me: {"org": w.org_b, "user": me, "role": "admin"},
        lambda w, me: {"org": w.org_a, "user": w.outsider, "role": "member"},
    ),
    "profiles": (
        "insert into public.profiles (id, email) values (%(user)s, 'new@example.test')",
        lambda w, me: {"user": w.member_b},
        lambda w, me: {"user": w.outsider},
    ),
    "quests": (
        "insert into public.quests (organization_id, title, created_by) values (%(org)s, 'New quest', %(user)s)",
        lambda w, me: {"org": w.org_b, "user": me},
        lambda w, me: {"org": w.org_a, "user": me},
    ),
    "tasks": (
        "insert into public.tasks (quest_id, organization_id, title, pillar, xp)"
        " values (%(quest)s, %(org)s, 'New task', 'p', 5)",
        lambda w, me: {"quest": w.quest_b, "org": w.org_b},
        lambda w, me: {"quest": w.quest_a, "org": w.org_a},
    ),
    "submissions": (
        "insert into public.submissions (task_id, organization_id, user_id, content)"
        " values (%(task)s, %(org)s, %(user)s, 'work')",
        lambda w, me: {"task": w.task_b1, "org": w.org_b, "user": me},
        lambda w, me: {"task": w.task_a2, "org": w.org_a, "user": me},
    ),
    "task_completions": (
        "insert into public.task_completions (task_id, organization_id, user_id) values (%(task)s, %(org)s, %(user)s)",
        lambda w, me: {"task": w.task_b1, "org": w.org_b, "user": me},
        lambda w, me: {"task": w.task_a2, "org": w.org_a, "user": me},
    ),
    # Neither member_a nor admin_a has completed every task of quest A.
    "badges": (
        "insert into public.badges (quest_id, organization_id, user_id) values (%(quest)s, %(org)s, %(user)s)",
        lambda w, me: {"quest": w.quest_b, "org": w.org_b, "user": me},
        lambda w, me: {"quest": w.quest_a, "org": w.org_a, "user": me},
    ),
    "notifications": (
        "insert into public.notifications (user_id, organization_id, type, title)"
        " values (%(user)s, %(org)s, 'note', 'Hello')",
        lambda w, me: {"user": w.member_b, "org": w.org_b},
        lambda w, me: {"user": me, "org": w.org_a},
    ),
    "audit_log": (
        "insert into public.audit_log (organization_id, action) values (%(org)s, 'pwned.action')",
        lambda w, me: {"org": w.org_b},
        lambda w, me: {"org": w.org_a},
    ),
    # A user who wrote an invitation would know its token and could claim an email they do not own.
    "invitations": (
        "insert into public.invitations (organization_id, email, role, token_hash, invited_by, expires_at)"
        " values (%(org)s, 'victim@example.test', 'admin', 'chosen', %(user)s, now() + interval '1 day')",
        lambda w, me: {"org": w.org_b, "user": me},
        lambda w, me: {"org": w.org_a, "user": me},
    ),
}

# anon is denied everything; these are the two people of org A.
RULES = [
    # table              operation       member_a  admin_a
    ("organizations", "select", ORG, ORG),
    ("organizations", "update", NONE, ORG),
    ("organizations", "delete", DENIED, DENIED),
    ("organizations", "insert_in_b", DENIED, DENIED),
    ("organizations", "insert_in_a", ALLOWED, ALLOWED),
    ("memberships", "select", ORG, ORG),
    ("memberships", "update", NONE, ORG),
    # A member may leave; an admin may remove anyone but the last admin (here, everyone at once).
    ("memberships", "delete", OWN, KEEPS_AN_ADMIN),
    ("memberships", "insert_in_b", DENIED, DENIED),
    # Nobody joins or is added directly: a membership starts when its invitation is accepted.
    ("memberships", "insert_in_a", DENIED, DENIED),
    ("profiles", "select", ORG, ORG),
    ("profiles", "update", OWN, OWN),
    ("profiles", "delete", DENIED, DENIED),
    ("profiles", "insert_in_b", DENIED, DENIED),
    ("profiles", "insert_in_a", DENIED, DENIED),
    ("quests", "select", ORG, ORG),
    ("quests", "update", NONE, ORG),
    ("quests", "delete", NONE, ORG),
    ("quests", "insert_in_b", DENIED, DENIED),
    ("quests", "insert_in_a", DENIED, ALLOWED),
    ("tasks", "select", ORG, ORG),
    ("tasks", "update", NONE, ORG),
    ("tasks", "delete", NONE, ORG),
    ("tasks", "insert_in_b", DENIED, DENIED),
    ("tasks", "insert_in_a", DENIED, ALLOWED),
    ("submissions", "select", OWN, ORG),
    ("submissions", "update", NONE, ORG),
    ("submissions", "delete", DENIED, DENIED),
    ("submissions", "insert_in_b", DENIED, DENIED),
    ("submissions", "insert_in_a", ALLOWED, ALLOWED),
    ("task_completions", "select", OWN, ORG),
    ("task_completions", "update", DENIED, DENIED),
    ("task_completions", "delete", DENIED, DENIED),
    ("task_completions", "insert_in_b", DENIED, DENIED),
    ("task_completions", "insert_in_a", ALLOWED, ALLOWED),
    ("badges", "select", OWN, ORG),
    ("badges", "update", DENIED, DENIED),
    ("badges", "delete", DENIED, DENIED),
    ("badges", "insert_in_b", DENIED, DENIED),
    ("badges", "insert_in_a", DENIED, DENIED),
    ("notifications", "select", OWN, OWN),
    ("notifications", "update", OWN, OWN),
    ("notifications", "delete", OWN, OWN),
    ("notifications", "insert_in_b", DENIED, DENIED),
    ("notifications", "insert_in_a", ALLOWED, ALLOWED),
    ("audit_log", "select", NONE, ORG),
    ("audit_log", "update", DENIED, DENIED),
    ("audit_log", "delete", DENIED, DENIED),
    ("audit_log", "insert_in_b", DENIED, DENIED),
    ("audit_log", "insert_in_a", DENIED, DENIED),
    ("invitations", "select", NONE, ORG),
    ("invitations", "update", DENIED, DENIED),
    ("invitations", "delete", DENIED, DENIED),
    ("invitations", "insert_in_b", DENIED, DENIED),
    ("invitations", "insert_in_a", DENIED, DENIED),
]
assert {(table, op) for table, op, *_ in RULES} == {(table, op) for table in UPDATES for op in OPERATIONS}

CASES = [
    pytest.param(identity, table, op, expected, id=f"{identity}-{table}-{op}-{expected}")
    for table, op, member_a, admin_a in RULES
    for identity, expected in (("anon", DENIED), ("member_a", member_a), ("admin_a", admin_a))
]

SECRET_TABLES = {
    "public.local_credentials": "update public.local_credentials set password_hash = 'pwned'",
    "public.auth_sessions": "update public.auth_sessions set revoked_at = now()",
    "public.password_reset_tokens": "update public.password_reset_tokens set used_at = now()",
    "public.rate_limit_counters": "update public.rate_limit_counters set count = 0",
    "auth.users": "update auth.users set email = 'pwned@example.test'",
}


# Tables whose users may read only some columns: what the select case reads of them.
READABLE_COLUMNS = {"invitations": "id, organization_id, email, role, status, invited_by, created_at, expires_at"}


def statement_for(world, table: str, op: str, me: str | None) -> tuple[str, dict | None]:
    if op == "select":
        if table in READABLE_COLUMNS:
            return f"select to_jsonb(t) as row from (select {READABLE_COLUMNS[table]} from public.{table}) t", None
        return f"select to_jsonb(t) as row from public.{table} t", None
    if op == "update":
        return UPDATES[table], None
    if op == "delete":
        return f"delete from public.{table}", None
    sql, in_b, in_a = INSERTS[table]
    return sql, (in_b if op == "insert_in_b" else in_a)(world, me)


def expected_keys(world, snapshot: dict, table: str, scope: str, me: str | None) -> set[tuple]:
    rows = snapshot[table]
    if scope == NONE:
        return set()
    if scope == ORG:
        return {key for key, row in rows.items() if world.owner_org(table, row) == world.org_a}
    assert scope == OWN
    return {key for key, row in rows.items() if world.owner_user(table, row) == me}


@pytest.mark.parametrize(("identity", "table", "op", "expected"), CASES)
def test_statement_without_where_reaches_only_permitted_rows(sandbox, identity, table, op, expected):
    world = sandbox.world
    me = world.users.get(identity)
    statement, params = statement_for(world, table, op, me)
    before = sandbox.snapshot()

    if expected in (DENIED, KEEPS_AN_ADMIN):
        refusal = errors.InsufficientPrivilege if expected == DENIED else errors.CheckViolation
        with pytest.raises(refusal) as refused:
            sandbox.run(identity, statement, params)
        if expected == KEEPS_AN_ADMIN:
            assert refused.value.diag.constraint_name == "memberships_keep_an_admin"
        after = sandbox.snapshot()
        assert after[table] == before[table]
    else:
        rowcount, rows = sandbox.run(identity, statement, params)
        after = sandbox.snapshot()
        changed = {key for key, row in after[table].items() if key in before[table] and row != before[table][key]}
        removed = before[table].keys() - after[table].keys()
        added = after[table].keys() - before[table].keys()
        if op == "select":
            assert {world.key(table, r["row"]) for r in rows} == expected_keys(world, before, table, expected, me)
            assert after[table] == before[table]
        elif op == "update":
            reached = expected_keys(world, before, table, expected, me)
            assert (rowcount, changed, removed, added) == (len(reached), reached, set(), set())
        elif op == "delete":
            reached = expected_keys(world, before, table, expected, me)
            assert (rowcount, changed, removed, added) == (len(reached), set(), reached, set())
        else:
            assert expected == ALLOWED
            assert (rowcount, changed, removed, len(added)) == (1, set(), set(), 1)
            (new_row,) = (after[table][key] for key in added)
            assert world.owner_org(table, new_row) != world.org_b
            if table != "organizations":
                assert world.owner_org(table, new_row) == world.org_a

    # Whatever happened in org A, not one row of org B in any table was added, changed or removed.
    assert world.org_b_rows(after) == world.org_b_rows(before)


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("table", SECRET_TABLES)
@pytest.mark.parametrize("op", ["select", "update", "delete"])
def test_secret_tables_are_closed_to_users(sandbox, identity, table, op):
    statement = {
        "select": f"select * from {table}",
        "update": SECRET_TABLES[table],
        "delete": f"delete from {table}",
    }[op]
    with pytest.raises(errors.InsufficientPrivilege):
        sandbox.run(identity, statement)


@pytest.mark.parametrize(
    ("table", "label", "admin_sees_it"),
    [
        ("submissions", "member_a2", True),
        ("task_completions", "member_a2:task_a1", True),
        ("badges", "member_a2", True),
        ("notifications", "member_a2", False),
    ],
)
def test_members_cannot_read_each_others_rows(sandbox, table, label, admin_sees_it):
    row_id = sandbox.world.rows[table][label]
    statement = f"select id from public.{table} where id = %(id)s"
    assert sandbox.run("member_a", statement, {"id": row_id})[1] == []
    assert len(sandbox.run("admin_a", statement, {"id": row_id})[1]) == int(admin_sees_it)
    assert len(sandbox.run("member_a2", statement, {"id": row_id})[1]) == 1


@pytest.mark.parametrize(
    ("identity", "learner", "task"),
    [
        ("member_a", "member_a2", "task_a2"),
        ("admin_a", "member_a", "task_a2"),
        ("member_a", "member_b", "task_b1"),
    ],
)
def test_nobody_completes_a_task_for_someone_else(sandbox, identity, learner, task):
    w = sandbox.world
    with pytest.raises(errors.InsufficientPrivilege):
        sandbox.run(
            identity,
            "insert into public.task_completions (task_id, organization_id, user_id) values (%s, %s, %s)",
            (getattr(w, task), w.org_of_user(getattr(w, learner)), getattr(w, learner)),
        )


def test_badge_only_after_every_task_of_the_quest(sandbox):
    w = sandbox.world
    complete = "insert into public.task_completions (task_id, organization_id, user_id) values (%s, %s, %s)"
    earn = "insert into public.badges (quest_id, organization_id, user_id) values (%s, %s, %s)"

    with pytest.raises(errors.InsufficientPrivilege):
        sandbox.run("member_a", earn, (w.quest_a, w.org_a, w.member_a))  # task 2 not done yet
    sandbox.run("member_a", complete, (w.task_a2, w.org_a, w.member_a))
    assert sandbox.run("member_a", earn, (w.quest_a, w.org_a, w.member_a))[0] == 1
    assert len(sandbox.run("member_a", "select id from public.badges")[1]) == 1


def test_badge_never_for_someone_else_or_for_a_quest_without_tasks(sandbox):
    w = sandbox.world
    earn = "insert into public.badges (quest_id, organization_id, user_id) values (%s, %s, %s)"
    empty_quest = sandbox.run(
        "service_role",
        "insert into public.quests (organization_id, title) values (%s, 'Empty') returning id",
        (w.org_a,),
    )[1][0]["id"]
    sandbox.run("service_role", "delete from public.badges where user_id = %s", (w.member_a2,))

    # member_a2 completed quest A, but a badge is earned by the learner, not handed out.
    with pytest.raises(errors.InsufficientPrivilege):
        sandbox.run("admin_a", earn, (w.quest_a, w.org_a, w.member_a2))
    with pytest.raises(errors.InsufficientPrivilege):
        sandbox.run("member_a2", earn, (empty_quest, w.org_a, w.member_a2))
    assert sandbox.run("member_a2", earn, (w.quest_a, w.org_a, w.member_a2))[0] == 1


def test_xp_awarded_comes_from_the_task(sandbox):
    w = sandbox.world
    with pytest.raises(errors.InsufficientPrivilege):
        sandbox.run(
            "member_a",
            "insert into public.task_completions (task_id, organization_id, user_id, xp_awarded)"
            " values (%s, %s, %s, 100000)",
            (w.task_a2, w.org_a, w.member_a),
        )
    sandbox.run(
        "member_a",
        "insert into public.task_completions (task_id, organization_id, user_id) values (%s, %s, %s)",
        (w.task_a2, w.org_a, w.member_a),
    )
    # Even the system cannot award more than the task is worth.
    sandbox.run(
        "service_role",
        "insert into public.task_completions (task_id, organization_id, user_id, xp_awarded)"
        " values (%s, %s, %s, 100000)",
        (w.task_a2, w.org_a, w.admin_a),
    )
    awarded = sandbox.run(
        "service_role",
        "select user_id::text, xp_awarded from public.task_completions where task_id = %s",
        (w.task_a2,),
    )[1]
    assert {r["user_id"]: r["xp_awarded"] for r in awarded} == {w.member_a: 20, w.member_a2: 20, w.admin_a: 20}


@pytest.mark.parametrize("identity", ["member_a", "admin_a"])
@pytest.mark.parametrize(
    "assignment", ["platform_admin = true", "email = 'new@example.test'", "id = gen_random_uuid()"]
)
def test_users_cannot_change_privileged_profile_columns(sandbox, identity, assignment):
    with pytest.raises(errors.InsufficientPrivilege):
        sandbox.run(
            identity,
            f"update public.profiles set {assignment} where id = %s",
            (sandbox.world.users[identity],),
        )


@pytest.mark.parametrize(
    "statement",
    [
        "update public.organizations set created_by = %(admin_b)s",
        "update public.memberships set organization_id = %(org_b)s",
        "update public.memberships set user_id = %(member_b)s",
        "update public.quests set organization_id = %(org_b)s",
        "update public.tasks set organization_id = %(org_b)s",
        "update public.tasks set quest_id = %(quest_b)s",
        "update public.submissions set organization_id = %(org_b)s",
        "update public.submissions set user_id = %(member_b)s",
        "update public.submissions set task_id = %(task_b1)s",
        "update public.notifications set user_id = %(member_b)s",
    ],
)
def test_admins_cannot_move_rows_to_another_organization_or_person(sandbox, statement):
    w = sandbox.world
    params = {name: getattr(w, name) for name in ("admin_b", "member_b", "org_b", "quest_b", "task_b1")}
    with pytest.raises(errors.InsufficientPrivilege):
        sandbox.run("admin_a", statement, params)


@pytest.mark.parametrize(
    ("identity", "user", "role"),
    [
        ("member_a", "member_a", "admin"),
        ("member_a", "member_b", "member"),
        ("outsider", "outsider", "member"),
        # Not even an admin: the person joins only by accepting an invitation, which the system records.
        ("admin_a", "outsider", "member"),
        ("admin_a", "member_b", "admin"),
    ],
)
def test_nobody_adds_a_member_directly(sandbox, identity, user, role):
    w = sandbox.world
    with pytest.raises(errors.InsufficientPrivilege):
        sandbox.run(
            identity,
            "insert into public.memberships (organization_id, user_id, role) values (%s, %s, %s)",
            (w.org_a, w.users[user], role),
        )


@pytest.mark.parametrize("identity", ["outsider", "member_a", "admin_a", "admin_b"])
def test_no_user_reads_an_invitations_token_hash(sandbox, identity):
    with pytest.raises(errors.InsufficientPrivilege):
        sandbox.run(identity, "select token_hash from public.invitations")


def test_the_invitee_does_not_see_the_invitation_rows_and_its_organization_sees_no_profile(sandbox):
    """The invitation to the outsider is org A's business until accepted: the outsider reads it
    through the service (as the system), and org A's admin reads no profile of the outsider."""
    w = sandbox.world
    assert sandbox.run("outsider", "select id from public.invitations")[1] == []
    assert sandbox.run("admin_a", "select id from public.profiles where id = %s", (w.outsider,))[1] == []


def test_a_member_leaves_but_removes_no_one_else(sandbox):
    w = sandbox.world
    assert sandbox.run("member_a", "delete from public.memberships where user_id = %s", (w.member_a2,))[0] == 0
    assert sandbox.run("member_a", "delete from public.memberships where user_id = %s", (w.member_a,))[0] == 1
    assert sandbox.run("member_a", "select 1 from public.organizations")[1] == []


@pytest.mark.parametrize(
    "statement",
    [
        "delete from public.memberships where user_id = %(me)s",
        "update public.memberships set role = 'member' where user_id = %(me)s",
    ],
    ids=["leave", "demote"],
)
def test_the_last_admin_can_neither_leave_nor_be_demoted(sandbox, statement):
    w = sandbox.world
    with pytest.raises(errors.CheckViolation) as refused:
        sandbox.run("admin_a", statement, {"me": w.admin_a})
    assert refused.value.diag.constraint_name == "memberships_keep_an_admin"

    sandbox.run(
        "service_role",
        "update public.memberships set role = 'admin' where organization_id = %s and user_id = %s",
        (w.org_a, w.member_a),
    )
    assert sandbox.run("admin_a", statement, {"me": w.admin_a})[0] == 1
    with pytest.raises(errors.CheckViolation):
        sandbox.run("member_a", "delete from public.memberships where user_id = %s", (w.member_a,))


def test_an_organization_or_an_account_can_still_be_deleted_with_its_last_admin(sandbox):
    w = sandbox.world
    assert sandbox.run("service_role", "delete from public.organizations where id = %s", (w.org_a,))[0] == 1
    assert sandbox.run("service_role", "delete from auth.users where id = %s", (w.admin_b,))[0] == 1
    remaining = sandbox.run("service_role", "select organization_id::text, role from public.memberships")[1]
    assert remaining == [{"organization_id": w.org_b, "role": "member"}]


def test_members_cannot_promote_themselves(sandbox):
    w = sandbox.world
    promote = "update public.memberships set role = 'admin' where user_id = %s"
    assert sandbox.run("member_a", promote, (w.member_a,))[0] == 0
    assert sandbox.run("admin_a", promote, (w.member_a,))[0] == 1


WRITE_AUDIT = "select private.write_audit(%s, 'membership.created', null, null, '{}', null, null, %s) as id"


@pytest.mark.parametrize(("identity", "org"), [("admin_a", "org_b"), ("member_a", "org_b"), ("anon", "org_a")])
def test_audit_entries_only_for_the_callers_organizations(sandbox, identity, org):
    with pytest.raises(errors.InsufficientPrivilege):
        sandbox.run(identity, WRITE_AUDIT, (getattr(sandbox.world, org), None))


@pytest.mark.parametrize(("identity", "org"), [("member_a", "org_a"), ("admin_a", "org_a"), ("outsider", None)])
def test_users_write_audit_entries_for_their_own_organizations(sandbox, identity, org):
    org_id = getattr(sandbox.world, org) if org else None
    assert sandbox.run(identity, WRITE_AUDIT, (org_id, None))[1][0]["id"] > 0


def test_system_work_without_claims_writes_audit_entries_and_reads_progress(sandbox):
    """Workers that only SET ROLE service_role (no request.jwt.claims) are still the system."""
    w = sandbox.world
    with sandbox.conn.transaction():
        sandbox.conn.execute(
            "select set_config('role', 'service_role', true), set_config('request.jwt.claims', '', true)"
        )
        assert sandbox.conn.execute(WRITE_AUDIT, (w.org_b, None)).fetchone()["id"] > 0
        done = sandbox.conn.execute("select private.quest_completed_by(%s, %s) as done", (w.quest_b, w.member_b))
        assert done.fetchone() == {"done": True}


def test_audit_actor_cannot_be_forged(sandbox):
    w = sandbox.world
    entry_id = sandbox.run("admin_a", WRITE_AUDIT, (w.org_a, w.admin_b))[1][0]["id"]
    rows = sandbox.run("admin_a", "select actor_id::text from public.audit_log where id = %s", (entry_id,))[1]
    assert rows == [{"actor_id": w.admin_a}]


@pytest.mark.parametrize(
    ("identity", "quest", "learner", "answer"),
    [
        ("member_b", "quest_b", "member_b", True),
        ("admin_b", "quest_b", "member_b", True),
        ("admin_a", "quest_a", "member_a2", True),
        ("admin_a", "quest_b", "member_b", False),
        ("member_a", "quest_a", "member_a2", False),
    ],
)
def test_quest_completion_helper_answers_only_the_learner_and_their_admins(sandbox, identity, quest, learner, answer):
    w = sandbox.world
    statement = "select private.quest_completed_by(%s, %s) as done"
    params = (getattr(w, quest), getattr(w, learner))
    assert sandbox.run(identity, statement, params)[1] == [{"done": answer}]
    assert sandbox.run("service_role", statement, params)[1] == [{"done": True}]


@pytest.mark.parametrize(
    ("statement", "as_user", "as_token"),
    [
        ("select private.is_org_member(%(org_b)s) as answer", True, False),
        ("select private.is_org_admin(%(org_b)s) as answer", True, False),
        ("select private.shares_org_with(%(member_b)s) as answer", True, False),
        ("select private.quest_completed_by(%(quest_b)s, %(member_b)s) as answer", True, False),
        ("select private.is_org_admin(%(org_a)s) as answer", True, True),
        ("select count(distinct organization_id) = 2 as answer from public.quests", True, False),
    ],
)
def test_an_oauth_token_is_confined_to_its_clients_organization(sandbox, statement, as_user, as_token):
    """admin_a is made an admin of org B too; a token of org A's client still reaches only org A."""
    w = sandbox.world
    sandbox.run(
        "service_role",
        "insert into public.memberships (organization_id, user_id, role) values (%s, %s, 'admin')",
        (w.org_b, w.admin_a),
    )
    params = {"org_a": w.org_a, "org_b": w.org_b, "member_b": w.member_b, "quest_b": w.quest_b}
    for extra, expected in (({}, as_user), ({"client_organization_id": w.org_a}, as_token)):
        with sandbox.conn.transaction():
            set_identity(sandbox.conn, "authenticated", claims(w.admin_a) | extra)
            assert sandbox.conn.execute(statement, params).fetchone() == {"answer": expected}, extra


@pytest.mark.parametrize(
    ("identity", "sees"),
    [("admin_a", {"member_a", "admin_a"}), ("admin_b", {"member_b"}), ("member_a", set()), ("outsider", set())],
)
def test_admins_read_the_sign_ins_of_their_members_and_no_one_elses(sandbox, identity, sees):
    w = sandbox.world
    for person in ("member_a", "admin_a", "member_b", "outsider"):
        sandbox.run(
            "service_role",
            "insert into public.audit_log (action, target_type, target_id) values ('auth.login_succeeded', 'user', %s)",
            (getattr(w, person),),
        )
    rows = sandbox.run(identity, "select target_id from public.audit_log where action = 'auth.login_succeeded'")[1]
    assert {r["target_id"] for r in rows} == {getattr(w, person) for person in sees}


def test_admins_read_a_persons_sign_ins_only_from_when_they_joined(sandbox):
    """member_a joined org A when the world was built; org B now gets them too. Each organization
    reads member_a's entries from its own joining on, never the history from before it."""
    w = sandbox.world
    joined_a = sandbox.run(
        "service_role",
        "select created_at from public.memberships where organization_id = %s and user_id = %s",
        (w.org_a, w.member_a),
    )[1][0]["created_at"]
    joined_b = joined_a + timedelta(hours=1)
    sandbox.run(
        "service_role",
        "insert into public.memberships (organization_id, user_id, role, created_at) values (%s, %s, 'member', %s)",
        (w.org_b, w.member_a, joined_b),
    )
    moments = {
        "before-a": joined_a - timedelta(minutes=5),
        "at-a": joined_a,
        "between": joined_a + timedelta(minutes=30),
        "at-b": joined_b,
        "after-b": joined_b + timedelta(minutes=5),
    }
    for label, at in moments.items():
        sandbox.run(
            "service_role",
            "insert into public.audit_log (action, target_type, target_id, metadata, created_at)"
            " values ('auth.login_succeeded', 'user', %s, jsonb_build_object('label', %s::text), %s)",
            (w.member_a, label, at),
        )
    seen = "select metadata->>'label' as label from public.audit_log where target_id = %s"
    assert {r["label"] for r in sandbox.run("admin_a", seen, (w.member_a,))[1]} == {
        "at-a",
        "between",
        "at-b",
        "after-b",
    }
    assert {r["label"] for r in sandbox.run("admin_b", seen, (w.member_a,))[1]} == {"at-b", "after-b"}
    assert sandbox.run("member_a2", seen, (w.member_a,))[1] == []


EXPECTED_ROW_COUNTS = {
    "organizations": 2,
    "memberships": 5,
    "profiles": 6,
    "quests": 2,
    "tasks": 4,
    "submissions": 3,
    "task_completions": 5,
    "badges": 2,
    "notifications": 5,
    "audit_log": 3,
    "invitations": 2,
    "local_credentials": 6,
    "auth_sessions": 6,
    "password_reset_tokens": 6,
    "rate_limit_counters": 1,
}


def test_service_role_sees_every_row(sandbox):
    w = sandbox.world
    counts = {
        table: sandbox.run("service_role", f"select count(*) as n from {table}")[1][0]["n"]
        for table in (*(f"public.{t}" for t in EXPECTED_ROW_COUNTS), "auth.users")
    }
    assert counts == {**{f"public.{t}": n for t, n in EXPECTED_ROW_COUNTS.items()}, "auth.users": 6}
    for table, rows in sandbox.snapshot().items():
        orgs = {w.owner_org(table, row) for row in rows.values()}
        if table != "rate_limit_counters":
            assert {w.org_a, w.org_b} <= orgs, table


def test_every_public_table_has_row_level_security(sandbox):
    rows = sandbox.run(
        "service_role",
        "select c.relname, c.relrowsecurity from pg_class c"
        " where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')",
    )[1]
    assert {r["relname"] for r in rows} >= set(EXPECTED_ROW_COUNTS)
    assert [r["relname"] for r in rows if not r["relrowsecurity"]] == []


def test_public_and_anon_are_granted_nothing(sandbox):
    """Neither PUBLIC nor anon holds a privilege on a relation in public or auth, or runs a helper in private."""
    relations = sandbox.run(
        "service_role",
        """
        select c.oid::regclass::text as relation, grantee
        from pg_class c, unnest(array['public', 'anon']) as grantee
        where c.relnamespace in ('public'::regnamespace, 'auth'::regnamespace)
          and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
          and case when c.relkind = 'S'
                then has_sequence_privilege(grantee, c.oid, 'usage, select, update')
                else has_table_privilege(grantee, c.oid,
                       'select, insert, update, delete, truncate, references, trigger')
                  or has_any_column_privilege(grantee, c.oid, 'select, insert, update, references')
              end
        """,
    )[1]
    functions = sandbox.run(
        "service_role",
        """
        select p.oid::regprocedure::text as function, grantee
        from pg_proc p, unnest(array['public', 'anon']) as grantee
        where p.pronamespace in ('public'::regnamespace, 'private'::regnamespace)
          and has_function_privilege(grantee, p.oid, 'execute')
        """,
    )[1]
    assert relations == []
    assert functions == []


def test_no_policy_applies_to_public_or_anon(sandbox):
    policies = sandbox.run(
        "service_role",
        "select tablename, policyname, roles::text[] as roles from pg_policies"
        " where schemaname = 'public' and roles && array['public', 'anon']::name[]",
    )[1]
    assert policies == []


def test_a_supabase_sign_up_gets_a_profile_and_can_create_an_organization(db):
    import uuid as _uuid

    user_id = _uuid.uuid4()
    with db.transaction("service_role") as conn:
        conn.execute("insert into auth.users (id, email) values (%s, 'supa@example.org')", (user_id,))
    claims = {"sub": str(user_id), "role": "authenticated", "aud": "authenticated"}
    org_id = _uuid.uuid4()
    with db.transaction("authenticated", claims) as conn:
        assert conn.execute("select email from public.profiles where id = %s", (user_id,)).fetchone() == {
            "email": "supa@example.org"
        }
        conn.execute(
            "insert into public.organizations (id, name, created_by) values (%s, 'Supa', %s)", (org_id, user_id)
        )
        assert conn.execute("select role from public.memberships where organization_id = %s", (org_id,)).fetchone() == {
            "role": "admin"
        }
    with db.transaction("service_role") as conn:
        conn.execute("delete from public.organizations where id = %s", (org_id,))
        conn.execute("delete from auth.users where id = %s", (user_id,))
