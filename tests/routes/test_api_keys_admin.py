"""API keys for org admins over HTTP: create (shown once, stored hashed), list, change, revoke,
rotate, validation naming the field, who may do what, and the audit trail without secrets."""

from __future__ import annotations

import json
import uuid

import pytest

from backend.services.keys.format import parse_key
from backend.services.shared.digest import secret_digest
from tests.support import assert_problem, audit_entries

KEYS = "/v1/admin/external/keys"


def create(client, headers, org, **overrides) -> dict:
    body = {"organization_id": str(org["id"]), "name": "LMS sync", "tier": "starter"} | overrides
    response = client.post(KEYS, json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def stored(db, key_id) -> dict:
    with db.transaction("service_role") as conn:
        return conn.execute("select * from public.api_keys where key_id = %s", (key_id,)).fetchone()


# -- creating ----------------------------------------------------------------------------------


def test_create_shows_the_key_once_and_stores_only_its_hash(client, admin_headers, org, db, world):
    world.allow(org, tiers=("starter", "pro"))
    body = create(
        client, admin_headers, org, tier="pro", ip_allowlist=["203.0.113.0/24", "2001:db8::1", "::ffff:198.51.100.7"]
    )
    parsed = parse_key(body["api_key"])
    assert parsed.key_id == body["key_id"]
    assert body["api_key"].startswith(f"qbk_{body['key_id']}_")
    assert body["tier"] == "pro"
    assert body["ip_allowlist"] == ["203.0.113.0/24", "2001:db8::1/128", "198.51.100.7/32"]  # normalized
    assert body["organization_id"] == str(org["id"])
    assert body["status"] == "active"
    assert body["limits"] == {"per_day": 10000, "per_minute": 1000}
    assert body["created_at"].endswith("Z")
    assert body["last_used_at"] is None
    assert "id" not in body and "secret_hash" not in body

    row = stored(db, body["key_id"])
    assert bytes(row["secret_hash"]) == secret_digest(body["api_key"])
    assert row["created_by"] == org["admin"]["id"]
    assert row["lineage_id"] == row["id"]
    secret = body["api_key"].split("_")[2]
    assert secret not in json.dumps({k: str(v) for k, v in row.items()})

    shown_again = client.get(f"{KEYS}/{body['key_id']}", headers=admin_headers).get_json()
    assert "api_key" not in shown_again
    assert body["api_key"] not in json.dumps(client.get(KEYS, headers=admin_headers).get_json())


def test_each_key_has_its_own_id_and_a_256_bit_secret(client, admin_headers, org):
    keys = [create(client, admin_headers, org)["api_key"] for _ in range(5)]
    assert len({parse_key(k).key_id for k in keys}) == 5
    secrets = [k.split("_")[2] for k in keys]
    assert len(set(secrets)) == 5
    assert all(len(s) == 43 for s in secrets)  # 62**43 > 2**256


def test_creation_is_audited_without_the_secret(client, admin_headers, org, db):
    body = create(client, admin_headers, org, ip_allowlist=["192.0.2.0/24"])
    entries = audit_entries(db, org, "api_key.")
    assert [(e["action"], e["target_id"], e["actor_id"]) for e in entries] == [
        ("api_key.created", body["key_id"], org["admin"]["id"])
    ]
    assert entries[0]["metadata"] == {"name": "LMS sync", "tier": "starter", "ip_allowlist": ["192.0.2.0/24"]}
    assert body["api_key"].split("_")[2] not in json.dumps(entries[0]["metadata"])


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"organization_id": None}, "organization_id"),
        ({"organization_id": "not-a-uuid"}, "organization_id"),
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": 5}, "name"),
        ({"tier": "gold"}, "tier"),
        ({"tier": None}, "tier"),
        ({"ip_allowlist": ["10.0.0.0/33"]}, "ip_allowlist"),
        ({"ip_allowlist": ["not an address"]}, "ip_allowlist"),
        ({"ip_allowlist": ["2001:db8::/129"]}, "ip_allowlist"),
        ({"ip_allowlist": "10.0.0.0/8"}, "ip_allowlist"),
        ({"ip_allowlist": [7]}, "ip_allowlist"),
        ({"ip_allowlist": ["10.0.0.1/8"]}, "ip_allowlist"),  # host bits: a typo, not a /8
        ({"ip_allowlist": ["2001:db8::1/32"]}, "ip_allowlist"),
        ({"ip_allowlist": ["fe80::1%eth0"]}, "ip_allowlist"),
        ({"ip_allowlist": [f"10.0.{i // 256}.{i % 256}" for i in range(101)]}, "ip_allowlist"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_create_validation_names_the_field(client, admin_headers, org, changes, field):
    body = {"organization_id": str(org["id"]), "name": "k", "tier": "starter"} | changes
    body = {k: v for k, v in body.items() if not (k in ("organization_id", "name", "tier") and v is None)}
    assert_problem(client.post(KEYS, json=body, headers=admin_headers), 422, field)


def test_an_allowlist_of_100_networks_is_accepted(client, admin_headers, org):
    networks = [f"10.0.{i}.0/24" for i in range(100)]
    assert create(client, admin_headers, org, ip_allowlist=networks)["ip_allowlist"] == networks


@pytest.mark.parametrize("tier", ["starter", "pro", "enterprise"])
def test_every_tier_a_platform_admin_allows_can_be_issued(client, admin_headers, org, world, tier):
    world.allow(org, tiers=(tier,))
    assert create(client, admin_headers, org, tier=tier)["tier"] == tier


def test_who_may_create(client, org, member_headers, stranger_headers):
    body = {"organization_id": str(org["id"]), "name": "k", "tier": "starter"}
    assert_problem(client.post(KEYS, json=body), 401)
    assert_problem(client.post(KEYS, json=body, headers=member_headers), 403)
    assert_problem(client.post(KEYS, json=body, headers=stranger_headers), 404)
    missing = body | {"organization_id": str(uuid.uuid4())}
    assert_problem(client.post(KEYS, json=missing, headers=stranger_headers), 404)


# -- listing and reading -----------------------------------------------------------------------


def test_list_shows_the_admins_keys_newest_first_with_pages(client, admin_headers, org, world, auth):
    mine = [create(client, admin_headers, org, name=f"key {i}")["key_id"] for i in range(3)]
    other = world.organization("Other")
    create(client, auth.headers(other["admin"]), other)

    listed = client.get(KEYS, headers=admin_headers).get_json()
    assert [k["key_id"] for k in listed["data"]] == mine[::-1]
    assert listed["next_cursor"] is None
    assert client.get(f"{KEYS}?organization_id={org['id']}", headers=admin_headers).get_json() == listed

    first = client.get(f"{KEYS}?limit=2", headers=admin_headers).get_json()
    assert [k["key_id"] for k in first["data"]] == mine[:0:-1]
    second = client.get(f"{KEYS}?limit=2&cursor={first['next_cursor']}", headers=admin_headers).get_json()
    assert [k["key_id"] for k in second["data"]] == mine[:1]
    assert second["next_cursor"] is None


def test_list_access(client, org, admin_headers, member_headers, stranger_headers):
    create(client, admin_headers, org)
    assert_problem(client.get(KEYS), 401)
    assert client.get(KEYS, headers=member_headers).get_json()["data"] == []  # RLS: members see no keys
    assert client.get(KEYS, headers=stranger_headers).get_json()["data"] == []
    assert_problem(client.get(f"{KEYS}?organization_id={org['id']}", headers=member_headers), 403)
    assert_problem(client.get(f"{KEYS}?organization_id={org['id']}", headers=stranger_headers), 404)
    assert_problem(client.get(f"{KEYS}?organization_id=nope", headers=stranger_headers), 422, "organization_id")
    assert_problem(client.get(f"{KEYS}?limit=0", headers=admin_headers), 422, "limit")
    assert_problem(client.get(f"{KEYS}?cursor=garbage", headers=admin_headers), 422, "cursor")


def test_get_access(client, org, admin_headers, member_headers, stranger_headers):
    key_id = create(client, admin_headers, org)["key_id"]
    assert client.get(f"{KEYS}/{key_id}", headers=admin_headers).get_json()["key_id"] == key_id
    assert_problem(client.get(f"{KEYS}/{key_id}"), 401)
    assert_problem(client.get(f"{KEYS}/{key_id}", headers=member_headers), 403)
    assert_problem(client.get(f"{KEYS}/{key_id}", headers=stranger_headers), 404)
    for unknown in ("0123456789abcdef", "not-a-key-id", "0123456789ABCDEF", "x" * 300):
        assert_problem(client.get(f"{KEYS}/{unknown}", headers=admin_headers), 404)


# -- changing and revoking ---------------------------------------------------------------------


def test_update_renames_and_replaces_the_allowlist(client, admin_headers, org, db):
    key = create(client, admin_headers, org, ip_allowlist=["192.0.2.0/24"])
    response = client.put(f"{KEYS}/{key['key_id']}", json={"name": "  Renamed  "}, headers=admin_headers)
    assert response.status_code == 200
    assert (response.get_json()["name"], response.get_json()["ip_allowlist"]) == ("Renamed", ["192.0.2.0/24"])

    response = client.put(
        f"{KEYS}/{key['key_id']}", json={"ip_allowlist": ["2001:db8::/48", "2001:db8::/48"]}, headers=admin_headers
    )
    assert response.get_json()["ip_allowlist"] == ["2001:db8::/48"]
    response = client.put(f"{KEYS}/{key['key_id']}", json={"ip_allowlist": []}, headers=admin_headers)
    assert response.get_json()["ip_allowlist"] == []
    assert [e["metadata"]["changed"] for e in audit_entries(db, org, "api_key.")[1:]] == [
        ["name"],
        ["ip_allowlist"],
        ["ip_allowlist"],
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "_schema"),
        ({"name": ""}, "name"),
        ({"ip_allowlist": ["300.1.1.1"]}, "ip_allowlist"),
        ({"tier": "pro"}, "tier"),  # a tier is chosen at creation: issue a new key to change it
        ({"name": None}, "name"),
    ],
)
def test_update_validation_names_the_field(client, admin_headers, org, body, field):
    key_id = create(client, admin_headers, org)["key_id"]
    assert_problem(client.put(f"{KEYS}/{key_id}", json=body, headers=admin_headers), 422, field)


def test_update_access_and_revoked_keys(client, org, admin_headers, member_headers, stranger_headers):
    key_id = create(client, admin_headers, org)["key_id"]
    assert_problem(client.put(f"{KEYS}/{key_id}", json={"name": "x"}, headers=member_headers), 403)
    assert_problem(client.put(f"{KEYS}/{key_id}", json={"name": "x"}, headers=stranger_headers), 404)
    assert client.delete(f"{KEYS}/{key_id}", headers=admin_headers).status_code == 204
    assert_problem(client.put(f"{KEYS}/{key_id}", json={"name": "x"}, headers=admin_headers), 409, "key_id")


def test_revoke_is_204_idempotent_and_audited(client, admin_headers, org, db):
    key = create(client, admin_headers, org)
    first = client.delete(f"{KEYS}/{key['key_id']}", headers=admin_headers)
    assert (first.status_code, first.get_data()) == (204, b"")
    revoked_at = stored(db, key["key_id"])["revoked_at"]
    assert revoked_at is not None
    assert client.delete(f"{KEYS}/{key['key_id']}", headers=admin_headers).status_code == 204
    assert stored(db, key["key_id"])["revoked_at"] == revoked_at
    shown = client.get(f"{KEYS}/{key['key_id']}", headers=admin_headers).get_json()
    assert shown["status"] == "revoked"
    assert [e["action"] for e in audit_entries(db, org, "api_key.")] == ["api_key.created", "api_key.revoked"]


def test_revoke_access(client, org, admin_headers, member_headers, stranger_headers, db):
    key_id = create(client, admin_headers, org)["key_id"]
    assert_problem(client.delete(f"{KEYS}/{key_id}"), 401)
    assert_problem(client.delete(f"{KEYS}/{key_id}", headers=member_headers), 403)
    assert_problem(client.delete(f"{KEYS}/{key_id}", headers=stranger_headers), 404)
    assert stored(db, key_id)["revoked_at"] is None


# -- rotating ----------------------------------------------------------------------------------


def test_rotate_answers_the_new_key_once_and_is_audited(client, admin_headers, org, db):
    key = create(client, admin_headers, org)
    response = client.post(
        f"{KEYS}/{key['key_id']}/rotate", json={"preserve_key_id": True, "grace_seconds": 60}, headers=admin_headers
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["key_id"] == key["key_id"]
    assert parse_key(body["api_key"]).key_id == key["key_id"]
    assert body["previous_key_id"] == key["key_id"]
    assert body["previous_expires_at"].endswith("Z")
    assert body["previous_secret_expires_at"] == body["previous_expires_at"]
    entry = audit_entries(db, org, "api_key.")[-1]
    assert entry["action"] == "api_key.rotated"
    assert entry["metadata"] == {"preserve_key_id": True, "new_key_id": key["key_id"], "grace_seconds": 60}
    for secret in (key["api_key"], body["api_key"]):
        assert secret.split("_")[2] not in json.dumps([e["metadata"] for e in audit_entries(db, org, "api_key.")])


def test_rotate_to_a_new_key_id_defaults_to_a_day_of_grace(client, admin_headers, org, db):
    key = create(client, admin_headers, org)
    body = client.post(f"{KEYS}/{key['key_id']}/rotate", json={"preserve_key_id": False}, headers=admin_headers)
    body = body.get_json()
    assert body["key_id"] != key["key_id"]
    old, new = stored(db, key["key_id"]), stored(db, body["key_id"])
    assert (old["expires_at"] - old["updated_at"]).total_seconds() == pytest.approx(86400, abs=5)
    assert new["lineage_id"] == old["lineage_id"] == old["id"]
    assert (new["organization_id"], new["tier"], new["name"]) == (old["organization_id"], old["tier"], old["name"])
    assert new["created_by"] == org["admin"]["id"]
    listed = client.get(KEYS, headers=admin_headers).get_json()["data"]
    assert [(k["key_id"], k["status"]) for k in listed] == [(body["key_id"], "active"), (key["key_id"], "replaced")]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "preserve_key_id"),
        ({"preserve_key_id": "yes"}, "preserve_key_id"),
        ({"preserve_key_id": 1}, "preserve_key_id"),
        ({"preserve_key_id": True, "grace_seconds": -1}, "grace_seconds"),
        ({"preserve_key_id": True, "grace_seconds": 604801}, "grace_seconds"),
        ({"preserve_key_id": True, "grace_seconds": "60"}, "grace_seconds"),
        ({"preserve_key_id": True, "grace_seconds": 1.5}, "grace_seconds"),
        ({"preserve_key_id": True, "other": 1}, "other"),
    ],
)
def test_rotate_validation_names_the_field(client, admin_headers, org, body, field):
    key_id = create(client, admin_headers, org)["key_id"]
    assert_problem(client.post(f"{KEYS}/{key_id}/rotate", json=body, headers=admin_headers), 422, field)


