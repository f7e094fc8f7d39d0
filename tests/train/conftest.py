"""Fixtures for the trainer tests: the fixture Luau corpus built with `datashark data build`
(no network: `--from tests/fixtures/luau_corpus`), one `tiny` training run of 200 steps shared by
the trainer, resume, export and evaluation tests, and a CLI runner.

torch, tokenizers and matplotlib come from the `train` extra, which `scripts/setup.sh test`
installs; these tests fail (not skip) without it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datashark.cli.app import build_app

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "luau_corpus"
TINY_STEPS = 200


def run_cli(args: list[str]) -> str:
    """Run `datashark ARGS` in-process; fails the test with the output on a non-zero exit."""
    result = CliRunner().invoke(build_app(), [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, f"datashark {' '.join(map(str, args))}:\n{result.output}"
    return result.output


def read_metrics(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def cli():
    """`cli([...])` runs `datashark ...` in-process and returns its output."""
    return run_cli


@pytest.fixture(scope="session")
def metrics():
    """`metrics(path)` reads a metrics.jsonl file."""
    return read_metrics


@pytest.fixture(scope="session")
def fixture_dir() -> Path:
    return FIXTURE


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    run_cli(["data", "build", "--from", FIXTURE, "--out", out, "--split", "60,20,20"])
    return out


@pytest.fixture(scope="session")
def tiny_run(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`tiny` trained for 200 steps, evaluating every 50 and checkpointing every 100."""
    out = tmp_path_factory.mktemp("tiny")
    run_cli(
        [
            "train", "--preset", "tiny", "--data", corpus, "--out", out,
            "--max-steps", TINY_STEPS, "--checkpoint-every", 100, "--threads", 1,
            "--no-progress",
        ]
    )  # fmt: skip
    return out
