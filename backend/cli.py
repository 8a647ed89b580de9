"""`flask --app backend …` commands: migrations, accounts, OAuth signing keys and the demo data of `make run`."""

from __future__ import annotations

import json
import os
import secrets
import sys
from contextlib import contextmanager

import click
import psycopg
from flask import Flask

from backend import migrate
from backend.errors import NotFound, from_database_error
from backend.runtime import runtime_of
from backend.services import learning
from backend.services.accounts import organizations, users
from backend.services.keys import manage
from backend.services.lti import keys as lti_keys
from backend.services.oauth import keys as oauth_keys
from backend.services.shared import audit
from backend.services.shared.audit import RequestInfo
from backend.services.shared.passwords import password_problem

CLI_ORIGIN = RequestInfo(ip=None, user_agent="questbridge-cli")
OPTION_FOR_FIELD = {"email": "--email", "name": "--org", "role": "--role"}
DEMO_EMAIL = "admin@demo.questbridge.local"
DEMO_ORG = "Demo Academy"


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@contextmanager
def _constraint_errors_as_messages():
    """A value the database refuses (a bad email, a blank name) ends the command with one line."""
    try:
        yield
    except psycopg.IntegrityError as exc:
        problem = from_database_error(exc)
        if problem is None or not problem.errors:
            raise
        field, messages = next(iter(problem.errors.items()))
        _fail(f"{OPTION_FOR_FIELD.get(field, field)} {messages[0]}")


def _validate_password(password: str, email: str) -> None:
    problem = password_problem(password, email)
    if problem:
        _fail(f"--password {problem}")


def _create_admin(runtime, email: str, password: str, org_name: str) -> dict:
    with runtime.db.transaction("service_role") as conn:
        if users.find_by_email(conn, email):
            _fail(f"a user with email {email} already exists")
        user_id = users.create_user(conn, runtime.hasher, email, password)
        organization = organizations.create_organization(conn, user_id, org_name, CLI_ORIGIN, via="cli")
    return {"user_id": str(user_id), "organization_id": str(organization["id"])}


