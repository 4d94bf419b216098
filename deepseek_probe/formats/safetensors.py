"""safetensors headers: tensor names, dtypes, shapes and data offsets -> bytes and parameters.

Layout (huggingface/safetensors, docs "Format" and safetensors/src/tensor.rs `SafeTensors::read_metadata`,
v0.6): 8-byte little-endian unsigned header length N, N bytes of UTF-8 JSON
`{"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}`,
then the data buffer; offsets are relative to the buffer start. The reference reader rejects a header
larger than 100 000 000 bytes (`MAX_HEADER_SIZE`) and offsets that are not contiguous
(`validate`: each tensor begins where the previous one ended, end - begin = elements x dtype size).

Only the header is read, never the weights. `header_only=True` accepts a file whose data buffer is
shorter than the header promises (a partial download, or our fixtures) and says so in the summary.
"""

from __future__ import annotations

import json
import os
import struct
from typing import BinaryIO, Dict, List, Optional, Tuple

from deepseek_probe.formats.errors import HeaderError, read_bytes, read_path
from deepseek_probe.records import field, record

# safetensors/src/tensor.rs `MAX_HEADER_SIZE` (v0.6).
MAX_HEADER_BYTES = 100_000_000

# Bits per element: safetensors/src/tensor.rs `Dtype::bitsize` (v0.6; F4/F6 are the MX sub-byte types).
DTYPE_BITS: Dict[str, int] = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32,
    "I64": 64, "U64": 64, "F64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}

# A single tensor above 2^48 bytes (256 TiB) is no real checkpoint: a corrupt shape.
_MAX_TENSOR_BYTES = 1 << 48


@record
class SafetensorsSummary:
    """What one safetensors file (or a sharded set, summed) holds, from its header(s) only."""

    path: str
    files: int = 1
    tensor_count: int = 0
    params: int = 0
    header_bytes: int = 0  # 8-byte length + JSON, summed over shards
    data_bytes: int = 0  # tensor data the header(s) promise
    file_bytes: Optional[int] = None  # bytes on disk (None: not known, e.g. parsed from bytes)
    bytes_by_dtype: Dict[str, int] = field(default_factory=dict)
    params_by_dtype: Dict[str, int] = field(default_factory=dict)
    metadata: Dict[str, str] = field(default_factory=dict)

    @property
    def expected_file_bytes(self) -> int:
        return self.header_bytes + self.data_bytes

    @property
    def complete(self) -> Optional[bool]:
        """True when the bytes on disk cover what the header promises (None: size unknown)."""
        return None if self.file_bytes is None else self.file_bytes >= self.expected_file_bytes

    def add(self, other: "SafetensorsSummary") -> None:
        self.files += other.files
        self.tensor_count += other.tensor_count
        self.params += other.params
        self.header_bytes += other.header_bytes
        self.data_bytes += other.data_bytes
        if self.file_bytes is not None and other.file_bytes is not None:
            self.file_bytes += other.file_bytes
        else:
            self.file_bytes = None
        for k, v in other.bytes_by_dtype.items():
            self.bytes_by_dtype[k] = self.bytes_by_dtype.get(k, 0) + v
        for k, v in other.params_by_dtype.items():
            self.params_by_dtype[k] = self.params_by_dtype.get(k, 0) + v


