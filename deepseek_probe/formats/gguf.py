"""GGUF headers (v2, v3): metadata key/values and tensor infos -> exact bytes per tensor and type.

Layout: llama.cpp 2026-10 ggml/include/gguf.h (file comment) and ggml/src/gguf.cpp
`gguf_init_from_file_impl`: magic "GGUF", uint32 version, int64 tensor count, int64 KV count; KV
pairs (string key, int32 value type, value; arrays: int32 element type, uint64 count, elements);
tensor infos (string name, uint32 n_dims, int64 ne[n_dims], int32 ggml type, uint64 offset); then
the data blob, aligned to `general.alignment` (default 32, GGUF_DEFAULT_ALIGNMENT). Strings are a
uint64 length and UTF-8 bytes. Version 1 (uint32 counts) is not read by llama.cpp either.

Only the header is read. Bytes per tensor come from ggml block sizes (formats/ggml_types.py).
"""

from __future__ import annotations

import os
import re
import struct
from typing import BinaryIO, Dict, List, Optional, Tuple, Union

from deepseek_probe.errors import InputError
from deepseek_probe.formats.errors import HeaderError, read_path
from deepseek_probe.formats.ggml_types import GGML_TYPES
from deepseek_probe.records import field, record

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32  # gguf.h GGUF_DEFAULT_ALIGNMENT
MAX_DIMS = 4  # ggml.h GGML_MAX_DIMS

# gguf.h enum gguf_type -> struct format (None: string / array, read specially)
_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
           10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_SCALAR_SIZE = {k: struct.calcsize(v) for k, v in _SCALAR.items()}
_U64 = struct.Struct("<Q")

# llama.h enum llama_ftype (general.file_type) -> name, llama.cpp 2026-10.
FILE_TYPES: Dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M",
    18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S",
    25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M",
    32: "BF16", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0", 41: "Q2_0",
}

# Sanity bounds: a real header has < 100k tensors and < 10k keys; a corrupt count would
# otherwise make us loop for ever before hitting the end of the buffer.
_MAX_COUNT = 1 << 24
_MAX_TENSOR_BYTES = 1 << 48
# A corrupt length must not make us read gigabytes of weights as "header": real strings (chat
# templates) are < 1 MiB and real arrays (token types, scores of a 256k vocabulary) < 2 MiB.
_MAX_STRING = 1 << 24
_MAX_ARRAY_BYTES = 1 << 26
# Arrays longer than this are kept as (element type, length) only: tokenizer vocabularies.
_KEEP_ARRAY = 64
# Keys read into `facts` ({arch} replaced): gguf-py/gguf/constants.py Keys.LLM / Keys.Attention.
_FACT_KEYS = ("context_length", "block_count", "embedding_length", "feed_forward_length",
              "attention.head_count", "attention.head_count_kv", "attention.key_length",
              "attention.value_length", "attention.key_length_mla", "attention.value_length_mla",
              "attention.kv_lora_rank", "attention.q_lora_rank", "expert_count", "expert_used_count",
              "expert_shared_count", "expert_feed_forward_length", "leading_dense_block_count",
              "nextn_predict_layers", "vocab_size", "rope.dimension_count", "expert_gating_func")
# llama.cpp src/llama.cpp llama_split_prefix / llama_split_path: "%s-%05d-of-%05d.gguf"
SPLIT_RE = re.compile(r"^(?P<prefix>.*)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")

Value = Union[int, float, bool, str, list, Tuple[str, int]]


