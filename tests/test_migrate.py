"""The migration runner against throwaway databases on the test server."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest

from backend import migrate


def quiet(*_):
    pass


def recorded(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute("select version, name from questbridge_meta.schema_migrations order by version").fetchall()


def relation_exists(url: str, name: str) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute("select to_regclass(%s) is not null", (name,)).fetchone()[0]


def write(directory, filename: str, text: str):
    path = directory / filename
    path.write_text(text)
    return path


# --- the real migrations -----------------------------------------------------------------------


def test_applies_every_migration_to_an_empty_database_then_nothing(scratch_database):
    url = scratch_database()
    lines = []

    applied = migrate.upgrade(url, log=lines.append)

    files = migrate.discover()
    assert [m.version for m in applied] == [m.version for m in files]
    assert lines == [f"applied {m.path.name}" for m in files]
    assert recorded(url) == [(m.version, m.name) for m in files]
    for table in ("public.profiles", "public.organizations", "public.memberships", "public.audit_log"):
        assert relation_exists(url, table)
    with psycopg.connect(url) as conn:
        assert migrate.pending(conn) == []
        checksums = migrate.applied_versions(conn)
    assert checksums == {m.version: m.checksum for m in files}

    assert migrate.upgrade(url, log=quiet) == []
    assert len(recorded(url)) == len(files)


def test_applied_versions_of_a_database_never_migrated_is_empty(scratch_database):
    with psycopg.connect(scratch_database()) as conn:
        assert migrate.applied_versions(conn) == {}
        assert [m.version for m in migrate.pending(conn)] == [m.version for m in migrate.discover()]


def test_concurrent_runners_apply_each_real_migration_once(scratch_database):
    url = scratch_database()
    results, errors = [], []
    barrier = threading.Barrier(4)

    def run():
        barrier.wait()
        try:
            results.append(migrate.upgrade(url, log=quiet))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    applied = sorted(m.version for batch in results for m in batch)
    assert applied == [m.version for m in migrate.discover()]
    assert sum(1 for batch in results if batch) == 1  # one runner did it all, the others found it done


SUPABASE_AUTH = """
create schema auth;
create table auth.users (
  instance_id uuid,
  id uuid not null primary key,
  aud varchar(255),
  role varchar(255),
  email varchar(255),
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  is_super_admin boolean,
  created_at timestamptz,
  updated_at timestamptz,
  phone text unique default null,
  is_sso_user boolean not null default false,
  deleted_at timestamptz,
  is_anonymous boolean not null default false
);
comment on table auth.users is 'Auth: Stores user login data within a secure schema.';
create function auth.uid() returns uuid language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
  -- supabase's own definition
$$;
create function auth.role() returns text language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
  -- supabase's own definition
$$;
create function auth.jwt() returns jsonb language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
  -- supabase's own definition
$$;
"""

SNAPSHOT = """
select
  (select array_agg(row(rolname, rolinherit, rolbypassrls, rolcanlogin)::text order by rolname)
     from pg_roles where rolname in ('anon', 'authenticated', 'service_role')) as roles,
  (select array_agg(attname::text || ':' || format_type(atttypid, atttypmod) order by attnum)
     from pg_attribute where attrelid = 'auth.users'::regclass and attnum > 0 and not attisdropped) as columns,
  (select obj_description('auth.users'::regclass, 'pg_class')) as comment,
  pg_get_functiondef('auth.uid()'::regprocedure) as uid,
  pg_get_functiondef('auth.role()'::regprocedure) as role,
  pg_get_functiondef('auth.jwt()'::regprocedure) as jwt
