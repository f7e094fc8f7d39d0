"""GGUFFile: a validated, memory-mapped GGUF model file (metadata + quantized tensors).

Where it comes from: the GGUF specification (ggml `docs/gguf.md`, versions 2 and 3). The header
is parsed here rather than by gguf-py's GGUFReader so that every length, count, size and offset is
checked against the file size *before* it is used: a corrupt header (a string length of 2**60, a
tensor past the end of the file, an unknown type) raises `ModelFormatError(path, problem)` and never
crashes, hangs or allocates in proportion to a bogus number. Tensor data is never read here: each
`QTensor.data` is a view into one read-only mmap of the file.

Not handled: GGUF version 1 (32-bit lengths, obsolete since 2023) and big-endian files (both are
rejected with a clear message); tensor types outside `quants.FORMATS`.
"""

from __future__ import annotations

import math
import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFValueType

from datashark.engine.errors import ModelFormatError
from datashark.engine.quants import FORMATS
from datashark.engine.tensor import QTensor

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_ARRAY_NESTING = 8

# value type -> (struct format, byte size) for the fixed-size scalar types
_SCALARS: dict[int, tuple[str, int]] = {
    GGUFValueType.UINT8: ("<B", 1),
    GGUFValueType.INT8: ("<b", 1),
    GGUFValueType.UINT16: ("<H", 2),
    GGUFValueType.INT16: ("<h", 2),
    GGUFValueType.UINT32: ("<I", 4),
    GGUFValueType.INT32: ("<i", 4),
    GGUFValueType.FLOAT32: ("<f", 4),
    GGUFValueType.BOOL: ("<?", 1),
    GGUFValueType.UINT64: ("<Q", 8),
    GGUFValueType.INT64: ("<q", 8),
    GGUFValueType.FLOAT64: ("<d", 8),
}
# value type -> numpy dtype, for reading arrays of scalars in one step
_DTYPES: dict[int, str] = {
    GGUFValueType.UINT8: "<u1",
    GGUFValueType.INT8: "<i1",
    GGUFValueType.UINT16: "<u2",
    GGUFValueType.INT16: "<i2",
    GGUFValueType.UINT32: "<u4",
    GGUFValueType.INT32: "<i4",
    GGUFValueType.FLOAT32: "<f4",
    GGUFValueType.UINT64: "<u8",
    GGUFValueType.INT64: "<i8",
    GGUFValueType.FLOAT64: "<f8",
    GGUFValueType.BOOL: "?",
}
_MIN_KV_BYTES = 8 + 4 + 1  # empty key, type, smallest value
_MIN_TENSOR_INFO_BYTES = 8 + 4 + 8 + 4 + 8  # empty name, n_dims, one dim, type, offset


class _Truncated(Exception):
    """The header ends before a field it announces."""


class _Cursor:
    """Bounds-checked little-endian reads from a buffer; every read checks the remaining size."""

    def __init__(self, buf: mmap.mmap | bytes, size: int) -> None:
        self.buf = buf
        self.size = size
        self.pos = 0

    @property
    def remaining(self) -> int:
        return self.size - self.pos

    def take(self, n: int) -> int:
        """Advance by n bytes and return the old position (raises _Truncated past the end)."""
        if n < 0 or n > self.size - self.pos:
            raise _Truncated
        start = self.pos
        self.pos += n
        return start

    def scalar(self, fmt: str, n: int) -> int | float | bool:
        return struct.unpack_from(fmt, self.buf, self.take(n))[0]

    def u32(self) -> int:
        return int(self.scalar("<I", 4))

    def u64(self) -> int:
        return int(self.scalar("<Q", 8))

    def string(self) -> str:
        n = self.u64()
        start = self.take(n)  # checked against the file size before any allocation
        # surrogateescape keeps invalid UTF-8 bytes recoverable (str.encode(..., "surrogateescape"))
        return bytes(self.buf[start : start + n]).decode("utf-8", "surrogateescape")


