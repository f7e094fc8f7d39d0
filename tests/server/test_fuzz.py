"""Acceptance 5: schemathesis generates requests, valid (positive) and invalid (negative), for
every /v1 operation from the live server's /openapi.json; none may get a 5xx, and every error is
in OpenAI's shape.

Bounded to stay around a minute on 2 cores: a fixed number of examples per mode, derandomized
(the same cases every run), and generated completion lengths clamped to a few tokens (lengths
past the context are kept: they must give 400 context_length_exceeded, not a long generation).
"""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode

CONTEXT = 8192
MAX_GENERATED = 4
EXAMPLES = 60


@pytest.fixture(scope="module")
def fuzz_server(make_server):
    with make_server(default_max_tokens=MAX_GENERATED, max_running=16) as live:
        yield live


def _pin(case) -> None:
    """Name the served model (a random name only ever reaches the 404 path) and clamp lengths."""
    if case.path_parameters and "model" in case.path_parameters:
        case.path_parameters["model"] = "smollm2"
    body = case.body
    if not isinstance(body, dict):
        return
    if isinstance(body.get("model"), str):
        body["model"] = "smollm2"
    if "prompt" in body:  # completions default to 16 tokens x up to 64 choices: keep it short
        body.setdefault("max_tokens", MAX_GENERATED)
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            if MAX_GENERATED < value <= CONTEXT:
                body[key] = MAX_GENERATED


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_v1_never_answers_5xx(fuzz_server, mode) -> None:
    schema = schemathesis.openapi.from_url(fuzz_server.base_url + "/openapi.json")
    v1 = schema.include(path_regex=r"^/v1/")
    seen: list[int] = []

    @hypothesis.given(case=v1.as_strategy(generation_mode=mode))
    @hypothesis.settings(
        max_examples=EXAMPLES,
        phases=[hypothesis.Phase.generate],
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    def check(case) -> None:
        _pin(case)
        response = case.call(base_url=fuzz_server.base_url, timeout=120)
        seen.append(response.status_code)
        detail = (case.method, case.path, case.body, response.text[:500])
        assert response.status_code < 500, detail
        if response.status_code >= 400:
            error = response.json()["error"]
            assert set(error) == {"message", "type", "param", "code"}, detail

    check()
    assert len(seen) >= EXAMPLES // 2
    if mode is GenerationMode.POSITIVE:
        assert 200 in seen  # valid requests really generated text
    else:
        assert any(400 <= s < 500 for s in seen)
