"""GET /health (503 while the model loads, then 200; never behind auth) and GET /metrics
(Prometheus text of the default registry)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse

from datashark.server import metrics
from datashark.server.runtime import Runtime, get_runtime

router = APIRouter(tags=["Operations"])


@router.get("/health", summary="Readiness: 200 once the model is loaded, 503 before")
async def health(runtime: Runtime = Depends(get_runtime)) -> JSONResponse:
    body: dict[str, object] = {"status": runtime.state, "model": runtime.model_id}
    if runtime.scheduler is not None:
        body["running"] = runtime.scheduler.running
        body["waiting"] = runtime.scheduler.waiting
    if runtime.error:
        body["error"] = runtime.error
    ready = runtime.state == "ready"
    headers = {} if ready else {"Retry-After": str(runtime.settings.retry_after_s)}
    return JSONResponse(body, status_code=200 if ready else 503, headers=headers)


@router.get("/metrics", summary="Prometheus metrics")
async def prometheus_metrics() -> Response:
    payload, content_type = metrics.render()
    return Response(payload, media_type=content_type)
