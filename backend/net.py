"""The client's address, believing X-Forwarded-For only from TRUSTED_PROXIES."""

from __future__ import annotations

import ipaddress


def _parse(value: str):
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def client_ip(remote_addr: str | None, forwarded_for: str | None, trusted_proxies: tuple) -> str | None:
    """The right-most address in the chain that is not a trusted proxy.

    A peer we do not trust may write anything in X-Forwarded-For, so its header is ignored; each
    trusted hop vouches only for the address to its left.
    """
    peer = _parse(remote_addr or "")
    if peer is None:
        return remote_addr
    if not forwarded_for or not _is_trusted(peer, trusted_proxies):
        return str(peer)
    hops = [h for h in (part.strip() for part in forwarded_for.split(",")) if h]
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            return str(peer)  # a garbled chain proves nothing beyond the last good hop
        if not _is_trusted(address, trusted_proxies):
            return str(address)
        peer = address
    return str(peer)


def _is_trusted(address, trusted_proxies: tuple) -> bool:
    if getattr(address, "ipv4_mapped", None):
        address = address.ipv4_mapped
    return any(address.version == net.version and address in net for net in trusted_proxies)