@dataclass
class GGUFFile:
    """An opened GGUF file: `metadata` (plain Python values) and `tensors` (QTensor views)."""

    path: Path
    version: int
    metadata: dict[str, object]
    value_types: dict[str, GGUFValueType]  # the GGUF type of each metadata value
    tensors: dict[str, QTensor]
    alignment: int
    data_offset: int  # file offset where tensor data starts
    file_size: int
    _mmap: mmap.mmap | None = field(default=None, repr=False)

    @classmethod
    def open(cls, path: str | Path) -> GGUFFile:
        """Open, validate and memory-map `path`; raises ModelFormatError naming the problem."""
        path = Path(path)
        try:
            with open(path, "rb") as fh:
                size = fh.seek(0, 2)
                if size < 4 + 4 + 8 + 8:
                    raise ModelFormatError(path, f"file is {size} bytes, too small to be GGUF")
                mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as exc:
            raise ModelFormatError(path, f"cannot read file: {exc.strerror or exc}") from exc
        try:
            return _parse(path, mm, size)
        except _Truncated:
            raise ModelFormatError(
                path, "file ends inside the header (truncated or corrupt)"
            ) from None

    def __repr__(self) -> str:
        arch = self.metadata.get("general.architecture")
        return f"GGUFFile({str(self.path)!r}, v{self.version}, arch={arch!r}, tensors={len(self.tensors)})"


