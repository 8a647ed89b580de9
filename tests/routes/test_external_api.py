"""The external API over HTTP: API-key admission, exact rate limits and their headers, IP allowlists,
rotation as partners see it, usage bookkeeping, and events pushed and read back."""

from __future__ import annotations

import ipaddress
import math
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from werkzeug.serving import make_server

from backend.services.keys.format import new_key, parse_key
from backend.services.shared.digest import secret_digest
from backend.services.webhooks import events
from tests.support import assert_problem, room_in_the_window

RATE_LIMIT_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "RateLimit-Policy",
    "RateLimit",
)
EVENT = {"event_type": "partner.course_synced", "data": {"course": "algebra-1", "students": 31}}
INSIDE_V4, OUTSIDE_V4 = "203.0.113.7", "198.51.100.1"


def tiers(starter=(1000, 100), pro=(10000, 1000), enterprise=(100000, 10000)) -> dict:
    return {
        name: {"per_day": per_day, "per_minute": per_minute}
        for name, (per_day, per_minute) in (("starter", starter), ("pro", pro), ("enterprise", enterprise))
    }


@pytest.fixture
def org(world):
    """An organization a platform admin allowed every tier."""
    return world.allow(world.organization("Academy"))


@pytest.fixture
def admin_headers(org, auth):
    return auth.headers(org["admin"])


@pytest.fixture
def issue(client, admin_headers, org):
    """Creates a key through the admin API and returns its body (with the api_key shown once)."""

    def _issue(tier="starter", ip_allowlist=None, organization=None, headers=None) -> dict:
        body = {"organization_id": str((organization or org)["id"]), "name": "LMS sync", "tier": tier}
        if ip_allowlist is not None:
            body["ip_allowlist"] = ip_allowlist
        response = client.post("/v1/admin/external/keys", json=body, headers=headers or admin_headers)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return _issue


def with_key(key, **headers) -> dict:
    value = key["api_key"] if isinstance(key, dict) else key
    return {"X-API-Key": value, **headers}


def push(client, key, body=EVENT, remote_addr="127.0.0.1", **headers):
    return client.post(
        "/v1/external/events", json=body, headers=with_key(key, **headers), environ_base={"REMOTE_ADDR": remote_addr}
    )


def ping(client, key, remote_addr="127.0.0.1", **headers):
    return client.get("/v1/external/key", headers=with_key(key, **headers), environ_base={"REMOTE_ADDR": remote_addr})


def usage(db, key) -> dict:
    """Today's counts of a key's lineage, zeros when it has none."""
    with db.transaction("service_role") as conn:
        row = conn.execute(
            "select u.requests, u.rate_limited from public.api_key_usage u"
            " join public.api_keys k on k.lineage_id = u.lineage_id"
            " where k.key_id = %s and u.day = (now() at time zone 'utc')::date",
            (key["key_id"],),
        ).fetchone()
    return row or {"requests": 0, "rate_limited": 0}


def assert_burst_holds(db, key, admitted: int, per_minute: int, since: float) -> None:
    """The key's burst bucket holds each of the `admitted` requests made since `since` exactly once,
    less what has drained since (per_minute / 60 a second)."""
    with db.transaction("service_role") as conn:
        level = conn.execute(
            "select u.burst_level from public.api_key_usage u join public.api_keys k on k.lineage_id = u.lineage_id"
            " where k.key_id = %s and u.day = (now() at time zone 'utc')::date",
            (key["key_id"],),
        ).fetchone()["burst_level"]
    drained = (time.time() - since) * per_minute / 60
    assert admitted - drained - 1e-6 <= level <= admitted + 1e-9, (level, admitted, drained)


def key_row(db, key_id) -> dict:
    with db.transaction("service_role") as conn:
        return conn.execute(
            "select *, xmin::text as version from public.api_keys where key_id = %s", (key_id,)
        ).fetchone()


def run_sql(db, statement, *params):
    with db.transaction("service_role") as conn:
        conn.execute(statement, params)


