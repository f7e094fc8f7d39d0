"""GGUF reader: files written by gguf-py's GGUFWriter read back exactly, as mmap views; the real
models read the same as gguf-py's GGUFReader sees them.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest
from gguf import GGMLQuantizationType as QT
from gguf import GGUFValueType as VT
from gguf import quants as gq

from datashark.engine.gguf_file import GGUFFile


def write_sample(path: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A small GGUF with one metadata value of every kind and tensors of several types."""
    w = gguf.GGUFWriter(path, arch="llama")
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -5)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4_000_000_000)
    w.add_int32("t.i32", -2_000_000_000)
    w.add_uint64("t.u64", 2**63 + 5)
    w.add_int64("t.i64", -(2**62))
    w.add_float32("t.f32", 0.25)
    w.add_float64("t.f64", 1e-300)
    w.add_bool("t.bool", True)
    w.add_string("t.str", "héllo ✓")
    w.add_array("t.ints", [1, -2, 3])
    w.add_array("t.floats", [0.5, 1.5])
    w.add_array("t.strs", ["a", "", "ü"])
    tensors = {
        "vec": rng.standard_normal(7).astype(np.float32),
        "f16": rng.standard_normal((5, 3)).astype(np.float16),
    }
    for name, arr in tensors.items():
        w.add_tensor(name, arr)
    q = gq.quantize(rng.standard_normal((4, 64)).astype(np.float32), QT.Q8_0)
    w.add_tensor("q8", q, raw_shape=q.shape, raw_dtype=QT.Q8_0)
    tensors["q8"] = q
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return tensors


def test_reads_what_gguf_writer_wrote(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "sample.gguf"
    written = write_sample(path, rng)
    f = GGUFFile.open(path)
    md = f.metadata
    assert f.version == 3 and md["general.architecture"] == "llama"
    assert (md["t.u8"], md["t.i8"], md["t.u16"], md["t.i16"]) == (200, -5, 60000, -30000)
    assert (md["t.u32"], md["t.i32"]) == (4_000_000_000, -2_000_000_000)
    assert (md["t.u64"], md["t.i64"]) == (2**63 + 5, -(2**62))
    assert (md["t.f32"], md["t.f64"], md["t.bool"]) == (0.25, 1e-300, True)
    assert md["t.str"] == "héllo ✓"
    assert md["t.ints"] == [1, -2, 3] and md["t.floats"] == [0.5, 1.5]
    assert md["t.strs"] == ["a", "", "ü"]
    assert f.value_types["t.strs"] == VT.ARRAY and f.value_types["t.u8"] == VT.UINT8
    assert all(type(v) in (int, float, bool, str, list) for v in md.values())

    t = f.tensors
    assert (t["vec"].qtype, t["vec"].shape) == (QT.F32, (7,))
    assert (t["f16"].qtype, t["f16"].shape) == (QT.F16, (5, 3))
    assert (t["q8"].qtype, t["q8"].shape) == (QT.Q8_0, (4, 64))
    np.testing.assert_array_equal(t["vec"].dequantize(), written["vec"])
    np.testing.assert_array_equal(t["f16"].dequantize(), written["f16"].astype(np.float32))
    np.testing.assert_array_equal(t["q8"].data, written["q8"].reshape(-1))
    for q in t.values():  # views into the read-only mapping, not copies
        assert not q.data.flags.owndata and not q.data.flags.writeable
    assert f.data_offset % f.alignment == 0


def test_accepts_str_paths_and_reports_missing_files(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    path = tmp_path / "sample.gguf"
    write_sample(path, rng)
    assert set(GGUFFile.open(str(path)).tensors) == {"vec", "f16", "q8"}
    from datashark.engine.errors import ModelFormatError

    with pytest.raises(ModelFormatError, match="cannot read file"):
        GGUFFile.open(tmp_path / "missing.gguf")
    with pytest.raises(ModelFormatError, match="cannot read file"):
        GGUFFile.open(tmp_path)


@pytest.mark.slow
def test_smollm2_matches_gguf_reader(smollm2_path: Path) -> None:
    """Every tensor (type, shape, bytes) and the tokenizer metadata as gguf-py's reader sees them.

    (gguf-py's reader takes ~10x longer than ours on Gemma's 262k-token vocabulary, so the full
    cross-check runs on SmolLM2 only.)"""
    f = GGUFFile.open(smollm2_path)
    ref = gguf.GGUFReader(smollm2_path)
    assert len(f.tensors) == len(ref.tensors) == 272
    for rt in ref.tensors:
        t = f.tensors[rt.name]
        assert t.qtype == rt.tensor_type
        assert t.shape == tuple(int(d) for d in reversed(rt.shape.tolist()))
        assert t.nbytes == rt.n_bytes
        assert np.array_equal(t.data, np.asarray(rt.data).view(np.uint8).reshape(-1))
    for key in (
        "general.architecture",
        "tokenizer.ggml.pre",
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.merges",
    ):
        field = ref.fields[key]
        if field.types[0] == VT.ARRAY:
            expected = [bytes(field.parts[i]).decode() for i in field.data]
        else:
            expected = bytes(field.parts[field.data[0]]).decode()
        assert f.metadata[key] == expected
    assert f.metadata["llama.block_count"] == 30 and f.metadata["llama.rope.freq_base"] == 1e5


@pytest.mark.slow
def test_gemma3_layout(gemma3_path: Path) -> None:
    f = GGUFFile.open(gemma3_path)
    assert f.metadata["general.architecture"] == "gemma3"
    assert (
        len(f.metadata["tokenizer.ggml.tokens"])
        == len(f.metadata["tokenizer.ggml.scores"])
        == 262144
    )
    assert f.tensors["token_embd.weight"].shape == (262144, 640)
    assert f.tensors["token_embd.weight"].qtype == QT.Q8_0
    assert {t.qtype for t in f.tensors.values()} == {QT.F32, QT.Q5_0, QT.Q4_K, QT.Q6_K, QT.Q8_0}
    # spot-check values: the token embedding rows are finite and not all zero
    rows = f.tensors["token_embd.weight"].row_bytes()[:4]
    emb = gq.dequantize(rows, QT.Q8_0)
    assert np.isfinite(emb).all() and np.abs(emb).max() > 0
