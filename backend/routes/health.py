"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint, jsonify

from backend import migrate
from backend.errors import ServiceUnavailable
from backend.runtime import current_runtime

bp = Blueprint("health", __name__)

# A probe must answer within its own timeout (seconds in every orchestrator), not wait out the
# pool's 30 s checkout timeout while the database is down.
READY_TIMEOUT_SECONDS = 3.0


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Ready when the database answers and every migration file has been applied."""
    runtime = current_runtime()
    try:
        runtime.db.open()
        with runtime.db.pool.connection(timeout=READY_TIMEOUT_SECONDS) as conn:
            conn.execute("select 1")
            pending = [m.path.name for m in migrate.pending(conn)]
    except migrate.MigrationError as exc:  # a misnamed file: this deployment is broken, not the database
        raise ServiceUnavailable(str(exc), extra={"database": "ok"}) from exc
    except Exception as exc:  # any failure to reach the database means not ready
        raise ServiceUnavailable(
            "the database is unreachable", extra={"database": "unreachable", "error": type(exc).__name__}
        ) from exc
    if pending:
        raise ServiceUnavailable("migrations are pending", extra={"database": "ok", "pending_migrations": pending})
    return jsonify(status="ok", database="ok", pending_migrations=[])
