"""Row-level security of the LTI tables, with raw SQL run as each role: org admins manage their own
organization's LMS platforms and nobody else's; members and anon reach none; the tool's keys belong
to the system alone. Statements carry no WHERE clause, so only grants and policies decide."""

from __future__ import annotations

import pytest
from psycopg import errors

PLATFORM = (
    "insert into public.lti_platforms (organization_id, name, issuer, client_id, auth_login_url, auth_token_url,"
    " key_set_url, created_by) values (%(org)s, 'LMS', %(issuer)s, 'client', 'https://lms.test/auth',"
    " 'https://lms.test/token', 'https://lms.test/jwks', %(user)s)"
)
ROWS = "select id::text, organization_id::text, name, client_id from public.lti_platforms order by organization_id"

# operation -> (statement, params given the world and the caller)
STATEMENTS = {
    "select": ("select organization_id::text from public.lti_platforms", lambda w, me: None),
    "update": ("update public.lti_platforms set name = 'pwned'", lambda w, me: None),
    "delete": ("delete from public.lti_platforms", lambda w, me: None),
    "insert_in_b": (PLATFORM, lambda w, me: {"org": w.org_b, "issuer": "https://b.test", "user": me}),
    "insert_in_a": (PLATFORM, lambda w, me: {"org": w.org_a, "issuer": "https://new.test", "user": me}),
}
DENIED, NONE, ORG_A, ALLOWED = "denied", "none", "org_a", "allowed"
RULES = [
    # operation      member_a  admin_a
    ("select", NONE, ORG_A),
    ("update", NONE, ORG_A),
    ("delete", NONE, ORG_A),
    ("insert_in_b", DENIED, DENIED),
    ("insert_in_a", DENIED, ALLOWED),
]
CASES = [
    pytest.param(identity, op, expected, id=f"{identity}-{op}-{expected}")
    for op, member_a, admin_a in RULES
    for identity, expected in (("anon", DENIED), ("member_a", member_a), ("admin_a", admin_a))
]
KEY_STATEMENTS = [
    "select * from public.lti_tool_keys",
    "select kid, public_jwk from public.lti_tool_keys",
    "update public.lti_tool_keys set retires_at = now() + interval '1 day'",
    "delete from public.lti_tool_keys",
    "insert into public.lti_tool_keys (kid, public_jwk, private_key_encrypted, activates_at)"
    " values ('mine', '{}', 'x'::bytea, now())",
]


@pytest.fixture
def seeded(sandbox):
    w = sandbox.world
    for org, admin, issuer in ((w.org_a, w.admin_a, "https://a.test"), (w.org_b, w.admin_b, "https://b.test")):
        sandbox.run("service_role", PLATFORM, {"org": org, "issuer": issuer, "user": admin})
    sandbox.run(
        "service_role",
        "insert into public.lti_tool_keys (kid, public_jwk, private_key_encrypted, activates_at)"
        " values ('k1', '{\"kty\": \"RSA\"}', 'qb1-x'::bytea, now())",
    )
    return sandbox


def platforms(sandbox) -> list[dict]:
    return sandbox.run("service_role", ROWS)[1]


@pytest.mark.parametrize(("identity", "op", "expected"), CASES)
def test_statement_without_where_reaches_only_org_a_for_its_admins(seeded, identity, op, expected):
    w = seeded.world
    statement, params = STATEMENTS[op]
    before = platforms(seeded)
    of_b = [row for row in before if row["organization_id"] == w.org_b]
    if expected == DENIED:
        with pytest.raises(errors.InsufficientPrivilege):
            seeded.run(identity, statement, params(w, w.users.get(identity)))
        assert platforms(seeded) == before
        return
    rowcount, rows = seeded.run(identity, statement, params(w, w.users.get(identity)))
    after = platforms(seeded)
    reached = 0 if expected == NONE else 1
    if op == "select":
        assert [r["organization_id"] for r in rows] == [w.org_a] * reached
    elif op == "insert_in_a":
        assert rowcount == 1 and len(after) == len(before) + 1
    else:
        assert rowcount == reached
    if expected == NONE:
        assert after == before
    assert [row for row in after if row["organization_id"] == w.org_b] == of_b  # org B untouched


@pytest.mark.parametrize(
    "statement",
    [
        "update public.lti_platforms set organization_id = %(org_b)s",
        "update public.lti_platforms set created_by = %(admin_b)s",
        "update public.lti_platforms set created_at = now() - interval '1 year'",
    ],
)
def test_admins_cannot_move_a_platform_or_rewrite_who_made_it(seeded, statement):
    w = seeded.world
    before = platforms(seeded)
    with pytest.raises(errors.InsufficientPrivilege):
        seeded.run("admin_a", statement, {"org_b": w.org_b, "admin_b": w.admin_b})
    assert platforms(seeded) == before


def test_an_admin_cannot_register_in_someone_elses_name(seeded):
    w = seeded.world
    with pytest.raises(errors.InsufficientPrivilege):
        seeded.run("admin_a", PLATFORM, {"org": w.org_a, "issuer": "https://new.test", "user": w.member_a})


@pytest.mark.parametrize("identity", ["anon", "member_a", "admin_a"])
@pytest.mark.parametrize("statement", KEY_STATEMENTS)
def test_the_tool_keys_belong_to_the_system(seeded, identity, statement):
    before = seeded.run("service_role", "select * from public.lti_tool_keys")[1]
    with pytest.raises(errors.InsufficientPrivilege):
        seeded.run(identity, statement)
    assert seeded.run("service_role", "select * from public.lti_tool_keys")[1] == before


LAUNCH_TABLES = ("lti_login_states", "lti_user_links", "lti_resource_links", "lti_launches")
LAUNCH_STATEMENTS = [
    *(f"select * from public.{table}" for table in LAUNCH_TABLES),
    *(f"delete from public.{table}" for table in LAUNCH_TABLES),
    "insert into public.lti_user_links (platform_id, subject, user_id)"
    " select id, 'sub-of-someone', %(me)s from public.lti_platforms",
    "insert into public.lti_login_states (state_hash, nonce, platform_id, expires_at)"
    " select 'h', 'a-nonce-of-my-choosing-0123', id, now() + interval '1 hour' from public.lti_platforms",
    "update public.lti_resource_links set quest_id = null",
]


@pytest.mark.parametrize("identity", ["anon", "member_a", "admin_a"])
@pytest.mark.parametrize("statement", LAUNCH_STATEMENTS)
def test_what_proves_a_launch_belongs_to_the_system(seeded, identity, statement):
    """States, nonces, user links, resource links and launches: no user role reads or writes them
    (an admin maps a link through the API, which checks it as the admin first)."""
    with pytest.raises(errors.InsufficientPrivilege):
        seeded.run(identity, statement, {"me": seeded.world.users.get(identity)})
