"""client_ip and forwarded_scheme: X-Forwarded-For and X-Forwarded-Proto are believed only as far
as TRUSTED_PROXIES vouch for them."""

from __future__ import annotations

import pytest

from backend.net import client_ip, forwarded_scheme
from backend.parsers import networks

NO_PROXIES = ()
LB = networks("TRUSTED_PROXIES", "10.0.0.0/8")
LB_AND_CDN = networks("TRUSTED_PROXIES", "10.0.0.0/8, 203.0.113.0/24")
V6 = networks("TRUSTED_PROXIES", "fd00::/8, 2001:db8:ffff::/48")


@pytest.mark.parametrize(
    ("remote", "forwarded", "trusted", "expected"),
    [
        # No header, or no trusted proxies: the peer is the client.
        ("198.51.100.7", None, NO_PROXIES, "198.51.100.7"),
        ("198.51.100.7", "", LB, "198.51.100.7"),
        # A peer we do not trust cannot choose its address by writing the header.
        ("198.51.100.7", "1.2.3.4", NO_PROXIES, "198.51.100.7"),
        ("198.51.100.7", "1.2.3.4", LB, "198.51.100.7"),
        ("198.51.100.7", "10.0.0.5", LB, "198.51.100.7"),
        # One trusted proxy: the hop it appended is the client.
        ("10.0.0.2", "198.51.100.7", LB, "198.51.100.7"),
        ("10.0.0.2", " 198.51.100.7 ", LB, "198.51.100.7"),
        # The client forged hops to the left of the real one: only the right-most untrusted hop counts.
        ("10.0.0.2", "1.2.3.4, 198.51.100.7", LB, "198.51.100.7"),
        ("10.0.0.2", "1.2.3.4,198.51.100.7,,", LB, "198.51.100.7"),
        # Chains of trusted proxies are walked through.
        ("10.0.0.2", "198.51.100.7, 203.0.113.10", LB_AND_CDN, "198.51.100.7"),
        ("10.0.0.2", "1.1.1.1, 198.51.100.7, 203.0.113.10, 10.9.9.9", LB_AND_CDN, "198.51.100.7"),
        # Every hop trusted: the left-most one is as far as anyone vouches.
        ("10.0.0.2", "10.0.0.3, 10.0.0.4", LB, "10.0.0.3"),
        # A garbled hop ends the chain at the last good one.
        ("10.0.0.2", "198.51.100.7, not-an-ip", LB, "10.0.0.2"),
        ("10.0.0.2", "198.51.100.7, 10.0.0.9, 1.2.3.4:5678", LB, "10.0.0.2"),
        ("10.0.0.2", "unknown", LB, "10.0.0.2"),
        # IPv6 peers and clients.
        ("2001:db8::1", None, NO_PROXIES, "2001:db8::1"),
        ("2001:db8::1", "2001:db8::bad", NO_PROXIES, "2001:db8::1"),
        ("fd00::1", "2001:db8::42", V6, "2001:db8::42"),
        ("fd00::1", "2001:db8:ffff::9, fd12::3", V6, "2001:db8:ffff::9"),
        ("fd00::1", "2001:db8::42, 2001:db8:ffff::9, fd12::3", V6, "2001:db8::42"),
        ("fd00::1", "198.51.100.7", V6, "198.51.100.7"),
        ("fd00::1", "2001:DB8::42", V6, "2001:db8::42"),  # normalized
        # An IPv4 network does not trust IPv6 peers and the other way round.
        ("fd00::1", "198.51.100.7", LB, "fd00::1"),
        ("10.0.0.2", "198.51.100.7", V6, "10.0.0.2"),
        # IPv4-mapped IPv6 peers (dual-stack sockets) are matched against the IPv4 networks.
        ("::ffff:10.0.0.2", "198.51.100.7", LB, "198.51.100.7"),
        ("::ffff:198.51.100.9", "1.2.3.4", LB, "198.51.100.9"),
        ("10.0.0.2", "::ffff:198.51.100.9", LB, "198.51.100.9"),
        # An IPv6 zone names an interface of the host that saw the address, not the client: dropped.
        ("fe80::1%eth0", None, NO_PROXIES, "fe80::1"),
        ("fd00::1", "2001:db8::42%7", V6, "2001:db8::42"),
    ],
)
def test_client_ip(remote, forwarded, trusted, expected):
    assert client_ip(remote, forwarded, trusted) == expected


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        (None, None),
        ("", None),
        ("198.51.100.7", "198.51.100.7"),
        ("1.2.3.4, 198.51.100.7, 10.0.0.3", "198.51.100.7"),
        ("10.0.0.3", "10.0.0.3"),
        ("garbage", None),
        ("198.51.100.7, garbage", None),
    ],
)
@pytest.mark.parametrize("remote", [None, "", "unix:/run/gunicorn.sock"])
def test_a_unix_socket_peer_is_a_local_proxy(remote, forwarded, expected):
    """No IP address means a proxy on this host: its header is believed, and None is never a bad string."""
    assert client_ip(remote, forwarded, LB) == expected


@pytest.mark.parametrize(("forwarded", "recorded"), [(None, None), ("198.51.100.7", "198.51.100.7")])
def test_login_behind_a_unix_socket_works_and_is_audited(client, world, db, forwarded, recorded):
    user = world.user()
    response = client.post(
        "/api/auth/login",
        json={"email": user["email"], "password": user["password"]},
        environ_base={"REMOTE_ADDR": ""},
        headers={"X-Forwarded-For": forwarded} if forwarded else {},
    )
    assert response.status_code == 200
    with db.transaction("service_role") as conn:
        row = conn.execute(
            "select host(ip) as ip from public.audit_log where action = 'auth.login_succeeded'"
        ).fetchone()
    assert row["ip"] == recorded


def test_a_zoned_ipv6_peer_and_a_nul_in_the_user_agent_still_log_in_and_are_audited(client, world, db):
    user = world.user()
    response = client.post(
        "/api/auth/login",
        json={"email": user["email"], "password": user["password"]},
        environ_base={"REMOTE_ADDR": "fe80::1%eth0"},
        headers={"User-Agent": "probe\x00agent"},
    )
    assert response.status_code == 200, response.get_json()
    with db.transaction("service_role") as conn:
        row = conn.execute(
            "select host(ip) as ip, user_agent from public.audit_log where action = 'auth.login_succeeded'"
        ).fetchone()
    assert row == {"ip": "fe80::1", "user_agent": "probeagent"}


@pytest.mark.parametrize(
    ("remote", "proto", "trusted", "expected"),
    [
        # A peer we do not trust cannot pass plain http off as https.
        ("198.51.100.7", "https", NO_PROXIES, None),
        ("198.51.100.7", "https", LB, None),
        ("127.0.0.1", "https", NO_PROXIES, None),
        # A trusted proxy tells the scheme; the nearest hop's word counts.
        ("10.0.0.2", "https", LB, "https"),
        ("10.0.0.2", " HTTPS ", LB, "https"),
        ("10.0.0.2", "http", LB, "http"),
        ("10.0.0.2", "https, http", LB, "http"),
        # Nothing usable said.
        ("10.0.0.2", None, LB, None),
        ("10.0.0.2", "", LB, None),
        ("10.0.0.2", "gopher", LB, None),
        # A proxy on a Unix socket has no address: trusted, as gunicorn trusts it.
        (None, "https", NO_PROXIES, "https"),
    ],
)
def test_forwarded_scheme(remote, proto, trusted, expected):
    assert forwarded_scheme(remote, proto, trusted) == expected
