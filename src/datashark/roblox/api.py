"""FastAPI routes of the Roblox backend: `POST /api/generate` and `GET /api/metrics`.

`datashark.server.app.create_app` includes `router` under its auth dependency. The flow (gateway,
cache, validator, templates) is built once per app from `GatewaySettings` on first use and kept on
`app.state.roblox_flow`; handlers reach it through `get_flow`, so tests can swap it with
`app.dependency_overrides[get_flow]`. The handler parses the body itself so that bad input gets
the OpenAI-shaped 400 on any app, not FastAPI's 422.

Not handled: authentication (the server's dependency), rate limits.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from datashark.gateway.adapters.factory import build_provider
from datashark.gateway.cache import open_cache
from datashark.gateway.gateway import Gateway
from datashark.gateway.settings import GatewaySettings, SettingsError, provider_specs
from datashark.roblox.errors import GenerateError, invalid_request
from datashark.roblox.flow import FlowConfig, GenerateFlow, Retriever, render_template
from datashark.roblox.protocol import GenerateRequest
from datashark.roblox.validate import Validator

log = logging.getLogger("datashark.roblox")

router = APIRouter(tags=["roblox"])


def _template_library() -> tuple[Any, dict[str, Any], float]:
    """(search function, templates by id, the library's confidence threshold), or
    (None, {}, 1.0) when the library is unavailable."""
    try:
        from datashark.roblox.templates import load_templates
        from datashark.roblox.templates.search import CONFIDENCE_THRESHOLD, search
    except ImportError as exc:
        log.warning("template library unavailable: %s", exc)
        return None, {}, 1.0
    return search, {t.id: t for t in load_templates()}, CONFIDENCE_THRESHOLD


def build_flow(settings: GatewaySettings) -> GenerateFlow:
    """The whole backend from settings: providers in order, gateway, cache, validator."""
    search, templates, library_threshold = _template_library()
    threshold = settings.templates_threshold
    threshold = library_threshold if threshold is None else threshold
    specs = provider_specs(settings)
    cache = (
        open_cache(settings.redis_url, settings.resolved_cache_path())
        if settings.cache_ttl_s > 0
        else None
    )
    config = FlowConfig(
        cache_ttl_s=settings.cache_ttl_s,
        clarify_use_local=settings.clarify_use_local,
        check_threshold=threshold,
    )
    retrieve = Retriever(search) if search is not None else None
    providers = [
        build_provider(
            s,
            retrieve,
            render_template,
            threshold,
            settings.local_threads,
            settings.local_max_tokens,
        )
        for s in specs
    ]
    gateway = Gateway(
        providers,
        {s.name: s.policy for s in specs},
        settings.breaker_threshold,
        settings.breaker_cooldown_s,
    )
    return GenerateFlow(gateway, cache, Validator(), retrieve, templates, config)


async def get_flow(request: Request) -> GenerateFlow:
    """The app's flow, built on first use. Async (on the event loop, no await inside) so that
    concurrent first requests cannot build two."""
    flow = getattr(request.app.state, "roblox_flow", None)
    if flow is None:
        try:
            flow = build_flow(GatewaySettings())
        except SettingsError as exc:
            raise GenerateError(
                500, f"gateway configuration: {exc}", "server_error", "bad_config"
            ) from None
        request.app.state.roblox_flow = flow
    return flow


def _validation_message(exc: ValidationError) -> tuple[str, str | None]:
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first.get("loc", ()) if p != "__root__")
    message = first.get("msg", "invalid request")
    return (f"{loc}: {message}" if loc else message), (loc or None)


@router.post(
    "/api/generate",
    summary="Generate validated Roblox Luau scripts, or ask clarifying questions",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": GenerateRequest.model_json_schema()}},
        }
    },
)
async def generate(request: Request) -> JSONResponse:
    raw = await request.body()
    try:
        body = GenerateRequest.model_validate_json(raw)
    except ValidationError as exc:
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return invalid_request("the body is not valid JSON", None, "invalid_json").response()
        message, param = _validation_message(exc)
        return invalid_request(message, param).response()
    try:
        flow = await get_flow(request)
        result = await flow.generate(body)
    except GenerateError as exc:
        return exc.response()
    except Exception:  # a bug must not take the server down; the client gets the usual shape
        log.exception("/api/generate failed")
        error = GenerateError(
            500, "internal error while generating", "server_error", "internal_error"
        )
        return error.response()
    return JSONResponse(result)


@router.get("/api/metrics", summary="Per-provider gateway metrics (JSON)")
async def metrics(flow: GenerateFlow = Depends(get_flow)) -> dict[str, Any]:
    gateway = flow.gateway
    providers = {}
    for status in gateway.status():
        name = str(status["name"])
        providers[name] = status | gateway.metrics.provider_snapshot(name)
    cache_kind = flow.cache.kind if flow.cache is not None else "off"
    return {
        "order": gateway.order,
        "providers": providers,
        "cache": {"kind": cache_kind} | gateway.metrics.cache_snapshot(),
    }
