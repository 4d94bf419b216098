"""Hugging Face config.json: the weight format a checkpoint declares (quantization_config).

Pure over the parsed JSON object; `read_config` is the one small file read.
Keys as written by the quantizers:
- fp8 (DeepSeek-V3/R1): {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
  "weight_block_size": [128, 128]} (deepseek-ai/DeepSeek-V3 config.json; transformers
  integrations/finegrained_fp8.py).
- AWQ: {"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": true, "version": "gemm"}
  (AutoAWQ; transformers utils/quantization_config.py AwqConfig).
- GPTQ: {"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": false, "sym": true}
  (GPTQConfig).
- bitsandbytes: {"quant_method": "bitsandbytes", "load_in_4bit": true | "load_in_8bit": true}
  (BitsAndBytesConfig).
- compressed-tensors: {"quant_method": "compressed-tensors", "format": "...", "config_groups":
  {"group_0": {"weights": {"num_bits": 8, "type": "float"|"int", "strategy": "channel"|"group"|"block",
  "group_size": 128, "block_structure": [128, 128]}}}} (neuralmagic compressed-tensors
  QuantizationConfig / QuantizationArgs).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Dict, List, Optional, Union

from deepseek_probe.formats.errors import HeaderError, read_bytes
from deepseek_probe.records import asdict, record

if TYPE_CHECKING:  # annotations only
    from deepseek_probe.profiles import ModelSpec

Json = Union[None, bool, int, float, str, List["Json"], Dict[str, "Json"]]


@record(frozen=True)
class Quantization:
    """What the config says about the weight format. precision: a profiles.PRECISIONS name when
    one fits (fp8, int8, int4), else None with `method` saying what it is."""

    method: str  # fp8 | awq | gptq | bitsandbytes | compressed-tensors | <other quant_method>
    bits: Optional[int] = None
    group_size: Optional[int] = None
    weight_block_size: Optional[List[int]] = None
    fmt: Optional[str] = None  # e4m3, gemm, pack-quantized, float-quantized, ...
    precision: Optional[str] = None

    def to_dict(self) -> Dict[str, Json]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Dict[str, Json]) -> "Quantization":
        return cls(**{k: d.get(k) for k in cls.__dataclass_fields__})  # type: ignore[arg-type]


def _int(v: Json) -> Optional[int]:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _precision(kind: str, bits: Optional[int]) -> Optional[str]:
    if kind == "float" and bits == 8:
        return "fp8"
    if kind == "int" and bits == 8:
        return "int8"
    if kind == "int" and bits == 4:
        return "int4"
    return None


def quantization(cfg: Dict[str, Json]) -> Optional[Quantization]:
    """The checkpoint's quantization from a parsed config.json (None: not quantized)."""
    q = cfg.get("quantization_config")
    if not isinstance(q, dict):
        return None
    method = str(q.get("quant_method", "")).lower() or "unknown"
    if method == "fp8":
        wbs = q.get("weight_block_size")
        block = [int(x) for x in wbs] if isinstance(wbs, list) and all(_int(x) for x in wbs) else None
        return Quantization("fp8", 8, None, block, str(q.get("fmt") or "e4m3"), "fp8")
    if method in ("awq", "gptq"):
        bits = _int(q.get("bits"))
        fmt = q.get("version") if method == "awq" else ("desc_act" if q.get("desc_act") else None)
        return Quantization(method, bits, _int(q.get("group_size")), None,
                            str(fmt) if fmt else None, _precision("int", bits))
    if method == "bitsandbytes":
        bits = 4 if q.get("load_in_4bit") else 8 if q.get("load_in_8bit") else None
        fmt = q.get("bnb_4bit_quant_type") if bits == 4 else "llm.int8"
        return Quantization(method, bits, None, None, str(fmt) if fmt else None, _precision("int", bits))
    if method == "compressed-tensors":
        groups = q.get("config_groups")
        weights: Dict[str, Json] = {}
        if isinstance(groups, dict):
            for g in groups.values():
                if isinstance(g, dict) and isinstance(g.get("weights"), dict):
                    weights = g["weights"]  # type: ignore[assignment]
                    break
        bits = _int(weights.get("num_bits"))
        kind = str(weights.get("type", "int"))
        bs = weights.get("block_structure")
        block = [int(x) for x in bs] if isinstance(bs, list) and all(_int(x) for x in bs) else None
        return Quantization(method, bits, _int(weights.get("group_size")), block,
                            str(q.get("format")) if q.get("format") else None, _precision(kind, bits))
    return Quantization(method, _int(q.get("bits")), _int(q.get("group_size")))


def read_config(path: str) -> Dict[str, Json]:
    """A config.json as a dict (one-line HeaderError naming the file otherwise)."""
    raw = read_bytes(path, 16 << 20)
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise HeaderError(path, "config.json is not valid JSON") from None
    if not isinstance(doc, dict):
        raise HeaderError(path, "config.json is not a JSON object")
    return doc


def spec_from_file(path: str) -> "ModelSpec":
    """A ModelSpec from a config.json on disk (the file, or its folder): the read here, the
    architecture in profiles.spec_from_config. Only regular files are opened (files.py)."""
    import os
    import stat

    from deepseek_probe.files import FileKindError, read_regular, stat_kind
    from deepseek_probe.profiles import ModelConfigError, spec_from_config

    p = path
    try:  # a regular file or a folder only: a FIFO or a device would block (files.py)
        p = os.path.join(path, "config.json") if stat.S_ISDIR(stat_kind(path, "any").st_mode) else path
        cfg = json.loads(read_regular(p, 16 << 20).decode("utf-8"))
    except FileKindError as e:
        raise ModelConfigError(f"cannot read model config {e.path}: {e.reason}") from None
    except OSError as e:
        raise ModelConfigError(f"cannot read model config {path}: {e.strerror or e}") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise ModelConfigError(f"model config {p} is not valid JSON: {e}") from None
    return spec_from_config(cfg, p)
