"""Errors raised by the engine."""

from __future__ import annotations


class ModelFormatError(ValueError):
    """A model file is not a GGUF file the engine can run; the message names the file and why."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
