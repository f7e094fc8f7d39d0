"""Fixtures for the Luau layer: `sandbox(source, check=...)` runs one server Script through the
real child-process sandbox (pluau's Luau VM) and returns the SandboxResult."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from datashark.luau.sandbox import SandboxResult, SandboxScript, run_sandbox


@pytest.fixture
def sandbox() -> Callable[..., SandboxResult]:
    def run(
        source: str,
        check: str | None = None,
        *,
        class_name: str = "Script",
        parent: str = "ServerScriptService",
        name: str = "Main",
        extra: list[SandboxScript] | None = None,
        timeout_s: float = 5.0,
        memory_mb: int = 64,
    ) -> SandboxResult:
        scripts = [SandboxScript(name, class_name, parent, source), *(extra or [])]
        return run_sandbox(scripts, check, timeout_s=timeout_s, memory_mb=memory_mb)

    return run
