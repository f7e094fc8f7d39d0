"""Settings of `datashark serve`, read by pydantic-settings.

Precedence: command-line flags (passed as keyword arguments) > environment variables
(`DATASHARK_*`) > a `.env` file in the working directory > the defaults below. Every field has a
description and is listed in `.env.example`. Settings of other layers (the gateway's) share the
`DATASHARK_` prefix and the `.env` file; unknown keys are ignored here.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from datashark.registry import DEFAULT_MODEL


class ServerSettings(BaseSettings):
    """Everything `datashark serve` can be told; frozen once built."""

    model_config = SettingsConfigDict(
        env_prefix="DATASHARK_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        protected_namespaces=(),
    )

    model: str = Field(
        DEFAULT_MODEL,
        description="Model to serve: a registry name (smollm2, gemma3-270m) or a path to a GGUF file.",
    )
    served_model_name: str | None = Field(
        None,
        description="Model id shown in /v1/models and accepted in requests (default: the name given in `model`, or the file's model name for a path).",
    )
    pull: bool = Field(
        True, description="Pull a registry model into the cache on first run when it is missing."
    )
    host: str = Field("127.0.0.1", description="Interface to bind.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port to bind.")
    threads: int | None = Field(
        None, ge=1, description="Engine compute threads (default: all CPU cores)."
    )
    api_key: SecretStr | None = Field(
        None,
        description="When set, /v1/* and /api/* require `Authorization: Bearer <key>`.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed by CORS, comma-separated (none by default; `*` allows any).",
    )
    max_running: int = Field(
        8, ge=1, le=256, description="Most sequences decoded together in one batch."
    )
    max_waiting: int = Field(
        64,
        ge=0,
        description="Most requests waiting for a batch slot; past it requests get 429.",
    )
    prefill_chunk: int = Field(
        256,
        ge=1,
        description="Prompt tokens prefilled per scheduler step (keeps running streams moving).",
    )
    default_max_tokens: int = Field(
        512,
        ge=1,
        description="Completion length when a chat request gives no max_tokens (capped by the context).",
    )
    max_body_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, description="Largest request body accepted; larger gets 413."
    )
    retry_after_s: int = Field(
        1, ge=1, description="Retry-After seconds sent with 429 (queue full) and 503 (loading)."
    )
    log_level: str = Field("info", description="Log level: debug, info, warning or error.")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_key_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value
