"""Chat templates: render a GGUF file's `tokenizer.chat_template` (Jinja2) for OpenAI messages.

The environment follows Hugging Face's `apply_chat_template`: an immutable sandbox (templates
cannot touch Python objects or the file system), `trim_blocks` + `lstrip_blocks`, the
`loopcontrols` extension, `raise_exception(msg)`, `strftime_now(fmt)`, a `tojson` filter that
keeps non-ASCII text, and the variables `messages`, `add_generation_prompt`, `bos_token`,
`eos_token` (plus `tools`, `documents` as None). OpenAI content parts (`[{"type": "text",
"text": ...}]`) are joined into one string and a None content becomes "" so that templates
written for plain strings work.

A file without a template (Gemma 3 270M base) gets ChatML, as llama.cpp's server does.
Does not handle: tool-call rendering beyond what the file's template does itself, images.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


class ChatTemplateError(ValueError):
    """The template does not compile, raised an exception, or the messages are malformed."""


def _raise_exception(message: str) -> None:
    raise ChatTemplateError(f"chat template raised: {message}")


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def _tojson(value: Any, indent: int | None = None, ensure_ascii: bool = False) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii)


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    env.filters["tojson"] = _tojson
    return env


def normalize_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Check OpenAI-style messages and give each a string `content`."""
    if not isinstance(messages, Sequence) or isinstance(messages, str):
        raise ChatTemplateError("messages must be a list of {role, content} objects")
    out: list[dict[str, Any]] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, Mapping):
            raise ChatTemplateError(f"messages[{i}] must be an object, got {type(msg).__name__}")
        role = msg.get("role")
        if not isinstance(role, str) or not role:
            raise ChatTemplateError(f"messages[{i}].role must be a non-empty string")
        content = msg.get("content")
        if content is None:
            text = ""
        elif isinstance(content, str):
            text = content
        elif isinstance(content, list):
            parts = []
            for j, part in enumerate(content):
                if isinstance(part, Mapping) and part.get("type") == "text":
                    parts.append(str(part.get("text", "")))
                else:
                    raise ChatTemplateError(
                        f"messages[{i}].content[{j}]: only text content parts are supported"
                    )
            text = "".join(parts)
        else:
            raise ChatTemplateError(f"messages[{i}].content must be a string or a list of parts")
        out.append({**msg, "content": text})
    return out


class ChatTemplate:
    """A compiled chat template plus the bos/eos texts it may refer to."""

    def __init__(self, source: str | None, bos_token: str = "", eos_token: str = "") -> None:
        self.is_fallback = not source
        self.source = source or CHATML_TEMPLATE
        self.bos_token = bos_token
        self.eos_token = eos_token
        try:
            self._template = _environment().from_string(self.source)
        except jinja2.TemplateSyntaxError as exc:
            raise ChatTemplateError(
                f"chat template does not compile (line {exc.lineno}): {exc.message}"
            ) from None

    def render(
        self,
        messages: Sequence[Mapping[str, Any]],
        add_generation_prompt: bool = True,
        **variables: Any,
    ) -> str:
        """The prompt text for `messages` (special tokens as text: encode with parse_special)."""
        context: dict[str, Any] = {
            "tools": None,
            "documents": None,
            **variables,
            "messages": normalize_messages(messages),
            "add_generation_prompt": add_generation_prompt,
            "bos_token": self.bos_token,
            "eos_token": self.eos_token,
        }
        try:
            return self._template.render(**context)
        except ChatTemplateError:
            raise
        except jinja2.TemplateError as exc:
            raise ChatTemplateError(f"chat template failed: {exc}") from None
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            raise ChatTemplateError(f"chat template failed: {type(exc).__name__}: {exc}") from None


def load_chat_template(metadata: Mapping[str, object], tokenizer: Any = None) -> ChatTemplate:
    """The template of a GGUF file (`tokenizer.chat_template`), with bos/eos texts taken from
    `tokenizer` (anything with `bos_id`, `eos_id` and `token_text(id)`)."""
    source = metadata.get("tokenizer.chat_template")
    bos = eos = ""
    if tokenizer is not None:
        if tokenizer.bos_id is not None:
            bos = tokenizer.token_text(tokenizer.bos_id)
        if tokenizer.eos_id is not None:
            eos = tokenizer.token_text(tokenizer.eos_id)
    return ChatTemplate(str(source) if source else None, bos_token=bos, eos_token=eos)


@functools.lru_cache(maxsize=16)
def _cached(source: str | None, bos_token: str, eos_token: str) -> ChatTemplate:
    return ChatTemplate(source, bos_token=bos_token, eos_token=eos_token)


def render_chat(
    template: str | None,
    messages: Sequence[Mapping[str, Any]],
    add_generation_prompt: bool = True,
    bos_token: str = "",
    eos_token: str = "",
) -> str:
    """Render `messages` with a template source (None: ChatML); compiled templates are cached."""
    return _cached(template, bos_token, eos_token).render(
        messages, add_generation_prompt=add_generation_prompt
    )
