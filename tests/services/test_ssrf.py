"""The SSRF guard: internal addresses in every spelling are refused; exemptions work."""

import ipaddress
import socket

import pytest

from backend.services.webhooks import ssrf

OPEN = ssrf.TargetPolicy()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://2130706433/", "loopback"),  # decimal
        ("http://0177.0.0.1/", "loopback"),  # octal
        ("http://0x7f.0.0.1/", "loopback"),  # hex
        ("http://0x7f000001/", "loopback"),
        ("http://127.1/", "loopback"),  # short form
        ("http://[::1]/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),  # IPv4-mapped
        ("http://[::ffff:169.254.169.254]/", "metadata"),
        ("http://[64:ff9b::a9fe:a9fe]/", "metadata"),  # NAT64 of 169.254.169.254
        ("http://[64:ff9b::a00:1]/", "private"),  # NAT64 of 10.0.0.1
        ("http://[2002:a00:1::]/", "private"),  # 6to4 of 10.0.0.1
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://10.1.2.3/", "private"),
        ("http://172.16.0.9/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://100.64.0.1/", "carrier-grade NAT"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://224.0.0.251/", "multicast"),
        ("http://[ff02::1]/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://[fc00::1]/", "unique local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://198.18.0.1/", "benchmarking"),
        ("http://[3fff::1]/", "documentation"),
        ("http://localhost:8080/", "internal host name"),
        ("http://metadata.google.internal/", "internal host name"),
    ],
)
def test_internal_targets_are_refused_with_a_reason(url, reason):
    with pytest.raises(ssrf.TargetRefused, match=reason):
        ssrf.check(url, OPEN)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/", "https"),
        ("javascript:alert(1)", "https"),
        ("https://user:pw@example.com/", "credentials"),
        ("https:///nohost", "no host"),
        ("https://example.com:99999/", "valid URL"),
        ("https://example.com/#frag", "fragment"),
        ("https://" + "a" * 2050 + ".com/", "2048"),
        ("https://93.184.215.14/a b", "spaces or control"),
        ("https://93.184.215.14/a\r\nX-Injected: 1", "spaces or control"),
        ("https://93.184.215.14/\tx", "spaces or control"),
        ("https://93.184.215.14/\u200bx", "spaces or control"),
        ("https://93.184.215.14:0/", "port 0"),
    ],
)
def test_malformed_urls_are_refused(url, reason):
    with pytest.raises(ssrf.TargetRefused, match=reason):
        ssrf.parse_target(url, OPEN)


def test_public_literals_pass_and_are_the_address_connected_to():
    target, addresses = ssrf.check("https://8.8.8.8/hooks", OPEN)
    assert target.port == 443
    assert addresses == [ipaddress.ip_address("8.8.8.8")]


def test_https_required_when_configured():
    policy = ssrf.TargetPolicy(require_https=True)
    with pytest.raises(ssrf.TargetRefused, match="must use https"):
        ssrf.parse_target("http://8.8.8.8/", policy)
    assert ssrf.parse_target("https://8.8.8.8/", policy).scheme == "https"


def test_allowed_targets_exempt_cidrs_and_hosts_even_from_https_requirement():
    policy = ssrf.TargetPolicy.parse("127.0.0.1/32, localhost", require_https=True)
    _, addresses = ssrf.check("http://127.0.0.1:9000/hook", policy)
    assert addresses == [ipaddress.ip_address("127.0.0.1")]
    _, addresses = ssrf.check("http://localhost:9000/hook", policy)
    assert all(a.is_loopback for a in addresses)
    with pytest.raises(ssrf.TargetRefused, match="loopback"):
        ssrf.check("https://127.0.0.2/", policy)


def test_a_name_resolving_to_loopback_is_refused_at_resolution():
    # "localhost" passes only by name exemption; a non-exempt name pointing inward is caught
    # after resolution, which is what the sender relies on at every send.
    target = ssrf.Target(url="http://loopback.test/", scheme="http", host="localhost", port=80, literal=None)
    with pytest.raises(ssrf.TargetRefused, match=r"^localhost resolves to a non-public address\Z"):
        ssrf.resolve(target, OPEN)


@pytest.mark.parametrize(
    "answers",
    [
        ["127.0.0.1"],
        ["10.20.30.40"],
        ["169.254.169.254"],
        ["100.64.1.2"],
        ["::ffff:192.168.7.8"],
        ["fd12:3456::9"],
        ["93.184.215.14", "172.16.5.6"],  # one inward answer among public ones: a rebinding attempt
    ],
)
def test_a_refused_name_never_reveals_what_it_resolves_to(monkeypatch, answers):
    """Anyone may register a target: an error naming the address (or its kind) would map our
    internal DNS for them, one subscription attempt per name."""

    def getaddrinfo(host, port, *args, **kwargs):
        assert host == "intranet.example"
        family = {4: socket.AF_INET, 6: socket.AF_INET6}
        return [(family[ipaddress.ip_address(a).version], socket.SOCK_STREAM, 6, "", (a, port)) for a in answers]

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(ssrf.TargetRefused) as refused:
        ssrf.check("https://intranet.example/hook", OPEN)
    message = str(refused.value)
    assert message == "intranet.example resolves to a non-public address"
    for answer in answers:
        assert answer not in message and str(ipaddress.ip_address(answer)) not in message
    for kind in ("loopback", "private", "metadata", "link-local", "carrier", "unique local", "embeds"):
        assert kind not in message


def test_unresolvable_hosts_are_refused():
    target = ssrf.parse_target("https://no-such-host.invalid/", OPEN)
    with pytest.raises(ssrf.TargetRefused, match="does not resolve"):
        ssrf.resolve(target, OPEN)