class LiveServer:
    """The app on a real threaded HTTP server on 127.0.0.1, for concurrent clients."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve():
    servers = []

    def _serve(app) -> LiveServer:
        servers.append(LiveServer(app))
        return servers[-1]

    yield _serve
    for server in servers:
        server.close()


def concurrently(count: int, fn) -> list:
    """Runs fn count times at once (a barrier releases them together) and returns the results in order."""
    barrier = threading.Barrier(count)

    def run(index):
        barrier.wait(30)
        return fn(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


# -- admission ---------------------------------------------------------------------------------


def test_a_valid_key_is_admitted_and_describes_itself(client, issue, org):
    key = issue(tier="pro")
    response = ping(client, key)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "key_id": key["key_id"],
        "organization_id": str(org["id"]),
        "tier": "pro",
        "limits": {"per_day": 10000, "per_minute": 1000},
    }


def test_a_missing_key_is_401_without_rate_limit_headers(client):
    for response in (client.post("/v1/external/events", json=EVENT), client.get("/v1/external/key")):
        body = assert_problem(response, 401, field="X-API-Key")
        assert "X-API-Key" in body["detail"]
        assert response.headers["WWW-Authenticate"].startswith("ApiKey")
        assert not any(name in response.headers for name in RATE_LIMIT_HEADERS)


def _corrupt(value: str, index: int) -> str:
    replacement = "A" if value[index] != "A" else "B"
    return value[:index] + replacement + value[index + 1 :]


@pytest.mark.parametrize(
    "make_value",
    [
        lambda key: "not-a-key",
        lambda key: key[:-1],  # truncated
        lambda key: key + "x",
        lambda key: "qbx_" + key[4:],  # another prefix
        lambda key: key.upper(),
        lambda key: _corrupt(key, 30),  # one character of the secret mistyped: the checksum catches it
        lambda key: _corrupt(key, len(key) - 1),  # the checksum itself mistyped
        lambda key: key.replace("_", "-"),
    ],
)
def test_a_malformed_key_is_refused_before_any_database_work(make_app, make_value):
    # This app's database does not exist: any query would fail with a 5xx instead of the 401.
    app = make_app(database_url="postgresql://nobody@127.0.0.1:9/nowhere?connect_timeout=1")
    value = make_value(new_key().value)
    started = time.perf_counter()
    response = app.test_client().post("/v1/external/events", json=EVENT, headers={"X-API-Key": value})
    body = assert_problem(response, 401, field="X-API-Key")
    assert "checksum" in body["detail"] or "is not a Questbridge API key" in body["detail"]
    assert not any(name in response.headers for name in RATE_LIMIT_HEADERS)
    assert time.perf_counter() - started < 1.0  # no connection attempt was even begun


def test_an_unknown_key_id_and_a_wrong_secret_are_401_without_headers(client, issue):
    key = issue()
    unknown = new_key()  # well-formed, never issued
    wrong_secret = new_key(key["key_id"])  # the right key id with another secret
    for value in (unknown.value, wrong_secret.value):
        response = ping(client, value)
        body = assert_problem(response, 401, field="X-API-Key")
        assert body["detail"] == "the API key is not valid"
        assert not any(name in response.headers for name in RATE_LIMIT_HEADERS)
    assert ping(client, key).status_code == 200


def test_a_revoked_key_is_401_with_the_rate_limit_headers(client, issue, admin_headers, db):
    key = issue()
    assert push(client, key).status_code == 202
    assert client.delete(f"/v1/admin/external/keys/{key['key_id']}", headers=admin_headers).status_code == 204
    response = push(client, key)
    body = assert_problem(response, 401, field="X-API-Key")
    assert "revoked" in body["detail"]
    assert response.headers["X-RateLimit-Limit"] == "1000"
    assert response.headers["X-RateLimit-Remaining"] == "999"  # refused requests are not counted
    assert usage(db, key)["requests"] == 1


# -- rate limits and their headers ------------------------------------------------------------


def test_every_answer_carries_the_rate_limit_headers(client, issue):
    key = issue()
    before = time.time()
    responses = [
        push(client, key),  # 202
        client.get(f"/v1/external/events/{uuid.uuid4()}", headers=with_key(key)),  # 404 from the route
        push(client, key, body={"event_type": "Bad Name", "data": {}}),  # 422
        client.get("/v1/external/nothing-here", headers=with_key(key)),  # 404 from routing
        client.delete("/v1/external/events", headers=with_key(key)),  # 405 from routing
    ]
    assert [r.status_code for r in responses] == [202, 404, 422, 404, 405]
    drained = (time.time() - before) * 100 / 60  # the burst bucket's drain meanwhile, 100 a minute
    next_midnight = (int(before) // 86400 + 1) * 86400
    for count, response in enumerate(responses, start=1):
        assert response.headers["X-RateLimit-Limit"] == "1000"
        assert response.headers["X-RateLimit-Remaining"] == str(1000 - count)  # every request counts
        assert int(response.headers["X-RateLimit-Reset"]) in (next_midnight, next_midnight + 86400)
        assert response.headers["RateLimit-Policy"] == '"burst";q=100;w=60, "daily";q=1000;w=86400'
        # The IETF field names the window with fewer requests left: here the burst.
        name, remaining, reset = response.headers["RateLimit"].split(";")
        assert name == '"burst"'
        assert 100 - count <= int(remaining.removeprefix("r=")) <= 100 - count + drained
        assert 1 <= int(reset.removeprefix("t=")) <= math.ceil(count * 60 / 100)  # until the bucket is empty
    assert responses[4].headers["Allow"]


def test_the_request_after_the_daily_limit_is_429_with_retry_after(make_app, world, auth, db):
    app = make_app(api_key_tiers=tiers(starter=(5, 100)))
    client = app.test_client()
    org = world.organization()
    headers = auth.headers(org["admin"])
    created = client.post(
        "/v1/admin/external/keys",
        json={"organization_id": str(org["id"]), "name": "k", "tier": "starter"},
        headers=headers,
    ).get_json()

    room_in_the_window(5)
    since = time.time()
    admitted = [push(client, created) for _ in range(5)]
    assert [r.status_code for r in admitted] == [202] * 5
    assert [r.headers["X-RateLimit-Remaining"] for r in admitted] == ["4", "3", "2", "1", "0"]

    refused = push(client, created)
    body = assert_problem(refused, 429)
    assert body["window"] == "daily"
    assert "5 requests a day" in body["detail"]
    now = time.time()
    next_midnight = (int(now) // 86400 + 1) * 86400
    assert refused.headers["X-RateLimit-Limit"] == "5"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert refused.headers["X-RateLimit-Reset"] == str(next_midnight)
    retry_after = int(refused.headers["Retry-After"])
    assert abs(retry_after - math.ceil(next_midnight - now)) <= 2
    assert refused.headers["RateLimit"] == f'"daily";r=0;t={retry_after}'
    assert refused.headers["RateLimit-Policy"] == '"burst";q=100;w=60, "daily";q=5;w=86400'

    for _ in range(3):
        assert push(client, created).status_code == 429
    assert usage(db, created) == {"requests": 5, "rate_limited": 4}
    assert_burst_holds(db, created, 5, 100, since)
    with db.transaction("service_role") as conn:
        stored = conn.execute("select count(*) as n from public.api_key_events").fetchone()["n"]
    assert stored == 5  # refused requests reached no route


def test_the_burst_refuses_past_its_size_and_admits_again_as_it_drains(make_app, world, auth, db):
    app = make_app(api_key_tiers=tiers(starter=(100, 3)))
    client = app.test_client()
    org = world.organization()
    created = client.post(
        "/v1/admin/external/keys",
        json={"organization_id": str(org["id"]), "name": "k", "tier": "starter"},
        headers=auth.headers(org["admin"]),
    ).get_json()

    since = time.time()
    assert [ping(client, created).status_code for _ in range(3)] == [200] * 3
    refused = ping(client, created)
    body = assert_problem(refused, 429)
    assert body["window"] == "burst"
    assert refused.headers["X-RateLimit-Limit"] == "3"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    # The next request is admitted once one request's worth has drained (20 s at 3 a minute); the
    # burst is whole again (Reset, and RateLimit's t) once all three have.
    retry_after = int(refused.headers["Retry-After"])
    assert 15 <= retry_after <= 20
    reset = int(refused.headers["X-RateLimit-Reset"])
    assert since + 55 <= reset <= time.time() + 61
    name, remaining, t = refused.headers["RateLimit"].split(";")
    assert (name, remaining) == ('"burst"', "r=0")
    assert 55 <= int(t.removeprefix("t=")) <= 60

    # 20 seconds pass: one request's worth has drained, so one more request is admitted, not three.
    run_sql(db, "update public.api_key_usage set burst_at = burst_at - interval '20 seconds'")
    assert [ping(client, created).status_code for _ in range(2)] == [200, 429]
    # A minute passes: the whole burst again; the day keeps counting.
    run_sql(db, "update public.api_key_usage set burst_at = burst_at - interval '1 minute'")
    since = time.time()
    again = ping(client, created)
    assert again.status_code == 200
    assert again.headers["X-RateLimit-Remaining"] == str(100 - 5)
    assert again.headers["RateLimit"].startswith('"burst";r=2;')
    assert usage(db, created) == {"requests": 5, "rate_limited": 2}
    assert_burst_holds(db, created, 1, 3, since)


def test_a_burst_at_the_end_of_a_minute_and_another_at_the_start_of_the_next_are_not_both_admitted(
    make_app, world, auth, db
):
    """A clock-minute window admitted both in full: twice the burst within a second or two."""
    burst = 10
    app = make_app(api_key_tiers=tiers(starter=(1000, burst)))
    client = app.test_client()
    org = world.organization()
    created = client.post(
        "/v1/admin/external/keys",
        json={"organization_id": str(org["id"]), "name": "k", "tier": "starter"},
        headers=auth.headers(org["admin"]),
    ).get_json()

    until_edge = 60 - time.time() % 60
    time.sleep(until_edge - 3 if until_edge > 3 else until_edge + 57)  # 3 s before a minute ends
    start = time.time()
    before_edge = [ping(client, created).status_code for _ in range(burst)]
    edge = (int(start) // 60 + 1) * 60
    assert time.time() < edge, "the first burst must end within its minute"
    time.sleep(edge - time.time() + 0.1)
    after_edge = [ping(client, created).status_code for _ in range(burst)]
    elapsed = time.time() - start

    assert before_edge == [200] * burst
    # What drained in between, at `burst` a minute, and nothing more: here none or one request.
    assert after_edge.count(200) <= math.floor(elapsed * burst / 60)
    assert usage(db, created)["requests"] == burst + after_edge.count(200)


def test_a_burst_in_progress_at_utc_midnight_goes_on_counting_in_the_new_day(make_app, world, auth, db):
    app = make_app(api_key_tiers=tiers(starter=(1000, 3)))
    client = app.test_client()
    org = world.organization()
    created = client.post(
        "/v1/admin/external/keys",
        json={"organization_id": str(org["id"]), "name": "k", "tier": "starter"},
        headers=auth.headers(org["admin"]),
    ).get_json()
    assert [ping(client, created).status_code for _ in range(3)] == [200] * 3
    # As if those three had come just before midnight: their row is the previous day's.
    run_sql(db, "update public.api_key_usage set day = day - 1")

    refused = ping(client, created)
    assert assert_problem(refused, 429)["window"] == "burst"
    assert refused.headers["RateLimit"].startswith('"burst";r=0;')
    # The new day's quota is untouched; the previous day's row is closed to latecomers.
    assert usage(db, created) == {"requests": 0, "rate_limited": 1}
    with db.transaction("service_role") as conn:
        days = conn.execute("select requests, closed from public.api_key_usage order by day").fetchall()
    assert days == [{"requests": 3, "closed": True}, {"requests": 0, "closed": False}]


def test_100_concurrent_requests_move_the_counter_by_exactly_100(make_app, world, auth, db, serve):
    app = make_app(pool_max_size=20, api_key_tiers=tiers(pro=(10000, 1000)))
    org = world.allow(world.organization())
    created = (
        app.test_client()
        .post(
            "/v1/admin/external/keys",
            json={"organization_id": str(org["id"]), "name": "k", "tier": "pro"},
            headers=auth.headers(org["admin"]),
        )
        .get_json()
    )
    server = serve(app)

    def send(index):
        response = requests.post(
            f"{server.url}/v1/external/events",
            json={"event_type": "partner.ping", "data": {"n": index}},
            headers=with_key(created),
            timeout=60,
        )
        return response.status_code, int(response.headers["X-RateLimit-Remaining"])

    room_in_the_window(15)
    since = time.time()
    results = concurrently(100, send)

    assert [status for status, _ in results] == [202] * 100
    # Each count was observed exactly once: nothing lost, nothing counted twice.
    assert sorted(remaining for _, remaining in results) == list(range(10000 - 100, 10000))
    assert usage(db, created) == {"requests": 100, "rate_limited": 0}
    assert_burst_holds(db, created, 100, 1000, since)


def test_concurrent_clients_against_a_limit_admit_exactly_the_limit(make_app, world, auth, db, serve):
    limit, clients = 25, 40
    app = make_app(pool_max_size=20, api_key_tiers=tiers(starter=(limit, 1000)))
    org = world.organization()
    created = (
        app.test_client()
        .post(
            "/v1/admin/external/keys",
            json={"organization_id": str(org["id"]), "name": "k", "tier": "starter"},
            headers=auth.headers(org["admin"]),
        )
        .get_json()
    )
    server = serve(app)

    def send(index):
        response = requests.get(f"{server.url}/v1/external/key", headers=with_key(created), timeout=60)
        return response.status_code, response.headers

    room_in_the_window(15)
    since = time.time()
    results = concurrently(clients, send)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * limit + [429] * (clients - limit)
    for status, headers in results:
        assert all(name in headers for name in RATE_LIMIT_HEADERS)
        if status == 429:
            assert headers["X-RateLimit-Remaining"] == "0"
            assert int(headers["Retry-After"]) >= 1
    assert usage(db, created) == {"requests": limit, "rate_limited": clients - limit}
    assert_burst_holds(db, created, limit, 1000, since)


def test_rotation_to_a_new_key_id_keeps_the_quota(make_app, world, auth, db):
    app = make_app(api_key_tiers=tiers(starter=(3, 100)))
    client = app.test_client()
    org = world.organization()
    headers = auth.headers(org["admin"])
    old = client.post(
        "/v1/admin/external/keys",
        json={"organization_id": str(org["id"]), "name": "k", "tier": "starter"},
        headers=headers,
    ).get_json()
    assert [ping(client, old).status_code for _ in range(2)] == [200, 200]
    new = client.post(
        f"/v1/admin/external/keys/{old['key_id']}/rotate", json={"preserve_key_id": False}, headers=headers
    ).get_json()
    assert ping(client, new).status_code == 200
    assert_problem(ping(client, new), 429)
    assert_problem(ping(client, old), 429)  # both keys draw on one quota
    assert usage(db, new) == usage(db, old) == {"requests": 3, "rate_limited": 2}


def test_with_the_limiter_switched_off_nothing_is_counted(make_app, world, auth, db):
    app = make_app(api_keys_rate_limit_enabled=False, api_key_tiers=tiers(starter=(1, 1)))
    client = app.test_client()
    org = world.organization()
    created = client.post(
        "/v1/admin/external/keys",
        json={"organization_id": str(org["id"]), "name": "k", "tier": "starter"},
        headers=auth.headers(org["admin"]),
    ).get_json()
    responses = [push(client, created) for _ in range(3)]
    assert [r.status_code for r in responses] == [202] * 3
    assert not any(name in responses[0].headers for name in RATE_LIMIT_HEADERS)
    assert usage(db, created)["requests"] == 0
    assert key_row(db, created["key_id"])["last_used_at"] is not None  # still authenticated and touched


# -- IP allowlists -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowlist", "remote_addr", "status"),
    [
        ([], OUTSIDE_V4, 200),
        (["203.0.113.0/24"], INSIDE_V4, 200),
        (["203.0.113.0/24"], OUTSIDE_V4, 403),
        (["203.0.113.7"], INSIDE_V4, 200),  # a bare address is a /32
        (["203.0.113.7"], "203.0.113.8", 403),
        (["10.0.0.0/8", "203.0.113.0/24"], INSIDE_V4, 200),
        (["203.0.113.0/24"], "::ffff:203.0.113.7", 200),  # IPv4-mapped IPv6 from a dual-stack socket
        (["2001:db8::/32"], "2001:db8:1::5", 200),
        (["2001:db8::/32"], "2001:db9::5", 403),
        (["2001:db8::/32"], INSIDE_V4, 403),  # an IPv4 client never matches an IPv6 network
        (["203.0.113.0/24"], "2001:db8::5", 403),
    ],
)
def test_allowlist_admits_and_refuses_by_cidr(client, issue, db, allowlist, remote_addr, status):
    key = issue(ip_allowlist=allowlist)
    response = ping(client, key, remote_addr=remote_addr)
    assert response.status_code == status, response.get_json()
    assert response.headers["X-RateLimit-Limit"] == "1000"
    if status == 403:
        body = assert_problem(response, 403)
        assert body["type"].endswith("ip-not-allowed")
        assert remote_addr in body["detail"]
        assert usage(db, key)["requests"] == 0  # a refused address does not spend the partner's quota
        assert key_row(db, key["key_id"])["last_used_at"] is None


def test_a_forged_forwarded_for_from_an_untrusted_peer_is_ignored(client, issue):
    key = issue(ip_allowlist=["203.0.113.0/24"])
    response = ping(client, key, remote_addr=OUTSIDE_V4, **{"X-Forwarded-For": INSIDE_V4})
    body = assert_problem(response, 403)
    assert OUTSIDE_V4 in body["detail"]


@pytest.mark.parametrize(
    ("forwarded_for", "status"),
    [
        (INSIDE_V4, 200),
        (f"{OUTSIDE_V4}, {INSIDE_V4}", 200),  # the right-most untrusted hop is the client
        (f"{INSIDE_V4}, {OUTSIDE_V4}", 403),  # a client may prepend anything; the proxy appended the truth
        (f"{OUTSIDE_V4}, {INSIDE_V4}, 10.0.0.9", 200),  # trusted hops are skipped
        (OUTSIDE_V4, 403),
    ],
)
def test_forwarded_for_is_believed_through_trusted_proxies(make_app, world, auth, forwarded_for, status):
    app = make_app(trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"),))
    client = app.test_client()
    org = world.organization()
    created = client.post(
        "/v1/admin/external/keys",
        json={"organization_id": str(org["id"]), "name": "k", "tier": "starter", "ip_allowlist": ["203.0.113.0/24"]},
        headers=auth.headers(org["admin"]),
    ).get_json()
    response = ping(client, created, remote_addr="10.0.0.5", **{"X-Forwarded-For": forwarded_for})
    assert response.status_code == status, response.get_json()


def test_allowlist_over_real_http_on_the_loopback(make_app, world, auth, serve):
    app = make_app()
    client = app.test_client()
    org = world.organization()
    headers = auth.headers(org["admin"])

    def create(allowlist):
        return client.post(
            "/v1/admin/external/keys",
            json={"organization_id": str(org["id"]), "name": "k", "tier": "starter", "ip_allowlist": allowlist},
            headers=headers,
        ).get_json()

    loopback, elsewhere = create(["127.0.0.0/8"]), create(["::1/128", "192.0.2.0/24"])
    server = serve(app)
    assert requests.get(f"{server.url}/v1/external/key", headers=with_key(loopback), timeout=10).status_code == 200
    refused = requests.get(f"{server.url}/v1/external/key", headers=with_key(elsewhere), timeout=10)
    assert refused.status_code == 403
    assert "127.0.0.1" in refused.json()["detail"]


def test_changing_the_allowlist_applies_to_the_next_request(client, issue, admin_headers):
    key = issue(ip_allowlist=["203.0.113.0/24"])
    assert ping(client, key, remote_addr=OUTSIDE_V4).status_code == 403
    changed = client.put(
        f"/v1/admin/external/keys/{key['key_id']}", json={"ip_allowlist": ["198.51.100.0/24"]}, headers=admin_headers
    )
    assert changed.status_code == 200
    assert ping(client, key, remote_addr=OUTSIDE_V4).status_code == 200
    assert ping(client, key, remote_addr=INSIDE_V4).status_code == 403


# -- rotation as partners see it ---------------------------------------------------------------


def rotate(client, headers, key_id, **body):
    return client.post(f"/v1/admin/external/keys/{key_id}/rotate", json=body, headers=headers)


def test_rotation_keeping_the_key_id_with_grace(client, issue, admin_headers, db):
    old = issue()
    response = rotate(client, admin_headers, old["key_id"], preserve_key_id=True, grace_seconds=3600)
    assert response.status_code == 200, response.get_json()
    new = response.get_json()
    assert new["key_id"] == old["key_id"]
    assert new["api_key"] != old["api_key"]
    assert parse_key(new["api_key"]).key_id == old["key_id"]
    assert ping(client, new).status_code == 200
    assert ping(client, old).status_code == 200  # the old secret still works during the grace period
    row = key_row(db, old["key_id"])
    assert bytes(row["secret_hash"]) == secret_digest(new["api_key"])
    assert bytes(row["previous_secret_hash"]) == secret_digest(old["api_key"])


def test_rotation_keeping_the_key_id_without_grace(client, issue, admin_headers):
    old = issue()
    new = rotate(client, admin_headers, old["key_id"], preserve_key_id=True, grace_seconds=0).get_json()
    assert ping(client, new).status_code == 200
    assert assert_problem(ping(client, old), 401)["detail"] == "the API key is not valid"


def test_the_old_secret_stops_when_the_grace_period_ends(client, issue, admin_headers):
    old = issue()
    new = rotate(client, admin_headers, old["key_id"], preserve_key_id=True, grace_seconds=1).get_json()
    assert ping(client, old).status_code == 200
    time.sleep(1.2)
    assert_problem(ping(client, old), 401)
    assert ping(client, new).status_code == 200


def test_rotation_to_a_new_key_id_with_grace(client, issue, admin_headers):
    old = issue(tier="pro", ip_allowlist=["203.0.113.0/24"])
    response = rotate(client, admin_headers, old["key_id"], preserve_key_id=False, grace_seconds=1)
    assert response.status_code == 200, response.get_json()
    new = response.get_json()
    assert new["key_id"] != old["key_id"]
    assert new["previous_key_id"] == old["key_id"]
    assert (new["tier"], new["ip_allowlist"], new["name"]) == ("pro", ["203.0.113.0/24"], old["name"])
    assert ping(client, new, remote_addr=INSIDE_V4).status_code == 200
    assert ping(client, old, remote_addr=INSIDE_V4).status_code == 200
    assert ping(client, new, remote_addr=OUTSIDE_V4).status_code == 403  # the allowlist came along

    listed = client.get(f"/v1/admin/external/keys/{old['key_id']}", headers=admin_headers).get_json()
    assert (listed["status"], listed["replaced_by"]) == ("replaced", new["key_id"])
    time.sleep(1.2)
    body = assert_problem(ping(client, old, remote_addr=INSIDE_V4), 401)
    assert "rotation" in body["detail"]
    assert ping(client, new, remote_addr=INSIDE_V4).status_code == 200
    listed = client.get(f"/v1/admin/external/keys/{old['key_id']}", headers=admin_headers).get_json()
    assert listed["status"] == "expired"


def test_rotation_to_a_new_key_id_without_grace(client, issue, admin_headers):
    old = issue()
    new = rotate(client, admin_headers, old["key_id"], preserve_key_id=False, grace_seconds=0).get_json()
    assert ping(client, new).status_code == 200
    assert_problem(ping(client, old), 401)


def rotated_concurrently(make_app, world, auth, serve, times: int, preserve_key_id: bool):
    """`times` rotations of one new key at once, through a real server on a pool large enough for
    them: the test client, the key as created, and the rotations' answers."""
    app = make_app(pool_max_size=12)
    org = world.organization()
    headers = auth.headers(org["admin"])
    client = app.test_client()
    original = client.post(
        "/v1/admin/external/keys",
        json={"organization_id": str(org["id"]), "name": "k", "tier": "starter"},
        headers=headers,
    ).get_json()
    server = serve(app)

    def rotate_once(_):
        return requests.post(
            f"{server.url}/v1/admin/external/keys/{original['key_id']}/rotate",
            json={"preserve_key_id": preserve_key_id, "grace_seconds": 3600},
            headers=headers,
            timeout=60,
        )

    return client, original, concurrently(times, rotate_once)