"""


def test_upgrade_on_a_supabase_database_leaves_its_auth_objects_alone(scratch_database):
    """On Supabase the roles, auth.users and auth.uid() exist already, defined by Supabase."""
    url = scratch_database()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SUPABASE_AUTH)
        before = conn.execute(SNAPSHOT).fetchone()
        conn.execute(
            "insert into auth.users (id, email, aud, role) values (%s, 'existing@example.test', "
            "'authenticated', 'authenticated')",
            (uuid.uuid4(),),
        )

    applied = migrate.upgrade(url, log=quiet)

    assert [m.version for m in applied] == [m.version for m in migrate.discover()]
    with psycopg.connect(url) as conn:
        assert conn.execute(SNAPSHOT).fetchone() == before
        assert "supabase's own definition" in before[3]
        assert conn.execute("select count(*) from auth.users").fetchone()[0] == 1
        # The identity migrations work on Supabase's auth.users: a sign-up gets its profile.
        user_id = uuid.uuid4()
        conn.execute("insert into auth.users (id, email) values (%s, 'new@example.test')", (user_id,))
        conn.execute(
            "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
            (f'{{"sub": "{user_id}", "role": "authenticated"}}',),
        )
        assert conn.execute("select auth.uid()").fetchone()[0] == user_id
        assert conn.execute("select id from public.profiles").fetchall() == [(user_id,)]


# --- the runner on files of our own ------------------------------------------------------------


def test_a_failing_migration_names_its_file_and_leaves_nothing_of_it(scratch_database, tmp_path):
    url = scratch_database()
    write(tmp_path, "20260101000000_first.sql", "create table public.first_table (id int);")
    write(
        tmp_path,
        "20260101000100_second.sql",
        "create table public.second_table (id int);\ninsert into public.second_table values (1);\nselect 1 / 0;\n",
    )
    write(tmp_path, "20260101000200_third.sql", "create table public.third_table (id int);")

    with pytest.raises(migrate.MigrationError, match=r"^20260101000100_second\.sql: division by zero"):
        migrate.upgrade(url, tmp_path, log=quiet)

    assert recorded(url) == [("20260101000000", "first")]
    assert relation_exists(url, "public.first_table")
    assert not relation_exists(url, "public.second_table")
    assert not relation_exists(url, "public.third_table")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("create tabel oops (id int);", "syntax error"),
        ("create table public.t (id int primary key);\ninsert into public.t values (1), (1);", "duplicate key"),
        ("select * from public.missing_table;", "does not exist"),
        ("do $$ begin raise exception 'deliberate failure'; end $$;", "deliberate failure"),
    ],
    ids=["syntax", "constraint", "missing-relation", "plpgsql"],
)
def test_failures_are_reported_with_the_file_name_and_cause(scratch_database, tmp_path, body, message):
    url = scratch_database()
    write(tmp_path, "20260101000000_broken.sql", body)
    with pytest.raises(migrate.MigrationError) as raised:
        migrate.upgrade(url, tmp_path, log=quiet)
    assert str(raised.value).startswith("20260101000000_broken.sql: ")
    assert message in str(raised.value)
    assert recorded(url) == []
    assert not relation_exists(url, "public.t")


def test_a_fixed_file_applies_after_a_failure(scratch_database, tmp_path):
    url = scratch_database()
    path = write(tmp_path, "20260101000000_later_fixed.sql", "create table public.fixed (id int); select 1/0;")
    with pytest.raises(migrate.MigrationError):
        migrate.upgrade(url, tmp_path, log=quiet)
    path.write_text("create table public.fixed (id int);")
    assert [m.name for m in migrate.upgrade(url, tmp_path, log=quiet)] == ["later_fixed"]
    assert relation_exists(url, "public.fixed")


def test_a_changed_applied_file_is_refused(scratch_database, tmp_path):
    url = scratch_database()
    first = write(tmp_path, "20260101000000_first.sql", "create table public.a (id int);")
    migrate.upgrade(url, tmp_path, log=quiet)
    first.write_text("create table public.a (id bigint);")
    write(tmp_path, "20260101000100_second.sql", "create table public.b (id int);")

    with pytest.raises(migrate.MigrationError, match=r"^20260101000000_first\.sql: changed after it was applied"):
        migrate.upgrade(url, tmp_path, log=quiet)

    assert recorded(url) == [("20260101000000", "first")]
    assert not relation_exists(url, "public.b")


@pytest.mark.parametrize(
    "filename",
    [
        "1_short_version.sql",
        "2026010100000_thirteen_digits.sql",
        "20260101000000-dash.sql",
        "20260101000000_Upper.sql",
        "20260101000000_.sql",
        "20260101000000_spaces in name.sql",
        "init.sql",
    ],
)
def test_a_badly_named_file_is_refused_before_anything_runs(scratch_database, tmp_path, filename):
    url = scratch_database()
    write(tmp_path, "20260101000000_good.sql", "create table public.good (id int);")
    write(tmp_path, filename, "select 1;")

    with pytest.raises(migrate.MigrationError, match=f"^{filename}: .*YYYYMMDDHHMMSS_what.sql"):
        migrate.upgrade(url, tmp_path, log=quiet)

    assert not relation_exists(url, "public.good")


def test_two_files_with_one_version_are_refused_by_name(tmp_path):
    write(tmp_path, "20260101000000_one.sql", "select 1;")
    write(tmp_path, "20260101000000_two.sql", "select 2;")
    with pytest.raises(migrate.MigrationError) as raised:
        migrate.discover(tmp_path)
    assert "20260101000000_one.sql" in str(raised.value)
    assert "20260101000000_two.sql" in str(raised.value)


def test_files_apply_in_version_order(scratch_database, tmp_path):
    url = scratch_database()
    write(tmp_path, "20260101000200_c.sql", "insert into public.log values ('c');")
    write(tmp_path, "20260101000000_a.sql", "create table public.log (step text, at serial);")
    write(tmp_path, "20260101000100_b.sql", "insert into public.log values ('b');")
    migrate.upgrade(url, tmp_path, log=quiet)
    with psycopg.connect(url) as conn:
        assert [r[0] for r in conn.execute("select step from public.log order by at")] == ["b", "c"]


def test_concurrent_runners_are_serialized_by_the_advisory_lock(scratch_database, tmp_path):
    url = scratch_database()
    # Each file would fail if run twice (create table without if not exists), and sleeps so
    # the runners overlap.
    for n in range(3):
        write(
            tmp_path, f"2026010100000{n}_step_{n}.sql", f"create table public.step_{n} (id int); select pg_sleep(0.2);"
        )
    runners = 5
    barrier = threading.Barrier(runners)
    results, errors = [], []

    def run():
        barrier.wait()
        try:
            results.append([m.name for m in migrate.upgrade(url, tmp_path, log=quiet)])
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(runners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert sorted(name for batch in results for name in batch) == ["step_0", "step_1", "step_2"]
    assert [v for v, _ in recorded(url)] == [f"2026010100000{n}" for n in range(3)]


def test_the_lock_is_released_after_a_failure(scratch_database, tmp_path):
    url = scratch_database()
    broken = write(tmp_path, "20260101000000_broken.sql", "select 1/0;")
    with pytest.raises(migrate.MigrationError):
        migrate.upgrade(url, tmp_path, log=quiet)
    with psycopg.connect(url) as conn:
        assert conn.execute("select pg_try_advisory_lock(%s)", (migrate.ADVISORY_LOCK_KEY,)).fetchone()[0]
    broken.write_text("select 1;")
    assert len(migrate.upgrade(url, tmp_path, log=quiet)) == 1


def test_organizations_that_already_hold_keys_keep_their_tiers_and_their_keys(scratch_database, tmp_path):
    """The limits arrive with starter and five keys as the default; an organization already using
    pro, or holding more than five keys, must not find its keys unrenewable after the upgrade."""
    url = scratch_database()
    before = tmp_path / "before"
    before.mkdir()
    for migration in migrate.discover():
        if migration.version < "20261207120200":
            (before / migration.path.name).write_text(migration.path.read_text())
    migrate.upgrade(url, directory=before, log=quiet)
    with psycopg.connect(url) as conn:
        user = conn.execute("insert into auth.users (email) values ('a@example.test') returning id").fetchone()[0]
        busy, idle = (
            conn.execute(
                "insert into public.organizations (name, created_by) values (%s, %s) returning id", (name, user)
            ).fetchone()[0]
            for name in ("Busy", "Idle")
        )
        for n, (tier, revoked) in enumerate([("pro", False), ("enterprise", True)] + [("starter", False)] * 6):
            row_id = uuid.uuid4()
            conn.execute(
                "insert into public.api_keys (id, key_id, organization_id, lineage_id, name, tier, secret_hash,"
                " revoked_at) values (%s, %s, %s, %s, 'k', %s, %s, case when %s then now() end)",
                (row_id, f"{n:016x}", busy, row_id, tier, b"\x00" * 32, revoked),
            )

    migrate.upgrade(url, log=quiet)

    with psycopg.connect(url) as conn:
        rows = conn.execute("select organization_id, allowed_tiers, max_api_keys from public.organization_limits")
        limits = {org: (tiers, most) for org, tiers, most in rows}
        # Busy: the pro key it uses (not the revoked enterprise one), and its seven live keys.
        assert limits == {busy: (["starter", "pro"], 7), idle: (["starter"], 5)}
        created = conn.execute("insert into public.organizations (name) values ('New') returning id").fetchone()[0]
        assert conn.execute(
            "select allowed_tiers, max_api_keys from public.organization_limits where organization_id = %s", (created,)
        ).fetchone() == (["starter"], 5)
