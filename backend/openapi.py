"""The OpenAPI 3 document, generated from the app's routes and the marshmallow schemas they load.

Routes stay plain Flask: a view's body and query schemas are found in its own source, where it
calls `json_body(SomeSchema())` or `query_args(SomeQuery())` (or lists through
`listed(fetch, SomeQuery())`), so a new route is documented by being written the usual way.
Path parameters come from the URL rules' converters.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap

import marshmallow
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask

# Routes that are not JSON API operations.
# The OAuth protocol endpoints answer HTML pages or RFC 6749/7009/7662 JSON and are described by
# /.well-known/oauth-authorization-server instead; the LTI launch endpoints are the browser's
# steps of LTI 1.3's OIDC login (HTML pages and redirects), described by that specification.
UNDOCUMENTED = re.compile(
    r"^/(admin|learn|static)(/|$)|^/api/docs|^/api/openapi\.json$|^/metrics$"
    r"|^/api/oauth/(authorize|login|token|revoke|introspect)$|^/lti/(login|launch)$"
)
CONVERTER_TYPES = {
    "uuid": {"type": "string", "format": "uuid"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
}
PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "object"},
    },
}


def _schema_name(schema) -> str:
    """Component names qualified by module: two blueprints may both call a schema NoBody."""
    cls = schema if isinstance(schema, type) else type(schema)
    return f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}"


QUERY_SCHEMA_ARGUMENT = {"json_body": 0, "query_args": 0, "listed": 1}


def _schemas_loaded_by(view) -> tuple[type | None, type | None]:
    """The marshmallow schema classes a view passes to json_body and query_args (listed passes its
    query schema second)."""
    target = inspect.unwrap(view)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(target)))
    except (OSError, TypeError, SyntaxError):
        return None, None
    found: dict[str, type] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        position = QUERY_SCHEMA_ARGUMENT.get(node.func.id)
        if position is None or len(node.args) <= position:
            continue
        argument = node.args[position]
        if isinstance(argument, ast.Call) and isinstance(argument.func, ast.Name):
            schema = target.__globals__.get(argument.func.id)
            if isinstance(schema, type) and issubclass(schema, marshmallow.Schema):
                found["json_body" if node.func.id == "json_body" else "query_args"] = schema
    return found.get("json_body"), found.get("query_args")


def _path_and_parameters(rule) -> tuple[str, list[dict]]:
    parameters = []
    path = rule.rule
    for match in re.finditer(r"<(?:(?P<conv>[a-z]+)(?:\([^)]*\))?:)?(?P<name>\w+)>", rule.rule):
        converter, name = match.group("conv") or "string", match.group("name")
        parameters.append(
            {"in": "path", "name": name, "required": True, "schema": CONVERTER_TYPES.get(converter, {"type": "string"})}
        )
        path = path.replace(match.group(0), "{" + name + "}")
    return path, parameters


PAGE_SCHEMA = {
    "type": "object",
    "required": ["data", "next_cursor"],
    "properties": {
        "data": {"type": "array", "items": {"type": "object"}},
        "next_cursor": {"type": "string", "nullable": True},
    },
}
DATA_SCHEMA = {"type": "object", "required": ["data"], "properties": {"data": {"type": "array"}}}
OBJECT_SCHEMA = {"type": "object"}


def _source_tree(view) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(inspect.unwrap(view))))
    except (OSError, TypeError, SyntaxError):
        return None


def _answers_no_content(tree: ast.AST | None) -> bool:
    """Whether the view's source answers 204 somewhere, itself or through done(...) (it then
    documents an empty 204)."""
    return tree is not None and any(
        (isinstance(node, ast.Constant) and node.value == 204)
        or (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "done")
        for node in ast.walk(tree)
    )


def _success_schema(tree: ast.AST | None) -> dict:
    """What a 2xx answer holds, as far as the view's source tells: a page (page(...) or listed(...)),
    a `data` list (jsonify(data=...)), else some JSON object (every answer of this API is one)."""
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("page", "listed"):
                return PAGE_SCHEMA
            if node.func.id == "jsonify" and [k.arg for k in node.keywords] == ["data"]:
                return DATA_SCHEMA
    return OBJECT_SCHEMA


def _summary(view) -> str:
    doc = inspect.getdoc(inspect.unwrap(view)) or ""
    return doc.splitlines()[0] if doc else view.__name__.replace("_", " ")


def build_spec(app: Flask, version: str) -> dict:
    spec = APISpec(
        title="Questbridge API",
        version=version,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin(schema_name_resolver=_schema_name)],
        info={"description": "The integration backbone of a learning platform. Errors are RFC 9457 problem+json."},
    )
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    spec.components.security_scheme("apiKeyAuth", {"type": "apiKey", "in": "header", "name": "X-API-Key"})
    spec.components.schema("Problem", PROBLEM_SCHEMA)
    operations: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if UNDOCUMENTED.search(rule.rule) or rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        body_schema, query_schema = _schemas_loaded_by(view)
        tree = _source_tree(view)
        external = rule.rule.startswith("/v1/external/")
        path, path_parameters = _path_and_parameters(rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation: dict = {
                "operationId": f"{rule.endpoint}.{method.lower()}",
                "summary": _summary(view),
                "tags": [rule.endpoint.split(".", 1)[0]],
                "parameters": list(path_parameters),
                "security": [{"apiKeyAuth": []}] if external else [{"bearerAuth": []}, {}],
                "responses": {
                    "2XX": {
                        "description": "Success",
                        "content": {"application/json": {"schema": _success_schema(tree)}},
                    },
                    "default": {
                        "description": "An RFC 9457 problem",
                        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
                    },
                },
            }
            if _answers_no_content(tree):
                operation["responses"]["204"] = {"description": "No content"}
            if query_schema is not None:
                operation["parameters"].append({"in": "query", "schema": query_schema})
            if body_schema is not None and method in ("POST", "PUT", "PATCH"):
                operation["requestBody"] = {
                    "required": False,
                    "content": {"application/json": {"schema": body_schema}},
                }
            operations.setdefault(path, {})[method.lower()] = operation
    for path, methods in operations.items():
        spec.path(path=path, operations=methods)
    return spec.to_dict()