def test_rotate_refuses_revoked_and_replaced_keys(client, admin_headers, org):
    revoked = create(client, admin_headers, org)["key_id"]
    client.delete(f"{KEYS}/{revoked}", headers=admin_headers)
    for preserve in (True, False):
        response = client.post(f"{KEYS}/{revoked}/rotate", json={"preserve_key_id": preserve}, headers=admin_headers)
        assert "revoked" in assert_problem(response, 409, "key_id")["detail"]

    replaced = create(client, admin_headers, org)["key_id"]
    new = client.post(f"{KEYS}/{replaced}/rotate", json={"preserve_key_id": False}, headers=admin_headers).get_json()
    for preserve in (True, False):
        response = client.post(f"{KEYS}/{replaced}/rotate", json={"preserve_key_id": preserve}, headers=admin_headers)
        assert assert_problem(response, 409, "key_id")["replaced_by"] == new["key_id"]


def test_rotate_access(client, org, admin_headers, member_headers, stranger_headers, db):
    key_id = create(client, admin_headers, org)["key_id"]
    before = bytes(stored(db, key_id)["secret_hash"])
    body = {"preserve_key_id": True}
    assert_problem(client.post(f"{KEYS}/{key_id}/rotate", json=body), 401)
    assert_problem(client.post(f"{KEYS}/{key_id}/rotate", json=body, headers=member_headers), 403)
    assert_problem(client.post(f"{KEYS}/{key_id}/rotate", json=body, headers=stranger_headers), 404)
    assert bytes(stored(db, key_id)["secret_hash"]) == before