def test_concurrent_rotations_keeping_the_key_id_never_lose_the_last_secret(make_app, world, auth, serve):
    client, original, answers = rotated_concurrently(make_app, world, auth, serve, 8, preserve_key_id=True)
    assert [a.status_code for a in answers] == [200] * 8
    secrets = [a.json()["api_key"] for a in answers]
    working = [s for s in secrets if ping(client, s).status_code == 200]
    # Serialized rotations: the last one's secret is current, the one before it is in its grace period.
    assert len(working) == 2
    assert ping(client, original).status_code == 401


def test_concurrent_rotations_to_a_new_key_id_make_exactly_one_replacement(make_app, world, auth, serve, db):
    client, original, answers = rotated_concurrently(make_app, world, auth, serve, 6, preserve_key_id=False)
    assert sorted(a.status_code for a in answers) == [200] + [409] * 5
    winner = next(a.json() for a in answers if a.status_code == 200)
    for loser in (a for a in answers if a.status_code == 409):
        assert loser.json()["replaced_by"] == winner["key_id"]
    assert ping(client, winner).status_code == 200
    assert ping(client, original).status_code == 200
    with db.transaction("service_role") as conn:
        assert conn.execute("select count(*) as n from public.api_keys").fetchone()["n"] == 2


def test_revoking_a_replacement_also_stops_the_key_it_replaced(client, issue, admin_headers):
    old = issue()
    new = rotate(client, admin_headers, old["key_id"], preserve_key_id=False, grace_seconds=3600).get_json()
    assert ping(client, old).status_code == 200
    assert client.delete(f"/v1/admin/external/keys/{new['key_id']}", headers=admin_headers).status_code == 204
    assert "revoked" in assert_problem(ping(client, new), 401)["detail"]
    assert "revoked" in assert_problem(ping(client, old), 401)["detail"]


