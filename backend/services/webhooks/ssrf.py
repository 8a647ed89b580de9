"""Where webhooks may go: refuse internal addresses at registration and again at every send.

The sender connects to the exact address checked here (no second DNS lookup), so a name that
resolves to a public address at check time cannot be re-pointed at 127.0.0.1 before the connect.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Ranges refused beyond what ipaddress calls non-global, named for the error message.
_NAMED_RANGES = [
    (ipaddress.ip_network("100.64.0.0/10"), "carrier-grade NAT"),
    (ipaddress.ip_network("169.254.0.0/16"), "link-local (cloud metadata)"),
    (ipaddress.ip_network("192.0.0.0/24"), "IETF protocol assignments"),
    (ipaddress.ip_network("198.18.0.0/15"), "benchmarking"),
    (ipaddress.ip_network("fc00::/7"), "unique local"),
    (ipaddress.ip_network("fe80::/10"), "link-local"),
    (ipaddress.ip_network("3fff::/20"), "documentation (RFC 9637)"),  # newer than Python 3.11's tables
]
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\Z", re.IGNORECASE)


class TargetRefused(ValueError):
    """A webhook target that may not be used; the message is the reason shown to the user."""


@dataclass(frozen=True)
class TargetPolicy:
    allowed_networks: tuple = ()
    allowed_hosts: tuple = ()
    require_https: bool = False

    @classmethod
    def parse(cls, allowed: str, require_https: bool) -> TargetPolicy:
        """`WEBHOOKS_ALLOWED_TARGETS`: comma-separated host names and CIDRs."""
        networks, hosts = [], []
        for item in (part.strip() for part in allowed.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.append(item.lower().rstrip("."))
        return cls(tuple(networks), tuple(hosts), require_https)

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.allowed_hosts

    def address_allowed(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self.allowed_networks)


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str  # as written (for Host and SNI), lower-cased
    port: int
    literal: IPAddress | None  # set when the host is an IP address in any spelling


def ip_literal(host: str) -> IPAddress | None:
    """The address a host string denotes if it is an IP literal, in any spelling browsers accept.

    `2130706433`, `0177.0.0.1`, `0x7f.1` and `127.1` all mean 127.0.0.1 to inet_aton and to many
    HTTP stacks, so they are read the same way here.
    """
    candidate = host.strip("[]")
    try:
        return ipaddress.ip_address(candidate.split("%", 1)[0])
    except ValueError:
        pass
    if _LEGACY_IPV4.match(candidate):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(candidate))
        except OSError:
            return None
    return None


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address hidden in IPv4-mapped, IPv4-compatible, NAT64, 6to4 or Teredo forms."""
    if address.version == 4:
        return None
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if any(address in net for net in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    packed = int(address)
    if packed >> 32 == 0 and packed > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(packed)
    return None


def refusal_reason(address: IPAddress) -> str | None:
    """Why a webhook may not be sent to `address`, or None when it is a public address."""
    inner = embedded_ipv4(address)
    if inner is not None:
        reason = refusal_reason(inner)
        return f"embeds {inner}, which is {reason}" if reason else None
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_multicast:
        return "a multicast address"
    for network, name in _NAMED_RANGES:
        if address.version == network.version and address in network:
            return f"a {name} address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "not a public address"
    return None


def parse_target(url: str, policy: TargetPolicy) -> Target:
    """Check a URL's shape and, for IP literals, its address. Raises TargetRefused."""
    if not isinstance(url, str) or len(url) > 2048:
        raise TargetRefused("must be a URL of at most 2048 characters")
    if any(ch.isspace() or not ch.isprintable() for ch in url.strip()):
        # An HTTP client would percent-encode or drop them: what is sent would differ from what is stored.
        raise TargetRefused("must not contain spaces or control characters")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise TargetRefused("is not a valid URL") from None
    if port == 0:
        raise TargetRefused("must not use port 0")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise TargetRefused("must use https (or http where allowed)")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("must not contain credentials")
    host = (parts.hostname or "").lower()
    if not host:
        raise TargetRefused("has no host")
    if parts.fragment:
        raise TargetRefused("must not contain a fragment")
    literal = ip_literal(host)
    exempt = policy.host_allowed(host) or (literal is not None and policy.address_allowed(literal))
    if scheme == "http" and policy.require_https and not exempt:
        raise TargetRefused("must use https")
    if literal is not None and not exempt:
        reason = refusal_reason(literal)
        if reason:
            raise TargetRefused(f"points at {literal}, {reason}")
    elif (
        literal is None and not exempt and (host == "localhost" or host.endswith((".localhost", ".local", ".internal")))
    ):
        raise TargetRefused(f"{host} is an internal host name")
    default_port = 443 if scheme == "https" else 80
    return Target(url=url.strip(), scheme=scheme, host=host, port=port or default_port, literal=literal)


def resolve(target: Target, policy: TargetPolicy) -> list[IPAddress]:
    """Every address the host resolves to, all checked; the sender connects only to these.

    Refused when any address is internal: a name that mixes public and private answers is a
    rebinding attempt as far as we are concerned. The refusal never says which address or what
    kind: that would let anyone map our internal DNS through subscription errors and delivery logs.
    """
    if target.literal is not None:
        addresses = [target.literal]
    else:
        try:
            infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise TargetRefused(f"{target.host} does not resolve") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos))
    if policy.host_allowed(target.host):
        return addresses
    for address in addresses:
        if policy.address_allowed(address):
            continue
        if refusal_reason(address):
            raise TargetRefused(f"{target.host} resolves to a non-public address")
    return addresses


def check(url: str, policy: TargetPolicy) -> tuple[Target, list[IPAddress]]:
    target = parse_target(url, policy)
    return target, resolve(target, policy)
