"""Request bodies over MAX_CONTENT_LENGTH are refused with 413, announced or chunked."""

from __future__ import annotations

from flask import Request, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream


class _CappedStream(LimitedStream):
    """A body without Content-Length (chunked) read up to `maximum` bytes.

    werkzeug's own stream stops quietly at the maximum, so a chunked body over MAX_CONTENT_LENGTH
    arrived cut short and failed as bad JSON or a bad form (400). This one reads one byte further
    and refuses the body as too large instead.
    """

    def __init__(self, stream, maximum: int):
        super().__init__(stream, maximum + 1, is_max=True)
        self.maximum = maximum

    def readinto(self, b) -> int:
        count = super().readinto(b)
        if self.tell() > self.maximum:
            raise RequestEntityTooLarge()
        return count


class CappedRequest(Request):
    @cached_property
    def stream(self):
        maximum = self.max_content_length
        if self.content_length is None and maximum is not None and self.environ.get("wsgi.input_terminated"):
            return _CappedStream(self.environ["wsgi.input"], maximum)
        return super().stream


def refuse_announced_oversize() -> None:
    """before_request: a Content-Length over the maximum is refused before any other work (even
    authentication), as a proxy's body limit would; a chunked body is refused when it is read."""
    maximum = request.max_content_length
    if maximum is not None and request.content_length is not None and request.content_length > maximum:
        raise RequestEntityTooLarge()
