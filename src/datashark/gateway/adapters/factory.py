"""Build the provider chain from resolved `ProviderSpec`s.

Hosted kinds (deepseek, openai, ollama, openai_compatible, and `local` pointed at a remote
DataShark by BETA_MODEL_BASE_URL) all become `OpenAICompatibleProvider`s; `local` becomes the
in-process engine adapter; `templates` gets the Roblox layer's search and render functions.
"""

from __future__ import annotations

from datashark.gateway.adapters.local import LocalProvider
from datashark.gateway.adapters.openai_compatible import OpenAICompatibleProvider
from datashark.gateway.adapters.templates import RenderFn, SearchFn, TemplatesProvider
from datashark.gateway.provider import Provider
from datashark.gateway.settings import ProviderSpec


def build_provider(
    spec: ProviderSpec,
    search: SearchFn | None,
    render: RenderFn | None,
    templates_threshold: float,
    local_threads: int | None,
    local_max_tokens: int,
) -> Provider:
    if spec.kind == "local":
        return LocalProvider(spec.model_path, spec.model, local_threads, local_max_tokens)
    if spec.kind == "templates":
        return TemplatesProvider(search, render, templates_threshold)
    if spec.kind == "openai_compatible":
        return OpenAICompatibleProvider(
            spec.name, spec.base_url, spec.model, spec.api_key, spec.policy, spec.key_required
        )
    raise ValueError(f"provider {spec.name}: unknown kind {spec.kind!r}")
