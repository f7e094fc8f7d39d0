"""Corrupt GGUF files: each raises ModelFormatError naming the file and the problem; none crashes.

The files are built byte by byte here (so every header field can be set to a bad value) from the
GGUF v3 layout: magic, version, tensor count, kv count, kv pairs, tensor infos, padding to the
alignment, tensor data. Besides the in-process checks, a child process (with a 2 GiB address
space limit, so a huge allocation fails loudly) opens every corrupt file and a few hundred random
mutations of a valid one: each must open or raise ModelFormatError, and the child must exit
normally and in time.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType as QT
from gguf import GGUFValueType as VT

from datashark.engine.errors import ModelFormatError
from datashark.engine.gguf_file import GGUFFile

ALIGN = 32


def gstr(s: str | bytes, length: int | None = None) -> bytes:
    raw = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(raw) if length is None else length) + raw


def kv(key: str, vtype: int, payload: bytes, key_len: int | None = None) -> bytes:
    return gstr(key, key_len) + struct.pack("<I", vtype) + payload


def tensor_info(
    name: str, dims: tuple[int, ...], qtype: int, offset: int, n_dims: int | None = None
) -> bytes:
    out = gstr(name) + struct.pack("<I", len(dims) if n_dims is None else n_dims)
    out += b"".join(struct.pack("<Q", d) for d in dims)
    return out + struct.pack("<IQ", qtype, offset)


def q8_tensor(rows: int, cols: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    blocks = rng.integers(-127, 128, size=(rows * cols // 32, 34), dtype=np.int64).astype(np.uint8)
    blocks[:, :2] = np.full((rows * cols // 32, 1), 0.01, np.float16).view(np.uint8)
    return blocks.tobytes()


def build(
    *,
    magic: bytes = b"GGUF",
    version: bytes = struct.pack("<I", 3),
    kvs: list[bytes] | None = None,
    infos: list[bytes] | None = None,
    data: bytes | None = None,
    n_tensors: int | None = None,
    n_kv: int | None = None,
) -> bytes:
    """A GGUF file; by default one F32 vector 'norm' (8 values) and one Q8_0 matrix 'w' (3 x 64)."""
    if kvs is None:
        kvs = [kv("general.architecture", VT.STRING, gstr("llama"))]
    if infos is None:
        infos = [tensor_info("norm", (8,), QT.F32, 0), tensor_info("w", (64, 3), QT.Q8_0, 32)]
    if data is None:
        data = np.arange(8, dtype=np.float32).tobytes() + q8_tensor(3, 64)
    head = magic + version
    head += struct.pack(
        "<QQ", len(infos) if n_tensors is None else n_tensors, len(kvs) if n_kv is None else n_kv
    )
    head += b"".join(kvs) + b"".join(infos)
    head += b"\0" * (-len(head) % ALIGN)
    return head + data


VALID = build()

CASES: dict[str, tuple[bytes, str]] = {
    "bad_magic": (build(magic=b"GGML"), "bad magic b'GGML': not a GGUF file"),
    "version_1": (build(version=struct.pack("<I", 1)), "GGUF version 1 is not supported"),
    "big_endian": (build(version=struct.pack(">I", 3)), "big-endian GGUF files are not supported"),
    "empty": (b"", "too small to be GGUF"),
    "truncated_header": (VALID[:100], "file ends inside the header (truncated or corrupt)"),
    "truncated_counts": (
        VALID[:60],
        "header announces 2 tensors, more than a 60-byte file can hold",
    ),
    "truncated_data": (VALID[:-10], "past the end of the"),
    "unknown_type": (
        build(infos=[tensor_info("norm", (8,), QT.F32, 0), tensor_info("w", (64, 3), 99, 32)]),
        "tensor 'w' has unknown tensor type 99",
    ),
    "unsupported_type": (
        build(
            infos=[tensor_info("norm", (8,), QT.F32, 0), tensor_info("w", (256, 1), QT.Q5_K, 32)]
        ),
        "tensor 'w' has type Q5_K (13), which is not supported",
    ),
    "bad_shape_block": (
        build(infos=[tensor_info("norm", (8,), QT.F32, 0), tensor_info("w", (33, 3), QT.Q8_0, 32)]),
        "row length 33 is not a multiple of the Q8_0 block size 32 (inconsistent shape)",
    ),
    "bad_shape_too_big": (
        build(
            infos=[tensor_info("norm", (8,), QT.F32, 0), tensor_info("w", (64, 30000), QT.Q8_0, 32)]
        ),
        "tensor 'w' (Q8_0 (30000, 64), 2040000 bytes at offset 32) ends at byte",
    ),
    "bad_shape_zero_dim": (
        build(infos=[tensor_info("norm", (8,), QT.F32, 0), tensor_info("w", (64, 0), QT.Q8_0, 32)]),
        "tensor 'w' has an invalid shape (64, 0)",
    ),
    "bad_n_dims": (
        build(
            infos=[
                tensor_info("norm", (8,), QT.F32, 0),
                tensor_info("w", (64, 3, 1, 1, 1), QT.Q8_0, 32),
            ]
        ),
        "tensor 'w' has 5 dimensions (1 to 4 allowed)",
    ),
    "bad_offset_past_end": (
        build(
            infos=[
                tensor_info("norm", (8,), QT.F32, 0),
                tensor_info("w", (64, 3), QT.Q8_0, 1 << 40),
            ]
        ),
        "past the end of the",
    ),
    "bad_offset_misaligned": (
        build(infos=[tensor_info("norm", (8,), QT.F32, 0), tensor_info("w", (64, 3), QT.Q8_0, 36)]),
        "tensor 'w' offset 36 is not aligned to 32 bytes",
    ),
    "overlapping_tensors": (
        build(infos=[tensor_info("norm", (8,), QT.F32, 0), tensor_info("w", (64, 3), QT.Q8_0, 0)]),
        "overlap in the file",
    ),
    "duplicate_tensor": (
        build(infos=[tensor_info("w", (8,), QT.F32, 0), tensor_info("w", (64, 3), QT.Q8_0, 32)]),
        "tensor 'w' appears twice",
    ),
    "huge_string_length": (
        build(kvs=[kv("general.architecture", VT.STRING, gstr("llama", 1 << 60))]),
        "file ends inside the header",
    ),
    "huge_key_length": (
        build(kvs=[kv("general.architecture", VT.STRING, gstr("llama"), key_len=(1 << 64) - 1)]),
        "file ends inside the header",
    ),
    "huge_array_count": (
        build(kvs=[kv("tokenizer.ggml.tokens", VT.ARRAY, struct.pack("<IQ", VT.STRING, 1 << 60))]),
        "array of 1152921504606846976 items runs past the end of the file",
    ),
    "huge_number_array": (
        build(kvs=[kv("tokenizer.ggml.scores", VT.ARRAY, struct.pack("<IQ", VT.FLOAT32, 1 << 61))]),
        "runs past the end of the file",
    ),
    "huge_tensor_count": (build(n_tensors=1 << 62), "header announces 4611686018427387904 tensors"),
    "huge_kv_count": (build(n_kv=1 << 63), "header announces 9223372036854775808 metadata entries"),
    "unknown_value_type": (
        build(kvs=[kv("general.architecture", 42, b"xxxx")]),
        "metadata 'general.architecture' (entry 0) has unknown value type 42",
    ),
    "unknown_array_item_type": (
        build(kvs=[kv("x", VT.ARRAY, struct.pack("<IQ", 77, 1))]),
        "metadata 'x' array items has unknown value type 77",
    ),
    "deeply_nested_arrays": (
        build(
            kvs=[
                kv(
                    "x",
                    VT.ARRAY,
                    struct.pack("<IQ", VT.ARRAY, 1) * 20 + struct.pack("<IQ", VT.UINT8, 0),
                )
            ]
        ),
        "metadata 'x' nests arrays too deeply",
    ),
    "bad_alignment": (
        build(kvs=[kv("general.alignment", VT.UINT32, struct.pack("<I", 48))]),
        "general.alignment 48 is not a power of two",
    ),
    "duplicate_key": (
        build(kvs=[kv("a", VT.UINT8, b"\1"), kv("a", VT.UINT8, b"\2")]),
        "metadata key 'a' appears twice",
    ),
}


def test_valid_builder_file_opens(tmp_path: Path) -> None:
    path = tmp_path / "valid.gguf"
    path.write_bytes(VALID)
    f = GGUFFile.open(path)
    assert f.tensors["w"].shape == (3, 64) and f.tensors["norm"].shape == (8,)
    np.testing.assert_array_equal(f.tensors["norm"].dequantize(), np.arange(8, dtype=np.float32))
    assert f.tensors["w"].data.tobytes() == q8_tensor(3, 64)


@pytest.mark.parametrize("case", sorted(CASES))
def test_corrupt_file_raises_clear_error(case: str, tmp_path: Path) -> None:
    raw, message = CASES[case]
    path = tmp_path / f"{case}.gguf"
    path.write_bytes(raw)
    with pytest.raises(ModelFormatError) as info:
        GGUFFile.open(path)
    assert info.value.path == str(path)
    assert str(info.value).startswith(str(path) + ": ")
    assert message in info.value.problem


def test_every_truncation_raises(tmp_path: Path) -> None:
    """Cut the valid file at every byte: each prefix is rejected, none is silently accepted."""
    path = tmp_path / "cut.gguf"
    for n in range(len(VALID)):
        path.write_bytes(VALID[:n])
        with pytest.raises(ModelFormatError):
            GGUFFile.open(path)


CHILD = r"""
import json, random, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
from pathlib import Path
from datashark.engine.errors import ModelFormatError
from datashark.engine.gguf_file import GGUFFile

