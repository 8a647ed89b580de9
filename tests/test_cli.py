"""`flask --app backend …` commands, run through Flask's CLI runner against the test database."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from backend import migrate

PASSWORD = "a sturdy admin passphrase"


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def _invoke(*args):
        return runner.invoke(args=list(args))

    return _invoke


def last_json_line(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def login(client, email: str, password: str):
    return client.post("/api/auth/login", json={"email": email, "password": password})


def count(db, query: str, *params) -> int:
    with db.transaction("service_role") as conn:
        return conn.execute(query, params).fetchone()["count"]


def test_create_admin_prints_ids_and_the_admin_can_log_in(cli, client, db):
    result = cli("create-admin", "--email", "head@school.test", "--password", PASSWORD, "--org", "Hill School")

    assert result.exit_code == 0, result.output
    ids = last_json_line(result.stdout)
    uuid.UUID(ids["user_id"])
    uuid.UUID(ids["organization_id"])
    response = login(client, "head@school.test", PASSWORD)
    assert response.status_code == 200
    assert response.get_json()["user"]["id"] == ids["user_id"]
    assert response.get_json()["must_change_password"] is False
    me = client.get("/api/auth/me").get_json()
    assert me["organizations"] == [{"id": ids["organization_id"], "name": "Hill School", "role": "admin"}]
    assert PASSWORD not in result.output
    with db.transaction("service_role") as conn:
        row = conn.execute(
            "select actor_id, metadata from public.audit_log where action = 'organization.created'"
        ).fetchone()
    assert str(row["actor_id"]) == ids["user_id"]
    assert row["metadata"]["via"] == "cli"


@pytest.mark.parametrize("role", ["admin", "member"])
def test_create_user_adds_a_user_to_an_existing_org(cli, client, role):
    admin = last_json_line(cli("create-admin", "--email", "a@x.test", "--password", PASSWORD, "--org", "X").stdout)

    result = cli(
        "create-user",
        "--email",
        "u@x.test",
        "--password",
        PASSWORD,
        "--org-id",
        admin["organization_id"],
        "--role",
        role,
    )

    assert result.exit_code == 0, result.output
    ids = last_json_line(result.stdout)
    assert ids["organization_id"] == admin["organization_id"]
    assert ids["role"] == role
    assert login(client, "u@x.test", PASSWORD).status_code == 200
    assert client.get("/api/auth/me").get_json()["organizations"] == [
        {"id": admin["organization_id"], "name": "X", "role": role}
    ]


def test_create_user_defaults_to_member(cli):
    admin = last_json_line(cli("create-admin", "--email", "a@x.test", "--password", PASSWORD, "--org", "X").stdout)
    result = cli("create-user", "--email", "m@x.test", "--password", PASSWORD, "--org-id", admin["organization_id"])
    assert last_json_line(result.stdout)["role"] == "member"


@pytest.mark.parametrize(
    ("password", "reason"),
    [("short", "at least"), ("aaaaaaaaaaaaaaaa", "too simple"), ("weak@x.test", "email")],
)
@pytest.mark.parametrize("command", ["create-admin", "create-user"])
def test_a_weak_password_exits_non_zero_and_creates_nothing(cli, db, command, password, reason):
    org = last_json_line(cli("create-admin", "--email", "a@x.test", "--password", PASSWORD, "--org", "X").stdout)
    extra = ["--org", "Y"] if command == "create-admin" else ["--org-id", org["organization_id"]]

    result = cli(command, "--email", "weak@x.test", "--password", password, *extra)

    assert result.exit_code != 0
    assert "--password" in result.stderr and reason in result.stderr
    assert count(db, "select count(*) from public.profiles where email = 'weak@x.test'") == 0


@pytest.mark.parametrize("command", ["create-admin", "create-user"])
@pytest.mark.parametrize("spelling", ["taken@x.test", "TAKEN@X.test"])
def test_a_duplicate_email_exits_non_zero(cli, db, command, spelling):
    org = last_json_line(cli("create-admin", "--email", "taken@x.test", "--password", PASSWORD, "--org", "X").stdout)
    extra = ["--org", "Other"] if command == "create-admin" else ["--org-id", org["organization_id"]]

    result = cli(command, "--email", spelling, "--password", PASSWORD, *extra)

    assert result.exit_code != 0
    assert "already exists" in result.stderr
    assert count(db, "select count(*) from public.profiles") == 1
    assert count(db, "select count(*) from public.organizations") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create-admin", "--email", "not-an-email", "--password", PASSWORD, "--org", "X"], "--email is not a valid"),
        (["create-admin", "--email", "ok@x.test", "--password", PASSWORD, "--org", "   "], "--org must be"),
        (["create-admin", "--email", "ok@x.test", "--password", PASSWORD, "--org", "n" * 201], "--org must be"),
        (
            ["create-user", "--email", "ok@x.test", "--password", PASSWORD, "--org-id", str(uuid.uuid4())],
            "does not exist",
        ),
    ],
)
def test_bad_input_exits_non_zero_with_a_message_and_no_traceback(cli, db, args, message):
    result = cli(*args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert count(db, "select count(*) from public.profiles") == 0


@pytest.mark.parametrize(
    "args",
    [
        ["create-user", "--email", "u@x.test", "--password", PASSWORD, "--org-id", "not-a-uuid"],
        [
            "create-user",
            "--email",
            "u@x.test",
            "--password",
            PASSWORD,
            "--org-id",
            str(uuid.uuid4()),
            "--role",
            "owner",
        ],
        ["create-admin", "--email", "u@x.test", "--password", PASSWORD],
    ],
)
def test_usage_errors_exit_2(cli, args):
    assert cli(*args).exit_code == 2


def test_seed_demo_is_idempotent_and_prints_a_working_login(cli, client, db, app):
    first = cli("seed-demo")
    second = cli("seed-demo")

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    match = re.search(r"admin login: (\S+) / (\S+)", first.stdout)
    assert match, first.stdout
    assert match.group(0) in second.stdout
    email, password = match.groups()
    assert login(client, email, password).status_code == 200
    assert count(db, "select count(*) from public.profiles where email = %s", email) == 1
    assert count(db, "select count(*) from public.organizations") == 1
    assert count(db, "select count(*) from public.quests") == 1
    saved = json.loads((app.extensions["questbridge"].config.data_dir / "demo-login.json").read_text())
    assert (saved["email"], saved["password"]) == (email, password)


def test_seed_demo_without_its_credentials_file_does_not_reseed(cli, db, app):
    cli("seed-demo")
    (app.extensions["questbridge"].config.data_dir / "demo-login.json").unlink()
    result = cli("seed-demo")
    assert result.exit_code == 0
    assert "admin login" not in result.stdout
    assert count(db, "select count(*) from public.organizations") == 1


def test_db_upgrade_and_status_on_a_current_database(cli):
    upgrade = cli("db", "upgrade")
    assert upgrade.exit_code == 0, upgrade.output
    assert "0 migration(s) applied now" in upgrade.stdout

    status = cli("db", "status")
    assert status.exit_code == 0
    assert status.stdout.splitlines() == [f"applied  {m.path.name}" for m in migrate.discover()]


def test_db_upgrade_against_a_database_that_is_down_says_so_without_a_traceback(make_app):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = make_app(database_url=f"postgresql://postgres@127.0.0.1:{port}/nothing?connect_timeout=2")
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 1
    assert "error: cannot reach the database" in result.output
    assert "Traceback" not in result.output


def test_set_org_limits_lets_the_organization_issue_what_it_says(cli, client, world, auth, db):
    org = world.organization()
    headers = auth.headers(org["admin"])
    key = {"organization_id": str(org["id"]), "name": "LMS", "tier": "pro"}
    assert client.post("/v1/admin/external/keys", json=key, headers=headers).status_code == 403

    result = cli("set-org-limits", "--org-id", str(org["id"]), "--tiers", "pro, starter", "--max-keys", "1")
    assert result.exit_code == 0, result.output
    assert last_json_line(result.output) == {
        "organization_id": str(org["id"]),
        "allowed_tiers": ["starter", "pro"],
        "max_api_keys": 1,
        "api_keys": 0,
    }
    assert client.post("/v1/admin/external/keys", json=key, headers=headers).status_code == 201
    assert client.post("/v1/admin/external/keys", json=key, headers=headers).status_code == 403  # one key at most

    # Either option alone leaves the other as it was.
    assert last_json_line(cli("set-org-limits", "--org-id", str(org["id"]), "--max-keys", "3").output)[
        "allowed_tiers"
    ] == ["starter", "pro"]
    assert (
        last_json_line(cli("set-org-limits", "--org-id", str(org["id"]), "--tiers", "enterprise").output)[
            "max_api_keys"
        ]
        == 3
    )
    with db.transaction("service_role") as conn:
        changes = conn.execute(
            "select actor_id, metadata from public.audit_log where action = 'organization.limits_changed' order by id"
        ).fetchall()
    assert len(changes) == 3 and all(change["actor_id"] is None for change in changes)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tiers", "starter,gold"], "--tiers must list some of starter, pro, enterprise, not gold"),
        (["--tiers", " , "], "--tiers must list some of"),
        ([], "give --tiers, --max-keys or both"),
    ],
)
def test_set_org_limits_refuses_bad_input_with_a_message(cli, world, args, message):
    org = world.organization()
    result = cli("set-org-limits", "--org-id", str(org["id"]), *args)
    assert result.exit_code == 1
    assert message in result.stderr


def test_set_org_limits_of_an_organization_that_does_not_exist(cli):
    result = cli("set-org-limits", "--org-id", str(uuid.uuid4()), "--max-keys", "3")
    assert result.exit_code == 1
    assert "does not exist" in result.stderr


@pytest.mark.parametrize("max_keys", ["-1", "10001", "many"])
def test_set_org_limits_max_keys_out_of_range_is_a_usage_error(cli, world, max_keys):
    assert cli("set-org-limits", "--org-id", str(world.organization()["id"]), "--max-keys", max_keys).exit_code == 2
