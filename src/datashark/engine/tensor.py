"""QTensor: one weight tensor kept in its quantized GGML blocks, usually a view into a mmap.

Shapes are in row-major (PyTorch) order: a GGUF tensor with ne = (cols, rows) has
`shape == (rows, cols)`, rows = output features, cols = input features. `data` is the raw bytes
(flat uint8, no copy). Matrix products go through `datashark.native.matmul`, which reads the
blocks directly; `dequantize()` expands to float32 and is meant for small tensors (norm weights,
biases) and tests only.

Not handled: tensors whose last dimension is not a whole number of blocks (the GGUF reader
rejects them before a QTensor is made).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from gguf import GGMLQuantizationType

from datashark.engine.quants import QuantFormat, dequantize, quant_format


@dataclass(frozen=True, eq=False)
class QTensor:
    """A quantized tensor: `name`, `qtype`, `shape` (rows, cols) and raw bytes `data`."""

    name: str
    qtype: GGMLQuantizationType
    shape: tuple[int, ...]
    data: np.ndarray  # flat uint8, nbytes == n_rows * row_nbytes
    fmt: QuantFormat = field(init=False, repr=False)
    ptr: int = field(init=False, repr=False)  # address of data[0], for the C kernels
    rows: int = field(init=False, repr=False)  # all dimensions but the last (1 for a vector)
    cols: int = field(init=False, repr=False)  # the last dimension (input features)
    kernel_args: tuple[int, int, int, int] = field(init=False, repr=False)  # qtype, ptr, rows, cols

    def __post_init__(self) -> None:
        fmt = quant_format(self.qtype)
        if self.data.dtype != np.uint8 or self.data.ndim != 1 or not self.data.flags.c_contiguous:
            raise ValueError(f"{self.name}: data must be a flat contiguous uint8 array")
        if not self.shape or any(int(s) <= 0 for s in self.shape):
            raise ValueError(f"{self.name}: bad shape {self.shape}")
        expected = math.prod(self.shape[:-1]) * fmt.row_nbytes(self.shape[-1])
        if self.data.size != expected:
            raise ValueError(
                f"{self.name}: {self.data.size} bytes, but {fmt.name} {self.shape} needs {expected}"
            )
        object.__setattr__(self, "qtype", GGMLQuantizationType(int(self.qtype)))
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(self, "fmt", fmt)
        object.__setattr__(self, "ptr", int(self.data.ctypes.data) if self.data.size else 0)
        object.__setattr__(self, "rows", math.prod(self.shape[:-1]))
        object.__setattr__(self, "cols", self.shape[-1])
        object.__setattr__(self, "kernel_args", (int(self.qtype), self.ptr, self.rows, self.cols))

    @classmethod
    def from_bytes(cls, name: str, qtype: int, shape: tuple[int, ...], raw: np.ndarray) -> QTensor:
        """A QTensor over `raw` (any uint8 array of the right size; flattened without copy)."""
        return cls(
            name,
            GGMLQuantizationType(int(qtype)),
            tuple(shape),
            np.ascontiguousarray(raw, dtype=np.uint8).reshape(-1),
        )

    @property
    def row_nbytes(self) -> int:
        return self.fmt.row_nbytes(self.cols)

    @property
    def nbytes(self) -> int:
        return int(self.data.size)

    def row_bytes(self) -> np.ndarray:
        """The data as (rows, row_nbytes) uint8, a view."""
        return self.data.reshape((self.rows, self.row_nbytes))

    def dequantize(self) -> np.ndarray:
        """The whole tensor as float32 of `shape`. Expands everything: small tensors only."""
        return dequantize(self.data, self.qtype).reshape(self.shape)

    def __repr__(self) -> str:
        return f"QTensor({self.name!r}, {self.qtype.name}, shape={self.shape})"
