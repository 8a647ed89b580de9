"""The inbound sources an operator configures (INBOUND_SOURCES): their names, schemes and checks."""

from __future__ import annotations

import base64
import binascii
import re
import uuid

SCHEMES = ("standard-webhooks", "stripe", "hmac-hex")
SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\Z")  # also the inbound_events_source_format constraint
SOURCE_KEYS = {"scheme", "secrets", "organization_id", "tolerance_seconds", "signature_header"}


class SourceConfigError(ValueError):
    """A source's configuration is malformed; the message names the source and the key."""


def check_sources(sources: dict) -> None:
    """INBOUND_SOURCES: {"<source>": {"scheme", "secrets": [..], "organization_id"?, ...}}."""
    name = "INBOUND_SOURCES"
    for source, spec in sources.items():
        where = f"{name}[{source!r}]"
        if not isinstance(source, str) or not SOURCE_NAME.match(source) or source == "autograder":
            raise SourceConfigError(f"{name}: {source!r} is not a source name (a-z, 0-9, - and _; not 'autograder')")
        if not isinstance(spec, dict):
            raise SourceConfigError(f"{where} must be an object")
        unknown = set(spec) - SOURCE_KEYS
        if unknown:
            raise SourceConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        if spec.get("scheme") not in SCHEMES:
            raise SourceConfigError(f"{where}.scheme must be one of {', '.join(SCHEMES)}")
        secrets_ = spec.get("secrets")
        if not isinstance(secrets_, list) or not secrets_ or not all(isinstance(s, str) and s for s in secrets_):
            raise SourceConfigError(f"{where}.secrets must be a non-empty list of non-empty strings")
        if spec["scheme"] == "standard-webhooks":
            for secret in secrets_:
                try:
                    base64.b64decode(secret.removeprefix("whsec_"), validate=True)
                except (binascii.Error, ValueError):
                    raise SourceConfigError(
                        f"{where}.secrets: a standard-webhooks secret is whsec_ and base64"
                    ) from None
        organization_id = spec.get("organization_id")
        if organization_id is not None:
            try:
                uuid.UUID(str(organization_id))
            except ValueError:
                raise SourceConfigError(f"{where}.organization_id must be a UUID") from None
        tolerance = spec.get("tolerance_seconds", 300)
        if isinstance(tolerance, bool) or not isinstance(tolerance, int) or not 1 <= tolerance <= 3600:
            raise SourceConfigError(f"{where}.tolerance_seconds must be an integer from 1 to 3600")
        header = spec.get("signature_header", "X-Signature")
        if not isinstance(header, str) or not re.fullmatch(r"[A-Za-z0-9-]{1,64}", header):
            raise SourceConfigError(f"{where}.signature_header must be an HTTP header name")
