"""The OpenAPI document and Swagger UI, served from the installed swagger-ui-bundle (no CDN)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from backend import openapi
from backend.runtime import current_runtime
from backend.version import __version__

bp = Blueprint("docs", __name__)

DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Questbridge API</title>
  <link rel="stylesheet" href="/api/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/api/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/api/docs/init.js"></script>
</body>
</html>
"""
INIT_SCRIPT = 'window.ui = SwaggerUIBundle({url: "/api/openapi.json", dom_id: "#swagger-ui", deepLinking: true});\n'
CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"


@bp.get("/api/openapi.json")
def openapi_document():
    runtime = current_runtime()
    if runtime.openapi is None:
        runtime.openapi = openapi.build_spec(current_app, __version__)
    return jsonify(runtime.openapi)


@bp.get("/api/docs")
def docs_page():
    return Response(DOCS_PAGE, mimetype="text/html", headers={"Content-Security-Policy": CSP})


@bp.get("/api/docs/init.js")
def docs_init():
    return Response(INIT_SCRIPT, mimetype="text/javascript")


@bp.get("/api/docs/assets/<path:filename>")
def docs_assets(filename):
    return send_from_directory(swagger_ui_path, filename, max_age=86400)
