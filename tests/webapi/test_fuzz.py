"""Schemathesis against the app's own OpenAPI document: no 5xx, documented statuses, schema-true bodies."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def assert_problem_json_for_errors(response, case) -> None:  # noqa: ANN001
    """Every 4xx/5xx answer is RFC 9457 problem+json (schemathesis headers: lower-case name -> list)."""
    if response.status_code >= 400:
        content_type = (response.headers.get("content-type") or [""])[0]
        assert content_type.startswith("application/problem+json"), (
            f"{case.method} {case.formatted_path}: {response.status_code} answered as {content_type!r}")


@pytest.fixture(scope="module")
def fuzz_app(data_dir, trace_template, tmp_path_factory):
    import shutil

    from nongshu.settings import Settings
    from webapi import create_app
    from webapi.ratelimit import Limit

    db = tmp_path_factory.mktemp("fuzz") / "trace.db"
    shutil.copyfile(trace_template, db)
    settings = Settings.from_env({"NONGSHU_DATA_DIR": str(data_dir), "NONGSHU_DATABASE_URL": f"sqlite:///{db}"})
    return create_app(settings, limits={"public": Limit(10**6, 10**6), "auth_failure": Limit(10**6, 10**6)})


@pytest.mark.slow
def test_every_operation_survives_fuzzing(fuzz_app):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case):  # noqa: ANN001, ANN202
            response = case.call(headers={"Accept-Encoding": "identity"})
            case.validate_response(response, checks=CHECKS)
            assert_problem_json_for_errors(response, case)

        try:
            run()
        except BaseException as err:  # noqa: BLE001 - collect every operation's failure, then report all
            if isinstance(err, KeyboardInterrupt):
                raise
            failures.append(f"{operation.label}: {str(err)[:600]}")
    assert not failures, "\n\n".join(failures)
