"""Boundary helpers every blueprint uses: JSON bodies and queries validated by marshmallow."""

from __future__ import annotations

import marshmallow
from flask import request
from marshmallow import fields, validate

from backend.errors import BadRequest, UnsupportedMediaType, ValidationFailed
from backend.services.pagination import DEFAULT_LIMIT, MAX_LIMIT


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
    _reject_nul(data)
    return schema.load(data)


def query_args(schema: marshmallow.Schema) -> dict:
    """The query string loaded through `schema`; a repeated key keeps its first value."""
    args = request.args.to_dict()
    _reject_nul(args)
    return schema.load(args)


def _reject_nul(value) -> None:
    """Postgres text cannot hold U+0000; refuse it here, naming the field, for every endpoint."""
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        where = _nul_path(key) or _nul_path(item)
        if where is not None:
            field = str(key) if "\x00" not in str(key) else "body"
            detail = f" (at {field}{where})" if where else ""
            raise ValidationFailed.field(field, f"must not contain NUL characters{detail}")


def _nul_path(value) -> str | None:
    """'' when value itself is a string with NUL, '.a.0' for a nested one, None when clean."""
    if isinstance(value, str):
        return "" if "\x00" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        inner = _nul_path(key) if isinstance(key, str) else None
        inner = inner if inner is not None else _nul_path(item)
        if inner is not None:
            return f".{key}{inner}"
    return None


class PageQuery(marshmallow.Schema):
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT))
    cursor = fields.String(load_default=None, validate=validate.Length(max=512))


def page(items: list[dict], next_cursor: str | None) -> dict:
    return {"data": items, "next_cursor": next_cursor}