def register(app: Flask) -> None:
    db_group = click.Group("db", help="Database migrations.")

    @db_group.command("upgrade", help="Apply every pending migration.")
    def db_upgrade():
        try:
            applied = migrate.upgrade(runtime_of(app).db.conninfo, log=click.echo)
        except migrate.MigrationError as exc:
            _fail(str(exc))
        except psycopg.OperationalError as exc:  # the server is down or refuses us: say so, no traceback
            _fail(f"cannot reach the database: {str(exc).strip().splitlines()[0]}")
        click.echo(f"database is current ({len(applied)} migration(s) applied now)")

    @db_group.command("status", help="List applied and pending migrations.")
    def db_status():
        with runtime_of(app).db.connection() as conn:
            done = migrate.applied_versions(conn)
        for migration in migrate.discover():
            click.echo(f"{'applied' if migration.version in done else 'pending'}  {migration.path.name}")

    app.cli.add_command(db_group)
    app.cli.add_command(_oauth_group(app))

    @app.cli.command("create-admin", help="Create an organization and its first admin.")
    @click.option("--email", required=True)
    @click.option("--password", required=True)
    @click.option("--org", "org_name", required=True, help="Name of the new organization.")
    def create_admin(email, password, org_name):
        _validate_password(password, email)
        with _constraint_errors_as_messages():
            ids = _create_admin(runtime_of(app), email, password, org_name)
        click.echo(json.dumps(ids))

    @app.cli.command("create-user", help="Add a user with a password to an existing organization.")
    @click.option("--email", required=True)
    @click.option("--password", required=True)
    @click.option("--org-id", required=True, type=click.UUID)
    @click.option("--role", type=click.Choice(["admin", "member"]), default="member", show_default=True)
    def create_user(email, password, org_id, role):
        _validate_password(password, email)
        runtime = runtime_of(app)
        with _constraint_errors_as_messages(), runtime.db.transaction("service_role") as conn:
            if conn.execute("select 1 from public.organizations where id = %s", (org_id,)).fetchone() is None:
                _fail(f"organization {org_id} does not exist")
            if users.find_by_email(conn, email):
                _fail(f"a user with email {email} already exists")
            user_id = users.create_user(conn, runtime.hasher, email, password)
            conn.execute(
                "insert into public.memberships (organization_id, user_id, role) values (%s, %s, %s)",
                (org_id, user_id, role),
            )
        click.echo(json.dumps({"user_id": str(user_id), "organization_id": str(org_id), "role": role}))

    app.cli.add_command(_lti_group(app))

    @app.cli.command("set-platform-admin", help="Grant (or with --revoke, remove) platform-wide monitoring rights.")
    @click.option("--email", required=True)
    @click.option("--revoke", is_flag=True, help="Remove the flag instead of setting it.")
    def set_platform_admin(email, revoke):
        with runtime_of(app).db.transaction("service_role") as conn:
            row = conn.execute(
                "update public.profiles set platform_admin = %s where lower(email) = lower(%s) returning id",
                (not revoke, email.strip()),
            ).fetchone()
            if row is None:
                _fail(f"no user with email {email}")
            audit.record(
                conn,
                "user.platform_admin_revoked" if revoke else "user.platform_admin_granted",
                target_type="user",
                target_id=row["id"],
                origin=CLI_ORIGIN,
            )
        click.echo(json.dumps({"user_id": str(row["id"]), "platform_admin": not revoke}))

    @app.cli.command("set-org-limits", help="Set the API-key tiers an organization may issue and its number of keys.")
    @click.option("--org-id", required=True, type=click.UUID)
    @click.option("--tiers", help=f"Comma-separated, of {', '.join(manage.TIERS)}; unchanged when left out.")
    @click.option(
        "--max-keys",
        type=click.IntRange(0, manage.MAX_KEYS_LIMIT),
        help="Live keys it may hold; unchanged when left out.",
    )
    def set_org_limits(org_id, tiers, max_keys):
        if tiers is None and max_keys is None:
            _fail("give --tiers, --max-keys or both")
        allowed = None
        if tiers is not None:
            names = [name.strip() for name in tiers.split(",") if name.strip()]
            unknown = sorted(set(names) - set(manage.TIERS))
            if not names or unknown:
                refused = f", not {', '.join(unknown)}" if unknown else ""
                _fail(f"--tiers must list some of {', '.join(manage.TIERS)}{refused}")
            allowed = [tier for tier in manage.TIERS if tier in names]
        with runtime_of(app).db.transaction("service_role") as conn:
            try:
                limits = manage.set_limits(conn, org_id, allowed, max_keys, CLI_ORIGIN)
            except NotFound:
                _fail(f"organization {org_id} does not exist")
        click.echo(
            json.dumps(
                {
                    "organization_id": str(limits["organization_id"]),
                    "allowed_tiers": limits["allowed_tiers"],
                    "max_api_keys": limits["max_api_keys"],
                    "api_keys": limits["api_keys"],
                }
            )
        )

    @app.cli.command("seed-demo", help="On first start, create a demo org, admin and quest; print the login.")
    def seed_demo():
        runtime = runtime_of(app)
        credentials_path = runtime.config.data_dir / "demo-login.json"
        with runtime.db.transaction("service_role") as conn:
            existing = users.find_by_email(conn, DEMO_EMAIL)
        if existing is None:
            password = secrets.token_urlsafe(12)
            ids = _create_admin(runtime, DEMO_EMAIL, password, DEMO_ORG)
            _seed_quest(runtime, ids)
            credentials_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(credentials_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump({"email": DEMO_EMAIL, "password": password, **ids}, handle)
        try:
            saved = json.loads(credentials_path.read_text())
        except FileNotFoundError:
            click.echo(
                f"demo admin {DEMO_EMAIL} exists but {credentials_path} is gone; "
                "reset its password with create-user or the admin UI"
            )
            return
        click.echo(f"Questbridge is at {runtime.config.public_url}")
        click.echo(f"  admin login: {saved['email']} / {saved['password']}  (stored in {credentials_path})")


def _oauth_group(app: Flask) -> click.Group:
    group = click.Group("oauth", help="The OAuth authorization server.")

    def rotate(runtime, conn, ahead: int) -> dict:
        ttl = runtime.oauth.settings.access_token_ttl_seconds
        return oauth_keys.rotate(conn, runtime.secretbox, ahead_seconds=ahead, token_ttl_seconds=ttl)

    _key_rotation_command(
        app,
        group,
        key="access-token signing key",
        setting="OAUTH_KEY_PUBLISH_AHEAD_SECONDS",
        default_ahead=lambda runtime: runtime.oauth.settings.key_publish_ahead_seconds,
        rotate=rotate,
    )
    return group


def _key_rotation_command(app: Flask, group: click.Group, *, key: str, setting: str, default_ahead, rotate) -> None:
    """`<group> rotate-keys`: publish the next `key` now; it signs after --ahead seconds."""

    @group.command("rotate-keys", help=f"Publish the next {key} now; it signs after --ahead seconds.")
    @click.option("--ahead", "ahead_seconds", type=click.IntRange(min=0), default=None, help=f"Default: {setting}.")
    def rotate_keys(ahead_seconds):
        runtime = runtime_of(app)
        ahead = default_ahead(runtime) if ahead_seconds is None else ahead_seconds
        with runtime.db.transaction("service_role") as conn:
            result = rotate(runtime, conn, ahead)
        state = "scheduled" if result["created"] else "already scheduled"
        click.echo(f"next {key} {result['kid']} {state}; it signs from {result['activates_at'].isoformat()}")
        click.echo(
            app.json.dumps({"kid": result["kid"], "activates_at": result["activates_at"], "created": result["created"]})
        )


def _seed_quest(runtime, ids: dict) -> None:
    """A quest with three tasks so the demo org has something to complete."""
    claims = {"sub": ids["user_id"], "role": "authenticated", "aud": "authenticated"}
    with runtime.db.transaction("authenticated", claims) as conn:
        quest = learning.create_quest(
            conn, ids["user_id"], ids["organization_id"], "Getting started", "Three first steps on the platform."
        )
        for title, pillar, xp in (
            ("Introduce yourself", "community", 10),
            ("Read the handbook", "knowledge", 20),
            ("Submit your first project", "creativity", 50),
        ):
            learning.create_task(conn, quest["id"], title, pillar, xp)


def _lti_group(app: Flask) -> click.Group:
    group = click.Group("lti", help="The LTI tool.")
    _key_rotation_command(
        app,
        group,
        key="LTI tool key",
        setting="LTI_KEY_PUBLISH_AHEAD_SECONDS",
        default_ahead=lambda runtime: runtime.config.lti_key_publish_ahead_seconds,
        rotate=lambda runtime, conn, ahead: lti_keys.rotate(conn, runtime.secretbox, ahead_seconds=ahead),
    )
    return group
