"""Settings precedence (flags > environment > .env > defaults), and `.env.example` listing every
setting with a description."""

from __future__ import annotations

import re
from pathlib import Path

from datashark.server.settings import ServerSettings

ROOT = Path(__file__).resolve().parents[2]


def test_precedence_flags_env_dotenv_defaults(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(__import__("os").environ):
        if name.startswith("DATASHARK_") and name != "DATASHARK_HOME":
            monkeypatch.delenv(name)
    (tmp_path / ".env").write_text(
        "DATASHARK_PORT=9001\nDATASHARK_MODEL=from-dotenv\nDATASHARK_THREADS=3\n"
        "DATASHARK_GATEWAY_SOMETHING=ignored\n"
    )
    monkeypatch.setenv("DATASHARK_PORT", "9002")
    monkeypatch.setenv("DATASHARK_CORS_ORIGINS", "http://a.test, http://b.test")
    monkeypatch.setenv("DATASHARK_API_KEY", "k")
    s = ServerSettings()
    assert s.port == 9002  # env beats .env
    assert s.model == "from-dotenv" and s.threads == 3  # .env beats defaults
    assert s.cors_origins == ["http://a.test", "http://b.test"]
    assert s.api_key is not None and s.api_key.get_secret_value() == "k"
    assert ServerSettings(port=9003).port == 9003  # flags beat env


def test_defaults() -> None:
    s = ServerSettings(_env_file=None)
    assert (s.model, s.host, s.port) == ("smollm2", "127.0.0.1", 8000)
    assert s.cors_origins == []


def test_env_example_lists_every_setting_with_a_description() -> None:
    text = (ROOT / ".env.example").read_text()
    assert "# server" in text
    listed = set(re.findall(r"^#?\s*DATASHARK_([A-Z_]+)=", text, flags=re.M))
    for name, field in ServerSettings.model_fields.items():
        assert name.upper() in listed, name
        assert field.description, name


def test_env_example_lists_every_gateway_setting_with_a_description() -> None:
    from datashark.gateway.settings import GatewaySettings

    text = (ROOT / ".env.example").read_text()
    gateway = text[text.index("# gateway") :]
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z_]+)=", gateway, flags=re.M))
    for name, field in GatewaySettings.model_fields.items():
        aliases = field.validation_alias.choices  # type: ignore[union-attr]
        assert any(alias in listed for alias in aliases), (name, aliases)
        assert field.description, name