@record
class GgufTensor:
    name: str
    ggml_type: str
    shape: Tuple[int, ...]
    offset: int
    nbytes: int

    @property
    def params(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@record
class GgufSummary:
    """One GGUF file's header (or a split model's shards summed; `tensors` then lists them all)."""

    path: str
    version: int = 0
    tensor_count: int = 0
    metadata: Dict[str, Value] = field(default_factory=dict)
    tensors: List[GgufTensor] = field(default_factory=list)
    alignment: int = DEFAULT_ALIGNMENT
    data_offset: int = 0  # where the tensor data starts (header end, aligned)
    data_bytes: int = 0  # tensor data the header promises (last tensor end)
    file_bytes: Optional[int] = None
    files: int = 1
    header_bytes: int = 0  # summed over shards

    # -- derived ---------------------------------------------------------------------------
    @property
    def architecture(self) -> Optional[str]:
        a = self.metadata.get("general.architecture")
        return a if isinstance(a, str) else None

    @property
    def facts(self) -> Dict[str, int]:
        """Architecture numbers under `<arch>.` (block_count, embedding_length, ...)."""
        arch, out = self.architecture, {}
        if arch:
            for k in _FACT_KEYS:
                v = self.metadata.get(f"{arch}.{k}")
                if isinstance(v, int) and not isinstance(v, bool):
                    out[k] = v
        return out

    @property
    def file_type(self) -> Optional[str]:
        ft = self.metadata.get("general.file_type")
        return FILE_TYPES.get(ft, f"unknown({ft})") if isinstance(ft, int) else None

    @property
    def split_count(self) -> int:
        v = self.metadata.get("split.count")
        return v if isinstance(v, int) and v > 0 else 1

    @property
    def params(self) -> int:
        return sum(t.params for t in self.tensors)

    @property
    def bytes_by_type(self) -> Dict[str, int]:
        out: Dict[str, int] = {}
        for t in self.tensors:
            out[t.ggml_type] = out.get(t.ggml_type, 0) + t.nbytes
        return out

    @property
    def expected_file_bytes(self) -> int:
        return self.header_bytes + self.data_bytes

    @property
    def complete(self) -> Optional[bool]:
        return None if self.file_bytes is None else self.file_bytes >= self.expected_file_bytes


class _Reader:
    """Little-endian cursor over a growing buffer filled from a file object in chunks."""

    __slots__ = ("f", "buf", "pos", "path", "eof")

    def __init__(self, f: BinaryIO, path: str) -> None:
        self.f, self.buf, self.pos, self.path, self.eof = f, bytearray(), 0, path, False

    def need(self, n: int) -> None:
        """Make n bytes available at pos, reading 1 MiB chunks (a tokenizer header is 2-10 MiB)."""
        while len(self.buf) - self.pos < n:
            if self.eof:
                raise HeaderError(self.path, f"GGUF header cut short at byte {len(self.buf)}")
            chunk = self.f.read(max(1 << 20, n - (len(self.buf) - self.pos)))
            if not chunk:
                self.eof = True
            self.buf += chunk

    def unpack(self, fmt: str, size: int) -> Tuple:
        self.need(size)
        v = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return v

    def u32(self) -> int:
        return self.unpack("<I", 4)[0]

    def u64(self) -> int:
        return self.unpack("<Q", 8)[0]

    def string(self, what: str) -> str:
        n = self.u64()
        if n > _MAX_STRING:
            raise HeaderError(self.path, f"{what}: string length {n} is implausible")
        self.need(n)
        raw = self.buf[self.pos:self.pos + n]
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("utf-8", "replace")

    def skip_strings(self, count: int, what: str) -> None:
        """Walk `count` length-prefixed strings (a tokenizer: ~300k of them) without decoding.
        The inner loop runs over what is buffered; a string crossing the buffer end is read in."""
        up = _U64.unpack_from
        while count:
            buf, pos, end, done = self.buf, self.pos, len(self.buf), 0
            try:  # the hot loop: one unpack and one compare per string
                for done in range(count):
                    nxt = pos + 8 + up(buf, pos)[0]
                    if nxt > end:
                        break
                    pos = nxt
                else:
                    done = count
            except struct.error:  # fewer than 8 bytes left in the buffer
                pass
            self.pos, count = pos, count - done
            if count:
                self.need(8)
                n = up(self.buf, self.pos)[0]
                if n > _MAX_STRING:
                    raise HeaderError(self.path, f"{what}: string length {n} is implausible")
                self.need(8 + n)


def _value(r: _Reader, vtype: int, key: str) -> Value:
    if vtype in _SCALAR:
        return r.unpack(_SCALAR[vtype], _SCALAR_SIZE[vtype])[0]
    if vtype == _STRING:
        return r.string(key)
    if vtype == _ARRAY:
        etype = r.unpack("<i", 4)[0]
        count = r.u64()
        if count > (1 << 32):
            raise HeaderError(r.path, f"key {key!r}: array of {count} elements is implausible")
        if etype in _SCALAR:
            size = _SCALAR_SIZE[etype] * count
            if size > _MAX_ARRAY_BYTES:
                raise HeaderError(r.path, f"key {key!r}: array of {size} bytes is implausible")
            r.need(size)
            if count <= _KEEP_ARRAY:
                vals = list(struct.unpack_from(f"<{count}{_SCALAR[etype][1]}", r.buf, r.pos))
                r.pos += size
                return vals
            r.pos += size
            return (f"array[{etype}]", count)
        if etype == _STRING:
            if count <= _KEEP_ARRAY:
                return [r.string(key) for _ in range(count)]
            r.skip_strings(count, key)
            return ("array[string]", count)
        if etype == _ARRAY:  # nested arrays: allowed by the format, never seen in models; walk them
            return [_value(r, _ARRAY, key) for _ in range(count)]
        raise HeaderError(r.path, f"key {key!r}: unknown array element type {etype}")
    raise HeaderError(r.path, f"key {key!r}: unknown value type {vtype}")


def read_header(f: BinaryIO, path: str, file_size: Optional[int] = None,
                header_only: bool = True) -> GgufSummary:
    """Summary of an open GGUF file (header only)."""
    r = _Reader(f, path)
    try:
        r.need(4)
    except HeaderError:
        raise HeaderError(path, "too short for a GGUF file") from None
    if r.buf[:4] != GGUF_MAGIC:
        raise HeaderError(path, f"not a GGUF file (magic {bytes(r.buf[:4])!r})")
    r.pos = 4
    version = r.u32()
    if version not in (2, 3):
        raise HeaderError(path, f"GGUF version {version} not supported (2 or 3)")
    n_tensors, n_kv = r.unpack("<qq", 16)
    if not (0 <= n_tensors < _MAX_COUNT and 0 <= n_kv < _MAX_COUNT):
        raise HeaderError(path, f"implausible counts: {n_tensors} tensors, {n_kv} keys")
    s = GgufSummary(path=path, version=version, tensor_count=n_tensors, file_bytes=file_size)
    meta = s.metadata
    for _ in range(n_kv):
        key = r.string("key")
        vtype = r.unpack("<i", 4)[0]
        if key in meta:
            raise HeaderError(path, f"duplicate key {key!r}")
        meta[key] = _value(r, vtype, key)
    align = meta.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(align, int) or align <= 0 or align & (align - 1):
        raise HeaderError(path, f"general.alignment {align!r} is not a power of two")
    s.alignment = align
    names = set()
    for _ in range(n_tensors):
        name = r.string("tensor name")
        if name in names:
            raise HeaderError(path, f"duplicate tensor {name!r}")
        names.add(name)
        n_dims = r.u32()
        if not 1 <= n_dims <= MAX_DIMS:
            raise HeaderError(path, f"tensor {name!r}: {n_dims} dimensions (1..{MAX_DIMS})")
        shape = r.unpack(f"<{n_dims}q", 8 * n_dims)
        tid, offset = r.unpack("<iQ", 12)
        gt = GGML_TYPES.get(tid)
        if gt is None:
            raise HeaderError(path, f"tensor {name!r}: unknown ggml type {tid}")
        n = 1
        for d in shape:
            if d <= 0:
                raise HeaderError(path, f"tensor {name!r}: dimension {d} in shape {list(shape)}")
            n *= d
        if shape[0] % gt.block_weights:
            raise HeaderError(path, f"tensor {name!r}: row of {shape[0]} is not a multiple of the "
                                    f"{gt.name} block ({gt.block_weights})")
        nbytes = gt.nbytes(n)
        if nbytes > _MAX_TENSOR_BYTES:
            raise HeaderError(path, f"tensor {name!r}: implausible size {nbytes} bytes")
        if offset % align:
            raise HeaderError(path, f"tensor {name!r}: offset {offset} not aligned to {align}")
        s.tensors.append(GgufTensor(name, gt.name, tuple(shape), offset, nbytes))
    header_end = r.pos
    s.data_offset = -(-header_end // align) * align
    s.header_bytes = s.data_offset
    end = 0
    for t in sorted(s.tensors, key=lambda t: t.offset):
        if t.offset < end:
            raise HeaderError(path, f"tensor {t.name!r}: data at offset {t.offset} overlaps the previous tensor")
        end = t.offset + t.nbytes
    s.data_bytes = end
    if file_size is not None:
        if header_end > file_size:
            raise HeaderError(path, f"header runs past the end of the file ({file_size} bytes)")
        if not header_only and s.data_offset + end > file_size:
            raise HeaderError(path, f"file is {file_size} bytes, the header describes "
                                    f"{s.data_offset + end}")
    return s


def peek_architecture(path: str) -> Optional[str]:
    """general.architecture from the first keys of a GGUF file, reading a few kB at most: the
    converters write it first (gguf-py GGUFWriter adds general.architecture at construction).
    None when it is not among the keys before the first long array, or the file is no GGUF."""
    from deepseek_probe.files import open_regular

    try:
        with open_regular(path) as f:  # a FIFO here would block: regular files only
            r = _Reader(f, path)
            r.need(24)
            if r.buf[:4] != GGUF_MAGIC or struct.unpack_from("<I", r.buf, 4)[0] not in (2, 3):
                return None
            r.pos = 8
            _, n_kv = r.unpack("<qq", 16)
            for _ in range(min(n_kv, 32)):
                key = r.string("key")
                vtype = r.unpack("<i", 4)[0]
                if vtype == _ARRAY:
                    return None
                value = _value(r, vtype, key)
                if key == "general.architecture":
                    return value if isinstance(value, str) else None
    except (OSError, InputError, struct.error):  # HeaderError and FileKindError are InputErrors
        return None
    return None


def read_file(path: str, header_only: bool = True) -> GgufSummary:
    """Summary of one .gguf file on disk."""
    return read_path(path, read_header, header_only)


def split_paths(path: str) -> Optional[List[str]]:
    """All shard paths of a split GGUF named like llama.cpp's gguf-split output, or None."""
    m = SPLIT_RE.match(os.path.basename(path))
    if not m:
        return None
    count = int(m.group("count"))
    folder = os.path.dirname(path)
    return [os.path.join(folder, f"{m.group('prefix')}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)]


def read_model(path: str, header_only: bool = True) -> Tuple[GgufSummary, List[str]]:
    """Summary of a GGUF model: a single file, or (first shard of a split) all shards summed.

    Returns (summary, missing shard paths). With shards missing, the summary covers the
    shards present and `split_count` still says how many there are.
    """
    first = read_file(path, header_only)
    if first.split_count <= 1:
        return first, []
    paths = split_paths(path)
    if not paths or len(paths) != first.split_count:
        return first, [f"(split.count {first.split_count}: shard names not of the form NAME-00001-of-0000N.gguf)"]
    missing: List[str] = []
    for p in paths:
        if os.path.abspath(p) == os.path.abspath(path):
            continue
        if not os.path.exists(p):
            missing.append(p)
            continue
        part = read_file(p, header_only)
        first.tensors.extend(part.tensors)
        first.data_bytes += part.data_bytes
        first.header_bytes += part.header_bytes
        first.tensor_count += part.tensor_count
        first.files += 1
        first.file_bytes = None if first.file_bytes is None or part.file_bytes is None \
            else first.file_bytes + part.file_bytes
    return first, missing