# -- usage bookkeeping -------------------------------------------------------------------------


def test_last_used_at_is_written_at_most_once_a_minute(client, issue, db):
    key = issue()
    assert key_row(db, key["key_id"])["last_used_at"] is None
    assert ping(client, key).status_code == 200
    first = key_row(db, key["key_id"])
    assert first["last_used_at"] is not None
    for _ in range(3):
        assert ping(client, key).status_code == 200
    assert key_row(db, key["key_id"])["version"] == first["version"]  # the row was not written again

    run_sql(
        db, "update public.api_keys set last_used_at = now() - interval '61 seconds' where key_id = %s", key["key_id"]
    )
    assert ping(client, key).status_code == 200
    later = key_row(db, key["key_id"])
    assert later["last_used_at"] > first["last_used_at"]


def test_usage_counts_requests_distinct_clients_and_hits_per_day(make_app, world, auth, db):
    app = make_app(api_key_tiers=tiers(starter=(4, 100)))
    client = app.test_client()
    org = world.organization()
    created = client.post(
        "/v1/admin/external/keys",
        json={"organization_id": str(org["id"]), "name": "k", "tier": "starter"},
        headers=auth.headers(org["admin"]),
    ).get_json()
    room_in_the_window(5)
    since = time.time()
    for address in ("192.0.2.1", "192.0.2.2", "192.0.2.1", "2001:db8::1", "192.0.2.3", "192.0.2.3"):
        ping(client, created, remote_addr=address)
    assert usage(db, created) == {"requests": 4, "rate_limited": 2}
    assert_burst_holds(db, created, 4, 100, since)
    with db.transaction("service_role") as conn:
        seen = conn.execute("select host(ip) as ip from public.api_key_usage_clients order by ip").fetchall()
    assert [row["ip"] for row in seen] == ["192.0.2.1", "192.0.2.2", "192.0.2.3", "2001:db8::1"]


