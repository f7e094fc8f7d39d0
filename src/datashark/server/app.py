"""`create_app(settings)`: the FastAPI application of `datashark serve`.

Mounts the OpenAI-compatible routes (/v1/chat/completions, /v1/completions, /v1/models), /health,
/metrics and, when `datashark.roblox.api` is importable, the gateway's router (/api/generate,
/api/metrics). The auth dependency covers /v1/* and /api/*. The model loads in a background
thread started by the lifespan, so the port is bound at once and /health says 503 until ready.

Middleware, outermost first: request log (one JSON line, metrics), CORS (origins from settings;
none by default), body limit (413).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from datashark.server.auth import require_api_key
from datashark.server.body_limit import BodyLimitMiddleware
from datashark.server.errors import install_error_handlers
from datashark.server.request_log import RequestLogMiddleware
from datashark.server.routes import chat, completions, health, models
from datashark.server.runtime import Runtime
from datashark.server.settings import ServerSettings

log = logging.getLogger("datashark.server")

ROBLOX_ROUTER_MODULE = "datashark.roblox.api"


def _roblox_router() -> Any | None:
    """The gateway's APIRouter, or None while that module does not exist yet."""
    try:
        module = importlib.import_module(ROBLOX_ROUTER_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name and ROBLOX_ROUTER_MODULE.startswith(exc.name):
            log.info("%s is not installed; /api routes are off", ROBLOX_ROUTER_MODULE)
            return None
        raise
    return getattr(module, "router", None)


def create_app(settings: ServerSettings | None = None, model: Any | None = None) -> FastAPI:
    """Build the app. `model`: an already loaded engine model to serve (tests, embedding);
    without it the model named in `settings.model` is loaded in the background."""
    settings = settings or ServerSettings()
    runtime = Runtime(settings, model=model)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        try:
            yield
        finally:
            runtime.stop()

    app = FastAPI(
        title="DataShark",
        summary="OpenAI-compatible API over DataShark's local engine, plus the Roblox /api.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.runtime = runtime
    install_error_handlers(app)

    auth = [Depends(require_api_key)]
    app.include_router(chat.router, dependencies=auth)
    app.include_router(completions.router, dependencies=auth)
    app.include_router(models.router, dependencies=auth)
    app.include_router(health.router)
    roblox = _roblox_router()
    if roblox is not None:
        app.include_router(roblox, dependencies=auth)

    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["x-request-id", "Retry-After"],
        )
    app.add_middleware(RequestLogMiddleware)
    return app