def parse_header(head: bytes, path: str, data_available: Optional[int] = None,
                 header_only: bool = False) -> SafetensorsSummary:
    """Summary from the JSON header bytes (`head`, without the 8-byte length).

    data_available: bytes present after the header (None: unknown). Without header_only, a data
    buffer of another size than the header promises is an error.
    """
    try:
        doc = json.loads(head)
    except (ValueError, UnicodeDecodeError) as e:
        raise HeaderError(path, f"safetensors header is not valid JSON ({str(e).splitlines()[0][:80]})") from None
    if not isinstance(doc, dict):
        raise HeaderError(path, "safetensors header is not a JSON object")
    s = SafetensorsSummary(path=path, header_bytes=8 + len(head))
    meta = doc.pop("__metadata__", None)
    if meta is not None:
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            raise HeaderError(path, "safetensors __metadata__ must map strings to strings")
        s.metadata = dict(meta)
    spans: List[Tuple[int, int, str]] = []
    by_bytes, by_params = s.bytes_by_dtype, s.params_by_dtype
    bits_of = DTYPE_BITS.get
    for name, t in doc.items():
        try:  # the common, valid case costs three lookups; anything odd is checked below
            dtype, shape, (begin, stop) = t["dtype"], t["shape"], t["data_offsets"]
            bits = bits_of(dtype)
        except (TypeError, KeyError, ValueError):
            raise HeaderError(path, f"tensor {name!r}: entry needs dtype, shape and two data_offsets") from None
        if bits is None:
            raise HeaderError(path, f"tensor {name!r}: unknown dtype {dtype!r}")
        if type(shape) is not list:
            raise HeaderError(path, f"tensor {name!r}: shape {shape!r} is not a list")
        n = 1
        for d in shape:
            if type(d) is not int or d < 0:
                raise HeaderError(path, f"tensor {name!r}: shape {shape!r} is not a list of non-negative integers")
            n *= d
        if type(begin) is not int or type(stop) is not int or begin < 0 or stop < begin:
            raise HeaderError(path, f"tensor {name!r}: bad data_offsets {[begin, stop]!r}")
        nbits = n * bits
        if nbits & 7:
            raise HeaderError(path, f"tensor {name!r}: {n} x {bits}-bit elements is not a whole number of bytes")
        nbytes = nbits >> 3
        if nbytes > _MAX_TENSOR_BYTES:
            raise HeaderError(path, f"tensor {name!r}: implausible size {nbytes} bytes (shape {shape})")
        if stop - begin != nbytes:
            raise HeaderError(path, f"tensor {name!r}: data_offsets span {stop - begin} bytes, "
                                    f"{dtype} {shape} needs {nbytes}")
        spans.append((begin, stop, name))
        if dtype in by_bytes:
            by_bytes[dtype] += nbytes
            by_params[dtype] += n
        else:
            by_bytes[dtype], by_params[dtype] = nbytes, n
        s.params += n
    spans.sort()
    end = 0
    for begin, stop, name in spans:
        if begin != end:
            what = "overlaps the previous tensor" if begin < end else f"leaves a gap of {begin - end} bytes"
            raise HeaderError(path, f"tensor {name!r}: data_offsets [{begin}, {stop}] {what}")
        end = stop
    s.tensor_count = len(spans)
    s.data_bytes = end
    if data_available is not None and not header_only and data_available != end:
        raise HeaderError(path, f"data buffer is {data_available} bytes, the header describes {end}")
    return s


def read_header(f: BinaryIO, path: str, file_size: Optional[int] = None,
                header_only: bool = True) -> SafetensorsSummary:
    """Summary of an open safetensors file; reads 8 + header bytes, never the tensor data."""
    raw = f.read(8)
    if len(raw) < 8:
        raise HeaderError(path, f"too short for a safetensors file ({len(raw)} bytes)")
    (n,) = struct.unpack("<Q", raw)
    if n > MAX_HEADER_BYTES:
        raise HeaderError(path, f"safetensors header length {n} exceeds the format's limit of {MAX_HEADER_BYTES}")
    if file_size is not None and 8 + n > file_size:
        raise HeaderError(path, f"safetensors header length {n} runs past the end of the file ({file_size} bytes)")
    head = f.read(n)
    if len(head) < n:
        raise HeaderError(path, f"safetensors header cut short: {len(head)} of {n} bytes")
    avail = None if file_size is None else file_size - 8 - n
    s = parse_header(head, path, avail, header_only)
    s.file_bytes = file_size
    return s


def read_file(path: str, header_only: bool = True) -> SafetensorsSummary:
    """Summary of one .safetensors file on disk (header only)."""
    return read_path(path, read_header, header_only)


def read_index(path: str) -> List[str]:
    """Shard file names listed by a model.safetensors.index.json (weight_map values, in order)."""
    raw = read_bytes(path, MAX_HEADER_BYTES)
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise HeaderError(path, "safetensors index is not valid JSON") from None
    wm = doc.get("weight_map") if isinstance(doc, dict) else None
    if not isinstance(wm, dict) or not wm:
        raise HeaderError(path, "safetensors index has no weight_map")
    shards: List[str] = []
    seen = set()
    for v in wm.values():
        if not isinstance(v, str) or "/" in v or "\\" in v or v.startswith("."):
            raise HeaderError(path, f"safetensors index names a bad shard {v!r}")
        if v not in seen:
            seen.add(v)
            shards.append(v)
    return shards


def read_model(folder: str, header_only: bool = True) -> SafetensorsSummary:
    """Summary of a model folder: model.safetensors.index.json and its shards, else the one
    model.safetensors, else every *.safetensors file in it."""
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        names = read_index(index)
    elif os.path.exists(os.path.join(folder, "model.safetensors")):
        names = ["model.safetensors"]
    else:
        try:
            names = sorted(n for n in os.listdir(folder) if n.endswith(".safetensors"))
        except OSError as e:
            raise HeaderError(folder, f"cannot list: {e.strerror or e}") from None
        if not names:
            raise HeaderError(folder, "no .safetensors files")
    total: Optional[SafetensorsSummary] = None
    for name in names:
        s = read_file(os.path.join(folder, name), header_only)
        if total is None:
            total = s
            total.path = folder
        else:
            total.add(s)
    assert total is not None
    return total
