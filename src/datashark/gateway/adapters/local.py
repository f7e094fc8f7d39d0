"""The `local` provider: DataShark's own engine, in this process, on a worker thread.

The model is `BETA_MODEL_PATH` when set (a GGUF file), else `LOCAL_MODEL` (a name or path resolved
by `datashark.registry.resolve_model`, default `smollm2`, never pulled here: a missing file makes
the provider `not_configured`). It is loaded on first use. Generation runs on one worker thread
(one request at a time: the engine uses every core for one sequence), checks a cancel flag between
tokens so a gateway timeout stops it, and renders the prompt with the model's own chat template.

Not handled: batching several gateway requests into one forward pass (the OpenAI server's
scheduler does that for `/v1`); when `BETA_MODEL_BASE_URL` is set, the factory builds an
OpenAI-compatible adapter named `local` instead of this class.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from datashark.gateway.provider import ChatRequest, Completion, FailureReason, ProviderError


def resolve_local_model(model_path: str | None, model_name: str) -> tuple[Path | None, str]:
    """(path, '') for a usable model file, else (None, why not)."""
    if model_path:
        path = Path(model_path).expanduser()
        return (path, "") if path.is_file() else (None, f"BETA_MODEL_PATH {path} is not a file")
    try:
        from datashark.registry import resolve_model
    except ImportError as exc:
        return None, f"model registry unavailable: {exc}"
    try:
        path = Path(resolve_model(model_name, pull=False))
    except Exception as exc:  # registry raises its own errors for unknown / missing models
        return None, f"model {model_name!r} not in the cache ({exc}); run `datashark models pull`"
    return (path, "") if path.is_file() else (None, f"model file {path} is missing")


class LocalProvider:
    kind = "local"

    def __init__(
        self, model_path: str | None, model_name: str, threads: int | None, max_tokens: int
    ) -> None:
        self.name = "local"
        self._path, self._why = resolve_local_model(model_path, model_name)
        self.model = self._path.stem if model_path and self._path else model_name
        self._threads = threads
        self._max_tokens = max_tokens  # small local models only degrade past a few hundred tokens
        self._model: Any = None
        self._load_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="datashark-local")

    @property
    def configured(self) -> bool:
        return self._path is not None

    @property
    def why_not_configured(self) -> str:
        return self._why

    def _loaded(self) -> Any:
        with self._load_lock:
            if self._model is None:
                from datashark.engine import Model

                self._model = Model.load(self._path, threads=self._threads)
            return self._model

    def _generate(
        self, request: ChatRequest, cancel: threading.Event, emit: Callable[[str], None] | None
    ) -> tuple[str, str | None]:
        """Runs on the worker thread: (text, finish_reason)."""
        from datashark.engine import Generation, SamplingParams

        model = self._loaded()
        prompt = model.render_chat([m.as_dict() for m in request.messages])
        ids = model.tokenizer.encode(prompt)
        params = SamplingParams(
            max_tokens=min(request.max_tokens, self._max_tokens),
            temperature=request.temperature,
            top_p=0.95,
            repetition_penalty=1.1,
            stop=request.stop,
        )
        gen = Generation(model.tokenizer, params, prompt_len=len(ids))
        finish: str | None = None
        for token in model.generate(ids, params):
            if cancel.is_set():
                finish = "cancelled"
                break
            delta, finish = gen.push(token)
            if delta and emit is not None:
                emit(delta)
            if finish is not None:
                break
        return gen.text, finish

    def _ensure_configured(self) -> None:
        if self._path is None:
            raise ProviderError(FailureReason.ERROR, f"local model not configured: {self._why}")

    async def complete(self, request: ChatRequest) -> Completion:
        self._ensure_configured()
        cancel = threading.Event()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._generate, request, cancel, None)
        try:
            text, finish = await asyncio.shield(future)
        except asyncio.CancelledError:
            cancel.set()
            raise
        except ProviderError:
            raise
        except Exception as exc:
            raise ProviderError(FailureReason.ERROR, f"local engine: {exc}") from exc
        return Completion(text, self.name, self.model, finish)

    async def stream(self, request: ChatRequest) -> AsyncIterator[str]:
        self._ensure_configured()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        cancel = threading.Event()

        def emit(delta: str) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, delta)

        future = loop.run_in_executor(self._executor, self._generate, request, cancel, emit)
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(queue.put_nowait, None))
        try:
            while (delta := await queue.get()) is not None:
                yield delta
            try:
                future.result()
            except Exception as exc:
                raise ProviderError(FailureReason.ERROR, f"local engine: {exc}") from exc
        finally:
            cancel.set()

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
