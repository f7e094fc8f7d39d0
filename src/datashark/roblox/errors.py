"""Errors of `/api/generate` and `/api/metrics`, in the OpenAI shape the server uses everywhere:
`{"error": {"message", "type", "param", "code"}}`, plus `attempts` when providers were tried.

Not handled: the server-wide handlers (validation of other routes, 401s): `datashark.server.errors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi.responses import JSONResponse


class GenerateError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        type: str,
        code: str | None = None,
        param: str | None = None,
        attempts: Sequence[dict[str, Any]] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.attempts = list(attempts)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }
        if self.attempts:
            body["attempts"] = self.attempts
        return body

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status)


def invalid_request(
    message: str, param: str | None = None, code: str | None = None
) -> GenerateError:
    return GenerateError(400, message, "invalid_request_error", code or "invalid_request", param)
