"""What an organization may hold in API keys, over real HTTP: limits only a platform admin sets,
keys refused outside them (403 naming the limit), rotation that never counts twice, and parallel
creates that cannot pass max_api_keys. The org admin is the attacker: their tenant, their rules?"""

from __future__ import annotations

import psycopg
import pytest
import requests

from tests.routes.test_external_api import LiveServer, concurrently, tiers
from tests.support import assert_problem

KEYS = "/v1/admin/external/keys"


def limits_path(org) -> str:
    return f"/api/organizations/{org['id']}/limits"


def create_key(client, headers, org, tier="starter"):
    return client.post(KEYS, json={"organization_id": str(org["id"]), "name": "LMS", "tier": tier}, headers=headers)


def live_keys(db, org) -> int:
    with db.transaction("service_role") as conn:
        return conn.execute(
            "select count(*) as n from public.api_keys"
            " where organization_id = %s and revoked_at is null and replaced_by is null",
            (org["id"],),
        ).fetchone()["n"]


def platform_admin(world, db) -> dict:
    user = world.user()
    with db.transaction("service_role") as conn:
        conn.execute("update public.profiles set platform_admin = true where id = %s", (user["id"],))
    return user


# -- the defaults, and who reads them ----------------------------------------------------------


def test_a_new_organization_may_hold_five_starter_keys(client, org, admin_headers):
    response = client.get(limits_path(org), headers=admin_headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["organization_id"], body["allowed_tiers"], body["max_api_keys"], body["api_keys"]) == (
        str(org["id"]),
        ["starter"],
        5,
        0,
    )
    assert body["tiers"] == [{"tier": "starter", "per_day": 1000, "per_minute": 100}]


def test_who_reads_an_organizations_limits(client, org, member_headers, stranger_headers, world, db, auth):
    assert_problem(client.get(limits_path(org)), 401)
    assert_problem(client.get(limits_path(org), headers=member_headers), 403)
    assert_problem(client.get(limits_path(org), headers=stranger_headers), 404)
    # A platform admin reads any organization's, member or not.
    response = client.get(limits_path(org), headers=auth.headers(platform_admin(world, db)))
    assert response.status_code == 200 and response.get_json()["allowed_tiers"] == ["starter"]


def test_the_limits_show_the_figures_of_the_configured_tiers(make_app, world, auth):
    app = make_app(api_key_tiers=tiers(pro=(20000, 2000)))
    org = world.allow(world.organization(), tiers=("starter", "pro"))
    body = app.test_client().get(limits_path(org), headers=auth.headers(org["admin"])).get_json()
    assert body["tiers"] == [
        {"tier": "starter", "per_day": 1000, "per_minute": 100},
        {"tier": "pro", "per_day": 20000, "per_minute": 2000},
    ]


# -- the org admin cannot raise them -----------------------------------------------------------


def test_an_org_admin_cannot_raise_their_own_limits(client, org, admin_headers, db):
    response = client.put(
        limits_path(org),
        json={"allowed_tiers": ["starter", "pro", "enterprise"], "max_api_keys": 1000},
        headers=admin_headers,
    )
    assert_problem(response, 403)
    after = client.get(limits_path(org), headers=admin_headers).get_json()
    assert (after["allowed_tiers"], after["max_api_keys"]) == (["starter"], 5)


def test_a_key_of_a_tier_outside_the_limits_is_403_naming_the_limit(client, org, admin_headers, db):
    for tier in ("pro", "enterprise"):
        body = assert_problem(create_key(client, admin_headers, org, tier), 403, "tier")
        assert body["type"] == "urn:questbridge:problem:api-key-limit"
        assert (body["limit"], body["allowed_tiers"]) == ("allowed_tiers", ["starter"])
    assert live_keys(db, org) == 0


