"""Gateway settings: the provider chain and its policy, from the environment and an optional TOML file.

Environment (see the "# gateway" section of .env.example): `DATASHARK_PROVIDERS` (order),
`DEEPSEEK_*`, `OPENAI_*`, `OLLAMA_*`, `OPENAI_COMPATIBLE_*`, the beta's `BETA_MODEL_PATH` /
`BETA_MODEL_BASE_URL`, local model (`DATASHARK_LOCAL_*`), policy numbers (`DATASHARK_GATEWAY_*`), cache (`REDIS_URL`, `DATASHARK_CACHE_*`).
`DATASHARK_PROVIDERS_FILE` names a TOML file that can set `order` and per-provider tables:

    order = ["deepseek", "lab", "templates"]
    [providers.lab]                 # a new name needs kind = "openai_compatible"
    kind = "openai_compatible"
    base_url = "http://10.0.0.5:8000/v1"
    model = "qwen2.5-coder"
    api_key_env = "LAB_KEY"         # the key is read from this variable, never from the file
    total_timeout_s = 30

Explicit environment variables win over the file. `provider_specs` turns all of it into one
frozen `ProviderSpec` per provider in chain order.

Not handled: reloading while serving (settings are read when the app starts).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from datashark.gateway.policy import Policy

KINDS = ("local", "deepseek", "openai", "ollama", "openai_compatible", "templates")
DEFAULT_ORDER = "local,deepseek,openai,ollama,templates"

# Built-in hosted providers: default base URL, default model, whether a key is required.
HOSTED_DEFAULTS: dict[str, tuple[str, str, bool]] = {
    "deepseek": ("https://api.deepseek.com/v1", "deepseek-chat", True),
    "openai": ("https://api.openai.com/v1", "gpt-4o-mini", True),
    "ollama": ("", "qwen2.5-coder", False),  # configured by OLLAMA_BASE_URL (e.g. :11434)
    "openai_compatible": ("", "", False),
}


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


class GatewaySettings(BaseSettings):
    """Everything the gateway reads from the environment (unprefixed names, as documented)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )

    providers: str | None = Field(
        None,
        validation_alias=_env("DATASHARK_PROVIDERS"),
        description="Comma-separated provider order; default local,deepseek,openai,ollama,templates.",
    )
    providers_file: str | None = Field(
        None,
        validation_alias=_env("DATASHARK_PROVIDERS_FILE"),
        description="Optional TOML file with `order` and `[providers.NAME]` tables.",
    )
    deepseek_api_key: str | None = Field(
        None,
        validation_alias=_env("DEEPSEEK_API_KEY"),
        description="DeepSeek API key; without it DeepSeek is not_configured.",
    )
    deepseek_base_url: str | None = Field(
        None,
        validation_alias=_env("DEEPSEEK_BASE_URL"),
        description="DeepSeek base URL (ends before /chat/completions).",
    )
    deepseek_model: str | None = Field(
        None, validation_alias=_env("DEEPSEEK_MODEL"), description="DeepSeek model name."
    )
    openai_api_key: str | None = Field(
        None,
        validation_alias=_env("OPENAI_API_KEY"),
        description="OpenAI API key; without it OpenAI is not_configured.",
    )
    openai_base_url: str | None = Field(
        None,
        validation_alias=_env("OPENAI_BASE_URL"),
        description="OpenAI base URL (ends before /chat/completions).",
    )
    openai_model: str | None = Field(
        None, validation_alias=_env("OPENAI_MODEL"), description="OpenAI model name."
    )
    ollama_base_url: str | None = Field(
        None,
        validation_alias=_env("OLLAMA_BASE_URL"),
        description="Ollama server, e.g. http://localhost:11434; without it Ollama is not_configured.",
    )
    ollama_model: str | None = Field(
        None, validation_alias=_env("OLLAMA_MODEL"), description="Ollama model name."
    )
    compatible_base_url: str | None = Field(
        None,
        validation_alias=_env("OPENAI_COMPATIBLE_BASE_URL"),
        description="Any OpenAI-compatible server's base URL (vLLM, llama.cpp server, ...).",
    )
    compatible_model: str | None = Field(
        None,
        validation_alias=_env("OPENAI_COMPATIBLE_MODEL"),
        description="Model name sent to the OpenAI-compatible server.",
    )
    compatible_api_key: str | None = Field(
        None,
        validation_alias=_env("OPENAI_COMPATIBLE_API_KEY"),
        description="Bearer key for the OpenAI-compatible server, if it needs one.",
    )
    beta_model_path: str | None = Field(
        None,
        validation_alias=_env("BETA_MODEL_PATH"),
        description="A local GGUF file for the `local` provider (the beta's setting).",
    )
    beta_model_base_url: str | None = Field(
        None,
        validation_alias=_env("BETA_MODEL_BASE_URL"),
        description="A remote DataShark (OpenAI protocol) used as the `local` provider (the beta's setting).",
    )
    local_model: str = Field(
        "smollm2",
        validation_alias=_env("DATASHARK_LOCAL_MODEL"),
        description="Model name or path for the `local` provider when BETA_MODEL_PATH is unset.",
    )
    local_threads: int | None = Field(
        None,
        validation_alias=_env("DATASHARK_LOCAL_THREADS"),
        description="Engine threads for the local provider (default: all cores).",
    )
    local_max_tokens: int = Field(
        256,
        validation_alias=_env("DATASHARK_LOCAL_MAX_TOKENS"),
        description="Most tokens the local model writes per answer.",
    )
    local_timeout_s: float = Field(
        60.0,
        validation_alias=_env("DATASHARK_LOCAL_TIMEOUT_S"),
        description="Total time allowed for one local generation (model load included).",
    )
    connect_timeout_s: float = Field(
        2.0,
        validation_alias=_env("DATASHARK_GATEWAY_CONNECT_TIMEOUT_S"),
        description="HTTP connect timeout per provider call.",
    )
    read_timeout_s: float = Field(
        60.0,
        validation_alias=_env("DATASHARK_GATEWAY_READ_TIMEOUT_S"),
        description="HTTP read timeout (gap between bytes).",
    )
    total_timeout_s: float = Field(
        90.0,
        validation_alias=_env("DATASHARK_GATEWAY_TOTAL_TIMEOUT_S"),
        description="Total time for one provider, retries included.",
    )
    max_retries: int = Field(
        2,
        validation_alias=_env("DATASHARK_GATEWAY_MAX_RETRIES"),
        description="Retries on connection errors, 429 and 5xx before falling back.",
    )
    backoff_base_s: float = Field(
        0.01,
        validation_alias=_env("DATASHARK_GATEWAY_BACKOFF_BASE_S"),
        description="First backoff cap in seconds (doubles per retry, full jitter).",
    )
    backoff_max_s: float = Field(
        2.0,
        validation_alias=_env("DATASHARK_GATEWAY_BACKOFF_MAX_S"),
        description="Largest backoff cap in seconds.",
    )
    retry_after_max_s: float = Field(
        10.0,
        validation_alias=_env("DATASHARK_GATEWAY_RETRY_AFTER_MAX_S"),
        description="Longest Retry-After honoured; longer ones fall back at once.",
    )
    breaker_threshold: int = Field(
        3,
        validation_alias=_env("DATASHARK_GATEWAY_BREAKER_THRESHOLD"),
        description="Consecutive failures that open a provider's circuit.",
    )
    breaker_cooldown_s: float = Field(
        30.0,
        validation_alias=_env("DATASHARK_GATEWAY_BREAKER_COOLDOWN_S"),
        description="Seconds an open circuit skips its provider before one probe.",
    )
    templates_threshold: float | None = Field(
        None,
        validation_alias=_env("DATASHARK_GATEWAY_TEMPLATES_THRESHOLD"),
        description="Lowest template score the templates provider answers with "
        "(default: the library's calibrated threshold).",
    )
    redis_url: str | None = Field(
        None,
        validation_alias=_env("REDIS_URL"),
        description="Redis URL for the shared cache; unset = SQLite file.",
    )
    cache_path: str | None = Field(
        None,
        validation_alias=_env("DATASHARK_CACHE_PATH"),
        description="SQLite cache file (default ~/.cache/datashark/gateway-cache.sqlite3).",
    )
    cache_ttl_s: float = Field(
        3600.0,
        validation_alias=_env("DATASHARK_CACHE_TTL_S"),
        description="Seconds a cached answer lives; 0 disables the cache.",
    )
    clarify_use_local: bool = Field(
        False,
        validation_alias=_env("DATASHARK_CLARIFY_USE_LOCAL"),
        description="Ask the local model for clarifying questions (small models rarely write the JSON).",
    )

    def policy(self) -> Policy:
        return Policy(
            connect_timeout_s=self.connect_timeout_s,
            read_timeout_s=self.read_timeout_s,
            total_timeout_s=self.total_timeout_s,
            max_retries=self.max_retries,
            backoff_base_s=self.backoff_base_s,
            backoff_max_s=self.backoff_max_s,
            retry_after_max_s=self.retry_after_max_s,
        )

    def resolved_cache_path(self) -> Path:
        if self.cache_path:
            return Path(self.cache_path).expanduser()
        return Path.home() / ".cache" / "datashark" / "gateway-cache.sqlite3"


