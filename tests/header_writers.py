"""Writers of real safetensors / GGUF headers (no tensor data) for fixtures, tests and benchmarks.

Test support only: the product never writes model files. Layouts as read by
deepseek_probe/formats/safetensors.py and gguf.py (see their module docstrings for sources).
"""

from __future__ import annotations

import json
import struct
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from deepseek_probe.formats.ggml_types import GGML_TYPES_BY_NAME
from deepseek_probe.formats.safetensors import DTYPE_BITS

TensorSpec = Tuple[str, str, Sequence[int]]  # name, dtype / ggml type name, shape (safetensors order)


def safetensors_bytes(tensors: Iterable[TensorSpec], metadata: Optional[Dict[str, str]] = None,
                      with_data: bool = False) -> bytes:
    """A safetensors file: header padded to 8 bytes as safetensors' serializer does; data (zeros)
    only when with_data."""
    doc: Dict[str, object] = {}
    if metadata is not None:
        doc["__metadata__"] = metadata
    off = 0
    for name, dtype, shape in tensors:
        n = 1
        for d in shape:
            n *= d
        nbytes = n * DTYPE_BITS[dtype] // 8
        doc[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + nbytes]}
        off += nbytes
    head = json.dumps(doc, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    out = struct.pack("<Q", len(head)) + head
    return out + (bytes(off) if with_data else b"")


GgufValue = Union[str, bool, int, float, List[str], List[int], Tuple[str, object]]
_TYPES = {"u8": (0, "<B"), "i8": (1, "<b"), "u16": (2, "<H"), "i16": (3, "<h"), "u32": (4, "<I"),
          "i32": (5, "<i"), "f32": (6, "<f"), "bool": (7, "<?"), "u64": (10, "<Q"), "i64": (11, "<q"),
          "f64": (12, "<d")}


def _s(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def _kv(key: str, value: GgufValue) -> bytes:
    out = _s(key)
    if isinstance(value, tuple):  # explicit ("u16", 3) or ("array:i32", [...])
        kind, v = value
        if kind.startswith("array:"):
            et = kind[6:]
            if et == "str":
                return out + struct.pack("<iiQ", 9, 8, len(v)) + b"".join(_s(x) for x in v)  # type: ignore[union-attr]
            code, fmt = _TYPES[et]
            return out + struct.pack("<iiQ", 9, code, len(v)) + b"".join(struct.pack(fmt, x) for x in v)  # type: ignore[union-attr]
        code, fmt = _TYPES[kind]
        return out + struct.pack("<i", code) + struct.pack(fmt, v)
    if isinstance(value, bool):
        return out + struct.pack("<i?", 7, value)
    if isinstance(value, str):
        return out + struct.pack("<i", 8) + _s(value)
    if isinstance(value, int):  # convert_hf_to_gguf writes counts as uint32
        return out + struct.pack("<iI", 4, value)
    if isinstance(value, float):
        return out + struct.pack("<if", 6, value)
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        return _kv(key, ("array:str", value))
    if isinstance(value, list):
        return _kv(key, ("array:i32", value))
    raise TypeError(f"no GGUF type for {value!r}")


def gguf_bytes(kv: Sequence[Tuple[str, GgufValue]], tensors: Iterable[TensorSpec], alignment: int = 32,
               with_data: bool = False, version: int = 3) -> bytes:
    """A GGUF file. Tensor shapes are given in safetensors (row-major, outermost first) order and
    written reversed, ne[0] innermost, as convert_hf_to_gguf does."""
    tl = list(tensors)
    infos, off = [], 0
    for name, tname, shape in tl:
        gt = GGML_TYPES_BY_NAME[tname]
        ne = list(reversed(list(shape)))
        n = 1
        for d in ne:
            n *= d
        infos.append(_s(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}q", *ne)
                     + struct.pack("<iQ", gt.id, off))
        off += -(-gt.nbytes(n) // alignment) * alignment
    head = b"GGUF" + struct.pack("<Iqq", version, len(tl), len(kv))
    head += b"".join(_kv(k, v) for k, v in kv) + b"".join(infos)
    head += bytes(-len(head) % alignment)
    return head + (bytes(off) if with_data else b"")
