"""The React app (frontend/dist): the admin UI at /admin and the learner pages at /learn, with deep
links falling back to index.html and hashed assets (always under /admin/assets) cached for a year."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, send_from_directory
from werkzeug.exceptions import NotFound as MissingFile
from werkzeug.security import safe_join

from backend.auth import authenticate_request
from backend.config import PROJECT_ROOT
from backend.errors import APIError, NotFound, ServiceUnavailable
from backend.runtime import current_runtime
from backend.services.lti import people

bp = Blueprint("admin_ui", __name__)

DEFAULT_DIST = PROJECT_ROOT / "frontend" / "dist"
ASSETS = "assets/"
ONE_YEAR = 365 * 24 * 3600

# Everything the app loads is bundled and same-origin: no inline scripts or styles, no CDN.
# The data: image is the empty favicon in index.html.
POLICY = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
)
CONTENT_SECURITY_POLICY = "; ".join((*POLICY, "frame-ancestors 'none'"))


def _dist() -> Path:
    """Tests point ADMIN_UI_DIST at a directory of their own."""
    return Path(current_app.config.get("ADMIN_UI_DIST") or DEFAULT_DIST)


def _secured(response, framed_by: list[str] | None = None):
    """No one may frame the app, except the LMS pages `framed_by` that launched this learner."""
    if framed_by:
        ancestors = " ".join(("frame-ancestors 'self'", *framed_by))
        response.headers["Content-Security-Policy"] = "; ".join((*POLICY, ancestors))
    else:
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Frame-Options"] = "DENY"  # X-Frame-Options cannot name origins
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def _built() -> Path:
    dist = _dist()
    if not (dist / "index.html").is_file():
        raise ServiceUnavailable(
            "the admin UI is not built: run `make frontend` "
            "(or `cd frontend && npm install && npm run build`), then reload",
            retry_after=60,
        )
    return dist


def _shell(dist: Path, framed_by: list[str] | None = None):
    """The app shell for every client-side route (deep links), revalidated on each load so a new
    build is picked up at once."""
    response = send_from_directory(dist, "index.html", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return _secured(response, framed_by)


def _launch_frames() -> list[str]:
    """The LMS pages that framed the signed-in learner's LTI launches: the learner pages open
    inside them. Nobody signed in (or a bad credential): none."""
    try:
        identity = authenticate_request()
    except APIError:
        return []
    if identity is None:
        return []
    with current_runtime().db.transaction("service_role") as conn:
        return people.frame_origins(conn, identity.user_id)


@bp.get("/admin")
@bp.get("/admin/")
@bp.get("/admin/<path:path>")
def serve(path: str = ""):
    dist = _built()
    if path.startswith(ASSETS):
        # Hashed file names: a missing one is a real 404, never the app shell (which would be
        # parsed as JavaScript or CSS and hide the error).
        try:
            response = send_from_directory(dist, path, max_age=ONE_YEAR)
        except MissingFile:
            raise NotFound(f"no such asset: /admin/{path}; reload the page to get the current build") from None
        response.headers["Cache-Control"] = f"public, max-age={ONE_YEAR}, immutable"
        return _secured(response)
    file = safe_join(str(dist), path) if path else None
    if file and path != "index.html" and Path(file).is_file():
        response = send_from_directory(dist, path, max_age=0)
        response.headers["Cache-Control"] = "no-cache"
        return _secured(response)
    return _shell(dist)


@bp.get("/learn")
@bp.get("/learn/")
@bp.get("/learn/<path:path>")
def serve_learner(path: str = ""):
    """The learner pages (/learn/quests/<id>, where an LTI launch lands) are client routes of the
    same app: every path gets its shell, whose files load from /admin; the LMS that launched the
    learner may frame it."""
    dist = _built()
    response = _shell(dist, _launch_frames())
    # Who may frame it depends on the session: no shared cache may keep one learner's answer.
    response.headers["Cache-Control"] = "private, no-cache"
    response.vary.add("Cookie")
    return response
