"""Model: the engine's public API on the real SmolLM2 / Gemma 3 files and on bad input.

Checks what the server and CLI rely on: config read from the file, batched decode equal to
one-at-a-time decode, chunked prefill equal to one pass, generate() reproducible by seed and
consistent with prefill/decode, clear errors (ModelFormatError, ContextLengthError, ValueError)
for bad files, ids, or overfull sequences, memory released by free(), and a lazy, torch-free
`import datashark.engine`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gguf
import numpy as np
import pytest

from datashark.engine import ModelFormatError, SamplingParams
from datashark.engine.config import ModelConfig
from datashark.engine.model import ContextLengthError, Model


@pytest.fixture(scope="module")
def smollm2(smollm2_path: Path) -> Model:
    return Model.load(smollm2_path, threads=2)


def close(a: np.ndarray, b: np.ndarray, rel: float = 0.06) -> bool:
    """Equal up to SmolLM2's chaos: its activations are rounded to 8 bits per block (like
    llama.cpp) and it has a few huge activation channels, so a last-bit difference between
    two kernel paths (4-row vs 1-row matmul) flips some roundings and moves the logits by ~3%
    (measured). An off-by-one position in a chunk moves them by 12% (measured); the arithmetic is
    checked against a float64 reference in test_forward.py."""
    return float(np.abs(a - b).max()) <= rel * float(np.abs(b).max())


def test_config_from_file(smollm2: Model, gemma3_path: Path):
    c = smollm2.config
    assert (c.arch, c.n_layers, c.d_model, c.n_heads, c.n_kv_heads) == ("llama", 30, 576, 9, 3)
    assert (c.head_dim, c.d_ff, c.vocab_size, c.context_length) == (64, 1536, 49152, 8192)
    assert c.rope_base == 100000.0 and c.tied_embeddings and not any(map(c.is_local, range(30)))
    g = Model.load(gemma3_path, threads=2).config
    assert (g.arch, g.n_layers, g.d_model, g.n_heads, g.n_kv_heads, g.head_dim) == (
        "gemma3",
        18,
        640,
        4,
        1,
        256,
    )
    assert g.sliding_window == 512 and g.rope_base == 1e6 and g.rope_base_local == 10000.0
    # five local layers, then one global (llama.cpp's pattern for gemma3)
    assert [il for il in range(18) if not g.is_local(il)] == [5, 11, 17]


def test_batched_decode_equals_one_at_a_time(smollm2: Model):
    tok = smollm2.tokenizer
    prompts = [tok.encode(t) for t in ("local part = Instance.new(", "Hello", "1, 2, 3, 4, 5,")]
    nxt = [11, 22, 33]
    single = []
    for ids, t in zip(prompts, nxt, strict=True):
        seq = smollm2.new_sequence(32)
        smollm2.prefill(seq, ids)
        single.append(smollm2.decode([seq], [t])[0])
    seqs = [smollm2.new_sequence(32) for _ in prompts]
    for seq, ids in zip(seqs, prompts, strict=True):
        smollm2.prefill(seq, ids)
    batched = smollm2.decode(seqs, nxt)
    assert batched.shape == (3, 49152) and batched.dtype == np.float32
    for row, ref in zip(batched, single, strict=True):
        # bit for bit: the kernels and the batched attention treat each row as when it is alone
        np.testing.assert_array_equal(row, ref)
    assert [s.n_tokens for s in seqs] == [len(p) + 1 for p in prompts]


def test_chunked_prefill_equals_one_pass(smollm2_path: Path, smollm2: Model):
    ids = smollm2.tokenizer.encode("function onTouched(hit) local humanoid = hit.Parent:Find")
    one = smollm2.prefill(smollm2.new_sequence(64), ids)
    small = Model.load(smollm2_path, threads=2, capacity=5)
    seq = small.new_sequence(64)
    chunked = small.prefill(seq, ids)
    assert seq.n_tokens == len(ids)
    assert close(chunked, one) and int(chunked.argmax()) == int(one.argmax())


def test_generate_greedy_matches_prefill_decode(smollm2: Model):
    ids = smollm2.tokenizer.encode("The capital of France is")
    got = list(smollm2.generate(ids, SamplingParams(max_tokens=8, temperature=0)))
    seq = smollm2.new_sequence(32)
    logits, want = smollm2.prefill(seq, ids), []
    for _ in range(8):
        want.append(int(logits.argmax()))
        logits = smollm2.decode([seq], [want[-1]])[0]
    assert got == want
    assert smollm2.tokenizer.decode(got).startswith(" Paris.")


def test_generate_seeded_sampling_is_reproducible(smollm2: Model):
    ids = smollm2.tokenizer.encode("Once upon a time")
    params = SamplingParams(max_tokens=12, temperature=1.0, seed=7, ignore_eos=True)
    a = smollm2.generate(ids, params)
    first = list(a)
    second = list(smollm2.generate(ids, params))
    other = list(smollm2.generate(ids, SamplingParams(max_tokens=12, seed=8, ignore_eos=True)))
    assert first == second and len(first) == 12 and first != other
    assert a.finish_reason == "length" and a.text == smollm2.tokenizer.decode(first)
    assert a.seq.freed  # the KV cache is released when generation ends


def test_generate_stops_at_end_of_turn(smollm2: Model):
    prompt = smollm2.render_chat([{"role": "user", "content": "Say hi."}])
    assert prompt.endswith("<|im_start|>user\nSay hi.<|im_end|>\n<|im_start|>assistant\n")
    ids = smollm2.tokenizer.encode(prompt, parse_special=True)
    stream = smollm2.generate(ids, SamplingParams(max_tokens=200, temperature=0))
    out = list(stream)
    assert stream.finish_reason == "stop" and 0 < len(out) < 200
    assert not set(out) & smollm2.tokenizer.eog_ids  # <|im_end|> ends it and is not yielded


def test_bad_input_raises_clear_errors(smollm2: Model):
    seq = smollm2.new_sequence(4)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        smollm2.prefill(seq, [1, 49152])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        smollm2.decode([seq], [-1])
    with pytest.raises(ValueError, match="at least one token"):
        smollm2.prefill(seq, [])
    with pytest.raises(ValueError, match="integers"):
        smollm2.prefill(seq, ["a"])  # type: ignore[list-item]
    with pytest.raises(ContextLengthError):
        smollm2.prefill(seq, [1, 2, 3, 4, 5])
    assert seq.n_tokens == 0  # a rejected call leaves the sequence as it was
    smollm2.prefill(seq, [1, 2, 3, 4])
    with pytest.raises(ContextLengthError):
        smollm2.decode([seq], [5])
    with pytest.raises(ValueError, match="2 sequences but 1 tokens"):
        smollm2.decode([seq, smollm2.new_sequence(4)], [1])
    other = smollm2.new_sequence(4)
    with pytest.raises(ValueError, match="twice"):
        smollm2.decode([other, other], [1, 2])
    other.free()
    with pytest.raises(ValueError, match="freed"):
        smollm2.decode([other], [1])
    with pytest.raises(ValueError, match="positive"):
        smollm2.new_sequence(0)
    assert smollm2.new_sequence(10**6).max_tokens == 8192  # capped at the context
    with pytest.raises(ContextLengthError):
        smollm2.generate([1] * 8192, SamplingParams(max_tokens=1))


def test_free_releases_the_cache(smollm2: Model):
    seq = smollm2.new_sequence(100)
    assert seq.cache.nbytes == 2 * 30 * 3 * 100 * 64 * 2  # k and v, float16
    seq.free()
    assert seq.freed and seq.cache.nbytes == 0


def test_config_errors_name_the_problem():
    good = {
        "general.architecture": "llama",
        "llama.block_count": 2,
        "llama.embedding_length": 64,
        "llama.attention.head_count": 4,
        "llama.feed_forward_length": 96,
        "llama.context_length": 128,
        "llama.vocab_size": 100,
    }
    assert ModelConfig.from_metadata(good, frozenset(), "m.gguf").n_kv_heads == 4
    cases = [
        ({"general.architecture": "mamba"}, "not supported"),
        ({"llama.block_count": None}, "missing metadata key 'llama.block_count'"),
        ({"llama.attention.head_count_kv": 3}, "not a multiple of head_count_kv"),
        ({"llama.embedding_length": "wide"}, "should be an integer"),
        ({"llama.rope.freq_base": float("nan")}, "not finite"),
        ({"llama.rope.dimension_count": 7}, "must be even"),
        ({"llama.rope.scaling.type": "yarn"}, "not supported"),
        ({"llama.attention.value_length": 8, "llama.attention.key_length": 16}, "value_length"),
    ]
    for change, message in cases:
        meta = {k: v for k, v in {**good, **change}.items() if v is not None}
        with pytest.raises(ModelFormatError, match=message) as err:
            ModelConfig.from_metadata(meta, frozenset(), "m.gguf")
        assert "m.gguf" in str(err.value)


def _write_llama(path: Path, skip: str = "", bad_shape: str = "") -> None:
    w = gguf.GGUFWriter(str(path), "llama")
    for key, value in (
        ("block_count", 1),
        ("embedding_length", 32),
        ("feed_forward_length", 32),
        ("attention.head_count", 2),
        ("context_length", 16),
        ("vocab_size", 10),
    ):
        w.add_uint32(f"llama.{key}", value)  # fmt: skip
    shapes = {"token_embd.weight": (10, 32), "output_norm.weight": (32,)}
    for name in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"):
        shapes[f"blk.0.{name}.weight"] = (32, 32)
    shapes["blk.0.attn_norm.weight"] = shapes["blk.0.ffn_norm.weight"] = (32,)
    for name, shape in shapes.items():
        if name != skip:
            shape = (shape[0], 16) if name == bad_shape else shape
            w.add_tensor(name, np.ones(shape, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_missing_or_misshapen_tensor_is_a_format_error(tmp_path: Path):
    ok = tmp_path / "ok.gguf"
    _write_llama(ok)
    assert Model.load(ok).config.tied_embeddings
    missing = tmp_path / "missing.gguf"
    _write_llama(missing, skip="blk.0.ffn_up.weight")
    with pytest.raises(ModelFormatError, match="'blk.0.ffn_up.weight' is missing"):
        Model.load(missing)
    bad = tmp_path / "bad.gguf"
    _write_llama(bad, bad_shape="blk.0.attn_k.weight")
    with pytest.raises(ModelFormatError, match=r"'blk.0.attn_k.weight' has shape \(32, 16\)"):
        Model.load(bad)


def test_import_engine_is_lazy_and_torch_free():
    code = (
        "import sys\n"
        "def rss(): return int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20\n"
        "before = rss()\n"
        "import datashark.engine\n"
        "from datashark.engine import Model, SamplingParams\n"
        "import datashark.engine.generate\n"
        "print(rss() - before, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    added_mb, torch_loaded = out.stdout.split()
    assert float(added_mb) < 30 and torch_loaded == "False"
