"""Boundary helpers every blueprint uses: JSON bodies, raw bodies and queries, and the validators
they share. json_body and query_args already refuse what Postgres text cannot store (NUL,
unpaired surrogates) in every field, so no schema needs to check that again."""

from __future__ import annotations

from collections.abc import Callable

import marshmallow
from flask import Response, current_app, jsonify, request
from marshmallow import ValidationError, fields, validate
from werkzeug.exceptions import RequestEntityTooLarge

from backend.auth import user_transaction
from backend.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from backend.jsonutil import unstorable
from backend.services.shared.pagination import DEFAULT_LIMIT, MAX_LIMIT


def json_body(schema: marshmallow.Schema) -> dict:
    """The request's JSON object, loaded through `schema` (ValidationError names the fields)."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        data = {}
    else:
        if not request.is_json:
            raise UnsupportedMediaType("send the body as application/json")
        try:
            data = request.get_json(silent=True)
        except RecursionError:  # nesting deep enough to exhaust the parser's stack
            data = None
        if data is None:
            raise BadRequest("the body is not valid JSON", errors={"body": ["is not valid JSON"]})
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object", errors={"body": ["must be a JSON object"]})
    _reject_unstorable(data)
    return schema.load(data)


def query_args(schema: marshmallow.Schema) -> dict:
    """The query string loaded through `schema`; a repeated key keeps its first value."""
    args = request.args.to_dict()
    _reject_unstorable(args)
    return schema.load(args)


def _reject_unstorable(value) -> None:
    """Refuse, naming the field, what Postgres text cannot hold, for every endpoint: U+0000, and
    unpaired surrogates (valid in JSON's \\u escapes, but with no UTF-8 form)."""
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        found = _flaw(key) or _flaw(item)
        if found is not None:
            where, reason = found
            field = "body" if isinstance(key, str) and unstorable(key) else str(key)
            detail = f" (at {field}{where})" if where else ""
            raise ValidationFailed.field(field, f"{reason}{detail}")


def _flaw(value) -> tuple[str, str] | None:
    """('', reason) when value itself is a string that cannot be stored, ('.a.0', reason) for a
    nested one, None when clean."""
    if isinstance(value, str):
        reason = unstorable(value)
        return ("", reason) if reason else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        inner = _flaw(key) if isinstance(key, str) else None
        inner = inner if inner is not None else _flaw(item)
        if inner is not None:
            shown = key.encode("utf-8", "backslashreplace").decode() if isinstance(key, str) else key
            return f".{shown}{inner[0]}", inner[1]
    return None


class PageQuery(marshmallow.Schema):
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT))
    cursor = fields.String(load_default=None, validate=validate.Length(max=512))


def page(items: list[dict], next_cursor: str | None) -> dict:
    return {"data": items, "next_cursor": next_cursor}


def listed(
    fetch: Callable[..., tuple[list[dict], str | None]],
    query: marshmallow.Schema,
    shown: Callable[[dict], dict] | None = None,
    **given,
) -> Response:
    """One page in the signed-in user's transaction: `fetch(conn, **given, **query args)`, the query
    string loaded through `query` (its fields named as fetch's parameters), each row through `shown`."""
    args = query_args(query)
    with user_transaction() as conn:
        rows, next_cursor = fetch(conn, **given, **args)
    return jsonify(page([shown(row) for row in rows] if shown else rows, next_cursor))


def as_user(act: Callable[..., object], *args, **kwargs):
    """What `act(conn, ...)` returns, run in the signed-in user's transaction (committed on return)."""
    with user_transaction() as conn:
        return act(conn, *args, **kwargs)


def answered(act: Callable[..., dict], *args, status: int = 200, **kwargs) -> tuple[Response, int]:
    """`act(conn, ...)` in the signed-in user's transaction, what it returns as the JSON answer."""
    return jsonify(as_user(act, *args, **kwargs)), status


def done(act: Callable[..., object], *args) -> Response:
    """`act(conn, ...)` in the signed-in user's transaction, answered 204 with no body."""
    as_user(act, *args)
    return current_app.response_class(status=204)


def not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("must not be blank")


class StrictBoolean(fields.Boolean):
    """JSON true or false only: 1, "yes" and "true" are not booleans in this API."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class PersonName(fields.String):
    """A given or family name: at most 100 characters, trimmed; blank or null is no name."""

    MAX_LENGTH = 100

    def __init__(self, **kwargs):
        super().__init__(allow_none=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if len(text) > self.MAX_LENGTH:
            raise ValidationError(f"Longer than maximum length {self.MAX_LENGTH}.")
        return text or None


class Names(marshmallow.Schema):
    """The optional given_name and family_name of a person (OpenID Connect's profile claims)."""

    given_name = PersonName(load_default=None)
    family_name = PersonName(load_default=None)


def names_of(data: dict) -> dict:
    return {"given_name": data["given_name"], "family_name": data["family_name"]}


class NoBody(marshmallow.Schema):
    """Actions that take no fields: an empty body or `{}`, anything else is refused."""


class Changes(marshmallow.Schema):
    """A PATCH body: any of its fields, but at least one; `nothing_sent` says which."""

    nothing_sent = "send at least one field"

    @marshmallow.validates_schema
    def _not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError(self.nothing_sent)


def read_limited_body(limit: int) -> bytes:
    """The raw body, refused with 413 before parsing when over `limit`: by Content-Length, and for a
    body without one by reading at most `limit` bytes."""
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    # werkzeug then reads a body without Content-Length only up to this many bytes, and silently
    # stops there: one byte past the limit is how an oversized chunked body shows.
    request.max_content_length = limit + 1
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise _too_large(limit) from None
    if len(body) > limit:
        raise _too_large(limit)
    return body


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the body must be at most {limit // 1024} KiB", errors={"body": [f"must be at most {limit} bytes"]}
    )
