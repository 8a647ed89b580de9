"""Serving the admin UI at /admin: the app shell for deep links, cached hashed assets, real 404s
for missing assets, a strict Content-Security-Policy, and a clear 503 before the UI is built."""

from __future__ import annotations

import re

import pytest

from backend.routes.admin_ui import CONTENT_SECURITY_POLICY, DEFAULT_DIST

INDEX = (
    '<!doctype html><title>Questbridge admin</title><script type="module" src="/admin/assets/index-abc123.js"></script>'
)
SCRIPT = "console.log('questbridge admin');"


@pytest.fixture
def dist(tmp_path):
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "index-abc123.js").write_text(SCRIPT)
    (root / "assets" / "index-def456.css").write_text("body{margin:0}")
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /admin\n")
    (tmp_path / "outside.txt").write_text("not for the browser")
    return root


@pytest.fixture
def ui_client(app, dist):
    app.config["ADMIN_UI_DIST"] = str(dist)
    return app.test_client()


@pytest.mark.parametrize(
    "path",
    [
        "/admin",
        "/admin/",
        "/admin/subscriptions",
        "/admin/subscriptions/6f1c0c1e-1111-4222-8333-944444444444",
        "/admin/deliveries?status=dead",
        "/admin/login?next=%2Fdeliveries",
        "/admin/no/such/page",
        # The learner pages, where an LTI launch lands, are client routes of the same app.
        "/learn",
        "/learn/quests/6f1c0c1e-1111-4222-8333-944444444444",
        "/learn/no/such/page",
    ],
)
def test_every_app_route_gets_the_app_shell_uncached(ui_client, path):
    response = ui_client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.get_data(as_text=True) == INDEX
    # A learner page's framing depends on the session (the LMS that launched them): private.
    assert response.headers["Cache-Control"] == ("private, no-cache" if path.startswith("/learn") else "no-cache")
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["X-Frame-Options"] == "DENY"


def test_the_policy_allows_only_this_origin_and_nothing_inline():
    directives = dict(part.split(" ", 1) for part in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


@pytest.mark.parametrize(
    ("path", "mimetype", "body"),
    [
        ("/admin/assets/index-abc123.js", "text/javascript", SCRIPT),
        ("/admin/assets/index-def456.css", "text/css", "body{margin:0}"),
    ],
)
def test_hashed_assets_are_cached_for_a_year(ui_client, path, mimetype, body):
    response = ui_client.get(path)
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert response.get_data(as_text=True) == body
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_other_files_of_the_build_are_served_and_revalidated(ui_client):
    response = ui_client.get("/admin/robots.txt")
    assert response.status_code == 200
    assert response.get_data(as_text=True).startswith("User-agent")
    assert response.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize("path", ["/admin/assets/index-old999.js", "/admin/assets/", "/admin/assets/nested/x.css"])
def test_a_missing_asset_is_a_real_404_not_the_app_shell(ui_client, path):
    response = ui_client.get(path)
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 404


@pytest.mark.parametrize(
    "path", ["/admin/../outside.txt", "/admin/..%2Foutside.txt", "/admin/assets/..%2F..%2Foutside.txt"]
)
def test_files_outside_the_build_are_never_served(ui_client, path):
    response = ui_client.get(path)
    assert "not for the browser" not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/learn/robots.txt", "/learn/assets/index-abc123.js", "/learn/../outside.txt"])
def test_under_learn_every_path_is_the_app_shell_never_a_file(ui_client, path):
    response = ui_client.get(path)
    assert response.status_code == 200
    assert response.get_data(as_text=True) == INDEX


def test_unchanged_shell_answers_304(ui_client):
    first = ui_client.get("/admin/")
    assert first.headers.get("ETag")
    again = ui_client.get("/admin/deliveries", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_head_works_and_writes_are_refused(ui_client):
    assert ui_client.head("/admin/").status_code == 200
    refused = ui_client.post("/admin/")
    assert refused.status_code == 405
    assert refused.mimetype == "application/problem+json"


def test_without_a_build_the_answer_says_how_to_build_it(app, tmp_path):
    app.config["ADMIN_UI_DIST"] = str(tmp_path / "never-built")
    for path in ("/admin", "/admin/subscriptions", "/admin/assets/index-abc123.js", "/learn/quests/x"):
        response = app.test_client().get(path)
        assert response.status_code == 503
        assert response.mimetype == "application/problem+json"
        assert "make frontend" in response.get_json()["detail"]
        assert response.headers["Retry-After"]


def test_the_real_build_references_only_its_own_assets(app):
    """`make test` builds frontend/dist first; everything the shell loads is local and served."""
    index = DEFAULT_DIST / "index.html"
    if not index.is_file():
        pytest.fail("frontend/dist is missing: build the admin UI first (`make frontend`)", pytrace=False)
    client = app.test_client()
    html = client.get("/admin/").get_data(as_text=True)
    references = re.findall(r'(?:src|href)="([^"]+)"', html)
    assets = [ref for ref in references if not ref.startswith("data:")]
    assert assets, html
    for reference in assets:
        assert reference.startswith("/admin/assets/"), f"{reference} is not a bundled asset"
        assert client.get(reference).status_code == 200
    assert "<script>" not in html and "style=" not in html
