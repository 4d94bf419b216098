"""One model checkpoint found on disk, as a record: the probes fill it (probes/checkpoints.py,
probes/model_path.py), the catalog's name resolver reads it (profiles/names.py). No I/O here."""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Union
from deepseek_probe.records import field, fields, record

Fact = Union[int, float, str, bool, None]


@record
class Checkpoint:
    """One model found on disk. Sizes in bytes; `expected_bytes` is what the headers promise
    (header + tensor data), `bytes_on_disk` what the files hold (st_size)."""

    source: str  # hf_cache | ollama | lmstudio | model_dir
    name: str  # repo id, ollama name:tag, or publisher/repo/file.gguf
    path: str  # model folder or (first) GGUF file
    format: str  # safetensors | gguf | unknown
    bytes_on_disk: Optional[int] = None
    expected_bytes: Optional[int] = None
    complete: Optional[bool] = None
    files: int = 0
    params: Optional[int] = None
    bytes_by_dtype: Dict[str, int] = field(default_factory=dict)  # safetensors dtype or ggml type
    architecture: Dict[str, Fact] = field(default_factory=dict)
    quantization: Optional[Dict[str, Fact]] = None
    precision: Optional[str] = None  # a profiles.PRECISIONS name when one fits
    revision: Optional[str] = None
    error: Optional[str] = None
    notes: List[str] = field(default_factory=list)

    def to_dict(self) -> Dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> "Checkpoint":
        from deepseek_probe.errors import InputError

        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        for req in ("source", "name", "path", "format"):
            if not isinstance(kw.get(req), str):
                raise InputError(f"checkpoint entry: {req} missing or not a string")
        for k in ("bytes_on_disk", "expected_bytes", "params", "files"):
            v = kw.get(k)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise InputError(f"checkpoint {kw['name']!r}: {k} must be a non-negative integer")
        bd = kw.get("bytes_by_dtype", {})
        if not isinstance(bd, dict) or not all(isinstance(k, str) and isinstance(v, int) for k, v in bd.items()):
            raise InputError(f"checkpoint {kw['name']!r}: bytes_by_dtype must map names to integers")
        for k in ("architecture", "quantization"):
            if kw.get(k) is not None and not isinstance(kw[k], dict):
                raise InputError(f"checkpoint {kw['name']!r}: {k} must be an object")
        if not isinstance(kw.get("notes", []), list):
            raise InputError(f"checkpoint {kw['name']!r}: notes must be a list")
        return cls(**kw)  # type: ignore[arg-type]

    @property
    def is_deepseek(self) -> bool:
        hay = " ".join(str(v) for v in (self.name, self.architecture.get("model_type"),
                                        self.architecture.get("architecture"), self.architecture.get("name")))
        return "deepseek" in hay.lower()


