"""Request and response schemas of `POST /api/generate` (shared/ARCHITECTURE.md, "Roblox API").

The request carries the user's words, what is selected in Studio (paths and classes, and the
source of selected scripts, as `plugin/Context.luau` gathers it), answers to earlier clarifying
questions, whether clarifying is allowed, and optionally which providers to use. Field names
follow the plugin's JSON (camelCase `className`).

Not handled: streaming responses (the plugin waits for the whole answer).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_PROMPT = 8000
MAX_SOURCE = 200_000


class SelectedItem(BaseModel):
    model_config = ConfigDict(extra="ignore")
    path: str = Field(min_length=1, max_length=1000, description="Full name, e.g. Workspace.Door")
    className: str = Field(min_length=1, max_length=100, description="Roblox class, e.g. Part")
    name: str | None = Field(None, max_length=200, description="Instance name")


class SelectedScript(BaseModel):
    model_config = ConfigDict(extra="ignore")
    path: str = Field(min_length=1, max_length=1000)
    className: Literal["Script", "LocalScript", "ModuleScript"]
    name: str | None = Field(None, max_length=200)
    source: str = Field(max_length=MAX_SOURCE)
    truncated: bool = False

    @property
    def script_name(self) -> str:
        return self.name or self.path.rsplit(".", 1)[-1]

    @property
    def parent_path(self) -> str:
        return self.path.rsplit(".", 1)[0] if "." in self.path else "Workspace"


class Context(BaseModel):
    model_config = ConfigDict(extra="ignore")
    selection: list[SelectedItem] = Field(default_factory=list, max_length=50)
    scripts: list[SelectedScript] = Field(default_factory=list, max_length=20)


class GenerateRequest(BaseModel):
    """Body of POST /api/generate."""

    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT, description="What to build or change")
    context: Context | None = Field(None, description="Studio selection and selected scripts")
    answers: dict[str, str] | None = Field(
        None, description="Answers to clarifying questions: {question id: answer}"
    )
    clarify: bool = Field(True, description="Allow clarifying questions before generating")
    providers: list[str] | None = Field(
        None, min_length=1, max_length=10, description="Provider names to try, in order"
    )

    @field_validator("prompt")
    @classmethod
    def _prompt_has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("prompt must contain text")
        return value

    @field_validator("answers", mode="before")
    @classmethod
    def _answers_shape(cls, value: Any) -> Any:
        # Also accept a list of {"id", "answer"} objects.
        if isinstance(value, list):
            out: dict[str, Any] = {}
            for item in value:
                if not isinstance(item, dict) or "id" not in item or "answer" not in item:
                    raise ValueError("answers as a list must hold {id, answer} objects")
                out[str(item["id"])] = item["answer"]
            return out
        return value

    @field_validator("answers")
    @classmethod
    def _answers_limits(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        if len(value) > 10:
            raise ValueError("at most 10 answers")
        for key, answer in value.items():
            if not key or len(key) > 64:
                raise ValueError("answer ids must be 1-64 characters")
            if len(answer) > 1000:
                raise ValueError(f"answer {key!r} is longer than 1000 characters")
        return value


class Question(BaseModel):
    id: str
    text: str
    options: list[str]


class ScriptOut(BaseModel):
    name: str
    className: Literal["Script", "LocalScript", "ModuleScript"]
    parent: str
    source: str
