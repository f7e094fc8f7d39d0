"""The `local` provider on the real engine and the real SmolLM2 file from the model cache."""

from __future__ import annotations

import asyncio

import pytest

from datashark.gateway.adapters.local import LocalProvider
from datashark.gateway.gateway import AllProvidersFailed, Gateway
from datashark.gateway.policy import Policy
from datashark.gateway.provider import ChatRequest, Completion, Message
from datashark.registry import resolve_model

pytestmark = pytest.mark.slow

REQ = ChatRequest(
    (Message("system", "You are a helpful assistant."), Message("user", "Say hello.")),
    "say hello",
    max_tokens=8,
    temperature=0.0,
)


@pytest.fixture(scope="module")
def model_path() -> str:
    try:
        return str(resolve_model("smollm2", pull=False))
    except Exception as exc:
        pytest.fail(
            f"SmolLM2 is not in the model cache ({exc}); run `datashark models pull smollm2`"
        )


def test_local_completes_and_streams_the_same_greedy_text(model_path: str) -> None:
    provider = LocalProvider(model_path, "smollm2", threads=None, max_tokens=8)
    assert provider.configured and provider.model == "SmolLM2-135M-Instruct.Q4_1"

    async def go() -> tuple[Completion, str]:
        try:
            completion = await provider.complete(REQ)
            streamed = "".join([d async for d in provider.stream(REQ)])
        finally:
            await provider.aclose()
        return completion, streamed

    completion, streamed = asyncio.run(go())
    assert completion.text.strip() and completion.finish_reason in ("stop", "length")
    assert streamed == completion.text  # greedy: same tokens either way


def test_local_timeout_is_a_timeout_and_the_worker_serves_on(model_path: str) -> None:
    provider = LocalProvider(model_path, "smollm2", threads=None, max_tokens=4000)
    long = ChatRequest(REQ.messages, "x", max_tokens=4000, temperature=1.0)
    policy = Policy(total_timeout_s=1.0, max_retries=0)
    gateway = Gateway([provider], {"local": policy}, 3, 30.0)

    async def accept(c: Completion) -> str:
        return c.text

    async def go() -> tuple[list[str], str]:
        outcomes = ["ok"]
        try:
            await gateway.complete(long, accept)
        except AllProvidersFailed as exc:
            outcomes = [a.outcome for a in exc.attempts]
        # the cancelled generation stops between tokens; the worker then serves the next request
        after = await provider.complete(REQ)
        await provider.aclose()
        return outcomes, after.text

    outcomes, text = asyncio.run(go())
    assert outcomes == ["timeout"] and text.strip()


def test_missing_model_is_not_configured(tmp_path) -> None:
    provider = LocalProvider(str(tmp_path / "nope.gguf"), "smollm2", threads=None, max_tokens=8)
    assert not provider.configured and "nope.gguf" in provider.why_not_configured
