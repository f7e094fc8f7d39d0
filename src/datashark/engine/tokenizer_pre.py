"""Pre-tokenizers for byte-level BPE: the regex lists llama.cpp uses per `tokenizer.ggml.pre`.

Source: llama.cpp `llama-vocab.cpp` (`llm_tokenizer_bpe` constructor) and `unicode.cpp`
(`unicode_regex_split`). Each regex in a list splits every piece the previous one produced; the
text between matches is kept as a piece of its own, so nothing is ever dropped. llama.cpp runs the
GPT-2 and Llama-3 patterns with hand-written splitters equal to the regexes below (the GPT-2 one
behaves as if `|\\s+` ended the pattern, which the kept gaps give us too).

Does not handle: pre-tokenizers outside `PRE_TOKENIZERS` (an unknown name is an error, as in
llama.cpp), and codepoints whose Unicode category differs between the `regex` module's Unicode
version and llama.cpp's tables (newly assigned characters).
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3 = (
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2 = (
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+"
    r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


@dataclass(frozen=True)
class PreTokenizer:
    """A named list of split regexes plus llama.cpp's per-type flags."""

    name: str
    patterns: tuple[str, ...]
    ignore_merges: bool = False  # a whole word that is in the vocab is one token (llama3)

    def split(self, text: str) -> list[str]:
        """Split `text` into words; concatenating the words gives `text` back."""
        pieces = [text]
        for pattern in _compiled(self.patterns):
            out: list[str] = []
            for piece in pieces:
                start = 0
                for m in pattern.finditer(piece):
                    if m.start() > start:
                        out.append(piece[start : m.start()])
                    if m.end() > m.start():
                        out.append(m.group())
                    start = m.end()
                if start < len(piece):
                    out.append(piece[start:])
            pieces = out
        return pieces


_CACHE: dict[tuple[str, ...], list[regex.Pattern[str]]] = {}


def _compiled(patterns: tuple[str, ...]) -> list[regex.Pattern[str]]:
    compiled = _CACHE.get(patterns)
    if compiled is None:
        compiled = [regex.compile(p) for p in patterns]
        _CACHE[patterns] = compiled
    return compiled


_DEFAULT = PreTokenizer(
    "default",
    (
        r"[\p{P}\$\+<=>\^~\|]+",
        GPT2,
        r"\p{N}+",
        r"[0-9][0-9][0-9]",
    ),
)
_GPT2 = PreTokenizer("gpt2", (GPT2,))
_SMOLLM = PreTokenizer("smollm", (r"\p{N}", GPT2))  # digits one by one, then GPT-2
_LLAMA3 = PreTokenizer("llama3", (LLAMA3,), ignore_merges=True)
_QWEN2 = PreTokenizer("qwen2", (QWEN2,))
_FALCON = PreTokenizer("falcon", (r"[\p{P}\$\+<=>\^~\|`]+", GPT2, r"[0-9][0-9][0-9]"))

# `tokenizer.ggml.pre` value -> pre-tokenizer (llama.cpp groups these names the same way).
PRE_TOKENIZERS: dict[str, PreTokenizer] = {
    "default": _DEFAULT,
    **dict.fromkeys(
        (
            "gpt2",
            "gpt-2",
            "phi-2",
            "jina-es",
            "jina-de",
            "jina-v2-es",
            "jina-v2-de",
            "mpt",
            "olmo",
            "jais",
            "trillion",
            "granite-docling",
            "gigachat",
            "a.x-4.0",
            "mellum",
        ),
        _GPT2,
    ),
    **dict.fromkeys(
        ("smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b"),
        _SMOLLM,
    ),
    **dict.fromkeys(
        ("llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0"),
        _LLAMA3,
    ),
    **dict.fromkeys(("qwen2", "deepseek-r1-qwen", "stablelm2", "megrez"), _QWEN2),
    "falcon": _FALCON,
}


def get_pre_tokenizer(name: str | None) -> PreTokenizer:
    """The pre-tokenizer for a `tokenizer.ggml.pre` value (missing or empty: `default`)."""
    if not name:
        return _DEFAULT
    try:
        return PRE_TOKENIZERS[name]
    except KeyError:
        known = ", ".join(sorted(PRE_TOKENIZERS))
        raise KeyError(f"unknown pre-tokenizer {name!r} (known: {known})") from None
