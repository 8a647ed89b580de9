"""The engine's HTTP client: one aiohttp session pinned to checked addresses, and one POST as an Attempt."""

from __future__ import annotations

import aiohttp
import yarl

from backend.services.webhooks import ssrf
from backend.services.webhooks.resolver import PinnedResolver, RefusedAddress
from backend.services.webhooks.retry import Attempt, parse_retry_after
from backend.services.webhooks.settings import EngineSettings

RESPONSE_BODY_LIMIT = 4096


def open_session(settings: EngineSettings, policy: ssrf.TargetPolicy) -> aiohttp.ClientSession:
    """A session whose every connection goes through the pinned resolver; close it when done."""
    connector = aiohttp.TCPConnector(
        limit=settings.concurrency,
        resolver=PinnedResolver(policy),
        use_dns_cache=False,
        enable_cleanup_closed=True,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=settings.total_timeout, connect=settings.connect_timeout),
        auto_decompress=False,
        skip_auto_headers=("Accept-Encoding",),
        # Receivers of different organizations may share a host: a cookie one of them set
        # must never travel with another's deliveries (or with anyone's, for that matter).
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def post(session: aiohttp.ClientSession, url: yarl.URL, body: bytes, headers: dict, attempt: Attempt) -> None:
    """POST once, without following redirects; the answer, or why there was none, goes into `attempt`."""
    try:
        payload = aiohttp.BytesPayload(body)
        async with session.post(url, data=payload, headers=headers, allow_redirects=False) as response:
            attempt.status_code = response.status
            raw = await response.content.read(RESPONSE_BODY_LIMIT)
            attempt.response_body = raw.decode("utf-8", errors="replace").replace("\x00", "")
            attempt.retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if 300 <= response.status < 400:
                location = response.headers.get("Location", "")
                attempt.error = f"redirect to {location[:200]} not followed" if location else "redirect not followed"
            elif not attempt.succeeded:
                attempt.error = f"HTTP {response.status}"
    except TimeoutError:
        timeout = session.timeout
        attempt.error = f"timed out (connect {timeout.connect:g}s, total {timeout.total:g}s)"
    except aiohttp.ClientConnectorError as exc:
        cause = exc.os_error
        attempt.error = str(cause) if isinstance(cause, RefusedAddress) else f"connection failed: {cause}"
    except aiohttp.ClientError as exc:
        attempt.error = f"{type(exc).__name__}: {exc}"[:500]
