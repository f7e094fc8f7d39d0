"""Provider configuration from the environment and the optional TOML file."""

from __future__ import annotations

import os

import pytest

from datashark.gateway.adapters.factory import build_provider
from datashark.gateway.settings import GatewaySettings, SettingsError, provider_specs

PREFIXES = ("DATASHARK_", "DEEPSEEK_", "OPENAI_", "OLLAMA_", "BETA_MODEL_")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(PREFIXES) and name != "DATASHARK_HOME" or name == "REDIS_URL":
            monkeypatch.delenv(name)


def providers(settings: GatewaySettings):
    return {s.name: build_provider(s, None, None, 0.3, None, 64) for s in provider_specs(settings)}


def test_default_order_and_missing_keys_are_not_configured(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DATASHARK_LOCAL_MODEL", str(tmp_path / "missing.gguf"))
    specs = provider_specs(GatewaySettings(_env_file=None))
    assert [s.name for s in specs] == ["local", "deepseek", "openai", "ollama", "templates"]
    built = providers(GatewaySettings(_env_file=None))
    for name in ("deepseek", "openai"):
        assert not built[name].configured and built[name].why_not_configured == "no API key"
    assert built["ollama"].why_not_configured == "no base URL"
    assert not built["local"].configured


def test_keys_urls_and_models_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("DATASHARK_PROVIDERS", "openai, deepseek ,ollama")
    monkeypatch.setenv("DEEPSEEK_API_KEY", "ds-key")
    monkeypatch.setenv("DEEPSEEK_MODEL", "deepseek-coder")
    monkeypatch.setenv("OPENAI_API_KEY", "oa-key")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OLLAMA_BASE_URL", "http://127.0.0.1:11434/")
    monkeypatch.setenv("OLLAMA_MODEL", "qwen2.5-coder:1.5b")
    specs = {s.name: s for s in provider_specs(GatewaySettings(_env_file=None))}
    assert list(specs) == ["openai", "deepseek", "ollama"]
    assert specs["deepseek"].api_key == "ds-key" and specs["deepseek"].model == "deepseek-coder"
    assert specs["deepseek"].base_url.startswith("https://")
    assert specs["openai"].base_url == "http://127.0.0.1:9/v1"
    assert specs["ollama"].base_url == "http://127.0.0.1:11434/v1"
    assert specs["ollama"].model == "qwen2.5-coder:1.5b"
    assert all(p.configured for p in providers(GatewaySettings(_env_file=None)).values())


def test_beta_variables_keep_working(tmp_path, monkeypatch) -> None:
    model = tmp_path / "beta.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setenv("BETA_MODEL_PATH", str(model))
    local = providers(GatewaySettings(_env_file=None))["local"]
    assert local.kind == "local" and local.configured and local.model == "beta"
    monkeypatch.setenv("BETA_MODEL_BASE_URL", "http://127.0.0.1:8001/v1")
    spec = provider_specs(GatewaySettings(_env_file=None))[0]
    assert (spec.name, spec.kind, spec.base_url) == (
        "local",
        "openai_compatible",
        "http://127.0.0.1:8001/v1",
    )


def test_toml_file_defines_order_providers_and_policy(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LAB_KEY", "lab-secret")
    monkeypatch.setenv("DEEPSEEK_API_KEY", "from-env")
    path = tmp_path / "providers.toml"
    path.write_text(
        'order = ["lab", "deepseek", "templates"]\n'
        "[providers.lab]\n"
        'kind = "openai_compatible"\nbase_url = "http://10.0.0.5:8000/v1"\nmodel = "coder"\n'
        'api_key_env = "LAB_KEY"\ntotal_timeout_s = 30\nmax_retries = 0\n'
        "[providers.deepseek]\n"
        'model = "deepseek-reasoner"\nbase_url = "http://127.0.0.1:7/v1"\n'
    )
    monkeypatch.setenv("DATASHARK_PROVIDERS_FILE", str(path))
    specs = {s.name: s for s in provider_specs(GatewaySettings(_env_file=None))}
    assert list(specs) == ["lab", "deepseek", "templates"]
    lab = specs["lab"]
    assert (lab.base_url, lab.model, lab.api_key) == (
        "http://10.0.0.5:8000/v1",
        "coder",
        "lab-secret",
    )
    assert lab.policy.total_timeout_s == 30 and lab.policy.max_retries == 0
    assert (
        specs["deepseek"].model == "deepseek-reasoner" and specs["deepseek"].api_key == "from-env"
    )
    assert specs["deepseek"].base_url == "http://127.0.0.1:7/v1"
    monkeypatch.setenv("DATASHARK_PROVIDERS", "deepseek,lab")  # the environment wins
    assert [s.name for s in provider_specs(GatewaySettings(_env_file=None))] == ["deepseek", "lab"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('order = ["mystery"]\n', "unknown provider 'mystery'"),
        ('[providers.lab]\nkind = "openai_compatible"\ncolour = "red"\n', "unknown keys"),
        ("order = [\n", "DATASHARK_PROVIDERS_FILE"),
        ('[providers.lab]\nkind = "openai_compatible"\ntotal_timeout_s = -1\n', "must be > 0"),
    ],
)
def test_bad_configuration_is_named(tmp_path, monkeypatch, content, message) -> None:
    path = tmp_path / "p.toml"
    path.write_text(content)
    monkeypatch.setenv("DATASHARK_PROVIDERS_FILE", str(path))
    if "providers.lab" in content:
        monkeypatch.setenv("DATASHARK_PROVIDERS", "lab")
    with pytest.raises(SettingsError, match=message):
        provider_specs(GatewaySettings(_env_file=None))


def test_duplicate_names_are_rejected(monkeypatch) -> None:
    monkeypatch.setenv("DATASHARK_PROVIDERS", "templates,templates")
    with pytest.raises(SettingsError, match="twice"):
        provider_specs(GatewaySettings(_env_file=None))
