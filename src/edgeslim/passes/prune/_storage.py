"""Sparse storage: weights stored as a bitmask or CSR so that zeros really stop costing bytes.

``pack_tensor`` stores one array as

* ``dense``: the values as they are;
* ``bitmask``: one bit per element (non-zero or not) plus the non-zero values;
* ``csr``: the 2-D view ``(rows, -1)`` as row pointers, column indices (uint8/16/32, the
  smallest that fits) and the non-zero values;

``auto`` picks the smallest. A *sparse artifact* (``.esw``) is the exported ONNX graph with its
parameter initializers taken out and stored packed. Layout: ``b"ESW1"``, a little-endian u32
header length, the JSON header (tensors with their format, shape, dtype and parts as offsets
into the payload), a u64 graph length, the ONNX graph without those initializers, the payload.
:func:`read_sparse_artifact` rebuilds the dense ONNX model (every value bit for bit), which
onnxruntime runs with dense kernels: the sparse file saves storage and transfer, not time.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from edgeslim._core.errors import ModelError
from edgeslim._core.io import atomic_write, ensure_writable

SPARSE_FORMATS = ("auto", "dense", "bitmask", "csr")
MAGIC = b"ESW1"


@dataclass(frozen=True, slots=True)
class PackedTensor:
    name: str
    dtype: str
    shape: tuple[int, ...]
    format: str
    parts: tuple[tuple[str, np.ndarray], ...]

    @property
    def nbytes(self) -> int:
        return sum(int(a.nbytes) for _, a in self.parts)


@dataclass(frozen=True, slots=True)
class SparseArtifact:
    """A written sparse artifact: its path and bytes; per tensor (name, format, bytes, dense)."""

    path: Path
    bytes: int
    graph_bytes: int
    tensors: tuple[tuple[str, str, int, int], ...]


def _index_dtype(limit: int) -> np.dtype:
    for dt in (np.uint8, np.uint16, np.uint32):
        if limit <= np.iinfo(dt).max + 1:
            return np.dtype(dt)
    return np.dtype(np.uint64)


def _pack(name: str, arr: np.ndarray, fmt: str) -> PackedTensor:
    flat = arr.reshape(-1)
    nz = flat != 0
    parts: tuple[tuple[str, np.ndarray], ...]
    if fmt == "bitmask":
        parts = (("mask", np.packbits(nz)), ("values", flat[nz]))
    elif fmt == "csr":
        rows = arr.reshape(arr.shape[0], -1) if arr.ndim > 1 else arr.reshape(1, -1)
        r, c = np.nonzero(rows)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=rows.shape[0]))])
        parts = (
            ("indptr", indptr.astype(_index_dtype(int(indptr[-1]) + 1))),
            ("indices", c.astype(_index_dtype(rows.shape[1]))),
            ("values", rows[r, c]),
        )
    else:
        parts = (("values", flat),)
    return PackedTensor(name, str(arr.dtype), tuple(arr.shape), fmt, parts)


def pack_tensor(name: str, arr: np.ndarray, fmt: str = "auto") -> PackedTensor:
    """``arr`` in format ``fmt`` (one of :data:`SPARSE_FORMATS`; ``auto``: the smallest)."""
    if fmt not in SPARSE_FORMATS:
        raise ModelError(f"sparse format must be one of {', '.join(SPARSE_FORMATS)}; got {fmt!r}")
    arr = np.ascontiguousarray(arr)
    if fmt != "auto":
        return _pack(name, arr, fmt)
    options = [_pack(name, arr, f) for f in ("dense", "bitmask", "csr")]
    return min(options, key=lambda p: p.nbytes)


def unpack_tensor(p: PackedTensor) -> np.ndarray:
    parts = dict(p.parts)
    size = int(np.prod(p.shape)) if p.shape else 1
    if p.format == "dense":
        return parts["values"].reshape(p.shape)
    out = np.zeros(size, dtype=p.dtype)
    if p.format == "bitmask":
        mask = np.unpackbits(parts["mask"])[:size].astype(bool)
        out[mask] = parts["values"]
        return out.reshape(p.shape)
    rows = p.shape[0] if len(p.shape) > 1 else 1
    dense = out.reshape(rows, -1)
    indptr = parts["indptr"].astype(np.int64)
    row_of = np.repeat(np.arange(rows), np.diff(indptr))
    dense[row_of, parts["indices"].astype(np.int64)] = parts["values"]
    return dense.reshape(p.shape)


def write_sparse_artifact(
    onnx_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    fmt: str = "auto",
    min_elements: int = 16,
    force: bool = False,
) -> SparseArtifact:
    """Pack the float initializers (>= ``min_elements``) of an ONNX file into ``out_path``."""
    model = onnx.load(str(onnx_path))
    target = ensure_writable(out_path, force)
    keep, packed = [], []
    for init in model.graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype.kind == "f" and arr.size >= min_elements:
            packed.append(pack_tensor(init.name, arr, fmt))
        else:
            keep.append(init)
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
    graph = model.SerializeToString()
    header, payload, offset = [], [], 0
    for p in packed:
        parts = []
        for part, arr in p.parts:
            data = np.ascontiguousarray(arr).tobytes()
            parts.append([part, str(arr.dtype), offset, len(data)])
            payload.append(data)
            offset += len(data)
        header.append(
            {
                "name": p.name,
                "dtype": p.dtype,
                "shape": list(p.shape),
                "format": p.format,
                "parts": parts,
            }
        )
    head = json.dumps({"tensors": header}, separators=(",", ":")).encode()
    blob = MAGIC + struct.pack("<I", len(head)) + head + struct.pack("<Q", len(graph)) + graph
    with atomic_write(target) as tmp:
        tmp.write_bytes(blob + b"".join(payload))
    tensors = tuple(
        (p.name, p.format, p.nbytes, int(np.prod(p.shape)) * np.dtype(p.dtype).itemsize)
        for p in packed
    )
    return SparseArtifact(target, len(blob) + offset, len(graph), tensors)


def read_sparse_artifact(path: str | os.PathLike[str]) -> onnx.ModelProto:
    """The dense ONNX model stored in a sparse artifact."""
    data = Path(path).read_bytes()
    if data[:4] != MAGIC:
        raise ModelError(f"{path} is not an edgeslim sparse artifact (no ESW1 header)")
    (hlen,) = struct.unpack_from("<I", data, 4)
    header = json.loads(data[8 : 8 + hlen])
    (glen,) = struct.unpack_from("<Q", data, 8 + hlen)
    start = 16 + hlen
    model = onnx.ModelProto()
    model.ParseFromString(data[start : start + glen])
    base = start + glen
    for t in header["tensors"]:
        parts = tuple(
            (name, np.frombuffer(data[base + off : base + off + n], dtype=dt))
            for name, dt, off, n in t["parts"]
        )
        p = PackedTensor(t["name"], t["dtype"], tuple(t["shape"]), t["format"], parts)
        model.graph.initializer.append(numpy_helper.from_array(unpack_tensor(p), t["name"]))
    return model
