"""Acceptance 5: schemathesis generates requests (valid and invalid) for every /v1 operation from
the live server's /openapi.json; none may get a 5xx.

Bounded to stay around a minute on 2 cores: a fixed number of examples per operation, and
generated completion lengths clamped to a few tokens (lengths past the context are kept: they
must give 400 context_length_exceeded, not a long generation).
"""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis

CONTEXT = 8192
MAX_GENERATED = 4


@pytest.fixture(scope="module")
def fuzz_server(make_server):
    with make_server(default_max_tokens=MAX_GENERATED, max_running=16) as live:
        yield live


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_server):
    return schemathesis.openapi.from_url(fuzz_server.base_url + "/openapi.json")


schema = schemathesis.pytest.from_fixture("fuzz_schema")


def _clamp(body: object) -> None:
    if not isinstance(body, dict):
        return
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and MAX_GENERATED < value <= CONTEXT
        ):
            body[key] = MAX_GENERATED


@schema.include(path_regex=r"^/v1/").parametrize()
@hypothesis.settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_v1_never_answers_5xx(case, fuzz_server) -> None:
    _clamp(case.body)
    response = case.call(timeout=120)
    assert response.status_code < 500, (case.method, case.path, case.body, response.text[:500])
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