def test_the_key_past_max_api_keys_is_403_and_revoking_one_makes_room(client, org, admin_headers, world, db):
    world.allow(org, tiers=("starter",), max_api_keys=2)
    keys = [create_key(client, admin_headers, org) for _ in range(2)]
    assert [r.status_code for r in keys] == [201, 201]

    body = assert_problem(create_key(client, admin_headers, org), 403, "organization_id")
    assert (body["limit"], body["max_api_keys"], body["api_keys"]) == ("max_api_keys", 2, 2)
    assert "max_api_keys" in body["detail"]
    assert live_keys(db, org) == 2

    assert client.delete(f"{KEYS}/{keys[0].get_json()['key_id']}", headers=admin_headers).status_code == 204
    assert create_key(client, admin_headers, org).status_code == 201


def test_an_org_admin_writing_to_the_table_cannot_unrevoke_a_key(client, app, org, admin_headers, world, db):
    """Through Supabase's REST API an org admin writes api_keys as `authenticated` (RLS and column
    grants decide): clearing revoked_at would bring a leaked key back, past max_api_keys."""
    world.allow(org, tiers=("starter",), max_api_keys=1)
    first = create_key(client, admin_headers, org).get_json()
    assert client.delete(f"{KEYS}/{first['key_id']}", headers=admin_headers).status_code == 204
    assert create_key(client, admin_headers, org).status_code == 201

    with pytest.raises(psycopg.errors.CheckViolation) as refused:
        with db.transaction("authenticated", world.claims(org["admin"])) as conn:
            conn.execute("update public.api_keys set revoked_at = null where key_id = %s", (first["key_id"],))
    assert refused.value.diag.constraint_name == "api_keys_stay_revoked"
    assert live_keys(db, org) == 1
    pushed = app.test_client().get("/v1/external/key", headers={"X-API-Key": first["api_key"]})
    assert pushed.status_code == 401


def test_parallel_creates_cannot_pass_max_api_keys(make_app, world, auth, db):
    """Twelve creates released together by a barrier, over real HTTP, against a limit of three."""
    app = make_app(pool_max_size=16)
    org = world.allow(world.organization(), tiers=("starter",), max_api_keys=3)
    headers = auth.headers(org["admin"])
    server = LiveServer(app)
    try:

        def create(_):
            return requests.post(
                f"{server.url}{KEYS}",
                json={"organization_id": str(org["id"]), "name": "LMS", "tier": "starter"},
                headers=headers,
                timeout=60,
            ).status_code

        statuses = sorted(concurrently(12, create))
    finally:
        server.close()
    assert statuses == [201] * 3 + [403] * 9
    assert live_keys(db, org) == 3


# -- rotation ----------------------------------------------------------------------------------


def test_rotation_at_the_limit_is_not_refused_and_counts_a_lineage_once(client, org, admin_headers, world, db):
    world.allow(org, tiers=("starter",), max_api_keys=2)
    first, second = (create_key(client, admin_headers, org).get_json() for _ in range(2))

    renewed = client.post(
        f"{KEYS}/{first['key_id']}/rotate",
        json={"preserve_key_id": False, "grace_seconds": 3600},
        headers=admin_headers,
    )
    assert renewed.status_code == 200, renewed.get_json()
    same_id = client.post(f"{KEYS}/{second['key_id']}/rotate", json={"preserve_key_id": True}, headers=admin_headers)
    assert same_id.status_code == 200, same_id.get_json()

    # The replaced key, still in its grace period, does not count next to its replacement.
    assert client.get(limits_path(org), headers=admin_headers).get_json()["api_keys"] == 2
    assert_problem(create_key(client, admin_headers, org), 403, "organization_id")


