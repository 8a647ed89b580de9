"""Property-based run of schemathesis against /api/openapi.json: no 5xx, no answer off the schema.

Every documented operation gets a bounded number of generated requests, authenticated as an
org admin (and with one of its organization's API keys), against the real app and database.
Successful answers are checked against the shapes the document gives them: pages of
`{data, next_cursor}`, `{data}` lists, JSON objects.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.support import AuthActions, World

EXAMPLES_PER_OPERATION = 15


def test_every_operation_answers_within_its_schema(make_app):
    app = make_app(
        webhooks_allowed_targets="127.0.0.1/32",
        cron_secret="c" * 40,
        autograder_webhook_secrets=("f" * 40,),
        inbound_sources={"billing": {"scheme": "stripe", "secrets": ["whsec_" + "b" * 32]}},
    )
    world = World(app)
    org = world.allow(world.organization("Fuzz"))
    client = app.test_client()
    headers = AuthActions(client).headers(org["admin"])
    key = client.post(
        "/v1/admin/external/keys",
        json={"organization_id": str(org["id"]), "name": "fuzz", "tier": "enterprise"},
        headers=headers,
    ).get_json()["api_key"]
    headers |= {"X-API-Key": key}  # /v1/external/* take the key, everything else the bearer token
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


def test_lists_are_documented_as_pages_and_the_external_api_takes_a_key(app):
    document = app.test_client().get("/api/openapi.json").get_json()
    ok = document["paths"]["/api/quests"]["get"]["responses"]["2XX"]["content"]["application/json"]["schema"]
    assert ok["required"] == ["data", "next_cursor"]
    assert document["paths"]["/v1/external/events"]["post"]["security"] == [{"apiKeyAuth": []}]
    assert document["components"]["securitySchemes"]["apiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }
