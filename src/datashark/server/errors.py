"""Errors in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.

Routes raise `APIError`; `install_error_handlers` makes FastAPI's own errors (validation,
HTTPException, anything unexpected) answer in the same shape, so no client ever sees FastAPI's
`{"detail": ...}` or a bare 500 page. Statuses follow OpenAI: 400 invalid request, 401 bad key,
404 unknown model or route, 413 body too large, 429 saturated, 503 loading.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("datashark.server")

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class APIError(Exception):
    """An error a route answers with; rendered in OpenAI's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type or _TYPE_BY_STATUS.get(status, "server_error")
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def error_body(
    message: str, type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def invalid_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)


def model_not_found(name: str) -> APIError:
    return APIError(
        404,
        f"The model `{name}` does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )


def context_length_exceeded(context: int, prompt: int, completion: int) -> APIError:
    return APIError(
        400,
        f"This model's maximum context length is {context} tokens. However, you requested "
        f"{prompt + completion} tokens ({prompt} in the prompt, {completion} for the completion). "
        "Please reduce the prompt or the completion length.",
        param="messages",
        code="context_length_exceeded",
    )


def queue_full(retry_after_s: int) -> APIError:
    return APIError(
        429,
        "The server is at capacity: too many requests are waiting. Retry shortly.",
        code="queue_full",
        headers={"Retry-After": str(retry_after_s)},
    )


def model_loading(retry_after_s: int, detail: str = "The model is still loading.") -> APIError:
    return APIError(
        503,
        detail,
        type="server_error",
        code="model_not_ready",
        headers={"Retry-After": str(retry_after_s)},
    )


def _loc_to_param(loc: Sequence[Any]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


def _validation_message(errors: Sequence[Mapping[str, Any]]) -> tuple[str, str | None]:
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        detail = (first.get("ctx") or {}).get("error", "invalid JSON")
        return (
            f"We could not parse the JSON body of your request ({detail}). "
            "Send a JSON object with Content-Type: application/json.",
            None,
        )
    parts = []
    for err in errors[:5]:
        where = _loc_to_param(err.get("loc", ())) or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid value')}")
    return "Invalid request: " + "; ".join(parts), _loc_to_param(first.get("loc", ()))


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, APIError)
    return exc.response()


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    message, param = _validation_message(list(exc.errors()))
    return JSONResponse(error_body(message, "invalid_request_error", param), status_code=400)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    message = str(exc.detail) if exc.detail else "HTTP error"
    if status == 404:
        message = "Not found: no such route."
    code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(status)
    return JSONResponse(
        error_body(message, _TYPE_BY_STATUS.get(status, "server_error"), None, code),
        status_code=status,
        headers=dict(exc.headers or {}),
    )


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(
        error_body("The server had an error processing your request.", "server_error"),
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route every error FastAPI or our code raises to an OpenAI-shaped JSON answer."""
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
