"""The clean-up job: expired rows go, live ones stay, and only one runner works at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backend.services import maintenance
from backend.services.accounts import resets, sessions
from backend.services.shared.audit import RequestInfo
from backend.services.shared.digest import secret_digest


def test_cleanup_deletes_only_long_expired_rows(db, world):
    user = world.user()
    with db.transaction("service_role") as conn:
        live, old, revoked = (sessions.create_session(conn, user["id"], 3600, RequestInfo()).token for _ in range(3))
        expire = "update public.auth_sessions set {} = now() - interval '2 days' where token_hash = %s"
        conn.execute(expire.format("expires_at"), (secret_digest(old),))
        conn.execute(expire.format("revoked_at"), (secret_digest(revoked),))
        resets.issue_reset_token(conn, user["id"], None, 3600, None)
        conn.execute("update public.password_reset_tokens set expires_at = now() - interval '2 days'")
        org = world.organization()
        for email, status, responded, expires in (
            ("old-answer@example.test", "declined", "now() - interval '31 days'", "now()"),
            ("lapsed@example.test", "pending", "null", "now() - interval '31 days'"),
            ("recent@example.test", "revoked", "now() - interval '29 days'", "now()"),
            ("open@example.test", "pending", "null", "now() + interval '1 day'"),
        ):
            conn.execute(
                "insert into public.invitations (organization_id, email, role, status, token_hash, responded_at,"
                f" expires_at) values (%s, %s, 'member', %s, %s, {responded}, {expires})",
                (org["id"], email, status, email.encode()),
            )
        conn.execute(
            "insert into public.rate_limit_counters (bucket, window_start, count) "
            "values ('old', %s, 1), ('new', now(), 1)",
            (datetime.now(UTC) - timedelta(days=3),),
        )

    result = maintenance.cleanup(db)

    assert result == {"sessions": 2, "reset_tokens": 1, "invitations": 2, "rate_limit_windows": 1}
    with db.transaction("service_role") as conn:
        left = [bytes(r["token_hash"]) for r in conn.execute("select token_hash from public.auth_sessions")]
        kept = {r["email"] for r in conn.execute("select email from public.invitations").fetchall()}
        buckets = [r["bucket"] for r in conn.execute("select bucket from public.rate_limit_counters").fetchall()]
    assert left == [secret_digest(live)]
    assert buckets == ["new"]
    assert kept == {"recent@example.test", "open@example.test"}
    assert maintenance.cleanup(db) == {"sessions": 0, "reset_tokens": 0, "invitations": 0, "rate_limit_windows": 0}


def test_cleanup_yields_to_a_runner_that_holds_the_lock(db):
    with db.transaction("service_role") as conn:
        conn.execute("select pg_advisory_xact_lock(%s)", (maintenance.CLEANUP_LOCK_KEY,))
        assert maintenance.cleanup(db) is None
    assert maintenance.cleanup(db) is not None
