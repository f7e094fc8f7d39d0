"""The `templates` provider: the closest hand-written example, no model and no network.

It is the last link of the default chain, so DataShark answers common requests offline. The
Roblox layer hands in `search` (task and details -> examples with a score in [0, 1], best first) and
`render` (example, task, details -> answer text in the shape a model would write, and its
reference id);
the gateway itself knows nothing of Roblox. Below `threshold` it fails with `no_match` and says
plainly that it cannot do this offline, instead of returning something unrelated.

Not handled: adapting an example beyond what `render` does (no parameter inference here).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from datashark.gateway.provider import ChatRequest, Completion, FailureReason, ProviderError

SearchFn = Callable[[str, Sequence[str]], Sequence[tuple[Any, float]]]
RenderFn = Callable[[Any, str, Sequence[str]], tuple[str, str]]


class TemplatesProvider:
    kind = "templates"

    def __init__(self, search: SearchFn | None, render: RenderFn | None, threshold: float) -> None:
        self.name = "templates"
        self.model = "templates"
        self._search = search
        self._render = render
        self.threshold = threshold

    @property
    def configured(self) -> bool:
        return self._search is not None and self._render is not None

    @property
    def why_not_configured(self) -> str:
        return "" if self.configured else "no template library"

    async def complete(self, request: ChatRequest) -> Completion:
        if self._search is None or self._render is None:
            raise ProviderError(FailureReason.ERROR, "no template library")
        try:
            matches = list(self._search(request.task, request.details))
        except Exception as exc:
            raise ProviderError(FailureReason.ERROR, f"template search failed: {exc}") from exc
        if not matches or matches[0][1] < self.threshold:
            best = (
                f" (closest: {_title(matches[0][0])}, score {matches[0][1]:.2f})" if matches else ""
            )
            raise ProviderError(
                FailureReason.NO_MATCH,
                "the offline templates have nothing close to this request"
                f"{best}; it needs a model provider",
            )
        template, _score = matches[0]
        text, reference = self._render(template, request.task, request.details)
        return Completion(text, self.name, self.model, "stop", reference)

    async def stream(self, request: ChatRequest) -> AsyncIterator[str]:
        completion = await self.complete(request)
        yield completion.text

    async def aclose(self) -> None:
        return None


def _title(template: Any) -> str:
    return str(getattr(template, "title", getattr(template, "id", template)))
