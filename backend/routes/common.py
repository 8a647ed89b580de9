"""Boundary helpers every blueprint uses: JSON bodies and queries validated by marshmallow."""

from __future__ import annotations

import marshmallow
from flask import request
from marshmallow import fields, validate

from backend.errors import BadRequest, UnsupportedMediaType
from backend.services.pagination import DEFAULT_LIMIT, MAX_LIMIT


def json_body(schema: marshmallow.Schema) -> dict:
    """The request's JSON object, loaded through `schema` (ValidationError names the fields)."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        data = {}
    else:
        if not request.is_json:
            raise UnsupportedMediaType("send the body as application/json")
        data = request.get_json(silent=True)
        if data is None:
            raise BadRequest("the body is not valid JSON", errors={"body": ["is not valid JSON"]})
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object", errors={"body": ["must be a JSON object"]})
    return schema.load(data)


def query_args(schema: marshmallow.Schema) -> dict:
    """The query string loaded through `schema`; a repeated key keeps its first value."""
    return schema.load(request.args.to_dict())


class PageQuery(marshmallow.Schema):
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT))
    cursor = fields.String(load_default=None, validate=validate.Length(max=512))


def page(items: list[dict], next_cursor: str | None) -> dict:
    return {"data": items, "next_cursor": next_cursor}
