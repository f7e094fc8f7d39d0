"""Fixtures for the template library tests: the loaded templates and a helper that runs one
template (or a replacement source) with its behaviour check in the real sandbox."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from datashark.luau.sandbox import SandboxResult, SandboxScript, run_sandbox
from datashark.roblox.templates import Template


@pytest.fixture
def run_template() -> Callable[..., SandboxResult]:
    def run(
        template: Template, source: str | None = None, check: str | None = None
    ) -> SandboxResult:
        script = SandboxScript(
            template.name,
            template.class_name,
            template.parent,
            template.render() if source is None else source,
        )
        return run_sandbox([script], check or template.check, timeout_s=5.0)

    return run