@dataclass(frozen=True)
class ProviderSpec:
    """One provider of the chain, fully resolved."""

    name: str
    kind: str  # one of KINDS
    base_url: str | None = None
    model: str = ""
    api_key: str | None = None
    key_required: bool = False
    model_path: str | None = None  # local only
    policy: Policy = field(default_factory=Policy)


POLICY_KEYS = tuple(Policy.__dataclass_fields__)


class SettingsError(ValueError):
    """A provider configuration that cannot work (unknown kind, bad TOML), named precisely."""


def _read_file(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"DATASHARK_PROVIDERS_FILE {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"DATASHARK_PROVIDERS_FILE {path}: {exc}") from None


def _builtin_spec(name: str, s: GatewaySettings, policy: Policy) -> ProviderSpec:
    """A built-in provider from explicit environment values only (defaults come later)."""
    if name == "local":
        if s.beta_model_base_url:
            return ProviderSpec(
                "local", "openai_compatible", s.beta_model_base_url, s.local_model, policy=policy
            )
        local_policy = replace(policy, total_timeout_s=s.local_timeout_s, max_retries=0)
        return ProviderSpec(
            "local", "local", model=s.local_model, model_path=s.beta_model_path, policy=local_policy
        )
    if name == "templates":
        return ProviderSpec(
            "templates", "templates", model="templates", policy=replace(policy, max_retries=0)
        )
    ollama_url = s.ollama_base_url.rstrip("/") + "/v1" if s.ollama_base_url else None
    url, model, key = {
        "deepseek": (s.deepseek_base_url, s.deepseek_model, s.deepseek_api_key),
        "openai": (s.openai_base_url, s.openai_model, s.openai_api_key),
        "ollama": (ollama_url, s.ollama_model, None),
        "openai_compatible": (s.compatible_base_url, s.compatible_model, s.compatible_api_key),
    }[name]
    return ProviderSpec(
        name, "openai_compatible", url, model or "", key, HOSTED_DEFAULTS[name][2], policy=policy
    )


def _apply_table(spec: ProviderSpec, table: dict[str, Any]) -> ProviderSpec:
    """File values fill what the environment left unset; policy keys override the defaults."""
    allowed = {"kind", "base_url", "model", "api_key_env", "model_path", *POLICY_KEYS}
    unknown = set(table) - allowed
    if unknown:
        raise SettingsError(f"provider {spec.name}: unknown keys {sorted(unknown)}")
    key = spec.api_key
    if key is None and "api_key_env" in table:
        key = os.environ.get(str(table["api_key_env"])) or None
    try:
        policy = replace(spec.policy, **{k: table[k] for k in POLICY_KEYS if k in table})
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"provider {spec.name}: {exc}") from None
    return replace(
        spec,
        base_url=spec.base_url or table.get("base_url"),
        model=spec.model or str(table.get("model", "")),
        api_key=key,
        model_path=spec.model_path or table.get("model_path"),
        policy=policy,
    )


