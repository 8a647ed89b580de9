"""The API-key service without HTTP: the key format, allowlists, window arithmetic and headers, the
tier configuration, admission rules, usage per tier for monitoring, retention, and row-level security."""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
import threading
import uuid
import zlib

import psycopg
import pytest

from backend.config import Config, ConfigError
from backend.db import Database
from backend.errors import Conflict
from backend.routes.external import rate_limit_headers
from backend.services.keys import admission, manage, pushed
from backend.services.keys.admission import Admission, Limits, Usage, drained, ip_allowed
from backend.services.keys.format import MalformedKey, ParsedKey, new_key, parse_key
from backend.services.keys.usage import PRUNE_LOCK_KEY, prune_usage, usage_by_tier
from backend.services.shared.audit import RequestInfo
from backend.services.shared.digest import secret_digest
from tests.support import PRODUCTION

# What a secret scanner would match, published in docs/api-keys.md.
SCANNER_PATTERN = re.compile(r"\bqbk_[0-9a-f]{16}_[0-9A-Za-z]{43}_[0-9A-Za-z]{6}\b")


# -- the key format ----------------------------------------------------------------------------


def test_a_new_key_parses_back_to_its_key_id():
    key = new_key()
    assert parse_key(key.value) == key
    assert SCANNER_PATTERN.fullmatch(key.value)
    assert SCANNER_PATTERN.search(f"config: API_KEY={key.value}\n").group(0) == key.value


def test_keeping_the_key_id_changes_only_the_secret():
    first = new_key()
    second = new_key(first.key_id)
    assert second.key_id == first.key_id
    assert second.value.split("_")[2] != first.value.split("_")[2]


def test_the_checksum_is_a_crc32_of_everything_before_it():
    key = new_key()
    body, checksum = key.value.rsplit("_", 1)
    value = 0
    for char in checksum:
        value = value * 62 + ("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".index(char))
    assert value == zlib.crc32(body.encode())


def test_every_single_character_change_is_caught_offline():
    key = new_key().value
    alphabet = "0123456789abcdefABCDEFxyz_"
    for index in range(len(key)):
        for char in alphabet:
            if char == key[index]:
                continue
            changed = key[:index] + char + key[index + 1 :]
            with pytest.raises(MalformedKey):
                parse_key(changed)


@pytest.mark.parametrize(
    "value",
    ["", "qbk_", "Bearer qbk_x", "qbk_0123456789abcdef_short_abcdef", "\x00", "qbk_" + "a" * 200, "🔑"],
)
def test_values_that_are_not_keys_are_malformed(value):
    with pytest.raises(MalformedKey):
        parse_key(value)


def test_keys_are_hashed_with_sha256_of_the_whole_key():
    key = new_key()
    assert secret_digest(key.value) == hashlib.sha256(key.value.encode()).digest()
    assert len(secret_digest(key.value)) == 32
    assert key.digest == secret_digest(key.value)  # what the service stores


# -- allowlists --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowlist", "client_ip", "allowed"),
    [
        ([], None, True),
        ([], "192.0.2.1", True),
        (["192.0.2.0/24"], None, False),  # an address we cannot establish proves nothing
        (["192.0.2.0/24"], "192.0.2.255", True),
        (["192.0.2.0/24"], "192.0.3.0", False),
        (["0.0.0.0/0"], "198.51.100.7", True),
        (["::/0"], "198.51.100.7", False),
        (["2001:db8::/32"], "2001:db8:ffff::1", True),
        (["2001:db8::/32"], "2001:db9::1", False),
        (["192.0.2.0/24", "2001:db8::/32"], "2001:db8::1", True),
    ],
)
def test_ip_allowed(allowlist, client_ip, allowed):
    networks = [ipaddress.ip_network(n) for n in allowlist]
    assert ip_allowed(networks, client_ip) is allowed


# -- windows and headers -----------------------------------------------------------------------

NOW = 1_800_000_030.25  # 30.25 s into a minute; 2027-01-15T08:00:30Z


def test_the_day_resets_at_utc_midnight_and_the_burst_when_its_bucket_has_drained():
    usage = Usage(Limits(per_day=1000, per_minute=100), day_requests=10, burst_level=4.0, now=NOW)
    assert usage.window("daily") == (1000, 990, (int(NOW) // 86400 + 1) * 86400)
    # Four requests' worth drains in 2.4 s (100 a minute), whatever the clock minute.
    assert usage.window("burst") == (100, 96, math.ceil(NOW + 2.4))
    assert usage.seconds_until_reset("burst") == 3
    assert usage.binding_window == "burst"


def test_a_burst_refusal_waits_for_one_request_s_worth_not_for_the_whole_bucket():
    usage = Usage(Limits(per_day=1000, per_minute=6), day_requests=6, burst_level=6.0, now=NOW, admitted=False)
    assert usage.window("burst") == (6, 0, math.ceil(NOW + 60))
    assert usage.seconds_until_admitted("burst") == 10  # one request's worth at 6 a minute
    half = Usage(Limits(per_day=1000, per_minute=6), day_requests=6, burst_level=5.5, now=NOW, admitted=False)
    assert half.seconds_until_admitted("burst") == 5
    assert usage.seconds_until_admitted("daily") == usage.seconds_until_reset("daily")


def test_a_burst_level_a_hair_off_a_whole_number_still_counts_whole():
    usage = Usage(Limits(per_day=1000, per_minute=100), day_requests=3, burst_level=3.0000000000000004, now=NOW)
    assert usage.window("burst")[1] == 97


def test_headers_of_an_admitted_request():
    usage = Usage(Limits(per_day=1000, per_minute=100), day_requests=10, burst_level=4.0, now=NOW)
    assert rate_limit_headers(usage) == {
        "X-RateLimit-Limit": "1000",
        "X-RateLimit-Remaining": "990",
        "X-RateLimit-Reset": str((int(NOW) // 86400 + 1) * 86400),
        "RateLimit-Policy": '"burst";q=100;w=60, "daily";q=1000;w=86400',
        "RateLimit": '"burst";r=96;t=3',
    }


def test_headers_when_the_burst_window_refused():
    usage = Usage(Limits(per_day=1000, per_minute=100), day_requests=100, burst_level=100.0, now=NOW, admitted=False)
    headers = rate_limit_headers(usage)
    assert (headers["X-RateLimit-Limit"], headers["X-RateLimit-Remaining"]) == ("100", "0")
    assert headers["X-RateLimit-Reset"] == str(math.ceil(NOW + 60))
    assert headers["RateLimit"] == '"burst";r=0;t=60'


def test_headers_when_the_day_is_used_up():
    usage = Usage(Limits(per_day=50, per_minute=100), day_requests=50, burst_level=3.0, now=NOW, admitted=False)
    headers = rate_limit_headers(usage)
    midnight = (int(NOW) // 86400 + 1) * 86400
    assert (headers["X-RateLimit-Limit"], headers["X-RateLimit-Remaining"]) == ("50", "0")
    assert headers["RateLimit"] == f'"daily";r=0;t={midnight - int(NOW)}'
    assert usage.seconds_until_reset(usage.binding_window) == midnight - int(NOW)


def test_a_burst_bucket_drains_at_its_rate_and_never_below_empty():
    assert drained(10.0, 3.0, 60) == 7.0
    assert drained(10.0, 30.0, 60) == 0.0


# -- configuration -----------------------------------------------------------------------------


def test_default_tiers():
    assert Config.from_env(dict(PRODUCTION)).api_key_tiers == {
        "starter": {"per_day": 1000, "per_minute": 100},
        "pro": {"per_day": 10000, "per_minute": 1000},
        "enterprise": {"per_day": 100000, "per_minute": 10000},
    }
    assert Config.from_env(dict(PRODUCTION)).api_keys_rate_limit_enabled is True


def test_api_key_tiers_change_some_limits_and_keep_the_rest():
    config = Config.from_env(dict(PRODUCTION) | {"API_KEY_TIERS": '{"pro": {"per_minute": 2000}, "starter": {}}'})
    assert config.api_key_tiers["pro"] == {"per_day": 10000, "per_minute": 2000}
    assert config.api_key_tiers["starter"] == {"per_day": 1000, "per_minute": 100}


def test_the_limiter_switch_is_read():
    assert (
        Config.from_env(dict(PRODUCTION) | {"API_KEYS_RATE_LIMIT_ENABLED": "false"}).api_keys_rate_limit_enabled
        is False
    )


@pytest.mark.parametrize(
    "value",
    [
        "{not json",
        "[1]",
        '{"gold": {"per_day": 5}}',
        '{"pro": 5}',
        '{"pro": {"per_day": 0}}',
        '{"pro": {"per_day": -1}}',
        '{"pro": {"per_day": "many"}}',
        '{"pro": {"per_day": true}}',
        '{"pro": {"per_day": 2147483648}}',
        '{"pro": {"per_hour": 5}}',
    ],
)
def test_bad_api_key_tiers_name_the_variable(value):
    with pytest.raises(ConfigError) as raised:
        Config.from_env(dict(PRODUCTION) | {"API_KEY_TIERS": value})
    assert "API_KEY_TIERS" in str(raised.value)


def test_tier_overrides_are_validated_too():
    with pytest.raises(ConfigError, match="API_KEY_TIERS"):
        Config.from_env(dict(PRODUCTION), api_key_tiers={"starter": {"per_day": 1, "per_minute": 1}})
    with pytest.raises(ConfigError):
        Config.from_env(dict(PRODUCTION) | {"API_KEYS_RATE_LIMIT_ENABLED": "maybe"})


# -- admission, usage and retention against the database --------------------------------------


@pytest.fixture
def runtime(app):
    return app.extensions["questbridge"]


def as_admin(runtime, world, org):
    """A transaction as the organization's admin, as the admin routes run."""
    return runtime.db.transaction("authenticated", world.claims(org["admin"]))


def make_key(runtime, world, org, tier="starter", allowlist=()) -> ParsedKey:
    """A key named `k`, created by the organization's admin through the service."""
    with as_admin(runtime, world, org) as conn:
        created = manage.create_key(
            conn,
            user_id=org["admin"]["id"],
            organization_id=org["id"],
            name="k",
            tier=tier,
            ip_allowlist=[ipaddress.ip_network(network) for network in allowlist],
            origin=RequestInfo(),
        )
    return parse_key(created["api_key"])


def revoke(runtime, world, org, key) -> None:
    with as_admin(runtime, world, org) as conn:
        manage.revoke_key(conn, key.key_id, RequestInfo())


def admit(runtime, key, ip="192.0.2.1", **kwargs) -> Admission:
    with runtime.db.transaction("service_role") as conn:
        return admission.admit(conn, key, ip, runtime.config.api_key_tiers, **kwargs)


def test_admission_outcomes(runtime, world):
    org = world.organization()
    key = make_key(runtime, world, org, allowlist=["192.0.2.0/24"])
    admitted = admit(runtime, key)
    assert admitted.refusal is None
    assert admitted.key.key_id == key.key_id and admitted.key.organization_id == org["id"]
    assert (admitted.usage.day_requests, admitted.usage.burst_level) == (1, 1.0)

    assert admit(runtime, new_key()) == Admission(None, None, "unknown_key")
    assert admit(runtime, new_key(key.key_id)) == Admission(None, None, "wrong_secret")
    outside = admit(runtime, key, ip="198.51.100.1")
    assert outside.refusal == "ip_not_allowed"
    assert outside.usage.day_requests == 1  # the standing, read without counting
    assert admit(runtime, key, ip=None).refusal == "ip_not_allowed"

    revoke(runtime, world, org, key)
    revoked = admit(runtime, key)
    assert (revoked.refusal, revoked.usage.day_requests) == ("revoked", 1)


def test_a_replaced_key_works_until_it_expires(runtime, world):
    org = world.organization()
    key = make_key(runtime, world, org)
    with as_admin(runtime, world, org) as conn:
        manage.rotate_key(
            conn,
            user_id=org["admin"]["id"],
            key_id=key.key_id,
            preserve_key_id=False,
            grace_seconds=3600,
            origin=RequestInfo(),
        )
    assert admit(runtime, key).refusal is None
    with runtime.db.transaction("service_role") as conn:  # the grace period, over
        conn.execute("update public.api_keys set expires_at = now() where key_id = %s", (key.key_id,))
    assert admit(runtime, key).refusal == "expired"


def test_count_false_admits_without_recording_usage(runtime, world):
    key = make_key(runtime, world, world.organization())
    admitted = admit(runtime, key, count=False)
    assert (admitted.refusal, admitted.usage) == (None, None)
    with runtime.db.transaction("service_role") as conn:
        assert conn.execute("select count(*) as n from public.api_key_usage").fetchone()["n"] == 0


def test_the_counting_transaction_commits_asynchronously_and_only_itself(runtime, world, database_url):
    key = make_key(runtime, world, world.organization())
    db = Database(database_url, min_size=1, max_size=1)  # one connection: the next transaction reuses it
    try:
        with db.transaction("service_role") as conn:
            assert admission.admit(conn, key, "192.0.2.1", runtime.config.api_key_tiers).refusal is None
            assert conn.execute("show synchronous_commit").fetchone()["synchronous_commit"] == "off"
        with db.transaction("service_role") as conn:
            assert conn.execute("show synchronous_commit").fetchone()["synchronous_commit"] == "on"
    finally:
        db.close()


def test_usage_by_tier_for_one_organization_and_for_all(runtime, world):
    org, other = world.allow(world.organization("A")), world.organization("B")
    starter_a, pro_a = make_key(runtime, world, org), make_key(runtime, world, org, tier="pro")
    make_key(runtime, world, org, tier="pro")  # unused: a key, without requests
    revoked = make_key(runtime, world, org, tier="enterprise")
    starter_b = make_key(runtime, world, other)
    revoke(runtime, world, org, revoked)
    for ip in ("192.0.2.1", "192.0.2.2", "192.0.2.1"):
        admit(runtime, starter_a, ip=ip)
    admit(runtime, pro_a, ip="192.0.2.1")
    admit(runtime, starter_b, ip="203.0.113.1")
    with runtime.db.transaction("service_role") as conn:  # B's starter key has used up its 1000 for today
        conn.execute("update public.api_key_usage set requests = 1000 where organization_id = %s", (other["id"],))
    assert admit(runtime, starter_b, ip="203.0.113.2").refusal == "rate_limited"

    with runtime.db.transaction("service_role") as conn:
        mine = usage_by_tier(conn, org["id"])
        everyone = usage_by_tier(conn)
    assert mine == [
        {"tier": "starter", "keys": 1, "requests_today": 3, "unique_consumers": 2, "rate_limit_hits": 0},
        {"tier": "pro", "keys": 2, "requests_today": 1, "unique_consumers": 1, "rate_limit_hits": 0},
        {"tier": "enterprise", "keys": 0, "requests_today": 0, "unique_consumers": 0, "rate_limit_hits": 0},
    ]
    assert everyone[0] == {
        "tier": "starter",
        "keys": 2,
        "requests_today": 3 + 1000,
        "unique_consumers": 4,
        "rate_limit_hits": 1,
    }

    # As a user, RLS keeps it to the organizations the caller administers.
    with runtime.db.transaction("authenticated", world.claims(org["admin"])) as conn:
        assert usage_by_tier(conn) == mine
    with runtime.db.transaction("authenticated", world.claims(world.add_member(org))) as conn:
        assert all(row["keys"] == row["requests_today"] == 0 for row in usage_by_tier(conn))


def test_a_key_rotated_to_a_new_id_counts_once(runtime, world, auth, client):
    org = world.allow(world.organization())
    headers = auth.headers(org["admin"])
    created = client.post(
        "/v1/admin/external/keys",
        json={"organization_id": str(org["id"]), "name": "k", "tier": "pro"},
        headers=headers,
    ).get_json()
    client.post(f"/v1/admin/external/keys/{created['key_id']}/rotate", json={"preserve_key_id": False}, headers=headers)
    with runtime.db.transaction("service_role") as conn:
        assert usage_by_tier(conn, org["id"])[1]["keys"] == 1


def test_prune_usage_keeps_recent_days(runtime, world):
    key = make_key(runtime, world, world.organization())
    admit(runtime, key)
    with runtime.db.transaction("service_role") as conn:
        conn.execute(
            "insert into public.api_key_usage (lineage_id, day, organization_id, requests, burst_at)"
            " select lineage_id, day - 91, organization_id, 5, burst_at - interval '91 days'"
            " from public.api_key_usage"
        )
        conn.execute(
            "insert into public.api_key_usage_clients (lineage_id, day, ip, organization_id)"
            " select lineage_id, day - 91, ip, organization_id from public.api_key_usage_clients"
        )
    assert prune_usage(runtime.db) == 1
    with runtime.db.transaction("service_role") as conn:
        days = conn.execute("select count(*) as n from public.api_key_usage").fetchone()["n"]
        clients = conn.execute("select count(*) as n from public.api_key_usage_clients").fetchone()["n"]
    assert (days, clients) == (1, 1)


def test_prune_usage_yields_to_a_running_prune(runtime):
    with runtime.db.transaction("service_role") as conn:
        conn.execute("select pg_advisory_xact_lock(%s)", (PRUNE_LOCK_KEY,))
        assert prune_usage(runtime.db) is None


def rotate_while_another_rotation_is_open(runtime, world, org, key, preserve_key_id):
    """Rotation A commits only after rotation B has started and had time to run into it."""
    admin = org["admin"]
    results: dict = {}
    a_rotated, release_a = threading.Event(), threading.Event()

    def rotate(name, hold=False):
        try:
            with runtime.db.transaction("authenticated", world.claims(admin)) as conn:
                results[name] = manage.rotate_key(
                    conn,
                    user_id=admin["id"],
                    key_id=key.key_id,
                    preserve_key_id=preserve_key_id,
                    grace_seconds=3600,
                    origin=RequestInfo(),
                )
                if hold:
                    a_rotated.set()
                    release_a.wait(10)
        except Conflict as conflict:
            results[name] = conflict

    first = threading.Thread(target=rotate, args=("a", True))
    first.start()
    assert a_rotated.wait(10)
    second = threading.Thread(target=rotate, args=("b",))
    second.start()
    second.join(0.5)
    assert second.is_alive()  # B waits for A's row lock
    release_a.set()
    first.join(10)
    second.join(10)
    return results


def test_a_rotation_to_a_new_key_id_waits_for_a_concurrent_one_and_refuses(runtime, world):
    org = world.organization()
    key = make_key(runtime, world, org)
    results = rotate_while_another_rotation_is_open(runtime, world, org, key, preserve_key_id=False)
    assert isinstance(results["b"], Conflict)
    assert results["b"].extra["replaced_by"] == results["a"]["key_id"]
    with runtime.db.transaction("service_role") as conn:
        assert conn.execute("select count(*) as n from public.api_keys").fetchone()["n"] == 2
    assert admit(runtime, parse_key(results["a"]["api_key"])).refusal is None


def test_a_rotation_keeping_the_key_id_moves_the_secret_a_concurrent_one_wrote(runtime, world):
    org = world.organization()
    key = make_key(runtime, world, org)
    results = rotate_while_another_rotation_is_open(runtime, world, org, key, preserve_key_id=True)
    a_key, b_key = (parse_key(results[name]["api_key"]) for name in ("a", "b"))
    assert admit(runtime, b_key).refusal is None  # current
    assert admit(runtime, a_key).refusal is None  # previous, in its grace period: not lost
    assert admit(runtime, key).refusal == "wrong_secret"


# -- row-level security ------------------------------------------------------------------------


@pytest.fixture
def two_orgs(runtime, world):
    """Org A with an admin and a member, org B with its admin; a used key in each."""
    a, b = world.organization("A"), world.organization("B")
    member = world.add_member(a)
    keys = {"a": make_key(runtime, world, a), "b": make_key(runtime, world, b)}
    for key in keys.values():
        admitted = admit(runtime, key)
        with runtime.db.transaction("service_role") as conn:
            pushed.push_event(conn, admitted.key, None, "partner.x", {})
    return {"a": a, "b": b, "member": member, "keys": keys}


def run_as(runtime, world, who, statement, params=None):
    """(rowcount, rows) of one statement as a user of two_orgs, or the error's SQLSTATE."""
    claims = None if who == "anon" else world.claims(who)
    role = "anon" if who == "anon" else "authenticated"
    try:
        with runtime.db.transaction(role, claims) as conn:
            cursor = conn.execute(statement, params)
            return cursor.rowcount, cursor.fetchall() if cursor.description else None
    except psycopg.Error as error:
        return error.sqlstate


TABLES = ("api_keys", "api_key_usage", "api_key_usage_clients", "api_key_events")


@pytest.mark.parametrize("table", TABLES)
def test_admins_read_only_their_organizations_rows(runtime, world, two_orgs, table):
    a = two_orgs["a"]
    _, rows = run_as(runtime, world, a["admin"], f"select organization_id from public.{table}")
    assert {row["organization_id"] for row in rows} == {a["id"]}
    assert run_as(runtime, world, two_orgs["member"], f"select organization_id from public.{table}") == (0, [])
    assert run_as(runtime, world, "anon", f"select 1 from public.{table}") == "42501"


@pytest.mark.parametrize("column", ["secret_hash", "previous_secret_hash"])
def test_key_hashes_are_never_readable_by_users(runtime, world, two_orgs, column):
    assert run_as(runtime, world, two_orgs["a"]["admin"], f"select {column} from public.api_keys") == "42501"


@pytest.mark.parametrize(
    "statement",
    [
        "update public.api_key_usage set requests = 0",
        "delete from public.api_key_usage",
        "update public.api_key_usage_clients set ip = '10.0.0.1'",
        "delete from public.api_key_events",
        "delete from public.api_keys",
        "update public.api_keys set secret_hash = '\\x00'",
        "update public.api_keys set last_used_at = now()",
        "update public.api_keys set organization_id = gen_random_uuid()",
        "update public.api_keys set tier = 'enterprise'",
    ],
)
def test_users_cannot_write_what_the_system_writes(runtime, world, two_orgs, statement):
    assert run_as(runtime, world, two_orgs["a"]["admin"], statement) == "42501"


def test_admins_change_only_their_organizations_keys(runtime, world, two_orgs):
    rowcount, _ = run_as(
        runtime, world, two_orgs["a"]["admin"], "update public.api_keys set name = 'renamed', revoked_at = now()"
    )
    assert rowcount == 1
    assert run_as(runtime, world, two_orgs["member"], "update public.api_keys set name = 'x'") == (0, None)
    with runtime.db.transaction("service_role") as conn:
        names = conn.execute("select name, organization_id from public.api_keys").fetchall()
    assert {(row["name"], row["organization_id"]) for row in names} == {
        ("renamed", two_orgs["a"]["id"]),
        ("k", two_orgs["b"]["id"]),
    }


@pytest.mark.parametrize(
    ("org_name", "lineage_is_self", "expected"), [("a", True, 1), ("b", True, "42501"), ("a", False, "42501")]
)
def test_admins_create_keys_only_for_their_organization_and_as_new_lineages(
    runtime, world, two_orgs, org_name, lineage_is_self, expected
):
    admin = two_orgs["a"]["admin"]
    row_id = uuid.uuid4()
    lineage = row_id if lineage_is_self else uuid.uuid4()
    result = run_as(
        runtime,
        world,
        admin,
        "insert into public.api_keys (id, key_id, organization_id, lineage_id, name, tier, secret_hash, created_by)"
        " values (%s, %s, %s, %s, 'k', 'starter', %s, %s)",
        (row_id, new_key().key_id, two_orgs[org_name]["id"], lineage, b"\x00" * 32, admin["id"]),
    )
    assert (result[0] if isinstance(result, tuple) else result) == expected


# -- organization limits: the database holds every writer to them -----------------------------


def test_admins_read_their_organizations_limits_and_members_read_none(runtime, world, two_orgs):
    statement = "select organization_id, allowed_tiers, max_api_keys from public.organization_limits"
    _, rows = run_as(runtime, world, two_orgs["a"]["admin"], statement)
    assert rows == [{"organization_id": two_orgs["a"]["id"], "allowed_tiers": ["starter"], "max_api_keys": 5}]
    assert run_as(runtime, world, two_orgs["member"], statement) == (0, [])
    assert run_as(runtime, world, "anon", statement) == "42501"


@pytest.mark.parametrize(
    "statement",
    [
        "update public.organization_limits set allowed_tiers = '{starter,pro,enterprise}'",
        "update public.organization_limits set max_api_keys = 10000",
    ],
)
def test_org_admins_cannot_raise_their_own_limits_in_the_table_either(runtime, world, two_orgs, statement):
    assert run_as(runtime, world, two_orgs["a"]["admin"], statement) == (0, None)
    with runtime.db.transaction("service_role") as conn:
        rows = conn.execute("select allowed_tiers, max_api_keys from public.organization_limits").fetchall()
    assert rows == [{"allowed_tiers": ["starter"], "max_api_keys": 5}] * 2


@pytest.mark.parametrize(
    "statement",
    [
        "insert into public.organization_limits (organization_id) values (gen_random_uuid())",
        "delete from public.organization_limits",
    ],
)
def test_users_neither_add_nor_remove_limits(runtime, world, two_orgs, statement):
    assert run_as(runtime, world, two_orgs["a"]["admin"], statement) == "42501"


def test_platform_admins_read_and_change_every_organizations_limits(runtime, world, two_orgs):
    staff = world.user()
    with runtime.db.transaction("service_role") as conn:
        conn.execute("update public.profiles set platform_admin = true where id = %s", (staff["id"],))
    rowcount, _ = run_as(
        runtime,
        world,
        staff,
        "update public.organization_limits set max_api_keys = 9, updated_by = %s",
        (staff["id"],),
    )
    assert rowcount == 2
    _, rows = run_as(runtime, world, staff, "select max_api_keys from public.organization_limits")
    assert [row["max_api_keys"] for row in rows] == [9, 9]


def insert_key_as(runtime, world, admin, org, tier="starter"):
    row_id = uuid.uuid4()
    return run_as(
        runtime,
        world,
        admin,
        "insert into public.api_keys (id, key_id, organization_id, lineage_id, name, tier, secret_hash, created_by)"
        " values (%s, %s, %s, %s, 'k', %s, %s, %s)",
        (row_id, new_key().key_id, org["id"], row_id, tier, b"\x00" * 32, admin["id"]),
    )


def test_an_org_admin_writing_the_table_directly_meets_the_limits_too(runtime, world, two_orgs):
    """As Supabase's REST API would let them: the trigger, not the route, is the guarantee."""
    a = two_orgs["a"]
    assert insert_key_as(runtime, world, a["admin"], a, tier="enterprise") == "23514"
    assert [insert_key_as(runtime, world, a["admin"], a) for _ in range(5)] == [(1, None)] * 4 + ["23514"]
    with runtime.db.transaction("service_role") as conn:
        tiers = conn.execute(
            "select tier, count(*) as n from public.api_keys where organization_id = %s group by tier", (a["id"],)
        ).fetchall()
    assert tiers == [{"tier": "starter", "n": 5}]  # two_orgs' key and four more: five, the default


def test_the_databases_refusals_are_403s_naming_the_limit(runtime, world, two_orgs):
    from backend.errors import Forbidden, from_database_error

    a = two_orgs["a"]
    world.allow(a, tiers=("starter",), max_api_keys=1)  # two_orgs' key fills it
    for tier, field in (("pro", "tier"), ("starter", "organization_id")):
        row_id = uuid.uuid4()
        with pytest.raises(psycopg.errors.CheckViolation) as refused:
            with runtime.db.transaction("authenticated", world.claims(a["admin"])) as conn:
                conn.execute(
                    "insert into public.api_keys (id, key_id, organization_id, lineage_id, name, tier, secret_hash,"
                    " created_by) values (%s, %s, %s, %s, 'k', %s, %s, %s)",
                    (row_id, new_key().key_id, a["id"], row_id, tier, b"\x00" * 32, a["admin"]["id"]),
                )
        problem = from_database_error(refused.value)
        assert isinstance(problem, Forbidden) and list(problem.errors) == [field]