# -- events ------------------------------------------------------------------------------------


def test_a_pushed_event_is_stored_and_fanned_out_to_subscriptions_listing_it(client, issue, org, world, db):
    listing = world.subscription(org, ["partner.course_synced"])
    everything = world.subscription(org, ["*"])
    other_type = world.subscription(org, ["partner.other", "task.completed"])
    other_org = world.subscription(world.organization("Elsewhere"), ["*"])
    key = issue()

    response = push(client, key, remote_addr=INSIDE_V4)
    assert response.status_code == 202, response.get_json()
    event_id = uuid.UUID(response.get_json()["event_id"])

    with db.transaction("service_role") as conn:
        event = conn.execute("select * from public.webhook_events where id = %s", (event_id,)).fetchone()
        deliveries = conn.execute(
            "select subscription_id, event_type, status from public.webhook_deliveries where event_id = %s",
            (event_id,),
        ).fetchall()
        pushed = conn.execute("select * from public.api_key_events where event_id = %s", (event_id,)).fetchone()
    assert event["organization_id"] == org["id"]
    assert event["type"] == "partner.course_synced"
    assert event["payload"]["data"] == EVENT["data"]
    assert event["payload"]["type"] == "partner.course_synced"
    assert {d["subscription_id"] for d in deliveries} == {listing, everything}
    assert {other_type, other_org}.isdisjoint(d["subscription_id"] for d in deliveries)
    assert {d["status"] for d in deliveries} == {"pending"}
    assert str(pushed["client_ip"]) == INSIDE_V4

    read = client.get(f"/v1/external/events/{event_id}", headers=with_key(key))
    assert read.status_code == 200
    body = read.get_json()
    assert body["event_id"] == str(event_id)
    assert body["event_type"] == "partner.course_synced"
    assert body["data"] == EVENT["data"]
    assert body["organization_id"] == str(org["id"])
    assert body["pushed_by"] == key["key_id"]
    assert body["created_at"].endswith("Z")
    assert body["deliveries"] == {"pending": 2}
    assert all(name in read.headers for name in RATE_LIMIT_HEADERS)