def outcome(path):
    try:
        GGUFFile.open(path)
        return "ok"
    except ModelFormatError as exc:
        return "ModelFormatError: " + exc.problem
    except BaseException as exc:  # anything else is a defect the test reports
        return f"OTHER {type(exc).__name__}: {exc}"

folder = Path(sys.argv[1])
results = {p.name: outcome(p) for p in sorted(folder.glob("case_*.gguf"))}
valid = (folder / "valid.gguf").read_bytes()
rnd = random.Random(5)
fuzz = folder / "fuzz.gguf"
for i in range(400):
    data = bytearray(valid)
    for _ in range(rnd.randint(1, 4)):
        pos = rnd.randrange(0, 200)  # the header, where the sizes and offsets live
        data[pos] = rnd.randrange(256)
    if rnd.random() < 0.3:
        data = data[: rnd.randrange(len(data))]
    fuzz.write_bytes(bytes(data))
    results[f"fuzz_{i}"] = outcome(fuzz)
print(json.dumps(results))
"""


def test_corrupt_files_never_crash_the_process(tmp_path: Path) -> None:
    for case, (raw, _) in CASES.items():
        (tmp_path / f"case_{case}.gguf").write_bytes(raw)
    (tmp_path / "valid.gguf").write_bytes(VALID)
    res = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, f"child died with {res.returncode}: {res.stderr[-2000:]}"
    results = json.loads(res.stdout)
    for case in CASES:
        assert results[f"case_{case}.gguf"].startswith("ModelFormatError: "), case
    others = {k: v for k, v in results.items() if v.startswith("OTHER")}
    assert not others, others
    # the mutations did hit the checks (not all of them happen to leave a valid file)
    assert sum(v.startswith("ModelFormatError") for v in results.values()) > 100
