"""Chat templates: SmolLM2's own template, the ChatML fallback, errors and the sandbox."""

from __future__ import annotations

import re

import pytest

from datashark.engine.chat_template import (
    ChatTemplate,
    ChatTemplateError,
    load_chat_template,
    render_chat,
)
from datashark.engine.gguf_file import GGUFFile
from datashark.engine.tokenizer import load_tokenizer

SMOL_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


@pytest.fixture(scope="module")
def smol(smollm2_path):
    meta = GGUFFile.open(smollm2_path).metadata
    tok = load_tokenizer(meta, str(smollm2_path))
    return load_chat_template(meta, tok), tok


def test_smollm2_template_renders_chatml_with_default_system(smol):
    template, _ = smol
    assert not template.is_fallback
    out = template.render([{"role": "user", "content": "Write a kill brick."}])
    assert out == (
        f"<|im_start|>system\n{SMOL_SYSTEM}<|im_end|>\n"
        "<|im_start|>user\nWrite a kill brick.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    no_prompt = template.render(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
        ],
        add_generation_prompt=False,
    )
    assert no_prompt == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n"
    )


def test_rendered_prompt_encodes_special_tokens(smol):
    template, tok = smol
    ids = tok.encode(template.render([{"role": "user", "content": "Hi"}]))
    im_start, im_end = tok.token_to_id["<|im_start|>"], tok.token_to_id["<|im_end|>"]
    assert ids[0] == im_start and ids.count(im_start) == 3 and ids.count(im_end) == 2


def test_content_parts_and_none_content(smol):
    template, _ = smol
    parts = [{"type": "text", "text": "local "}, {"type": "text", "text": "x = 1"}]
    out = template.render(
        [{"role": "system", "content": None}, {"role": "user", "content": parts}],
        add_generation_prompt=False,
    )
    assert "<|im_start|>system\n<|im_end|>" in out and "user\nlocal x = 1<|im_end|>" in out


def test_file_without_template_falls_back_to_chatml(gemma3_path):
    meta = GGUFFile.open(gemma3_path).metadata
    assert "tokenizer.chat_template" not in meta
    template = load_chat_template(meta)
    assert template.is_fallback
    out = template.render([{"role": "user", "content": "hi"}])
    assert out == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_template_variables_and_helpers():
    src = (
        "{{ bos_token }}{% for m in messages %}{{ m['role'] | upper }}:{{ m['content'] }}"
        "{% if not loop.last %}|{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}>{% endif %} {{ strftime_now('%Y') }} "
        "{{ messages[0] | tojson }}{{ eos_token }}"
    )
    t = ChatTemplate(src, bos_token="<s>", eos_token="</s>")
    out = t.render([{"role": "user", "content": "héllo"}, {"role": "bot", "content": "yo"}])
    assert re.fullmatch(
        r'<s>USER:héllo\|BOT:yo> \d{4} \{"role": "user", "content": "héllo"\}</s>', out
    ), out


def test_raise_exception_and_syntax_errors_are_clear():
    strict = ChatTemplate(
        "{% if messages[0]['role'] != 'user' %}{{ raise_exception('first must be user') }}"
        "{% endif %}ok"
    )
    assert strict.render([{"role": "user", "content": "x"}]) == "ok"
    with pytest.raises(ChatTemplateError, match="first must be user"):
        strict.render([{"role": "assistant", "content": "x"}])
    with pytest.raises(ChatTemplateError, match="does not compile"):
        ChatTemplate("{% for m in messages %}{{ m }")
    with pytest.raises(ChatTemplateError, match="failed"):
        ChatTemplate("{{ messages[5]['content'] | int + 'a' }}").render([])


@pytest.mark.parametrize(
    "src",
    [
        "{{ messages.append({'role': 'x'}) }}",  # immutable sandbox
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",  # no escape to Python objects
        "{{ cycler.__init__.__globals__.os.system('true') }}",
    ],
)
def test_sandbox_blocks_unsafe_templates(src):
    with pytest.raises(ChatTemplateError):
        ChatTemplate(src).render([{"role": "user", "content": "x"}])


@pytest.mark.parametrize(
    "messages",
    [
        "hello",
        [{"content": "no role"}],
        [{"role": "user", "content": 5}],
        [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}],
        ["not a dict"],
    ],
)
def test_malformed_messages(messages):
    with pytest.raises(ChatTemplateError):
        ChatTemplate(None).render(messages)


def test_render_chat_function_caches_compiled_templates():
    a = render_chat(None, [{"role": "user", "content": "a"}])
    b = render_chat(None, [{"role": "user", "content": "a"}], add_generation_prompt=False)
    assert a == b + "<|im_start|>assistant\n"
