"""One error hierarchy, rendered as RFC 9457 application/problem+json for every failure."""

from __future__ import annotations

import json

import marshmallow
import psycopg
import psycopg_pool
import sentry_sdk
import structlog
from flask import Flask, Response
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"


class APIError(Exception):
    status = 500
    title = "Internal Server Error"
    slug = "internal-error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: dict | None = None,
        headers: dict | None = None,
        status: int | None = None,
        title: str | None = None,
        slug: str | None = None,
        extra: dict | None = None,
    ):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        if slug is not None:
            self.slug = slug

    def to_dict(self) -> dict:
        body = {
            "type": f"urn:questbridge:problem:{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


class BadRequest(APIError):
    status, title, slug = 400, "Bad Request", "bad-request"


class ValidationFailed(APIError):
    status, title, slug = 422, "Validation Failed", "validation-error"

    @classmethod
    def field(cls, name: str, message: str, status: int | None = None) -> ValidationFailed:
        return cls(f"{name}: {message}", errors={name: [message]}, status=status)


class Unauthorized(APIError):
    status, title, slug = 401, "Unauthorized", "unauthorized"

    def __init__(self, detail: str | None = None, **kwargs):
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="questbridge"'})
        super().__init__(detail, **kwargs)


class Forbidden(APIError):
    status, title, slug = 403, "Forbidden", "forbidden"


class NotFound(APIError):
    status, title, slug = 404, "Not Found", "not-found"


class Conflict(APIError):
    status, title, slug = 409, "Conflict", "conflict"


class PayloadTooLarge(APIError):
    status, title, slug = 413, "Payload Too Large", "payload-too-large"


class UnsupportedMediaType(APIError):
    status, title, slug = 415, "Unsupported Media Type", "unsupported-media-type"


class TooManyRequests(APIError):
    status, title, slug = 429, "Too Many Requests", "rate-limited"

    def __init__(self, detail: str | None = None, *, retry_after: int, **kwargs):
        headers = dict(kwargs.pop("headers", None) or {})
        headers["Retry-After"] = str(max(1, int(retry_after)))
        super().__init__(detail, headers=headers, **kwargs)


class ServiceUnavailable(APIError):
    status, title, slug = 503, "Service Unavailable", "unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: int = 1, **kwargs):
        headers = dict(kwargs.pop("headers", None) or {})
        headers["Retry-After"] = str(retry_after)
        super().__init__(detail, headers=headers, **kwargs)


# Database constraint names -> (status, field, message). One table for the whole schema.
CONSTRAINT_ERRORS: dict[str, tuple[int, str, str]] = {
    "profiles_email_key": (409, "email", "a user with this email already exists"),
    "profiles_email_format": (422, "email", "is not a valid email address"),
    "organizations_name_length": (422, "name", "must be 1 to 200 characters"),
    # A valid token for a user this database has no profile of (a Supabase user not in auth.users).
    "organizations_created_by_fkey": (422, "user", "your account has no profile here: sign up on this project first"),
    "memberships_pkey": (409, "email", "is already a member of this organization"),
    "memberships_role_check": (422, "role", "must be admin or member"),
    # Raised by the memberships trigger, also when two admins remove each other at once.
    "memberships_keep_an_admin": (
        409,
        "user_id",
        "is the organization's last admin: an organization keeps at least one admin, so invite another first",
    ),
    "invitations_email_format": (422, "email", "is not a valid email address"),
    "quests_title_length": (422, "title", "must be 1 to 200 characters"),
    "quests_organization_id_fkey": (404, "organization_id", "organization not found"),
    "tasks_title_length": (422, "title", "must be 1 to 200 characters"),
    "tasks_pillar_length": (422, "pillar", "must be 1 to 64 characters"),
    "tasks_xp_range": (422, "xp", "must be between 0 and 100000"),
    "task_completions_task_id_user_id_key": (409, "task_id", "task already completed"),
    "badges_quest_id_user_id_key": (409, "quest_id", "badge already earned"),
    "submissions_content_length": (422, "content", "must be 1 to 100000 characters"),
    "quests_description_length": (422, "description", "must be at most 10000 characters"),
    "tasks_quest_fkey": (404, "quest_id", "quest not found"),
    "submissions_task_fkey": (404, "task_id", "task not found"),
    "task_completions_task_fkey": (404, "task_id", "task not found"),
    "badges_quest_fkey": (404, "quest_id", "quest not found"),
    "webhook_subscriptions_target_url_length": (422, "target_url", "must be 8 to 2048 characters"),
    "webhook_subscriptions_event_types_nonempty": (422, "event_types", "must list 1 to 100 event types"),
    "webhook_subscriptions_description_length": (422, "description", "must be at most 500 characters"),
    "webhook_subscriptions_organization_id_fkey": (404, "organization_id", "organization not found"),
    "api_keys_name_length": (422, "name", "must be 1 to 200 characters"),
    "api_keys_tier_check": (422, "tier", "must be starter, pro or enterprise"),
    "api_keys_ip_allowlist_length": (422, "ip_allowlist", "must list at most 100 networks"),
    "api_keys_organization_id_fkey": (404, "organization_id", "organization not found"),
    "organization_limits_allowed_tiers_known": (422, "allowed_tiers", "must list 1 to 3 of starter, pro, enterprise"),
    "organization_limits_max_api_keys_range": (422, "max_api_keys", "must be between 0 and 10000"),
    "api_keys_tier_allowed": (403, "tier", "is not one this organization may issue (a platform admin sets them)"),
    "api_keys_within_max_api_keys": (403, "organization_id", "holds as many API keys as a platform admin allows it"),
    "api_keys_stay_revoked": (409, "key_id", "is revoked, and a revoked key stays revoked"),
    "lti_platforms_issuer_client_id_key": (409, "client_id", "is already registered for this issuer"),
    "lti_platforms_name_length": (422, "name", "must be 1 to 200 characters"),
    "lti_platforms_issuer_length": (422, "issuer", "must be 1 to 2048 characters"),
    "lti_platforms_client_id_length": (422, "client_id", "must be 1 to 255 characters"),
    "lti_platforms_deployment_ids_count": (422, "deployment_ids", "must list at most 100 deployments"),
    "lti_platforms_auth_login_url_length": (422, "auth_login_url", "must be 8 to 2048 characters"),
    "lti_platforms_auth_token_url_length": (422, "auth_token_url", "must be 8 to 2048 characters"),
    "lti_platforms_key_set_url_length": (422, "key_set_url", "must be 8 to 2048 characters"),
    "lti_platforms_auth_token_audience_length": (422, "auth_token_audience", "must be 1 to 2048 characters"),
    "lti_platforms_organization_id_fkey": (404, "organization_id", "organization not found"),
}


def from_database_error(exc: psycopg.Error) -> APIError | None:
    """The API error a database error stands for, or None when it is a server fault."""
    sqlstate = exc.sqlstate or ""
    if isinstance(exc, psycopg.errors.IntegrityError):
        name = exc.diag.constraint_name or ""
        if name in CONSTRAINT_ERRORS:
            status, field, message = CONSTRAINT_ERRORS[name]
            cls = {409: Conflict, 404: NotFound, 403: Forbidden}.get(status, ValidationFailed)
            return cls(f"{field}: {message}", errors={field: [message]})
        if isinstance(exc, psycopg.errors.UniqueViolation):
            return Conflict("the resource already exists", extra={"constraint": name or None})
        if isinstance(exc, psycopg.errors.ForeignKeyViolation):
            return ValidationFailed("a referenced resource does not exist", extra={"constraint": name or None})
        return ValidationFailed("the request violates a data constraint", extra={"constraint": name or None})
    if sqlstate == "42501":  # insufficient_privilege, which includes row-level security refusals
        return Forbidden("you are not allowed to do this")
    if sqlstate in ("40001", "40P01", "55P03"):
        return ServiceUnavailable("the request conflicted with another; retry it", retry_after=1)
    if sqlstate == "22P02":  # invalid_text_representation reaching SQL (a malformed id)
        return ValidationFailed("a value has the wrong format")
    if isinstance(exc, psycopg.DataError):  # out-of-range numbers, NUL in text, … that slipped past a schema
        return ValidationFailed("a value is not acceptable to the database")
    if isinstance(exc, psycopg.OperationalError):
        return ServiceUnavailable("the database is unavailable; retry shortly", retry_after=2)
    return None


def problem_response(error: APIError) -> Response:
    response = Response(json.dumps(error.to_dict()), status=error.status, mimetype=PROBLEM_JSON)
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(APIError)
    def _api_error(error: APIError):
        return problem_response(error)

    @app.errorhandler(marshmallow.ValidationError)
    def _validation_error(error: marshmallow.ValidationError):
        messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
        fields = ", ".join(sorted(str(k) for k in messages))
        return problem_response(ValidationFailed(f"invalid fields: {fields}", errors=messages))

    @app.errorhandler(RequestEntityTooLarge)
    def _body_too_large(error: RequestEntityTooLarge):
        limit = app.config["MAX_CONTENT_LENGTH"]
        return problem_response(
            PayloadTooLarge(
                f"the body must be at most {limit // 1024} KiB", errors={"body": [f"must be at most {limit} bytes"]}
            )
        )

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        problem = APIError(
            error.description,
            status=error.code or 500,
            title=error.name,
            slug=error.name.lower().replace(" ", "-"),
        )
        response = problem_response(problem)
        if error.code == 405 and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(psycopg.Error)
    def _database_error(error: psycopg.Error):
        problem = from_database_error(error)
        if problem is None:
            log.error("database_error", sqlstate=error.sqlstate, error_type=type(error).__name__)
            problem = APIError("an unexpected error occurred")
        elif problem.status >= 500:
            log.warning("database_unavailable", sqlstate=error.sqlstate, error_type=type(error).__name__)
        return problem_response(problem)

    @app.errorhandler(psycopg_pool.PoolTimeout)
    def _pool_timeout(error: psycopg_pool.PoolTimeout):
        log.warning("database_pool_exhausted")
        return problem_response(ServiceUnavailable("the server is busy; retry shortly", retry_after=1))

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unhandled_error", error_type=type(error).__name__)
        # This handler answers every unexpected error, so Flask never signals it as unhandled:
        # report it to Sentry here (a no-op when SENTRY_DSN is unset).
        sentry_sdk.capture_exception(error)
        return problem_response(APIError("an unexpected error occurred"))
