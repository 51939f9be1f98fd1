"""API fuzzing: schemathesis generates requests from the OpenAPI document of a live
`racesense serve` and checks every answer: no 5xx, and every response conforms to the
document (status codes, content types, bodies against their schemas)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from racesense import devserver

TOKEN = "fuzz-test-admin-token-0c44"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXAMPLES = 100  # per operation (fewer where the schema allows fewer)
# Schema-valid but meaningless input is refused with a 4xx by design: JSON Schema cannot
# say "a timing line of two points at least 2 m apart" or "a session id that exists".
# Every other check runs: no 5xx, status codes, content types, headers and bodies
# conform to the document, and input outside the schema is refused.
SEMANTIC = [schemathesis.checks.positive_data_acceptance]


@pytest.fixture(scope="module")
def live_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    env = {"RACESENSE_API_TOKEN": TOKEN, "RACESENSE_MAX_UPLOAD_MB": "4"}
    with devserver.running(tmp_path_factory.mktemp("fuzz"), env, workers=1) as (_, port):
        yield schemathesis.openapi.from_url(f"http://127.0.0.1:{port}/openapi.json")


def test_api_conforms_and_never_fails(live_schema: schemathesis.BaseSchema) -> None:
    operations = [result.ok() for result in live_schema.get_all_operations()]
    assert len(operations) >= 12  # every route is in the document
    # The event stream answers with a stream that never ends (tests/web test it apart).
    operations = [op for op in operations if op.path != "/api/events"]
    calls = 0
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            nonlocal calls
            calls += 1
            case.call_and_validate(headers=AUTH, excluded_checks=SEMANTIC)

        check()
    print(f"\nAPI fuzzing: {len(operations)} operations, {calls} requests, 0 failed")