def test_an_event_is_read_back_by_its_own_organization_only(app, client, issue, org, world, auth, db):
    key = issue()
    sibling = issue()  # another key of the same organization
    event_id = push(client, key).get_json()["event_id"]
    assert client.get(f"/v1/external/events/{event_id}", headers=with_key(sibling)).status_code == 200

    other_org = world.organization("Elsewhere")
    stranger = issue(organization=other_org, headers=auth.headers(other_org["admin"]))
    assert_problem(client.get(f"/v1/external/events/{event_id}", headers=with_key(stranger)), 404)

    # Our own events of the organization (learners' progress) are not readable with a key.
    with db.transaction("service_role") as conn:
        internal = events.emit_event(conn, org["id"], "task.completed", {"task_id": str(uuid.uuid4())})
    assert_problem(client.get(f"/v1/external/events/{internal}", headers=with_key(key)), 404)
    assert_problem(client.get("/v1/external/events/not-a-uuid", headers=with_key(key)), 404)


@pytest.mark.parametrize(
    "event_type",
    [
        "Partner.Synced",
        "partner",
        "partner.",
        ".synced",
        "partner..synced",
        "partner.synced!",
        "*",
        "p." + "x" * 127,
        "partner.synced\n",
    ],
)
def test_malformed_event_types_are_422(client, issue, event_type):
    body = assert_problem(push(client, issue(), body={"event_type": event_type, "data": {}}), 422, "event_type")
    assert "dotted" in body["errors"]["event_type"][0]


