"""Fixtures for the plugin tests: the plugin's modules, a fake Studio, StyLua, and a real
`datashark serve` subprocess on a free loopback port with the gateway restricted to the
templates provider (fast and deterministic)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from datashark.plugin.build import PluginModule, collect_modules

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
# --import-mode=importlib puts no test folder on sys.path; the harness module lives here.
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@pytest.fixture(scope="session")
def plugin_modules() -> list[PluginModule]:
    return collect_modules(REPO / "plugin")


@pytest.fixture()
def studio(plugin_modules):
    from fake_studio_host import FakeStudio

    fake = FakeStudio(plugin_modules)
    yield fake
    fake.close()
