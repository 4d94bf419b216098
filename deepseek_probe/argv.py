"""The `check` command lines that run without importing click: read here exactly as click reads
them (cli.py's options for `check`: names, types, defaults), else left to click.

Covered: `check` followed by --model (repeatable), --snapshot, --model-dir, --format, --output,
--no-redact, --print-command, --precision, --kv-precision, --runtime, --context, --concurrency
and --tensor-parallel, as `--opt VALUE` or `--opt=VALUE`, each given once (--model any number of
times). Anything else (another command or option, help, a repeated option, a value click would
reject or that starts with "-") returns None, and click parses the whole line, errors included.
tests/test_argv.py compares its parse with click's on 3 000 random lines (and both paths' output).
"""

from __future__ import annotations

import os
import stat
from typing import Any, Dict, List, Optional

PRECISIONS = ["fp32", "bf16", "fp16", "fp8", "int8", "int4",
              "q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_0", "q3_k_m", "q2_k"]
KV_PRECISIONS = ["bf16", "fp16", "fp8", "q8_0", "q4_0"]
RUNTIMES = ["transformers", "vllm", "sglang", "llamacpp"]
# Ollama and LM Studio run llama.cpp underneath; accept their names for the same model.
RUNTIME_ALIASES = {"ollama": "llamacpp", "lmstudio": "llamacpp", "llama.cpp": "llamacpp", "hf": "transformers"}
FORMATS = ["text", "json", "markdown", "prometheus"]

# Every parameter of `check` as click passes it when not given (a test compares with cli.check).
CHECK_DEFAULTS: Dict[str, Any] = {
    "models": (), "precision": None, "kv_precision": None, "context": None, "concurrency": None, "runtime": None,
    "tensor_parallel": None, "mla_cache": None, "gpu_memory_utilization": None, "model_configs": (),
    "snapshot_path": None, "model_dir": None, "fmt": "text", "output": None, "no_redact": False, "verify": False,
    "print_command": False, "runtime_version": None, "probe_versions": False, "train": None, "micro_batch": None,
    "seq_len": None, "gradient_checkpointing": None, "lora_rank": None, "lora_alpha": None, "lora_targets": None,
    "optimizer": None, "gradient_accumulation": None, "gpus": None, "strategy": None, "offload": None,
}

_FLAGS = {"--no-redact": "no_redact", "--print-command": "print_command"}
# option -> (parameter, how click converts it)
_VALUED = {
    "--model": ("models", "text"), "--snapshot": ("snapshot_path", "file"), "--output": ("output", "file"),
    "--model-dir": ("model_dir", "folder"), "--format": ("fmt", FORMATS), "--precision": ("precision", PRECISIONS),
    "--kv-precision": ("kv_precision", KV_PRECISIONS), "--runtime": ("runtime", RUNTIMES + list(RUNTIME_ALIASES)),
    "--context": ("context", (1, None)), "--concurrency": ("concurrency", (1, 65536)),
    "--tensor-parallel": ("tensor_parallel", (1, 1024)),
}


def check_options(words: List[str]) -> Optional[Dict[str, Any]]:
    """`check`'s parameters for this command line (after `--` and --debug are taken out), as
    click would pass them; None where click should read it."""
    if not words or words[0] != "check":
        return None
    out = dict(CHECK_DEFAULTS)
    seen = set()
    models: List[str] = []
    i = 1
    while i < len(words):
        word = words[i]
        i += 1
        name, eq, value = word.partition("=")
        if name in _FLAGS and not eq:
            if name in seen:
                return None
            seen.add(name)
            out[_FLAGS[name]] = True
            continue
        if name not in _VALUED or (name in seen and name != "--model"):
            return None
        seen.add(name)
        if not eq:
            if i == len(words):
                return None
            value = words[i]
            i += 1
        if value.startswith("-"):
            return None
        param, kind = _VALUED[name]
        converted = _convert(value, kind)
        if converted is None:
            return None
        if param == "models":
            models.append(converted)
        else:
            out[param] = converted
    out["models"] = tuple(models)
    return out


def _convert(value: str, kind: Any) -> Optional[Any]:
    """click's conversion of one value, where it is certain to succeed; None otherwise."""
    if kind == "text":
        return value
    if kind in ("file", "folder"):  # click.Path(dir_okay=False | file_okay=False), readable, need not exist
        try:
            st = os.stat(value)
        except OSError:
            return value
        except ValueError:
            return None
        if stat.S_ISDIR(st.st_mode) if kind == "file" else stat.S_ISREG(st.st_mode):
            return None
        return value if os.access(value, os.R_OK) else None
    if isinstance(kind, tuple):  # click.IntRange(min, max)
        if not (value.isascii() and value.isdigit()):
            return None
        number = int(value)
        low, high = kind
        return number if number >= low and (high is None or number <= high) else None
    if value in kind:  # cli._Choice: case-insensitive, aliases mapped; here only the exact lower-case name
        return RUNTIME_ALIASES.get(value, value)
    return None
