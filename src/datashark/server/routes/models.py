"""GET /v1/models and GET /v1/models/{model}: the one model this server serves."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from datashark.server import errors
from datashark.server.protocol import ERROR_RESPONSES, ModelCard, ModelList
from datashark.server.runtime import Runtime, get_runtime

router = APIRouter(prefix="/v1", tags=["OpenAI"])


def _card(runtime: Runtime) -> dict[str, Any]:
    return {
        "id": runtime.model_id,
        "object": "model",
        "created": runtime.created,
        "owned_by": "datashark",
    }


@router.get("/models", response_model=ModelList, responses=ERROR_RESPONSES, summary="List models")
async def list_models(runtime: Runtime = Depends(get_runtime)) -> Any:
    runtime.require_ready()
    return {"object": "list", "data": [_card(runtime)]}


@router.get(
    "/models/{model}", response_model=ModelCard, responses=ERROR_RESPONSES, summary="Get a model"
)
async def retrieve_model(model: str, runtime: Runtime = Depends(get_runtime)) -> Any:
    runtime.require_ready()
    if model not in runtime.aliases:
        raise errors.model_not_found(model)
    return _card(runtime)
