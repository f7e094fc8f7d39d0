"""Bearer-key auth for /v1/* and /api/*: when `api_key` is set, requests need
`Authorization: Bearer <key>`; the comparison is constant-time (`hmac.compare_digest`). /health,
/metrics and /docs stay open. Failures answer 401 in OpenAI's shape.

Not handled: several keys, per-key quotas, key rotation without restart.
"""

from __future__ import annotations

import hmac

from fastapi import Depends, Request

from datashark.server.errors import APIError
from datashark.server.settings import ServerSettings


def _settings(request: Request) -> ServerSettings:
    return request.app.state.settings


def require_api_key(request: Request, settings: ServerSettings = Depends(_settings)) -> None:
    """FastAPI dependency: pass when no key is configured or the bearer token matches it."""
    if settings.api_key is None:
        return
    expected = settings.api_key.get_secret_value().encode()
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    given = token.strip().encode() if scheme.lower() == "bearer" else b""
    # compare_digest runs in time independent of where the strings differ.
    if not hmac.compare_digest(given, expected):
        message = (
            "Incorrect API key provided."
            if given
            else "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'."
        )
        raise APIError(
            401,
            message,
            code="invalid_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )
