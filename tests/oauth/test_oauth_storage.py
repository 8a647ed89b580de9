"""OAuth storage against real Postgres: single use under concurrency, row-level security of the
OAuth tables, the scheduled clean-up and key rotation, the CLI, and redirect URI matching."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import errors

from backend.services.oauth import keys, maintenance, registration, tokens
from tests.oauth.support import REDIRECT_URI, register, user_tokens


def new_code(db, lms, learner) -> str:
    code = uuid.uuid4().hex
    with db.transaction("service_role") as conn:
        tokens.save_code(
            conn,
            code,
            client_id=lms["client_id"],
            user_id=learner["id"],
            redirect_uri=REDIRECT_URI,
            scope="read:profile",
            code_challenge=None,
            code_challenge_method=None,
            ttl_seconds=600,
        )
    return code


def race(first, second, hold: float = 0.3):
    """Run `first` (holding its transaction `hold` seconds after it returns) and `second` at once."""
    results = {}
    started = threading.Event()

    def run_first():
        results["first"] = first(started, hold)

    def run_second():
        started.wait(5)
        results["second"] = second()

    threads = [threading.Thread(target=run_first), threading.Thread(target=run_second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    return results


# -- single use under concurrency --------------------------------------------------------------------------


def test_a_code_redeemed_twice_at_once_issues_once_and_revokes(db, lms, learner, org):
    code = new_code(db, lms, learner)

    def first(started, hold):
        with db.transaction("service_role") as conn:
            row = tokens.redeem_code(conn, code, lms["client_id"])
            grant_id = tokens.create_grant(
                conn,
                client_id=lms["client_id"],
                user_id=learner["id"],
                organization_id=org["id"],
                scope="x",
                ttl_seconds=60,
            )
            tokens.link_code_to_grant(conn, row["code_hash"], grant_id)
            started.set()
            time.sleep(hold)  # the second redemption is now waiting on the row lock
        return grant_id

    def second():
        with db.transaction("service_role") as conn:
            return tokens.redeem_code(conn, code, lms["client_id"])

    results = race(first, second)
    assert results["second"] is None
    with db.transaction("service_role") as conn:
        grant = conn.execute(
            "select revoked_reason from public.oauth_grants where id = %s", (results["first"],)
        ).fetchone()
    assert grant["revoked_reason"] == "authorization_code_replayed"


def test_a_refresh_token_used_twice_at_once_rotates_once_and_revokes_the_grant(app, client, lms, learner, db):
    issued = user_tokens(app, client, lms, learner)

    def first(started, hold):
        with db.transaction("service_role") as conn:
            row = tokens.redeem_refresh_token(conn, issued["refresh_token"])
            tokens.mark_rotated(conn, row["token_hash"])
            started.set()
            time.sleep(hold)
        return row

    def second():
        with db.transaction("service_role") as conn:
            return tokens.redeem_refresh_token(conn, issued["refresh_token"])

    results = race(first, second)
    assert results["first"] is not None and results["second"] is None
    with db.transaction("service_role") as conn:
        assert conn.execute("select revoked_reason from public.oauth_grants").fetchone()["revoked_reason"] == (
            "refresh_token_reused"
        )
        assert (
            conn.execute("select count(*) as n from public.oauth_access_tokens where revoked_at is null").fetchone()[
                "n"
            ]
            == 0
        )


def test_codes_and_refresh_tokens_are_stored_only_as_hashes(app, client, lms, learner, db):
    issued = user_tokens(app, client, lms, learner)
    with db.transaction("service_role") as conn:
        dump = str(conn.execute("select * from public.oauth_refresh_tokens").fetchall())
        dump += str(conn.execute("select * from public.oauth_authorization_codes").fetchall())
    assert issued["refresh_token"] not in dump


# -- row-level security ------------------------------------------------------------------------------------------


def run_as(db, user: dict | None, statement: str, params=()):
    role = "authenticated" if user else "anon"
    claims = {"sub": str(user["id"]), "role": role} if user else {}
    with db.transaction(role, claims) as conn:
        return conn.execute(statement, params).fetchall()


@pytest.mark.parametrize(
    "table",
    [
        "oauth_grants",
        "oauth_authorization_codes",
        "oauth_refresh_tokens",
        "oauth_access_tokens",
        "oauth_signing_keys",
        "oidc_signing_keys",
    ],
)
@pytest.mark.parametrize("who", ["admin", "learner", "anon"])
def test_codes_grants_tokens_and_keys_are_closed_to_users(app, client, lms, learner, org, db, table, who):
    user_tokens(app, client, lms, learner)
    user = {"admin": org["admin"], "learner": learner, "anon": None}[who]
    with pytest.raises(errors.InsufficientPrivilege):
        run_as(db, user, f"select * from public.{table}")


def test_admins_see_their_own_organizations_clients_without_the_secret_hash(client, auth, world, lms, org, learner, db):
    other = world.organization("Elsewhere")
    register(client, auth.headers(other["admin"]), other, name="Theirs")
    rows = run_as(db, org["admin"], "select client_id, name from public.oauth_clients")
    assert [r["client_id"] for r in rows] == [lms["client_id"]]
    assert run_as(db, learner, "select client_id from public.oauth_clients") == []
    with pytest.raises(errors.InsufficientPrivilege):
        run_as(db, org["admin"], "select secret_hash from public.oauth_clients")
    ours = (lms["client_id"],)
    assert (
        run_as(
            db, other["admin"], "update public.oauth_clients set name = 'pwned' where client_id = %s returning 1", ours
        )
        == []
    )
    assert run_as(db, other["admin"], "delete from public.oauth_clients where client_id = %s returning 1", ours) == []
    with pytest.raises(errors.InsufficientPrivilege):
        run_as(
            db,
            other["admin"],
            "insert into public.oauth_clients (client_id, organization_id, name, secret_hash, scopes, grant_types)"
            " values ('qbc_forged_forged_forg', %s, 'x', '\\x00', '{read:profile}', '{client_credentials}')",
            (org["id"],),
        )


def test_consents_are_visible_and_revocable_only_by_their_user(app, client, lms, learner, world, org, db):
    user_tokens(app, client, lms, learner)
    other = world.add_member(org)
    assert len(run_as(db, learner, "select * from public.oauth_consents")) == 1
    assert run_as(db, other, "select * from public.oauth_consents") == []
    assert run_as(db, other, "delete from public.oauth_consents returning 1") == []
    assert [r["client_id"] for r in run_as(db, learner, "select client_id from public.oauth_clients")] == [
        lms["client_id"]
    ]  # the client behind a consent
    with pytest.raises(errors.InsufficientPrivilege):
        run_as(
            db,
            other,
            "insert into public.oauth_consents (user_id, client_id, scopes) values (%s, %s, '{read:profile}')",
            (other["id"], lms["client_id"]),
        )


# -- the scheduled job ------------------------------------------------------------------------------------------------


def test_maintenance_deletes_what_expired_and_keeps_what_lives(app, client, lms, learner, db):
    runtime = app.extensions["questbridge"]
    old = user_tokens(app, client, lms, learner)
    live = user_tokens(app, client, lms, learner)
    new_code(db, lms, learner)  # unused, live
    with db.transaction("service_role") as conn:
        oldest_grant = conn.execute("select id from public.oauth_grants order by created_at limit 1").fetchone()["id"]
        conn.execute(
            "update public.oauth_grants set expires_at = now() - interval '2 days' where id = %s", (oldest_grant,)
        )
        conn.execute(
            "update public.oauth_access_tokens set expires_at = now() - interval '2 hours' where grant_id = %s",
            (oldest_grant,),
        )
        conn.execute(
            "update public.oauth_authorization_codes set expires_at = now() - interval '2 days' where grant_id = %s",
            (oldest_grant,),
        )
    result = maintenance.run(runtime.db, runtime.secretbox, runtime.config)
    assert result["grants"] == 1 and result["access_tokens"] == 1 and result["codes"] == 1
    with db.transaction("service_role") as conn:
        counts = conn.execute(
            "select (select count(*) from public.oauth_grants) as grants,"
            " (select count(*) from public.oauth_refresh_tokens) as refresh_tokens,"
            " (select count(*) from public.oauth_access_tokens) as access_tokens,"
            " (select count(*) from public.oauth_authorization_codes) as codes"
        ).fetchone()
    assert counts == {"grants": 1, "refresh_tokens": 1, "access_tokens": 1, "codes": 2}
    for issued, outcome in ((old, "invalid_grant"), (live, None)):
        answer = client.post(
            "/api/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
            auth=(lms["client_id"], lms["client_secret"]),
        ).get_json()
        assert answer.get("error") == outcome


def test_maintenance_runs_once_at_a_time(app, database_url):
    runtime = app.extensions["questbridge"]
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s)", (maintenance.LOCK_KEY,))
        assert maintenance.run(runtime.db, runtime.secretbox, runtime.config) is None
        # Released here, not by closing: a closed session's locks go only when its backend exits.
        holder.execute("select pg_advisory_unlock(%s)", (maintenance.LOCK_KEY,))
    assert maintenance.run(runtime.db, runtime.secretbox, runtime.config) is not None


def test_maintenance_rotates_a_key_when_due_and_deletes_retired_ones(app, db):
    runtime = app.extensions["questbridge"]
    first = maintenance.run(runtime.db, runtime.secretbox, runtime.config)
    assert first["key_scheduled"] is None  # a fresh key is generated on first use, not rotated
    with db.transaction("service_role") as conn:
        conn.execute("update public.oauth_signing_keys set activates_at = now() - interval '30 days'")
    due = maintenance.run(runtime.db, runtime.secretbox, runtime.config)
    assert due["key_scheduled"]
    with db.transaction("service_role") as conn:
        rows = conn.execute(
            "select kid, activates_at, retires_at from public.oauth_signing_keys order by activates_at"
        ).fetchall()
    assert [r["kid"] for r in rows][-1] == due["key_scheduled"]
    assert rows[-1]["activates_at"] > datetime.now(UTC) + timedelta(hours=23)  # published a day ahead
    assert rows[0]["retires_at"] > rows[-1]["activates_at"]
    assert maintenance.run(runtime.db, runtime.secretbox, runtime.config)["key_scheduled"] is None  # already scheduled
    with db.transaction("service_role") as conn:
        conn.execute(
            "update public.oauth_signing_keys set activates_at = now() - interval '40 days',"
            " retires_at = now() - interval '1 second' where kid = %s",
            (rows[0]["kid"],),
        )
    assert maintenance.run(runtime.db, runtime.secretbox, runtime.config)["keys_retired"] == 1


def test_the_scheduler_runs_the_oauth_job(app):
    from apscheduler.schedulers.background import BackgroundScheduler

    from backend.scheduler import add_jobs

    job = add_jobs(BackgroundScheduler(timezone="UTC"), app.extensions["questbridge"]).get_job("oauth_maintenance")
    assert job is not None and job.func is maintenance.run and job.trigger.interval == timedelta(minutes=10)


def test_the_cli_publishes_the_next_key_ahead(app, db):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["oauth", "rotate-keys", "--ahead", "7200"])
    assert result.exit_code == 0, result.output
    assert "scheduled" in result.output
    with db.transaction("service_role") as conn:
        rows = conn.execute("select kid, activates_at from public.oauth_signing_keys order by activates_at").fetchall()
    assert len(rows) == 2 and rows[1]["kid"] in result.output
    assert rows[1]["activates_at"] > datetime.now(UTC) + timedelta(seconds=7100)
    again = runner.invoke(args=["oauth", "rotate-keys"])
    assert "already scheduled" in again.output
    assert runner.invoke(args=["oauth", "rotate-keys", "--ahead", "-1"]).exit_code != 0


def test_keys_are_encrypted_with_the_secret_key(app, db):
    runtime = app.extensions["questbridge"]
    app.extensions["questbridge"].oauth.keyring.jwks()
    with db.transaction("service_role") as conn:
        (key,) = keys.published_keys(conn)
    pem = runtime.secretbox.decrypt(key.private_key_encrypted, keys.SECRET_PURPOSE)
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    with pytest.raises(ValueError, match="cannot be decrypted"):
        runtime.secretbox.decrypt(key.private_key_encrypted, "webhook-subscription")


# -- redirect URI matching --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("registered", "asked", "matches"),
    [
        ("https://lms.example.edu/cb", "https://lms.example.edu/cb", True),
        ("https://lms.example.edu/cb", "https://lms.example.edu/cb/", False),
        ("https://lms.example.edu/cb", "https://LMS.example.edu/cb", False),
        ("https://lms.example.edu/cb", "https://lms.example.edu:443/cb", False),
        ("https://lms.example.edu/cb", "https://lms.example.edu/cb?x=1", False),
        ("https://lms.example.edu/cb?x=1", "https://lms.example.edu/cb?x=1", True),
        ("https://lms.example.edu/cb", "https://lms.example.edu/cb#x", False),
        ("https://lms.example.edu:8443/cb", "https://lms.example.edu:9443/cb", False),  # ports only on loopback
        ("http://127.0.0.1/cb", "http://127.0.0.1:51234/cb", True),
        ("http://127.0.0.1:8000/cb", "http://127.0.0.1:9000/cb", True),
        ("http://[::1]/cb", "http://[::1]:8080/cb", True),
        ("http://127.0.0.1/cb", "http://127.0.0.1:51234/other", False),
        ("http://127.0.0.1/cb", "http://127.0.0.1:51234/cb?x=1", False),
        ("http://127.0.0.1/cb", "https://127.0.0.1:51234/cb", False),
        ("http://127.0.0.1/cb", "http://127.0.0.1:99999/cb", False),
        ("http://127.0.0.1/cb", "http://user@127.0.0.1:5000/cb", False),
        ("http://localhost/cb", "http://127.0.0.1:5000/cb", False),
    ],
)
def test_redirect_uri_matching(registered, asked, matches):
    assert registration.redirect_uri_matches([registered], asked) is matches