@pytest.mark.parametrize("event_type", ["task.completed", "quest.completed", "user.synced", "webhook.test", "badge.x"])
def test_our_own_namespaces_are_reserved(client, issue, event_type):
    body = assert_problem(push(client, issue(), body={"event_type": event_type, "data": {}}), 422, "event_type")
    assert "namespace" in body["errors"]["event_type"][0]


LOOKALIKES = [
    ("tasks.completed", "task"),  # plural
    ("quests.completed", "quest"),
    ("badges.earned", "badge"),
    ("webhooks.test", "webhook"),
    ("users.registered", "user"),
    ("submissions.graded", "submission"),
    ("user.registered", "user"),  # the namespace itself
    ("taks.completed", "task"),  # transposition
    ("bagde.earned", "badge"),
    ("qeust.completed", "quest"),
    ("tsak.completed", "task"),
    ("tassk.completed", "task"),  # one edit: insertion, deletion, substitution
    ("tak.completed", "task"),
    ("tesk.completed", "task"),
    ("submision.graded", "submission"),
    ("webhok.test", "webhook"),
    ("task_.completed", "task"),  # separators
    ("task_completed.v1", "task"),
    ("ta_sk.completed", "task"),
    ("ta.sk.completed", "task"),
    ("web_hook.test", "webhook"),
    ("badge_.earned", "badge"),
    ("qu3st.completed", "quest"),  # characters that read alike
    ("webh00k.test", "webhook"),
    ("subm1ss1on.graded", "submission"),
    ("subrnission.graded", "submission"),
    ("vvebhook.test", "webhook"),
    ("baclge.earned", "badge"),
    ("bagdes_.earned", "badge"),  # several at once
    ("questbridge.security_alert", "questbridge"),
    ("questbrigde.security_alert", "questbridge"),
]


