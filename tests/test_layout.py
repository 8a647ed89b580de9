"""The layering the code keeps (docs/decisions/0010-domain-packages.md): services never import
flask or anything of the layers above them; routes import no other blueprint, only routes.common."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from backend.config import PROJECT_ROOT

BACKEND = PROJECT_ROOT / "backend"
# What sits above the services: the web layer (flask, request handling, the app and its wiring).
ABOVE_SERVICES = ("flask", "werkzeug", "backend.routes", "backend.auth", "backend.runtime", "backend.cli")
ABOVE_SERVICES += ("backend.scheduler", "backend.workers", "backend.bodies", "backend.openapi")
ABOVE_SERVICES += ("backend.csrf", "backend.signin", "backend.oauth_pages", "backend.net")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, `from backend import x` read as backend.x."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


SERVICE_FILES = sorted((BACKEND / "services").rglob("*.py"))
ROUTE_FILES = sorted((BACKEND / "routes").glob("*.py"))


@pytest.mark.parametrize("path", SERVICE_FILES, ids=lambda p: str(p.relative_to(BACKEND)))
def test_services_import_nothing_of_the_web_layer(path):
    offending = [
        f"{path.relative_to(PROJECT_ROOT)}:{line} imports {module}"
        for line, module in imported_modules(path)
        if _within(module, ABOVE_SERVICES) or module in ("backend.create_app", "backend.__version__")
    ]
    assert not offending, "\n".join(offending)


@pytest.mark.parametrize("path", ROUTE_FILES, ids=lambda p: p.name)
def test_routes_import_no_other_blueprint(path):
    offending = [
        f"{path.relative_to(PROJECT_ROOT)}:{line} imports {module}"
        for line, module in imported_modules(path)
        if _within(module, ("backend.routes",)) and not _within(module, ("backend.routes.common",))
    ]
    assert not offending, "\n".join(offending)


def test_the_rule_sees_an_offender(tmp_path):
    """The check itself reads imports as written: a service that imported flask would be caught."""
    sample = tmp_path / "sample.py"
    sample.write_text("from flask import request\nfrom backend import runtime\nimport werkzeug.exceptions\n")
    modules = [module for _, module in imported_modules(sample)]
    assert _within(modules[0], ABOVE_SERVICES) and "backend.runtime" in modules
    assert any(_within(module, ABOVE_SERVICES) for module in modules if module.startswith("werkzeug"))
