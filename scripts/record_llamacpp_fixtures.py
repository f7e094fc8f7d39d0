#!/usr/bin/env python3
"""Record llama.cpp's token ids and greedy continuations as test fixtures.

Uses llama-cpp-python (the optional `bench` extra: `pip install -e ".[bench]"`) on the model files
from the DataShark cache (`datashark.registry.resolve_model`, pulled when missing), and writes
- tests/fixtures/llamacpp_tokens.json: for every string in STRINGS and both models, the ids with
  (`add_special`, `parse_special`) = (True, True) and (False, False), and the bytes llama.cpp
  decodes them back to (control tokens left out, as `special=False`);
- tests/fixtures/llamacpp_greedy.json: greedy continuations (32 tokens) of PROMPTS per model,
  with llama.cpp's five best logits at every step, and the same run with flash attention on
  (`alt_top5`, `alt_ids`: how far llama.cpp moves from itself).

The tests compare our tokenizer and engine with these files, so llama.cpp is needed only to
re-record. Run: .venv/bin/python scripts/record_llamacpp_fixtures.py [--only tokens|greedy]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

LUAU_SNIPPET = """local Players = game:GetService("Players")
local ReplicatedStorage = game:GetService("ReplicatedStorage")

--[[ Kill brick: touching the part sets the humanoid's health to 0. ]]
local brick = script.Parent :: BasePart
local debounce: {[Player]: boolean} = {}

brick.Touched:Connect(function(hit: BasePart)
\tlocal character = hit.Parent
\tlocal humanoid = character and character:FindFirstChildOfClass("Humanoid")
\tif humanoid and humanoid.Health > 0 then
\t\thumanoid.Health = 0
\t\tprint(`{character.Name} touched {brick.Name}!`)
\tend
end)

type Vec = { x: number, y: number }
local function add(a: Vec, b: Vec): Vec
    return { x = a.x + b.x, y = a.y + b.y }
end
for i = 1, 10, 2 do task.wait(0.1); count += i end
"""

STRINGS: list[str] = [
    "",
    " ",
    "Hello world",
    "Hello, world! How's it going? I'm fine; they'll see, we'd've DON'T.",
    "The capital of France is",
    "   leading spaces and trailing spaces   ",
    "tabs\tand\t\ttabs\nnewlines\n\n\nand\r\nCRLF\r\n",
    "    indented\n        more indented\n\t\tmixed \t \t whitespace",
    "\n\n\n\n\n\n",
    "1234567890 3.14159 -42 1e-10 0xFF 1,000,000 007",
    "Numbers ²³ ½ Ⅻ ١٢٣ ๑๒๓",
    "café naïve résumé Ångström straße ÆØÅ",
    "Привет, мир! Γειά σου κόσμε. مرحبا بالعالم. नमस्ते दुनिया",
    "你好，世界！这是一个测试。日本語のテキストです。한국어 텍스트",
    "emoji 🦈🎮🔥 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️",
    "zero\u200bwidth\u200djoiner and nbsp\u00a0here and ideographic\u3000space",
    "control \x00\x01\x07\x1b chars",
    'def add(a, b):\n    """Add two numbers."""\n    return a + b\n',
    "for (int i = 0; i < n; ++i) { sum += arr[i]; } // C++",
    '{"key": "value", "list": [1, 2, 3], "nested": {"a": null, "b": true}}',
    "https://example.com/path?query=1&other=two#frag <a href='x'>link</a>",
    "<h1>Title</h1><table><tr><td>cell</td></tr></table>",
    'local part = Instance.new("Part")\npart.Anchored = true\npart.Parent = workspace',
    LUAU_SNIPPET,
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n",
    "x<|im_end|>y<|endoftext|>z<|im_start|>",
    "<start_of_turn>user\nWrite Luau<end_of_turn>\n<start_of_turn>model\n",
    "<bos>text after bos<eos> and <pad> <unk> <mask>",
    "<fim_prefix>local a = <fim_suffix> end<fim_middle>",
    "a" * 64 + " " + "ab" * 40,
    "!!!???...,,,;;;:::---___===+++***&&&%%%$$$###@@@",
    "MixedCASE camelCase snake_case SCREAMING_CASE kebab-case PascalCase",
    "'s 't 're 've 'm 'll 'd 'S 'T 'RE",
    "ﬁ ligature, fullwidth ＡＢＣ１２３, combining e\u0301 a\u0308",
    "math: ∑∫∂√∞ ≠ ≤ ≥ → ← ⇒ ∀x∈ℝ",
    "   \n   \n\t\n",
]

COMMON_PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):",
    "Once upon a time, there was a",
    "Roblox is a platform where",
    "-- A Roblox Script that prints hello\nprint(",
    "The three primary colors are",
    "import numpy as np\n",
    "Water boils at a temperature of",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
    "What is 2 + 2?<|im_end|>\n<|im_start|>assistant\n",
    "function Module.new()\n",
    "The first president of the United States was",
    "for i = 1, 10 do\n",
    "Monday, Tuesday, Wednesday,",
    "<|im_start|>user\nName a fruit.<|im_end|>\n<|im_start|>assistant\n",
]
SMOLLM2_PROMPTS = [
    *COMMON_PROMPTS,
    "<|im_start|>user\nWrite a Luau function that adds two numbers.<|im_end|>\n"
    "<|im_start|>assistant\n",
    'local Players = game:GetService("Players")\n',
    "1, 2, 3, 4, 5,",
]
GEMMA_PROMPTS = COMMON_PROMPTS
MODELS = {"smollm2": SMOLLM2_PROMPTS, "gemma3-270m": GEMMA_PROMPTS}
FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def _sha256(path: Path) -> str:
    from datashark.registry import sha256_file

    return sha256_file(path)


def _pieces(llama_cpp: object, llm: object, ids: list[int], special: bool) -> bytes:
    """llama.cpp's bytes for `ids`, token by token (`llama_token_to_piece`, no lstrip).

    Not `Llama.detokenize`: it drops a leading space after BOS and caps pieces at 32 bytes.
    """
    import ctypes

    vocab = llm._model.vocab  # type: ignore[attr-defined]
    out = b""
    for tok in ids:
        buf = ctypes.create_string_buffer(1024)
        n = llama_cpp.llama_token_to_piece(vocab, tok, buf, len(buf), 0, special)  # type: ignore[attr-defined]
        if n < 0:
            raise RuntimeError(f"piece of token {tok} longer than {len(buf)} bytes")
        out += buf.raw[:n]
    return out


def record_tokens(llama_cpp: object, paths: dict[str, Path]) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, path in paths.items():
        llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)  # type: ignore[attr-defined]
        cases = []
        for text in STRINGS:
            raw = text.encode("utf-8")
            ids = llm.tokenize(raw, add_bos=True, special=True)
            plain = llm.tokenize(raw, add_bos=False, special=False)
            cases.append(
                {
                    "text": text,
                    "ids": list(ids),
                    "ids_plain": list(plain),
                    "decoded_hex": _pieces(llama_cpp, llm, ids, special=False).hex(),
                }
            )
        out[name] = {"file": path.name, "sha256": _sha256(path), "cases": cases}
        del llm
    return out


def _logits(llama_cpp: object, llm: object, n_vocab: int) -> object:
    import numpy as np

    ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)  # type: ignore[attr-defined]
    return np.ctypeslib.as_array(ptr, shape=(n_vocab,)).copy()


def record_greedy(llama_cpp: object, paths: dict[str, Path], n_tokens: int) -> dict[str, object]:
    """Greedy continuations by hand (what `generate(temp=0)` does: prompt in one batch, then one
    token per decode), keeping the top five logits of every step, so a test can tell a near-tie.

    Each prompt also runs on llama.cpp with flash attention on (`alt_*`): the same model and
    weights in another, equally valid float order. Its logits for the reference's top five along
    the reference's tokens (`alt_top5`) and its own greedy tokens (`alt_ids`) measure how far
    llama.cpp moves from itself, the yardstick for how close another engine can be asked to be.
    """
    import numpy as np

    out: dict[str, object] = {}
    for name, path in paths.items():
        kw = dict(model_path=str(path), n_ctx=512, n_threads=2, n_batch=512, verbose=False, seed=0)
        llm = llama_cpp.Llama(flash_attn=False, **kw)  # type: ignore[attr-defined]
        alt = llama_cpp.Llama(flash_attn=True, **kw)  # type: ignore[attr-defined]
        cases = []
        n_vocab = llm.n_vocab()
        for prompt in MODELS[name]:
            ids = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
            llm.reset()
            alt.reset()
            llm.eval(ids)
            alt.eval(ids)
            gen, top5, alt_top5 = [], [], []
            for _ in range(n_tokens):
                logits = _logits(llama_cpp, llm, n_vocab)
                alt_logits = _logits(llama_cpp, alt, n_vocab)
                best = np.argsort(-logits, kind="stable")[:5]
                top5.append([[int(t), round(float(logits[t]), 4)] for t in best])
                alt_top5.append([round(float(alt_logits[t]), 4) for t in best])
                gen.append(int(best[0]))
                llm.eval([int(best[0])])
                alt.eval([int(best[0])])  # teacher-forced on the reference's tokens
            alt.reset()
            alt.eval(ids)
            alt_ids = []
            for _ in range(n_tokens):
                alt_ids.append(int(np.argmax(_logits(llama_cpp, alt, n_vocab))))
                alt.eval([alt_ids[-1]])
            cases.append(
                {
                    "prompt": prompt,
                    "prompt_ids": list(ids),
                    "ids": gen,
                    "top5": top5,
                    "alt_top5": alt_top5,
                    "alt_ids": alt_ids,
                    "text": _pieces(llama_cpp, llm, gen, special=False).decode("utf-8", "replace"),
                }
            )
            print(f"{name}: {prompt[:40]!r} -> {cases[-1]['text'][:60]!r}")
        out[name] = {
            "file": path.name,
            "sha256": _sha256(path),
            "n_tokens": n_tokens,
            "alt": "flash_attn=True",
            "cases": cases,
        }
        del llm, alt
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["tokens", "greedy"], default=None)
    ap.add_argument("--tokens", type=int, default=32, help="greedy tokens per prompt")
    ap.add_argument("--out", type=Path, default=FIXTURES)
    args = ap.parse_args()

    import llama_cpp

    from datashark.registry import resolve_model

    paths = {name: resolve_model(name, pull=True) for name in MODELS}
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {
        "llama_cpp_python": llama_cpp.__version__,
        "script": "scripts/record_llamacpp_fixtures.py",
    }
    if args.only in (None, "tokens"):
        data = {**meta, "models": record_tokens(llama_cpp, paths)}
        (args.out / "llamacpp_tokens.json").write_text(
            json.dumps(data, indent=1, ensure_ascii=True) + "\n", encoding="utf-8"
        )
        print(
            f"wrote {args.out / 'llamacpp_tokens.json'}: {len(STRINGS)} strings x {len(paths)} models"
        )
    if args.only in (None, "greedy"):
        data = {**meta, "models": record_greedy(llama_cpp, paths, args.tokens)}
        (args.out / "llamacpp_greedy.json").write_text(
            json.dumps(data, indent=1, ensure_ascii=True) + "\n", encoding="utf-8"
        )
        print(f"wrote {args.out / 'llamacpp_greedy.json'}")


if __name__ == "__main__":
    main()