def _parse(path: Path, mm: mmap.mmap, size: int) -> GGUFFile:
    cur = _Cursor(mm, size)
    magic = bytes(mm[0:4])
    cur.take(4)
    if magic != GGUF_MAGIC:
        raise ModelFormatError(path, f"bad magic {magic!r}: not a GGUF file")
    version = cur.u32()
    if version not in SUPPORTED_VERSIONS:
        if version & 0xFFFF == 0 and (version >> 16) != 0:
            raise ModelFormatError(path, "big-endian GGUF files are not supported")
        raise ModelFormatError(path, f"GGUF version {version} is not supported (supported: 2, 3)")
    n_tensors = cur.u64()
    n_kv = cur.u64()
    if n_kv > cur.remaining // _MIN_KV_BYTES:
        raise ModelFormatError(
            path,
            f"header announces {n_kv} metadata entries, more than a {size}-byte file can hold "
            f"(truncated or corrupt)",
        )
    if n_tensors > cur.remaining // _MIN_TENSOR_INFO_BYTES:
        raise ModelFormatError(
            path,
            f"header announces {n_tensors} tensors, more than a {size}-byte file can hold "
            f"(truncated or corrupt)",
        )

    metadata: dict[str, object] = {}
    value_types: dict[str, GGUFValueType] = {}
    for i in range(n_kv):
        key = cur.string()
        vtype = cur.u32()
        if key in metadata:
            raise ModelFormatError(path, f"metadata key {key!r} appears twice")
        value_types[key] = _value_type(path, vtype, f"metadata {key!r} (entry {i})")
        metadata[key] = _read_value(path, cur, vtype, key, 0)

    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if (
        not isinstance(alignment, int)
        or isinstance(alignment, bool)
        or alignment <= 0
        or alignment & (alignment - 1)
    ):
        raise ModelFormatError(path, f"general.alignment {alignment!r} is not a power of two")

    infos = [_read_tensor_info(path, cur) for _ in range(n_tensors)]
    data_offset = -(-cur.pos // alignment) * alignment
    if data_offset > size:
        raise ModelFormatError(path, "file ends before the tensor data starts (truncated)")

    data = np.frombuffer(mm, dtype=np.uint8)
    tensors: dict[str, QTensor] = {}
    spans: list[tuple[int, int, str]] = []
    for name, dims, qtype, offset in infos:
        if name in tensors:
            raise ModelFormatError(path, f"tensor {name!r} appears twice")
        fmt = FORMATS[qtype]
        shape = tuple(reversed(dims))  # gguf ne is (cols, rows, ...); ours is row-major
        nbytes = math.prod(dims[1:]) * (dims[0] // fmt.block_size) * fmt.type_size
        if offset % alignment:
            raise ModelFormatError(
                path, f"tensor {name!r} offset {offset} is not aligned to {alignment} bytes"
            )
        start = data_offset + offset
        if start + nbytes > size:
            raise ModelFormatError(
                path,
                f"tensor {name!r} ({fmt.name} {shape}, {nbytes} bytes at offset {offset}) ends at "
                f"byte {start + nbytes}, past the end of the {size}-byte file (truncated or bad "
                f"offset)",
            )
        spans.append((start, start + nbytes, name))
        tensors[name] = QTensor(
            name, GGMLQuantizationType(qtype), shape, data[start : start + nbytes]
        )
    spans.sort()
    for (_, end_a, name_a), (start_b, _, name_b) in zip(spans, spans[1:], strict=False):
        if start_b < end_a:
            raise ModelFormatError(path, f"tensors {name_a!r} and {name_b!r} overlap in the file")
    return GGUFFile(
        path=path,
        version=version,
        metadata=metadata,
        value_types=value_types,
        tensors=tensors,
        alignment=alignment,
        data_offset=data_offset,
        file_size=size,
        _mmap=mm,
    )


def _value_type(path: Path, vtype: int, what: str) -> GGUFValueType:
    try:
        return GGUFValueType(vtype)
    except ValueError:
        raise ModelFormatError(path, f"{what} has unknown value type {vtype}") from None


def _read_value(path: Path, cur: _Cursor, vtype: int, key: str, depth: int) -> object:
    scalar = _SCALARS.get(vtype)
    if scalar is not None:
        value = cur.scalar(*scalar)
        return bool(value) if vtype == GGUFValueType.BOOL else value
    if vtype == GGUFValueType.STRING:
        return cur.string()
    if vtype != GGUFValueType.ARRAY:
        _value_type(path, vtype, f"metadata {key!r}")
        raise ModelFormatError(path, f"metadata {key!r} has unsupported value type {vtype}")
    if depth >= MAX_ARRAY_NESTING:
        raise ModelFormatError(path, f"metadata {key!r} nests arrays too deeply")
    itype = cur.u32()
    _value_type(path, itype, f"metadata {key!r} array items")
    count = cur.u64()
    if itype in _DTYPES:
        itemsize = _SCALARS[itype][1]
        if count > cur.remaining // itemsize:
            raise ModelFormatError(
                path, f"metadata {key!r}: array of {count} items runs past the end of the file"
            )
        start = cur.take(count * itemsize)
        return np.frombuffer(cur.buf, dtype=_DTYPES[itype], count=count, offset=start).tolist()
    # strings and nested arrays take at least 8 bytes each (their own length)
    if count > cur.remaining // 8:
        raise ModelFormatError(
            path, f"metadata {key!r}: array of {count} items runs past the end of the file"
        )
    if itype == GGUFValueType.STRING:
        return _read_strings(cur, count)
    return [_read_value(path, cur, itype, key, depth + 1) for _ in range(count)]


def _read_strings(cur: _Cursor, count: int) -> list[str]:
    """`count` GGUF strings (the hot loop for tokenizer vocabularies of 100k+ entries)."""
    buf, size, pos = cur.buf, cur.size, cur.pos
    unpack = struct.Struct("<Q").unpack_from
    out: list[str] = []
    append = out.append
    for _ in range(count):
        if pos + 8 > size:
            raise _Truncated
        (n,) = unpack(buf, pos)
        pos += 8
        if n > size - pos:
            raise _Truncated
        append(buf[pos : pos + n].decode("utf-8", "surrogateescape"))
        pos += n
    cur.pos = pos
    return out


def _read_tensor_info(path: Path, cur: _Cursor) -> tuple[str, tuple[int, ...], int, int]:
    name = cur.string()
    n_dims = cur.u32()
    if not 1 <= n_dims <= MAX_DIMS:
        raise ModelFormatError(path, f"tensor {name!r} has {n_dims} dimensions (1 to 4 allowed)")
    dims = tuple(cur.u64() for _ in range(n_dims))
    qtype = cur.u32()
    offset = cur.u64()
    if qtype not in FORMATS:
        try:
            what = f"type {GGMLQuantizationType(qtype).name} ({qtype}), which is not supported"
        except ValueError:
            what = f"unknown tensor type {qtype}"
        supported = ", ".join(f.name for f in FORMATS.values())
        raise ModelFormatError(path, f"tensor {name!r} has {what} (supported: {supported})")
    fmt = FORMATS[qtype]
    if any(d <= 0 for d in dims) or math.prod(dims) >= 1 << 62:
        raise ModelFormatError(path, f"tensor {name!r} has an invalid shape {dims}")
    if dims[0] % fmt.block_size:
        raise ModelFormatError(
            path,
            f"tensor {name!r}: row length {dims[0]} is not a multiple of the {fmt.name} block "
            f"size {fmt.block_size} (inconsistent shape)",
        )
    return name, dims, qtype, offset
