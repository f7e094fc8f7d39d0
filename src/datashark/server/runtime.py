"""The served model and its scheduler, loaded in a background thread after the server binds.

`/health` answers 503 while `state` is "loading" (or "failed"), 200 once "ready". Routes reach
the runtime only through `get_runtime` (a FastAPI dependency), so tests can hand the app an
already-loaded model or swap the runtime with `dependency_overrides`.

Not handled: serving several models from one process, reloading a model while serving.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from fastapi import Request

from datashark.server import errors
from datashark.server.scheduler import Scheduler, SchedulerConfig
from datashark.server.settings import ServerSettings

log = logging.getLogger("datashark.server")


class Runtime:
    """Holds the model, its scheduler and the ids under which it is served."""

    def __init__(self, settings: ServerSettings, model: Any | None = None) -> None:
        self.settings = settings
        self.state = "loading"
        self.error: str | None = None
        self.model: Any | None = None
        self.scheduler: Scheduler | None = None
        self.model_id = settings.served_model_name or settings.model
        self.aliases: frozenset[str] = frozenset()
        self.created = int(time.time())
        self._given = model
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Begin serving: at once with a given model, else load it in a background thread."""
        if self._given is not None:
            self._ready(self._given)
            return
        self._thread = threading.Thread(target=self._load, name="datashark-load", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()

    def _load(self) -> None:
        from datashark.engine import Model
        from datashark.registry import resolve_model

        started = time.perf_counter()
        try:
            path = resolve_model(self.settings.model, pull=self.settings.pull)
            model = Model.load(path, threads=self.settings.threads)
        except Exception as exc:  # reported by /health and every /v1 call
            self.error = f"{type(exc).__name__}: {exc}"
            self.state = "failed"
            log.error("model load failed: %s", self.error)
            return
        self._ready(model)
        log.info(
            "model %s ready in %.1f s (%s)",
            self.model_id,
            time.perf_counter() - started,
            getattr(model, "path", ""),
        )

    def _ready(self, model: Any) -> None:
        s = self.settings
        self.model = model
        given = s.model
        path_like = Path(given).suffix == ".gguf" or "/" in given or "\\" in given
        name = str(getattr(model, "name", "") or Path(str(getattr(model, "path", "model"))).stem)
        self.model_id = s.served_model_name or (name if path_like else given)
        stem = Path(str(getattr(model, "path", ""))).stem
        self.aliases = frozenset(a for a in (self.model_id, name, given, stem) if a)
        config = SchedulerConfig(
            max_running=s.max_running, max_waiting=s.max_waiting, prefill_chunk=s.prefill_chunk
        )
        self.scheduler = Scheduler(model, config)
        self.scheduler.start()
        self.state = "ready"

    def require_ready(self) -> tuple[Any, Scheduler]:
        """The model and scheduler, or a 503 with Retry-After while loading."""
        if self.state != "ready" or self.model is None or self.scheduler is None:
            if self.state == "failed":
                raise errors.model_loading(
                    self.settings.retry_after_s, f"The model failed to load: {self.error}"
                )
            raise errors.model_loading(self.settings.retry_after_s)
        return self.model, self.scheduler

    def check_model(self, name: str) -> None:
        """404 in OpenAI's shape unless `name` is one of the served model's ids."""
        if name not in self.aliases:
            raise errors.model_not_found(name)


def get_runtime(request: Request) -> Runtime:
    """FastAPI dependency: the app's runtime."""
    return request.app.state.runtime


def get_settings(request: Request) -> ServerSettings:
    """FastAPI dependency: the app's settings."""
    return request.app.state.settings
