"""The client's address and scheme, believing X-Forwarded-For and X-Forwarded-Proto only from TRUSTED_PROXIES."""

from __future__ import annotations

import ipaddress

from flask import request

from backend.runtime import current_runtime


def _parse(value: str):
    """An IP address, with IPv4-mapped IPv6 (dual-stack sockets) unwrapped to IPv4 and an IPv6
    zone (fe80::1%eth0, which Postgres inet does not take) dropped; else None."""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if getattr(address, "scope_id", None):
        address = ipaddress.IPv6Address(address.packed)
    return getattr(address, "ipv4_mapped", None) or address


def client_ip(remote_addr: str | None, forwarded_for: str | None, trusted_proxies: tuple) -> str | None:
    """The right-most address in the chain that is not a trusted proxy, or None when there is none.

    A peer we do not trust may write anything in X-Forwarded-For, so its header is ignored; each
    trusted hop vouches only for the address to its left. A peer without an IP address is a
    proxy on this host talking over a Unix socket: trusted, as gunicorn trusts it, and never
    returned itself, since it is not an address (the audit log's inet column would refuse it).
    """
    peer = _parse(remote_addr or "")
    if peer is not None and (not forwarded_for or not _is_trusted(peer, trusted_proxies)):
        return str(peer)
    hops = [h for h in (part.strip() for part in (forwarded_for or "").split(",")) if h]
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            break  # a garbled chain proves nothing beyond the last good hop
        if not _is_trusted(address, trusted_proxies):
            return str(address)
        peer = address
    return str(peer) if peer is not None else None


def forwarded_scheme(remote_addr: str | None, forwarded_proto: str | None, trusted_proxies: tuple) -> str | None:
    """The scheme a trusted proxy says the client used (the nearest hop's X-Forwarded-Proto), or
    None when the peer is not a trusted proxy or says nothing usable. A proxy on a Unix socket
    (no peer address) is trusted, as in client_ip."""
    peer = _parse(remote_addr or "")
    if peer is not None and not _is_trusted(peer, trusted_proxies):
        return None
    nearest = (forwarded_proto or "").rsplit(",", 1)[-1].strip().lower()
    return nearest if nearest in ("http", "https") else None


def transport_scheme() -> str:
    """http or https, as the client of this request reached us: the connection's own scheme,
    unless a trusted proxy (TRUSTED_PROXIES) terminated TLS and says so in X-Forwarded-Proto."""
    config = current_runtime().config
    told = forwarded_scheme(request.remote_addr, request.headers.get("X-Forwarded-Proto"), config.trusted_proxies)
    return told or request.environ.get("wsgi.url_scheme", "http")


def _is_trusted(address, trusted_proxies: tuple) -> bool:
    return any(address.version == net.version and address in net for net in trusted_proxies)
