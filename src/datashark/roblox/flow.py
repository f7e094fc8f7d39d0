"""The /api/generate flow: request -> clarify? -> cache -> prompt -> gateway -> extract + validate.

`GenerateFlow.generate` takes a validated `GenerateRequest` and returns the response body of the
Roblox API contract (status `clarify` with questions, or `ok` with scripts, the provider that
answered, every attempt, the validation report). Output that has no code, does not compile or
fails its sandbox run is rejected inside the gateway's validator, so the next provider is tried.
Answers that pass are cached under the normalised request (the response then says `cached`).

Not handled: conversations (each request stands alone; answers come back in the same request).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from datashark.gateway.cache import Cache, cache_key
from datashark.gateway.gateway import AllProvidersFailed, Gateway, UnknownProvider
from datashark.gateway.provider import ChatRequest, Completion, FailureReason, ProviderError
from datashark.roblox.clarifier import clarifier_messages, parse_questions, rule_questions
from datashark.roblox.errors import GenerateError, invalid_request
from datashark.roblox.extract import Extraction, Target, extract_scripts, name_from_task
from datashark.roblox.params import infer_params
from datashark.roblox.prompts import build_messages, task_text
from datashark.roblox.protocol import Context, GenerateRequest, SelectedScript
from datashark.roblox.validate import Report, Validator

_EDIT_WORDS = re.compile(
    r"\b(this|it|its|change|edit|modify|fix|update|add|remove|rename|refactor|improve|instead|"
    r"existing|current|rewrite|convert|make it|so that)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class FlowConfig:
    cache_ttl_s: float = 3600.0
    clarify_use_local: bool = False
    example_threshold: float = 0.2  # templates at least this close go into the prompt
    check_threshold: float = 0.5  # a template this close lends its behaviour check and parent
    max_examples: int = 2
    max_tokens: int = 1024
    temperature: float = 0.2


@dataclass(frozen=True)
class Accepted:
    extraction: Extraction
    report: Report


def edit_target(prompt: str, context: Context | None) -> SelectedScript | None:
    """The selected script this request changes, if it is an edit request."""
    if context is None or not context.scripts:
        return None
    lowered = prompt.lower()
    named = [s for s in context.scripts if s.script_name.lower() in lowered]
    if named:
        return named[0]
    return context.scripts[0] if _EDIT_WORDS.search(prompt) else None


class Retriever:
    """Template retrieval that uses clarifying answers to choose, not to judge.

    The confidence of a template is its score for the request alone: answers add words that no
    template contains ("after 3 seconds") and would only dilute it. The answers decide the order
    among the templates that match the request ("make a door" + "ProximityPrompt" puts the prompt
    door before the touch door).
    """

    def __init__(self, search: Callable[[str], Sequence[tuple[Any, float]]]) -> None:
        self._search = search

    def __call__(self, task: str, details: Sequence[str] = ()) -> list[tuple[Any, float]]:
        base = list(self._search(task))
        if not details:
            return base
        detailed = {id(t): s for t, s in self._search(task + "\n" + "\n".join(details))}
        return sorted(
            base, key=lambda ts: (ts[1] + detailed.get(id(ts[0]), 0.0), ts[1]), reverse=True
        )


def details_of(answers: dict[str, str] | None) -> tuple[str, ...]:
    """Answers as `question words: answer` lines, in a stable order."""
    return tuple(
        f"{key.replace('_', ' ')}: {value.strip()}"
        for key, value in sorted((answers or {}).items())
    )


def normalised(req: GenerateRequest, chain: Sequence[str]) -> dict[str, Any]:
    return {
        "v": 1,
        "prompt": " ".join(req.prompt.lower().split()),
        "answers": sorted((k, " ".join(v.lower().split())) for k, v in (req.answers or {}).items()),
        "context": req.context.model_dump(mode="json") if req.context else None,
        "providers": list(chain),
    }


class GenerateFlow:
    def __init__(
        self,
        gateway: Gateway,
        cache: Cache | None,
        validator: Validator,
        search: Retriever | None,
        templates_by_id: dict[str, Any],
        config: FlowConfig,
    ) -> None:
        self.gateway = gateway
        self.cache = cache
        self.validator = validator
        self._search = search
        self._templates = templates_by_id
        self.config = config

    async def generate(self, req: GenerateRequest) -> dict[str, Any]:
        started = time.perf_counter()
        request_id = f"gen-{uuid.uuid4().hex[:16]}"
        try:
            chain = self.gateway.chain(req.providers)
        except UnknownProvider as exc:
            raise invalid_request(str(exc), "providers", "unknown_provider") from None
        edit = edit_target(req.prompt, req.context)
        if edit is not None:
            chain = [n for n in chain if self.gateway.providers[n].kind != "templates"]
        if req.clarify and not req.answers:
            questions, source, attempts = await self._clarify(req, chain)
            if questions:
                return {
                    "status": "clarify",
                    "questions": [q.model_dump() for q in questions],
                    "source": source,
                    "attempts": attempts,
                    "request_id": request_id,
                    "elapsed_ms": _ms(started),
                }
        key = cache_key(normalised(req, chain)) if self._cache_on else None
        if key is not None:
            hit = await self.cache.get(key)  # type: ignore[union-attr]
            self.gateway.metrics.record_cache(hit is not None)
            if hit is not None:
                return hit | {"cached": True, "request_id": request_id, "elapsed_ms": _ms(started)}
        body = await self._generate(req, chain, edit)
        if key is not None:
            await self.cache.set(key, body, self.config.cache_ttl_s)  # type: ignore[union-attr]
        return body | {"cached": False, "request_id": request_id, "elapsed_ms": _ms(started)}

    @property
    def _cache_on(self) -> bool:
        return self.cache is not None and self.config.cache_ttl_s > 0

    async def _clarify(
        self, req: GenerateRequest, chain: list[str]
    ) -> tuple[list[Any], str, list[dict[str, Any]]]:
        """Questions from the first LLM provider that writes valid JSON, else from the rules."""
        llm = [
            n
            for n in chain
            if self.gateway.providers[n].kind != "templates"
            and (n != "local" or self.config.clarify_use_local)
        ]
        attempts: list[dict[str, Any]] = []
        if llm:
            request = ChatRequest(clarifier_messages(req.prompt, req.context), req.prompt, 400, 0.0)

            async def parse(completion: Completion) -> list[Any]:
                return parse_questions(completion.text)

            try:
                result = await self.gateway.complete(request, parse, llm)
                return (
                    result.value,
                    result.completion.provider,
                    [a.as_dict() for a in result.attempts],
                )
            except AllProvidersFailed as exc:
                attempts = [a.as_dict() for a in exc.attempts]
        return rule_questions(req.prompt, req.context), "rules", attempts

    def _matches(self, prompt: str, details: tuple[str, ...]) -> list[tuple[Any, float]]:
        if self._search is None:
            return []
        try:
            return self._search(prompt, details)
        except Exception:  # retrieval is an aid; a broken index must not fail the request
            return []

    async def _generate(
        self, req: GenerateRequest, chain: list[str], edit: SelectedScript | None
    ) -> dict[str, Any]:
        task = task_text(req.prompt, req.answers)
        details = details_of(req.answers)
        matches = self._matches(req.prompt, details)
        examples = [
            t for t, s in matches[: self.config.max_examples] if s >= self.config.example_threshold
        ]
        lender = matches[0][0] if matches and matches[0][1] >= self.config.check_threshold else None
        if edit is not None:
            lender = None
            examples = examples[:1]
        selected = next(
            (
                i.path
                for i in (req.context.selection if req.context else [])
                if i.className not in ("Script", "LocalScript", "ModuleScript")
            ),
            None,
        )
        target = Target(
            parent=selected or (getattr(lender, "parent", None) if lender else None),
            edit_name=edit.script_name if edit else None,
            edit_class=edit.className if edit else None,
            edit_parent=edit.parent_path if edit else None,
        )
        request = ChatRequest(
            build_messages(task, req.context, examples, edit),
            req.prompt,
            self.config.max_tokens,
            self.config.temperature,
            details=details,
        )

        async def accept(completion: Completion) -> Accepted:
            extraction = extract_scripts(completion.text, task, target)
            if not extraction.scripts:
                raise ProviderError(FailureReason.NO_CODE, "the reply has no Lua code block")
            reference = self._templates.get(completion.reference or "") or lender
            check = (
                template_check(reference, template_values(reference, task)) if reference else None
            )
            check_name = getattr(reference, "id", None) if check else None
            report = await self.validator.validate(extraction.scripts, check, check_name)
            return Accepted(extraction, report)

        try:
            result = await self.gateway.complete(request, accept, chain)
        except AllProvidersFailed as exc:
            raise _all_failed(exc) from None
        accepted: Accepted = result.value
        return {
            "status": "ok",
            "scripts": [s.as_dict() for s in accepted.extraction.scripts],
            "explanation": accepted.extraction.explanation,
            "provider": result.completion.provider,
            "model": result.completion.model,
            "attempts": [a.as_dict() for a in result.attempts],
            "validation": accepted.report.as_dict(),
        }


def template_values(template: Any, text: str) -> dict[str, Any]:
    """Parameter values for `template` stated in `text`, or {} (see params.py)."""
    return infer_params(template, text) if getattr(template, "params", None) else {}


def template_source(template: Any, values: dict[str, Any]) -> str:
    render = getattr(template, "render", None)
    if render is not None:
        try:
            return str(render(values))
        except ValueError:  # TemplateError: a value of the wrong kind; keep the defaults
            return str(render({}))
    return str(getattr(template, "source", ""))


def template_check(template: Any, values: dict[str, Any]) -> str | None:
    check_for = getattr(template, "check_for", None)
    if check_for is not None:
        try:
            return str(check_for(values)) or None
        except ValueError:
            pass
    return getattr(template, "check", None) or None


def render_template(template: Any, task: str, details: Sequence[str] = ()) -> tuple[str, str]:
    """A template as an answer in the system prompt's format (the templates provider's output),
    with the parameter values the request states."""
    title = str(getattr(template, "title", "") or getattr(template, "id", ""))
    name = str(getattr(template, "name", "") or name_from_task(title))
    cls = getattr(template, "class_name", "Script")
    parent = getattr(template, "parent", "ServerScriptService")
    values = template_values(template, "\n".join([task, *details]))
    source = template_source(template, values).rstrip()
    description = str(getattr(template, "description", "") or title)
    if values:
        description += " Set: " + ", ".join(f"{k} = {v}" for k, v in values.items()) + "."
    text = f"```lua\n-- {name} ({cls}) in {parent}\n{source}\n```\n{description}"
    return text, str(getattr(template, "id", name))


def _all_failed(exc: AllProvidersFailed) -> GenerateError:
    attempts = [a.as_dict() for a in exc.attempts]
    tried = [a for a in exc.attempts if a.outcome not in ("not_configured", "circuit_open")]
    no_match = next((a for a in exc.attempts if a.outcome == FailureReason.NO_MATCH), None)
    if not tried:
        message = (
            "No provider is available: every provider is not configured or cooling down. "
            "Set DEEPSEEK_API_KEY, OPENAI_API_KEY or OLLAMA_BASE_URL, or pull a local model."
        )
    elif no_match is not None and len(tried) == 1:
        message = f"DataShark cannot do this offline: {no_match.detail}."
    else:
        message = "No provider produced a script that compiles and runs: " + "; ".join(
            f"{a.provider}: {a.outcome}" for a in tried
        )
    return GenerateError(502, message, "provider_error", "all_providers_failed", attempts=attempts)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 2)