@pytest.mark.parametrize(("event_type", "namespace"), LOOKALIKES)
def test_lookalikes_of_our_namespaces_are_refused(client, issue, world, org, db, event_type, namespace):
    """A partner must not pass its own events off as ours to the organization's subscribers."""
    body = assert_problem(push(client, issue(), body={"event_type": event_type, "data": {}}), 422, "event_type")
    assert list(body["errors"]) == ["event_type"]
    [message] = body["errors"]["event_type"]
    assert f"namespace {namespace}." in message and "reserved" in message
    with db.transaction("service_role") as conn:
        assert conn.execute("select count(*) as n from public.webhook_events").fetchone()["n"] == 0


@pytest.mark.parametrize(
    "event_type",
    ["Tasks.completed", "TASK.completed", "t\u0430sk.completed", "\uff54ask.completed", "ta\u00dfk.completed"],
)
def test_capitals_and_non_ascii_spellings_never_get_past_the_name_pattern(client, issue, event_type):
    event_type = event_type.encode().decode("unicode_escape")  # Cyrillic a, fullwidth t, sharp s
    body = assert_problem(push(client, issue(), body={"event_type": event_type, "data": {}}), 422, "event_type")
    assert "dotted lowercase" in body["errors"]["event_type"][0]


@pytest.mark.parametrize(
    "event_type",
    [
        "partner.course_synced",
        "lms.grade.posted_v2",
        "taskforce.created",
        "a.b",
        "canvas.assignment_created",
        "moodle.user_enrolled",  # our words are fine past the namespace
        "acme.task.completed",
        "test.ping",
        "questionnaire.answered",
    ],
)
def test_partner_event_types_are_accepted(client, issue, event_type):
    assert push(client, issue(), body={"event_type": event_type, "data": {}}).status_code == 202


def _nested(depth: int):
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"data": {}}, 422, "event_type"),
        ({"event_type": "partner.x"}, 422, "data"),
        ({"event_type": "partner.x", "data": None}, 422, "data"),
        ({"event_type": "partner.x", "data": [1, 2]}, 422, "data"),
        ({"event_type": "partner.x", "data": "text"}, 422, "data"),
        ({"event_type": 7, "data": {}}, 422, "event_type"),
        ({"event_type": "partner.x", "data": {}, "extra": 1}, 422, "extra"),
        ({"event_type": "partner.x", "data": {"text": "nul\x00"}}, 422, "data"),
        ({"event_type": "partner.x", "data": _nested(33)}, 422, "data"),
        ({"event_type": "partner.x", "data": {"blob": "x" * (64 * 1024)}}, 413, "data"),
    ],
)
def test_bad_event_bodies_are_4xx_naming_the_field(client, issue, body, status, field):
    assert_problem(push(client, issue(), body=body), status, field)


def test_non_finite_numbers_in_data_are_422(client, issue):
    response = client.post(
        "/v1/external/events",
        data='{"event_type": "partner.x", "data": {"score": NaN}}',
        content_type="application/json",
        headers=with_key(issue()),
    )
    assert_problem(response, 422, "data")


def test_data_at_the_limits_is_accepted(client, issue):
    key = issue()
    big = {"blob": "x" * (64 * 1024 - 20)}
    assert push(client, key, body={"event_type": "partner.x", "data": big}).status_code == 202
    assert push(client, key, body={"event_type": "partner.x", "data": _nested(32)}).status_code == 202


def test_a_body_that_is_not_json_is_refused(client, issue):
    key = issue()
    response = client.post("/v1/external/events", data="event_type=x", headers=with_key(key))
    assert_problem(response, 415)
    response = client.post(
        "/v1/external/events", data="{not json", content_type="application/json", headers=with_key(key)
    )
    assert_problem(response, 400, "body")
