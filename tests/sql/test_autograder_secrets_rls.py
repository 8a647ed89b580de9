"""Row-level security of organizations' autograder secrets: admins of the organization read when
it was made and rotated, nobody but the system reads or writes the secrets themselves."""

from __future__ import annotations

import pytest
from psycopg import errors

METADATA = "select organization_id, created_at, rotated_at, previous_secret_expires_at from public.autograder_secrets"
WRITES = [
    "update public.autograder_secrets set secret_encrypted = 'pwned'::bytea",
    "update public.autograder_secrets set previous_secret_expires_at = now() + interval '100 years'",
    "delete from public.autograder_secrets",
    "insert into public.autograder_secrets (organization_id, secret_encrypted) values (%(org)s, 'mine'::bytea)",
]


@pytest.fixture
def seeded(sandbox):
    for org in (sandbox.world.org_a, sandbox.world.org_b):
        sandbox.run(
            "service_role",
            "insert into public.autograder_secrets (organization_id, secret_encrypted) values (%s, 'qb1-x'::bytea)",
            (org,),
        )
    return sandbox


@pytest.mark.parametrize(("identity", "sees"), [("member_a", set()), ("admin_a", {"org_a"})])
def test_only_admins_read_the_metadata_of_their_own_organization(seeded, identity, sees):
    _, rows = seeded.run(identity, METADATA)
    assert {str(r["organization_id"]) for r in rows} == {getattr(seeded.world, org) for org in sees}


def test_anon_reads_nothing(seeded):
    with pytest.raises(errors.InsufficientPrivilege):
        seeded.run("anon", METADATA)


@pytest.mark.parametrize("identity", ["anon", "member_a", "admin_a"])
@pytest.mark.parametrize(
    "statement",
    [
        "select * from public.autograder_secrets",
        "select secret_encrypted from public.autograder_secrets",
        "select previous_secret_encrypted from public.autograder_secrets",
    ],
)
def test_nobody_but_the_system_reads_the_secrets(seeded, identity, statement):
    with pytest.raises(errors.InsufficientPrivilege):
        seeded.run(identity, statement)


@pytest.mark.parametrize("identity", ["anon", "member_a", "admin_a"])
@pytest.mark.parametrize("statement", WRITES)
def test_nobody_but_the_system_writes_them(seeded, identity, statement):
    before = seeded.run("service_role", "select * from public.autograder_secrets order by organization_id")[1]
    with pytest.raises(errors.InsufficientPrivilege):
        seeded.run(identity, statement, {"org": seeded.world.org_a})
    after = seeded.run("service_role", "select * from public.autograder_secrets order by organization_id")[1]
    assert after == before