def test_a_key_of_a_tier_the_platform_admin_withdrew_keeps_working_but_is_not_renewed(
    client, org, admin_headers, world
):
    world.allow(org, tiers=("starter", "pro"))
    key = create_key(client, admin_headers, org, "pro").get_json()
    world.allow(org, tiers=("starter",))

    for preserve in (True, False):
        body = assert_problem(
            client.post(f"{KEYS}/{key['key_id']}/rotate", json={"preserve_key_id": preserve}, headers=admin_headers),
            403,
            "tier",
        )
        assert body["limit"] == "allowed_tiers"
    described = client.get("/v1/external/key", headers={"X-API-Key": key["api_key"]})
    assert described.status_code == 200 and described.get_json()["tier"] == "pro"


# -- a platform admin sets them ----------------------------------------------------------------


def test_a_platform_admin_sets_the_limits_and_the_organization_sees_it_in_its_audit_log(
    client, org, admin_headers, world, db, auth
):
    staff = platform_admin(world, db)
    response = client.put(
        limits_path(org),
        json={"allowed_tiers": ["enterprise", "starter", "starter"], "max_api_keys": 12},
        headers=auth.headers(staff),
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["allowed_tiers"], body["max_api_keys"], body["api_keys"]) == (["starter", "enterprise"], 12, 0)

    assert create_key(client, admin_headers, org, "enterprise").status_code == 201
    assert_problem(create_key(client, admin_headers, org, "pro"), 403, "tier")

    entries = client.get(f"/api/audit?organization_id={org['id']}", headers=admin_headers).get_json()["data"]
    changed = [e for e in entries if e["action"] == "organization.limits_changed"]
    assert len(changed) == 1
    assert changed[0]["actor_id"] == str(staff["id"])
    assert changed[0]["metadata"] == {
        "allowed_tiers": {"from": ["starter"], "to": ["starter", "enterprise"]},
        "max_api_keys": {"from": 5, "to": 12},
    }


def test_lowering_max_api_keys_below_what_is_held_keeps_the_keys_and_stops_new_ones(
    client, org, admin_headers, world, db, auth
):
    keys = [create_key(client, admin_headers, org).get_json() for _ in range(3)]
    response = client.put(
        limits_path(org),
        json={"allowed_tiers": ["starter"], "max_api_keys": 1},
        headers=auth.headers(platform_admin(world, db)),
    )
    assert response.status_code == 200 and response.get_json()["api_keys"] == 3
    assert all(client.get("/v1/external/key", headers={"X-API-Key": k["api_key"]}).status_code == 200 for k in keys)
    assert_problem(create_key(client, admin_headers, org), 403, "organization_id")


def test_setting_limits_names_the_field_that_is_wrong(client, org, world, db, auth):
    headers = auth.headers(platform_admin(world, db))
    for body, field in [
        ({"allowed_tiers": [], "max_api_keys": 5}, "allowed_tiers"),
        ({"allowed_tiers": ["gold"], "max_api_keys": 5}, "allowed_tiers"),
        ({"allowed_tiers": "starter", "max_api_keys": 5}, "allowed_tiers"),
        ({"max_api_keys": 5}, "allowed_tiers"),
        ({"allowed_tiers": ["starter"]}, "max_api_keys"),
        ({"allowed_tiers": ["starter"], "max_api_keys": -1}, "max_api_keys"),
        ({"allowed_tiers": ["starter"], "max_api_keys": 10001}, "max_api_keys"),
        ({"allowed_tiers": ["starter"], "max_api_keys": "5"}, "max_api_keys"),
        ({"allowed_tiers": ["starter"], "max_api_keys": 5, "tiers": ["pro"]}, "tiers"),
    ]:
        assert_problem(client.put(limits_path(org), json=body, headers=headers), 422, field)


def test_limits_of_an_organization_that_does_not_exist_are_404(client, world, db, auth):
    headers = auth.headers(platform_admin(world, db))
    missing = {"id": "00000000-0000-4000-8000-000000000000"}
    assert_problem(client.get(limits_path(missing), headers=headers), 404)
    body = {"allowed_tiers": ["starter"], "max_api_keys": 5}
    assert_problem(client.put(limits_path(missing), json=body, headers=headers), 404)
