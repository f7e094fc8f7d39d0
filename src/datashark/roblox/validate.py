"""Validation of generated scripts: the Luau compiler, then a sandbox run, then a behaviour check.

Every script must compile (`datashark.luau.compile_check`, the real Luau compiler). Then all
scripts run together in the sandbox (`datashark.luau.sandbox.run_sandbox`: a child process with
a fake Roblox API, time and memory limits), with the behaviour `check` of the template the answer
is based on when there is one. A failure raises `ProviderError` (COMPILE or SANDBOX) so the
gateway falls back to the next provider; success returns the report that the response's
`validation` shows. Sandbox runs are limited to one per core at a time, concurrent requests for
the same scripts share one run, and results are kept per exact input (same scripts and check ->
same verdict), so repeated answers cost nothing.

Not handled: type checking (the compiler is not a type checker); ModuleScripts are compiled and
loaded but not exercised beyond what other scripts require of them.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from datashark.gateway.provider import FailureReason, ProviderError
from datashark.roblox.extract import ExtractedScript

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass(frozen=True)
class Report:
    compile: str
    sandbox: str
    behaviour: str
    check: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "compile": self.compile,
            "sandbox": self.sandbox,
            "behaviour": self.behaviour,
        }
        if self.check:
            out["check"] = self.check
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def _fingerprint(scripts: Sequence[ExtractedScript], check: str | None) -> str:
    digest = hashlib.sha256()
    for s in scripts:
        for part in (s.name, s.class_name, s.parent, s.source):
            digest.update(part.encode())
            digest.update(b"\0")
    digest.update((check or "").encode())
    return digest.hexdigest()


class Validator:
    """Compile + sandbox with a bounded number of concurrent sandbox processes."""

    def __init__(
        self, timeout_s: float = 2.0, memory_mb: int = 64, parallel: int | None = None
    ) -> None:
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self._slots = asyncio.Semaphore(parallel or os.cpu_count() or 1)
        self._verdicts: OrderedDict[str, Report | ProviderError] = OrderedDict()
        self._max_verdicts = 512
        self._inflight: dict[str, asyncio.Future[Report]] = {}

    def _remember(self, key: str, verdict: Report | ProviderError) -> None:
        self._verdicts[key] = verdict
        self._verdicts.move_to_end(key)
        while len(self._verdicts) > self._max_verdicts:
            self._verdicts.popitem(last=False)

    async def validate(
        self, scripts: Sequence[ExtractedScript], check: str | None, check_name: str | None
    ) -> Report:
        key = _fingerprint(scripts, check)
        known = self._verdicts.get(key)
        if known is not None:
            if isinstance(known, ProviderError):
                raise ProviderError(known.reason, known.message)
            return known
        pending = self._inflight.get(key)
        if pending is not None:  # the same scripts are being validated: share that run
            return await asyncio.shield(pending)
        future: asyncio.Future[Report] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            report = await self._validate(scripts, check, check_name)
        except BaseException as exc:
            if isinstance(exc, ProviderError) and exc.reason is FailureReason.COMPILE:
                self._remember(key, exc)  # sandbox verdicts can depend on load: not kept
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody shared it
            raise
        else:
            self._remember(key, report)
            future.set_result(report)
            return report
        finally:
            del self._inflight[key]

    async def _validate(
        self, scripts: Sequence[ExtractedScript], check: str | None, check_name: str | None
    ) -> Report:
        from datashark.luau import compile_check

        for script in scripts:
            result = compile_check(script.source, chunkname=script.name)
            if not result.ok:
                where = f" line {result.line}" if getattr(result, "line", None) else ""
                raise ProviderError(
                    FailureReason.COMPILE, f"{script.name} does not compile{where}: {result.error}"
                )
        try:
            from datashark.luau.sandbox import SandboxScript, run_sandbox
        except ImportError as exc:
            return Report(PASSED, SKIPPED, SKIPPED, check_name, (f"sandbox unavailable: {exc}",))
        boxed = [SandboxScript(s.name, s.class_name, s.parent, s.source) for s in scripts]
        async with self._slots:
            result = await asyncio.to_thread(
                run_sandbox, boxed, check, self.timeout_s, self.memory_mb
            )
        if not result.ok:
            stage = getattr(result, "stage", "run")
            what = "behaviour check" if stage == "check" else f"sandbox ({stage})"
            raise ProviderError(FailureReason.SANDBOX, f"{what} failed: {result.error}"[:500])
        return Report(PASSED, PASSED, PASSED if check else SKIPPED, check_name)
