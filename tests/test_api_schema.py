"""Property-based run of schemathesis against /api/openapi.json: no 5xx, no answer off the schema.

Every documented operation gets a bounded number of generated requests, authenticated as an
org admin, against the real app and database.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.conftest import AuthActions, World

EXAMPLES_PER_OPERATION = 15


def test_every_operation_answers_within_its_schema(make_app):
    app = make_app(
        webhooks_allowed_targets="127.0.0.1/32",
        cron_secret="c" * 40,
        autograder_webhook_secrets=("f" * 40,),
        inbound_sources={"billing": {"scheme": "stripe", "secrets": ["whsec_" + "b" * 32]}},
    )
    org = World(app).organization("Fuzz")
    headers = AuthActions(app.test_client()).headers(org["admin"])
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    failures, tested = [], 0

    for result in schema.get_all_operations():
        operation = result.ok()
        tested += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case):
            case.call_and_validate(
                headers=headers, checks=[not_a_server_error, response_schema_conformance, content_type_conformance]
            )

        try:
            exercise()
        except BaseException as exc:  # collect every failing operation, not just the first
            if not isinstance(exc, Exception | BaseExceptionGroup):
                raise
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:2000]}")

    assert tested >= 35
    assert not failures, "\n\n".join(failures)
