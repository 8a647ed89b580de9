"""aiohttp's resolver for webhooks: resolves and applies the SSRF policy in one step."""

from __future__ import annotations

import asyncio
import socket

from aiohttp.abc import AbstractResolver, ResolveResult

from backend.services.webhooks import ssrf


class RefusedAddress(OSError):
    """The target resolved to an address webhooks may not reach."""


class PinnedResolver(AbstractResolver):
    """Resolves and checks in one step, so the connection goes to the address that was checked."""

    def __init__(self, policy: ssrf.TargetPolicy):
        self.policy = policy

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET):
        target = ssrf.Target(url="", scheme="", host=host.lower(), port=port, literal=ssrf.ip_literal(host))
        loop = asyncio.get_running_loop()
        try:
            addresses = await loop.run_in_executor(None, ssrf.resolve, target, self.policy)
        except ssrf.TargetRefused as exc:
            raise RefusedAddress(f"refused: {exc}") from None
        results: list[ResolveResult] = []
        for address in addresses:
            results.append(
                ResolveResult(
                    hostname=host,
                    host=str(address),
                    port=port,
                    family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                    proto=0,
                    flags=socket.AI_NUMERICHOST,
                )
            )
        return results

    async def close(self) -> None:
        return None
