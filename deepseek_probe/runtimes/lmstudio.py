"""LM Studio as a thin layer over llama.cpp: `lms load MODEL [--gpu R] [-c N] [--parallel N]`
and `lms server start`.

Sources (LM Studio's engine itself is closed source; its load-config schema and CLI are public):
- lmstudio-ai/lms 07b7252d6de26a3a58c1bb80ed7e75a2b17f5eb6 (2026-08-13): src/subcommands/load.ts
  (flags, gpuOptionParser), src/subcommands/server.ts (start), src/types/refinedNumber.ts.
- lmstudio-ai/lmstudio-js 6ec11db19bf43ea8dab9e4c2014f46f054822b1f (2026-08-21):
  packages/lms-kv-config/src/schema.ts, scope "llm.load" (the defaults below) and
  src/conversion/llmLoadModelConfig.ts (CLI value -> config key).
Fields marked machineDependent in the schema (contextLength, llama.autoFit, offloadRatio) may be
replaced per machine by the app; the schema value is what is left when nothing overrides it.
Pure: no I/O, no printing.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

from deepseek_probe.runtimes.command import (IGNORED, NOT_MODELLED, CommandError, Flag,
                                             ParsedCommand, parse_flags)
from deepseek_probe.records import record

LMSTUDIO_SOURCES = ("lmstudio-ai/lms@07b7252", "lmstudio-ai/lmstudio-js@6ec11db")

# lms-kv-config schema.ts, scope "llm.load" (default values of each field):
DEFAULT_CONTEXT_LENGTH = 2048  # "contextLength", machineDependent
DEFAULT_PARALLEL = 4  # "numParallelSessions" (also docs: app/advanced/parallel-requests)
DEFAULT_UNIFIED_KV = True  # "useUnifiedKvCache"
DEFAULT_OFFLOAD_KV_TO_GPU = True  # "offloadKVCacheToGpu"
DEFAULT_AUTO_FIT = True  # "llama.autoFit", machineDependent
DEFAULT_OFFLOAD_RATIO = "max"  # "llama.acceleration.offloadRatio", machineDependent
DEFAULT_EVAL_BATCH = 2048  # "llama.evalBatchSize" (llama.cpp n_batch)
DEFAULT_PHYSICAL_BATCH = 512  # "llama.physicalBatchSize" (llama.cpp n_ubatch)
# "llama.flashAttention" defaults to false in the schema, yet the engine's llama.cpp log in
# lmstudio-bug-tracker#1454 (LM Studio 0.4.0, runtime 2.0) reads "Flash Attention was auto": with
# no explicit setting we follow that log and hand llama.cpp "auto".
SCHEMA_FLASH_ATTENTION = False
DEFAULT_KV_TYPE = "f16"  # "llama.k/vCacheQuantizationType" unchecked, value "f16"; useFp16ForKVCache


@record(frozen=True)
class LMStudioOptions:
    context_length: Optional[int] = None  # -c/--context-length; None: app default (schema 2048)
    gpu_ratio: Optional[float] = None  # --gpu off|max|0..1 -> 0..1; None: auto (autoFit)
    parallel: Optional[int] = None  # --parallel; None: 4
    flash_attention: Optional[bool] = None  # not settable from lms load; None: llama.cpp auto
    kv_cache_type: str = DEFAULT_KV_TYPE  # not settable from lms load
    unified_kv: bool = DEFAULT_UNIFIED_KV
    offload_kv_to_gpu: bool = DEFAULT_OFFLOAD_KV_TO_GPU


def _js_number(flag: str, raw: str) -> float:
    """JavaScript `+str` (refinedNumber.ts): trims; "" is 0; 0x/0o/0b literals; NaN -> error."""
    s = raw.strip()
    if not s:
        return 0.0
    try:
        if s[:2].lower() in ("0x", "0o", "0b"):
            return float(int(s, 0))
        return float(s)
    except ValueError:
        raise CommandError(f"lms load: {flag} needs a number, got {raw!r}") from None


def _positive_int(flag: str):
    def conv(raw: str) -> int:
        x = _js_number(flag, raw)
        if x != x or x in (float("inf"), float("-inf")):
            raise CommandError(f"lms load: {flag} needs a finite number, got {raw!r}")
        if not x.is_integer():
            raise CommandError(f"lms load: {flag} needs a whole number, got {raw!r}")
        if x < 1:
            raise CommandError(f"lms load: {flag} must be at least 1, got {raw!r}")
        return int(x)
    return conv


def parse_gpu_ratio(raw: str) -> float:
    """load.ts gpuOptionParser: "off" -> 0, "max" -> 1, else a number in [0, 1]."""
    s = raw.strip().lower()
    if s == "off":
        return 0.0
    if s == "max":
        return 1.0
    x = _js_number("--gpu", s)
    if x != x or x < 0 or x > 1:
        raise CommandError(f"lms load: --gpu must be off, max or a number from 0 to 1, got {raw!r}")
    return x


_LOAD_FLAGS = (
    Flag(("--gpu",), "gpu_ratio", convert=parse_gpu_ratio),
    Flag(("-c", "--context-length"), "context_length", convert=_positive_int("--context-length")),
    Flag(("--parallel",), "parallel", convert=_positive_int("--parallel")),
    Flag(("--ttl",), "ttl", kind=IGNORED),
    Flag(("--identifier",), "identifier", kind=IGNORED),
    Flag(("--host",), "host", kind=IGNORED),
    Flag(("--port",), "port", kind=IGNORED),
    Flag(("--log-level",), "log_level", kind=IGNORED),
    Flag(("--speculative-draft-model",), "draft", kind=NOT_MODELLED),
    Flag(("--speculative-draft-max-tokens",), "draft_max", kind=IGNORED),
    Flag(("--speculative-draft-min-tokens",), "draft_min", kind=IGNORED),
    Flag(("--speculative-draft-min-continue-probability",), "draft_p", kind=IGNORED),
    Flag(("--speculative-draft-mtp",), "mtp", kind=NOT_MODELLED, takes_value=False),
    Flag(("--no-speculative-draft-mtp",), "no_mtp", kind=IGNORED, takes_value=False),
    Flag(("--speculative-draft-simple",), "simple", kind=NOT_MODELLED, takes_value=False),
    Flag(("--estimate-only",), "estimate_only", kind=IGNORED, takes_value=False),
    Flag(("-y", "--yes"), "yes", kind=IGNORED, takes_value=False),
    Flag(("--exact",), "exact", kind=IGNORED, takes_value=False),
    Flag(("--local",), "local", kind=IGNORED, takes_value=False),
    Flag(("--quiet",), "quiet", kind=IGNORED, takes_value=False),
    Flag(("--verbose",), "verbose", kind=IGNORED, takes_value=False),
    Flag(("-h", "--help"), "help", kind=IGNORED, takes_value=False),
)
# server.ts start: -p/--port, --bind, --cors (+ log-level options). None affects a model's memory.
_SERVER_START_FLAGS = (
    Flag(("-p", "--port"), "port", kind=IGNORED),
    Flag(("--bind",), "bind", kind=IGNORED),
    Flag(("--cors",), "cors", kind=IGNORED, takes_value=False),
    Flag(("--log-level",), "log_level", kind=IGNORED),
    Flag(("--quiet",), "quiet", kind=IGNORED, takes_value=False),
    Flag(("--verbose",), "verbose", kind=IGNORED, takes_value=False),
    Flag(("-h", "--help"), "help", kind=IGNORED, takes_value=False),
)


def parse_command(argv: Sequence[str], env: Mapping[str, str]) -> ParsedCommand:
    """Read `lms load MODEL [flags]` or `lms server start [flags]`. `env` is accepted for the
    common signature; no environment variable of LM Studio's changes a model's memory."""
    del env
    if not argv:
        raise CommandError("lms: empty command")
    program = os.path.basename(argv[0])
    if program.lower() not in ("lms", "lms.exe"):
        raise CommandError(f"not an lms command: {argv[0]!r}")
    rest = list(argv[1:])
    notes: List[str] = []
    if rest[:1] == ["load"]:
        flags = parse_flags(rest[1:], _LOAD_FLAGS, "lms load")
        unknown = [f for f in flags.not_modelled if f.split()[0] not in
                   ("--speculative-draft-model", "--speculative-draft-mtp",
                    "--speculative-draft-simple")]
        if unknown:  # commander rejects unknown options
            raise CommandError(f"lms load: unknown option {unknown[0].split()[0]}")
        if len(flags.positional) > 1:
            raise CommandError(f"lms load: one model key, got {' '.join(flags.positional)!r}")
        if not flags.positional:
            raise CommandError("lms load: name a model key (without one lms asks interactively)")
        model_ref: Optional[str] = flags.positional[0]
        opts = LMStudioOptions(**flags.values)
        understood, not_modelled, ignored = flags.understood, flags.not_modelled, flags.ignored
    elif rest[:2] == ["server", "start"]:
        flags = parse_flags(rest[2:], _SERVER_START_FLAGS, "lms server start")
        if flags.not_modelled or flags.positional:
            bad = (flags.not_modelled or flags.positional)[0].split()[0]
            raise CommandError(f"lms server start: unexpected {bad!r}")
        model_ref, opts = None, LMStudioOptions()
        understood, not_modelled, ignored = [], [], flags.ignored
        notes.append("lms server start loads no model; models load on request (JIT) with "
                     "their saved or default load config")
    else:
        raise CommandError("lms: only `lms load MODEL` and `lms server start` are understood")
    # With the unified KV cache (default) the parallel slots share one context of
    # context_length tokens, so memory-wise it is one sequence of that length.
    par = opts.parallel or DEFAULT_PARALLEL
    generic: Dict[str, Any] = {"concurrency": 1 if opts.unified_kv else par}
    if opts.unified_kv and par > 1:
        notes.append(f"{par} parallel predictions share one unified KV cache of the context")
    if opts.context_length is not None:
        generic["context"] = opts.context_length
    else:
        notes.append(f"context: LM Studio's machine-dependent default (schema value "
                     f"{DEFAULT_CONTEXT_LENGTH}) or the model's saved load config")
    if opts.gpu_ratio is None:
        notes.append("GPU offload: automatic (llama.autoFit on); LM Studio picks the layers")
    return ParsedCommand(runtime="lmstudio", program=program, model_ref=model_ref, options=opts,
                         generic=generic, understood=tuple(understood),
                         not_modelled=tuple(not_modelled), ignored=tuple(ignored),
                         notes=tuple(notes))


def offload_ratio_to_layers(ratio: float, n_layers: int) -> int:
    """--gpu ratio -> layers on the GPU. The engine's rounding is not public: nearest integer,
    halves up, is assumed; 0 and 1 are exact (off / max)."""
    if ratio <= 0:
        return 0
    if ratio >= 1:
        return n_layers
    return min(n_layers, int(ratio * n_layers + 0.5))


def to_llamacpp_settings(opts: LMStudioOptions, n_layers: Optional[int] = None) -> Dict[str, Any]:
    """llama.cpp-level values for an `lms load`, each with its source. n_gpu_layers None means
    LM Studio fits automatically (all layers if they fit: offloadRatio "max" with autoFit)."""
    par = opts.parallel or DEFAULT_PARALLEL
    ctx = opts.context_length or DEFAULT_CONTEXT_LENGTH
    if opts.gpu_ratio is None:
        ngl: Optional[int] = None
    elif n_layers is not None:
        ngl = offload_ratio_to_layers(opts.gpu_ratio, n_layers)
    else:
        ngl = 0 if opts.gpu_ratio == 0 else -1 if opts.gpu_ratio == 1 else None
    return {
        "n_ctx": ctx if opts.unified_kv else ctx * par,  # unified: slots share one context
        "n_parallel": par,
        "kv_unified": opts.unified_kv,
        "flash_attn": ("auto" if opts.flash_attention is None else
                       "on" if opts.flash_attention else "off"),
        "cache_type_k": opts.kv_cache_type,
        "cache_type_v": opts.kv_cache_type,
        "n_batch": DEFAULT_EVAL_BATCH,
        "n_ubatch": DEFAULT_PHYSICAL_BATCH,
        "n_gpu_layers": ngl,
        "fit": "on" if opts.gpu_ratio is None and DEFAULT_AUTO_FIT else "off",
        "offload_kv": opts.offload_kv_to_gpu,
        "sources": {
            "n_ctx": "--context-length, else lms-kv-config schema.ts llm.load.contextLength "
                     "(2048, machine-dependent)",
            "n_parallel": "--parallel, else schema.ts numParallelSessions (4)",
            "kv_unified": "schema.ts useUnifiedKvCache (true); off gives each slot the full "
                          "context (LLMLoadModelConfig.ts useUnifiedKvCache doc)",
            "flash_attn": "not settable by lms load; unset -> auto as in the engine log of "
                          "lmstudio-bug-tracker#1454 (schema.ts llama.flashAttention says false)",
            "cache_type_k": "schema.ts llama.k/vCacheQuantizationType (unchecked: f16)",
            "n_batch": "schema.ts llama.evalBatchSize (2048) / physicalBatchSize (512)",
            "n_gpu_layers": "--gpu (load.ts gpuOptionParser) x layers; none: llama.autoFit "
                            "(true) with offloadRatio max",
            "fit": "schema.ts llama.autoFit; whether --gpu turns it off is not public",
        },
    }