def _with_defaults(spec: ProviderSpec) -> ProviderSpec:
    if spec.name not in HOSTED_DEFAULTS or spec.kind != "openai_compatible":
        return spec
    url, model, _ = HOSTED_DEFAULTS[spec.name]
    return replace(spec, base_url=spec.base_url or url or None, model=spec.model or model)


def provider_specs(s: GatewaySettings) -> list[ProviderSpec]:
    """The chain in order. Raises SettingsError for names it cannot resolve."""
    file = _read_file(s.providers_file) if s.providers_file else {}
    tables: dict[str, Any] = file.get("providers", {})
    if not isinstance(tables, dict):
        raise SettingsError("DATASHARK_PROVIDERS_FILE: [providers] must be a table of tables")
    if s.providers:
        order = [n.strip() for n in s.providers.split(",") if n.strip()]
    elif "order" in file:
        order = [str(n) for n in file["order"]]
    else:
        order = DEFAULT_ORDER.split(",")
    if len(set(order)) != len(order):
        raise SettingsError(f"provider order names a provider twice: {order}")
    policy = s.policy()
    specs = []
    for name in order:
        table = tables.get(name, {})
        if name in KINDS:
            spec = _builtin_spec(name, s, policy)
        elif table.get("kind") == "openai_compatible":
            spec = ProviderSpec(name, "openai_compatible", policy=policy)
        else:
            raise SettingsError(
                f"unknown provider {name!r}: use one of {', '.join(KINDS)} or define "
                f'[providers.{name}] with kind = "openai_compatible" in DATASHARK_PROVIDERS_FILE'
            )
        specs.append(_with_defaults(_apply_table(spec, table) if table else spec))
    return specs
