"""Fixtures for the evaluation tests: the task suite as loaded by the package."""

from __future__ import annotations

import pytest

from datashark.evaluation.tasks import load_tasks


@pytest.fixture(scope="session")
def tasks():
    return load_tasks()
