"""Ollama as a thin layer over llama.cpp: what `ollama serve` / `ollama run TAG` + OLLAMA_* give
llama-server, and the few memory decisions Ollama still makes itself.

Source: ollama/ollama v0.33.0-rc2, commit fb30760996871fa9460115c753afd2c60d4ab0f7 (2026-08-21).
Since v0.30.0 (commit 9db4bdbad, PR #16031) every GGUF model runs in an upstream `llama-server`
child process; Ollama passes no -ngl by default, so llama.cpp's `--fit` places the layers.
Ollama itself decides: the context (VRAM tier), -c = num_ctx x num_parallel, -np, --flash-attn,
--cache-type-k/v, -b/-ub (automatic batch), one GPU or all (80 % rule), and one OOM retry with
a smaller automatic context. Each constant below names the Ollama file it comes from.

Pure: no I/O, no printing.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from deepseek_probe.runtimes.base import GiB, MiB
from deepseek_probe.runtimes.command import (IGNORED, CommandError, Flag, ParsedCommand,
                                             parse_flags, to_int)
from deepseek_probe.records import record

OLLAMA_VERSION = "v0.33.0-rc2 (fb30760996871fa9460115c753afd2c60d4ab0f7)"

# Releases modelled (runtimes/versions.py parses "0.6.7", "v0.33.0-rc2"); None = the newest.
OLLAMA_VERSIONS = ("0.2.0", "0.33.0")
# When a default moved (the first tag holding the ollama/ollama commit named):
NUM_CTX_4096 = (0, 6, 7)  # 44b466eeb "config: update default context length to 4096" (2048 before)
AUTO_PARALLEL_2 = (0, 6, 7)  # fe5b9bb21 "lower default num parallel to 2" (sched.go defaultParallel 4 before)
NUM_PARALLEL_1 = (0, 9, 7)  # 20c3266e9 "Reduce default parallelism to 1" (#11330): OLLAMA_NUM_PARALLEL 1, not 0 = auto
VRAM_TIERS = (0, 15, 5)  # 0334ffa62 "server: use tiered VRAM-based default context length"
LLAMA_SERVER = (0, 30, 0)  # 9db4bdbad (#16031): every GGUF model in llama-server, flash attention auto
# fs/ggml/ggml.go GGML.FlashAttention before v0.30.0: the architectures with flash attention on by
# default (v0.12.4 fdb109469 made it overridable; deepseek2, llama and qwen2 are not listed).
LEGACY_FA_ARCHS = frozenset({"gptoss", "gpt-oss", "qwen3", "qwen3moe"})
# server/routes.go Serve: "vram-based default context"; thresholds 47/23 GiB stand for 48/24.
CONTEXT_TIERS: Tuple[Tuple[int, int], ...] = ((47 * GiB, 262144), (23 * GiB, 32768))
CONTEXT_FALLBACK = 4096  # same switch, default branch (also: no GPU found)
DEFAULT_NUM_PARALLEL = 1  # envconfig/config.go NumParallel = Uint("OLLAMA_NUM_PARALLEL", 1)
DEFAULT_NUM_BATCH = 512  # api/types.go DefaultOptions Runner.NumBatch
# ml/device.go DeviceInfo.MinimumMemory: "set aside ... for overhead"; Metal 512 MiB, others 457.
MINIMUM_MEMORY_BYTES = 457 * MiB
MINIMUM_MEMORY_METAL_BYTES = 512 * MiB
# server/sched.go load: architectures forced to num_parallel = 1 (issue #4165). deepseek2 is not one.
SINGLE_SEQUENCE_ARCHS = frozenset({"mllama", "qwen3vl", "qwen3vlmoe", "qwen35", "qwen35moe",
                                   "qwen3next", "lfm2", "lfm2moe", "nemotron_h", "nemotron_h_moe",
                                   "nemotron_h_omni"})
# server/sched.go: llamaServerGenerationBatch* constants and generationBatchSurcharge.
_BATCH_CONSTRAINED, _BATCH_MEDIUM, _BATCH_LARGE = 256, 1024, 2048
_BATCH_SURCHARGE = {_BATCH_LARGE: 2 * GiB, _BATCH_MEDIUM: 768 * MiB}
_BATCH_HEADROOM_PCT = {_BATCH_LARGE: 60, _BATCH_MEDIUM: 75}
_FIT_FRACTION_PCT = 80  # server/sched.go bestSingleGPUFit / generationBatchFits: 80 % of free
DEFAULT_MODELS_PER_GPU = 3  # server/sched.go defaultModelsPerGPU (OLLAMA_MAX_LOADED_MODELS=0)
# llama.cpp common/arg.cpp kv_cache_types: what llama-server accepts for --cache-type-k/v.
KV_CACHE_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")
_KV_TO_PRECISION = {"f16": "fp16", "bf16": "bf16", "q8_0": "q8_0", "q4_0": "q4_0", "f32": "fp32"}


@record(frozen=True)
class OllamaOptions:
    """Ollama's memory-relevant settings. None = Ollama decides (see the named function)."""

    num_ctx: Optional[int] = None  # OLLAMA_CONTEXT_LENGTH or a Modelfile num_ctx; None: VRAM tier
    flash_attention: Optional[bool] = None  # OLLAMA_FLASH_ATTENTION; None: auto if GPUs allow
    kv_cache_type: str = ""  # OLLAMA_KV_CACHE_TYPE lower-cased; "": llama.cpp default (f16)
    num_parallel: int = DEFAULT_NUM_PARALLEL  # OLLAMA_NUM_PARALLEL (0 counts as 1)
    # OLLAMA_NUM_PARALLEL set to N >= 1 (before v0.9.7 unset or 0 meant: auto, auto_num_parallel)
    num_parallel_set: bool = False
    gpu_overhead_bytes: int = 0  # OLLAMA_GPU_OVERHEAD (envconfig GpuOverhead, default 0)
    num_gpu: Optional[int] = None  # Modelfile/request num_gpu (layers); None = -1: llama.cpp fits
    num_batch: Optional[int] = None  # Modelfile/request num_batch; None: automatic batch
    sched_spread: bool = False  # OLLAMA_SCHED_SPREAD: never prefer a single GPU
    max_loaded_models: int = 0  # OLLAMA_MAX_LOADED_MODELS; 0: 3 per GPU
    fit: Optional[str] = None  # LLAMA_ARG_FIT, inherited by llama-server (its default "on")
    fit_target_mib: Optional[int] = None  # LLAMA_ARG_FIT_TARGET, inherited by llama-server


# ---------------------------------------------------------------- environment, as envconfig reads it

def _var(env: Mapping[str, str], key: str) -> str:
    # envconfig.Var: strings.Trim(strings.TrimSpace(v), "\"'")
    return env.get(key, "").strip().strip("\"'")


_GO_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_GO_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def _go_bool(env: Mapping[str, str], key: str, notes: List[str]) -> Optional[bool]:
    """envconfig.BoolWithDefault: unset -> None; strconv.ParseBool; an unparsable value -> true."""
    s = _var(env, key)
    if not s:
        return None
    if s in _GO_TRUE:
        return True
    if s in _GO_FALSE:
        return False
    notes.append(f"{key}={s!r} is not a Go bool: Ollama reads it as true")
    return True


def _go_uint(env: Mapping[str, str], key: str, notes: List[str]) -> Optional[int]:
    """envconfig.Uint/Uint64: strconv.ParseUint base 10; a bad value is logged and ignored."""
    s = _var(env, key)
    if not s:
        return None
    if s.isascii() and s.isdigit() and int(s) < 2 ** 64:
        return int(s)
    notes.append(f"{key}={s!r} is not a whole number >= 0: Ollama warns and uses its default")
    return None


def options_from_env(env: Mapping[str, str]) -> Tuple[OllamaOptions, Tuple[str, ...], Tuple[Tuple[str, str], ...]]:
    """OllamaOptions from OLLAMA_* (and LLAMA_ARG_FIT*) exactly as envconfig parses them.
    Returns (options, notes, understood (name, value) pairs)."""
    notes: List[str] = []
    kw: Dict[str, Any] = {}
    ctx = _go_uint(env, "OLLAMA_CONTEXT_LENGTH", notes)
    if ctx:  # 0 = unset (routes.go usesAutomaticNumCtx: ContextLength() == 0)
        kw["num_ctx"] = ctx
    fa = _go_bool(env, "OLLAMA_FLASH_ATTENTION", notes)
    if fa is not None:
        kw["flash_attention"] = fa
    kvct = _var(env, "OLLAMA_KV_CACHE_TYPE").lower()  # llm/server.go NewLlamaServer: ToLower
    if kvct:
        if kvct not in KV_CACHE_TYPES:
            raise CommandError(f"OLLAMA_KV_CACHE_TYPE={kvct!r}: llama-server accepts only "
                               f"{', '.join(KV_CACHE_TYPES)} and would fail to start")
        kw["kv_cache_type"] = kvct
    par = _go_uint(env, "OLLAMA_NUM_PARALLEL", notes)
    if par is not None:
        kw["num_parallel"] = max(par, 1)  # sched.go load: max(NumParallel(), 1)
        kw["num_parallel_set"] = par > 0
    ovh = _go_uint(env, "OLLAMA_GPU_OVERHEAD", notes)
    if ovh is not None:
        kw["gpu_overhead_bytes"] = ovh
    spread = _go_bool(env, "OLLAMA_SCHED_SPREAD", notes)
    if spread is not None:
        kw["sched_spread"] = spread
    mlm = _go_uint(env, "OLLAMA_MAX_LOADED_MODELS", notes)
    if mlm is not None:
        kw["max_loaded_models"] = mlm
    fit = env.get("LLAMA_ARG_FIT", "").strip()
    if fit:
        kw["fit"] = fit
    target = env.get("LLAMA_ARG_FIT_TARGET", "").strip()
    if target:
        kw["fit_target_mib"] = to_int("LLAMA_ARG_FIT_TARGET")(target)
    understood = tuple((k, env[k]) for k in sorted(env)
                       if k in _MEMORY_ENV and env[k].strip())
    return OllamaOptions(**kw), tuple(notes), understood


_MEMORY_ENV = frozenset({"OLLAMA_CONTEXT_LENGTH", "OLLAMA_FLASH_ATTENTION", "OLLAMA_KV_CACHE_TYPE",
                         "OLLAMA_NUM_PARALLEL", "OLLAMA_GPU_OVERHEAD", "OLLAMA_SCHED_SPREAD",
                         "OLLAMA_MAX_LOADED_MODELS", "LLAMA_ARG_FIT", "LLAMA_ARG_FIT_TARGET"})
# Read by Ollama but without effect on one model's memory (envconfig AsMap).
_IGNORED_ENV = frozenset({"OLLAMA_HOST", "OLLAMA_KEEP_ALIVE", "OLLAMA_MODELS", "OLLAMA_DEBUG",
                          "OLLAMA_ORIGINS", "OLLAMA_MAX_QUEUE", "OLLAMA_NOPRUNE",
                          "OLLAMA_NOHISTORY", "OLLAMA_LOAD_TIMEOUT", "OLLAMA_NO_CLOUD",
                          "OLLAMA_REMOTES", "OLLAMA_EDITOR", "OLLAMA_GO_TEMPLATE"})
# Removed options users still set: they do nothing in this version.
_GONE_ENV = frozenset({"OLLAMA_NEW_ENGINE", "OLLAMA_MULTIUSER_CACHE", "OLLAMA_INTEL_GPU"})


# ---------------------------------------------------------------- the command line

# cmd/cmd.go NewCLI: runCmd.Flags(). None changes memory; all are accepted and ignored.
_RUN_FLAGS = (
    Flag(("--keepalive",), "keepalive", kind=IGNORED),
    Flag(("--format",), "format", kind=IGNORED),
    Flag(("--dimensions",), "dimensions", kind=IGNORED),
    Flag(("--verbose",), "verbose", kind=IGNORED, takes_value=False),
    Flag(("--insecure",), "insecure", kind=IGNORED, takes_value=False),
    Flag(("--nowordwrap",), "nowordwrap", kind=IGNORED, takes_value=False),
    Flag(("--hidethinking",), "hidethinking", kind=IGNORED, takes_value=False),
    Flag(("--truncate",), "truncate", kind=IGNORED, takes_value=False),
    Flag(("--think",), "think", kind=IGNORED, takes_value=False),  # NoOptDefVal "true"
    Flag(("-h", "--help"), "help", kind=IGNORED, takes_value=False),
)
_BOOL_RUN_FLAGS = {"--verbose", "--insecure", "--nowordwrap", "--hidethinking", "--truncate",
                   "--think"}


def _split_env_prefix(argv: Sequence[str]) -> Tuple[Dict[str, str], List[str]]:
    """`[env] NAME=value ... ollama ...` -> ({NAME: value}, rest)."""
    env: Dict[str, str] = {}
    rest = list(argv)
    if rest and os.path.basename(rest[0]) == "env":
        rest = rest[1:]
    while rest and "=" in rest[0] and not rest[0].startswith("-"):
        name, _, value = rest[0].partition("=")
        if not name.replace("_", "").isalnum():
            break
        env[name] = value
        rest = rest[1:]
    return env, rest


def parse_command(argv: Sequence[str], env: Mapping[str, str]) -> ParsedCommand:
    """Read `ollama run TAG [PROMPT] [flags]` or `ollama serve|start`, with OLLAMA_* from `env`
    and from `NAME=value` words before `ollama` (those win, as in a shell)."""
    prefix_env, rest = _split_env_prefix(argv)
    if not rest:
        raise CommandError("ollama: empty command")
    program = rest[0]
    if os.path.basename(program).lower() not in ("ollama", "ollama.exe"):
        raise CommandError(f"not an ollama command: {program!r}")
    if len(rest) < 2:
        raise CommandError("ollama: name a subcommand: run TAG or serve")
    sub, args = rest[1], rest[2:]
    merged = {**dict(env), **prefix_env}
    opts, env_notes, understood = options_from_env(merged)
    notes = list(env_notes)
    ignored = [f"{k}={merged[k]}" for k in sorted(merged) if k in _IGNORED_ENV]
    for k in sorted(merged):
        if k in _GONE_ENV:
            notes.append(f"{k} has no effect since v0.30.0: llama-server runs every GGUF model")
    model_ref: Optional[str] = None
    if sub == "run":
        cleaned: List[str] = []
        for tok in args:  # cobra accepts --bool=value and --think=level; parse_flags does not
            name, eq, _ = tok.partition("=")
            if eq and name in _BOOL_RUN_FLAGS:
                ignored.append(tok)
            else:
                cleaned.append(tok)
        flags = parse_flags(cleaned, _RUN_FLAGS, "ollama run")
        if flags.not_modelled:
            raise CommandError(f"ollama run: unknown flag {flags.not_modelled[0].split()[0]} "
                               "(context is set with OLLAMA_CONTEXT_LENGTH on the server or "
                               "num_ctx in a Modelfile)")
        if not flags.positional:
            raise CommandError("ollama run: needs a model tag, e.g. ollama run deepseek-r1:32b")
        model_ref = flags.positional[0]
        ignored.extend(flags.ignored)
        if len(flags.positional) > 1:
            ignored.append("prompt")
        notes.append("OLLAMA_* variables act on the server: they count only if `ollama serve` "
                     "was started with them")
    elif sub in ("serve", "start"):  # cmd.go serveCmd: Aliases ["start"], cobra.ExactArgs(0)
        positional = [a for a in args if not a.startswith("-")]
        if positional:
            raise CommandError(f"ollama {sub}: takes no arguments, got {positional[0]!r}")
        unknown = [a for a in args if a not in ("-h", "--help")]
        if unknown:
            raise CommandError(f"ollama {sub}: unknown flag {unknown[0]}")
    else:
        raise CommandError(f"ollama {sub}: only `ollama run TAG` and `ollama serve` start a model")
    generic: Dict[str, Any] = {"concurrency": opts.num_parallel}
    if opts.num_ctx is not None:
        generic["context"] = opts.num_ctx
    else:
        notes.append("context: Ollama's VRAM tier (4096 / 32768 / 262144 below 23 GiB / "
                     "below 47 GiB / above), unless the model's Modelfile sets num_ctx")
    if opts.kv_cache_type in _KV_TO_PRECISION:
        generic["kv_precision"] = _KV_TO_PRECISION[opts.kv_cache_type]
    if opts.flash_attention is False and opts.kv_cache_type not in ("", "f16", "f32", "bf16"):
        notes.append(f"OLLAMA_FLASH_ATTENTION off with a quantized KV cache: llama.cpp refuses "
                     f"a quantized V cache without flash attention and the load fails")
    quant = tag_quantization(model_ref) if model_ref else None
    if quant:
        generic["precision"] = quant
    return ParsedCommand(runtime="ollama", program=os.path.basename(program), model_ref=model_ref,
                         options=opts, generic=generic, understood=understood,
                         ignored=tuple(ignored), notes=tuple(notes))


_QUANTS = ("q8_0", "q6_k", "q5_k_m", "q5_k_s", "q5_0", "q5_1", "q4_k_m", "q4_k_s", "q4_0", "q4_1",
           "q3_k_l", "q3_k_m", "q3_k_s", "q2_k", "fp16", "bf16")


def tag_quantization(tag: str) -> Optional[str]:
    """The quantization a library tag names (`deepseek-r1:32b-qwen-distill-q4_K_M` -> q4_k_m);
    None when the tag does not say (Ollama then uses whatever the tag's manifest holds)."""
    _, _, variant = tag.rpartition(":")
    for part in reversed(variant.lower().replace("-", " ").split()):
        if part in _QUANTS:
            return part
    return None


# ---------------------------------------------------------------- defaults Ollama decides

def vram_for_context_tier(gpu_total_bytes: Sequence[int], gpu_overhead_bytes: int = 0) -> int:
    """routes.go Serve: totalVRAM = sum over GPUs of (TotalMemory - OLLAMA_GPU_OVERHEAD), in Go
    uint64, so an overhead above a GPU's size wraps around (and lands in the top tier)."""
    total = 0
    for t in gpu_total_bytes:
        total = (total + (t - gpu_overhead_bytes) % 2 ** 64) % 2 ** 64
    return total


def release_of(version: Optional[str]) -> Tuple[int, ...]:
    """The Ollama release to model: `version` parsed and range-checked, None = the newest."""
    from deepseek_probe.runtimes import versions  # lazily: ollama.py is read on the launch path
    from deepseek_probe.runtimes.base import Runtime

    record = Runtime("ollama", (), (), 0, "ollama/ollama", label="Ollama", versions=OLLAMA_VERSIONS)
    return versions.resolve(record, version) or versions.parse(OLLAMA_VERSIONS[1]) or (0, 33, 0)


def default_num_ctx(total_vram_bytes: Optional[int], release: Optional[Tuple[int, ...]] = None) -> int:
    """Ollama's default num_ctx for a server whose GPUs add up to `total_vram_bytes` (after
    vram_for_context_tier); None or 0 = no GPU. `release`: before v0.15.5 one value whatever
    the GPUs: 2048, 4096 from v0.6.7 (envconfig ContextLength / api/types.go NumCtx)."""
    if release is not None and release < VRAM_TIERS:
        return CONTEXT_FALLBACK if release >= NUM_CTX_4096 else 2048
    for threshold, ctx in CONTEXT_TIERS:
        if total_vram_bytes is not None and total_vram_bytes >= threshold:
            return ctx
    return CONTEXT_FALLBACK


def default_num_parallel(architecture: str = "", embedding: bool = False,
                         requested: int = DEFAULT_NUM_PARALLEL) -> int:
    """sched.go load: max(OLLAMA_NUM_PARALLEL, 1), but 1 for embedding models and for the
    architectures that cannot decode several sequences."""
    if embedding or architecture in SINGLE_SEQUENCE_ARCHS:
        return 1
    return max(requested, 1)


def effective_num_ctx(opts: OllamaOptions, total_vram_bytes: Optional[int],
                      trained_ctx: Optional[int] = None, vision: bool = False,
                      release: Optional[Tuple[int, ...]] = None) -> int:
    """Tokens per sequence llama-server gets: num_ctx (or the tier), floor 4 and 2048 for vision
    models (sched.go getRunner), capped at the trained context (llm/server.go NewLlamaServer)."""
    n = opts.num_ctx if opts.num_ctx else default_num_ctx(total_vram_bytes, release)
    n = max(n, 4)
    if vision:
        n = max(n, 2048)
    if trained_ctx and n > trained_ctx:
        n = trained_ctx
    return n


def flash_attn_mode(opts: OllamaOptions, gpus_support_fa: bool = True,
                    release: Optional[Tuple[int, ...]] = None, architecture: str = "") -> str:
    """llm/llama_server.go LlamaServerFlashAttention: the user's setting wins; otherwise "auto"
    when every selected GPU supports it (llama.cpp then decides per model), else "off". Before
    v0.30.0 (llm/server.go NewLlamaServer): off unless OLLAMA_FLASH_ATTENTION or the
    architecture is in GGML.FlashAttention's list."""
    if opts.flash_attention is not None:
        return "on" if opts.flash_attention else "off"
    if release is not None and release < LLAMA_SERVER:
        return "on" if gpus_support_fa and architecture in LEGACY_FA_ARCHS else "off"
    return "auto" if gpus_support_fa else "off"


def auto_num_parallel(release: Optional[Tuple[int, ...]]) -> Optional[int]:
    """Slots Ollama tries first when OLLAMA_NUM_PARALLEL is unset (server/sched.go
    pickBestFullFitByLibrary: defaultParallel, then 1 when the model does not fit entirely on
    the GPUs at that many slots): 4 before v0.6.7, 2 until v0.9.7; None from v0.9.7 on (the
    variable defaults to 1)."""
    if release is None or release >= NUM_PARALLEL_1:
        return None
    return 2 if release >= AUTO_PARALLEL_2 else 4


def automatic_num_batch(n_ctx_total: int, predicted_bytes: int, available_bytes: int,
                        flash_attn: str, cuda: bool = True,
                        smallest_cuda_gpu_bytes: Optional[int] = None) -> int:
    """sched.go automaticGenerationBatch: -b = -ub for a completion model whose Modelfile sets
    no num_batch. Without FA on CUDA: 512 (256 past 4096 tokens on an <= 8 GiB GPU). Otherwise
    2048 past 32768 tokens, 1024 past 4096, else 512, lowered while the prediction plus the
    batch surcharge exceeds 80 % of free memory or the tier's headroom (60 % / 75 %)."""
    if flash_attn == "off" and cuda:
        small = smallest_cuda_gpu_bytes is not None and 0 < smallest_cuda_gpu_bytes <= 8 * GiB
        return _BATCH_CONSTRAINED if n_ctx_total > 4096 and small else DEFAULT_NUM_BATCH
    batch = (_BATCH_LARGE if n_ctx_total > 32768 else
             _BATCH_MEDIUM if n_ctx_total > 4096 else DEFAULT_NUM_BATCH)
    while batch > DEFAULT_NUM_BATCH and not _batch_fits(batch, predicted_bytes, available_bytes):
        batch = _BATCH_MEDIUM if batch > _BATCH_MEDIUM else DEFAULT_NUM_BATCH
    return batch


def _batch_fits(batch: int, predicted: int, available: int) -> bool:
    # sched.go generationBatchFits (integer percent arithmetic as in Go)
    if predicted == 0 or available == 0:
        return True
    threshold = available * _FIT_FRACTION_PCT // 100
    if predicted > threshold or predicted > available * _BATCH_HEADROOM_PCT[batch] // 100:
        return False
    return _BATCH_SURCHARGE[batch] <= threshold - predicted


def minimum_memory_bytes(library: str) -> int:
    """ml/device.go DeviceInfo.MinimumMemory."""
    return MINIMUM_MEMORY_METAL_BYTES if library == "Metal" else MINIMUM_MEMORY_BYTES


def to_llamacpp_settings(opts: OllamaOptions, total_vram_bytes: Optional[int], *,
                         trained_ctx: Optional[int] = None, architecture: str = "",
                         embedding: bool = False, vision: bool = False,
                         gpus_support_fa: bool = True, cuda: bool = True,
                         predicted_bytes: Optional[int] = None,
                         available_bytes: Optional[int] = None,
                         smallest_cuda_gpu_bytes: Optional[int] = None,
                         library: str = "CUDA", gpu_count: int = 1,
                         version: Optional[str] = None) -> Dict[str, Any]:
    """The llama-server arguments Ollama builds (llm/llama_server.go startLlamaServer), as
    llama.cpp-level values, each with its source under "sources". `total_vram_bytes`: the sum
    of TotalMemory over the `gpu_count` GPUs Ollama found (None = none); OLLAMA_GPU_OVERHEAD is
    taken off each GPU for the context tier, as routes.go does."""
    tier_vram = None
    if total_vram_bytes:
        tier_vram = (total_vram_bytes - gpu_count * opts.gpu_overhead_bytes) % 2 ** 64
    release = None if version is None else release_of(version)
    requested = opts.num_parallel
    auto_par = None if opts.num_parallel_set else auto_num_parallel(release)
    if auto_par is not None:
        requested = auto_par
    par = default_num_parallel(architecture, embedding, requested)
    per_seq = effective_num_ctx(opts, tier_vram, trained_ctx, vision, release)
    n_ctx = per_seq * par
    fa = flash_attn_mode(opts, gpus_support_fa, release, architecture)
    if opts.num_batch is not None:
        n_batch = opts.num_batch
        batch_src = "Modelfile/request num_batch"
    elif embedding:
        n_batch = None  # llm.DefaultEmbeddingNumBatch (not read here): embeddings not modelled
        batch_src = "embedding batch default (not modelled)"
    elif predicted_bytes is not None and available_bytes is not None:
        n_batch = automatic_num_batch(n_ctx, predicted_bytes, available_bytes, fa, cuda,
                                      smallest_cuda_gpu_bytes)
        batch_src = "server/sched.go automaticGenerationBatch"
    else:  # no memory figures: the context tier alone (the largest the automatic batch can be)
        n_batch = automatic_num_batch(n_ctx, 0, 0, fa, cuda, smallest_cuda_gpu_bytes)
        batch_src = "server/sched.go automaticGenerationBatch (no memory figures: upper bound)"
    kv = opts.kv_cache_type or None
    out: Dict[str, Any] = {
        "n_ctx": n_ctx,
        "n_ctx_per_seq": per_seq,
        "n_parallel": par,
        # -np is explicit, so llama-server keeps kv_unified off (tools/server/server.cpp turns
        # it on only for -np auto): par caches of per_seq tokens. -c is explicit too, so --fit
        # moves layers and never shrinks this context.
        "kv_unified": False,
        "flash_attn": fa,
        "cache_type_k": kv or "f16",
        "cache_type_v": kv or "f16",
        "n_batch": n_batch,
        "n_ubatch": n_batch,
        "n_gpu_layers": opts.num_gpu if opts.num_gpu is not None and opts.num_gpu >= 0 else None,
        "fit": opts.fit if opts.fit is not None else "on",
        "fit_target_mib": opts.fit_target_mib,
        # Since v0.30 OLLAMA_GPU_OVERHEAD and the 457/512 MiB minimum are only logged
        # (sched.go load "gpu memory"); llama-server never sees them. What --fit keeps free is
        # llama.cpp's own fit target. Older versions reserved both (legacy_reserved_bytes).
        "ollama_reserved_bytes_per_gpu": 0,
        "legacy_reserved_bytes_per_gpu": opts.gpu_overhead_bytes + minimum_memory_bytes(library),
        "sources": {
            "n_ctx": "llm/llama_server.go startLlamaServer: -c NumCtx*numParallel; NumCtx from "
                     "Modelfile/request num_ctx, OLLAMA_CONTEXT_LENGTH or server/routes.go Serve "
                     "VRAM tier; capped at n_ctx_train (llm/server.go NewLlamaServer)",
            "n_parallel": ("-np; envconfig NumParallel default 1; server/sched.go load" if auto_par is None else
                           f"server/sched.go defaultParallel {auto_par} (Ollama {'.'.join(map(str, release or ()))}; "
                           "1 instead when the model does not fit entirely on the GPUs at that many slots)"),
            "flash_attn": "llm/llama_server.go LlamaServerFlashAttention + ml/device.go "
                          "FlashAttentionSupported",
            "cache_type_k": "OLLAMA_KV_CACHE_TYPE passed as --cache-type-k/v when set; "
                            "otherwise llama.cpp's default f16",
            "n_batch": batch_src + "; passed as -b and -ub",
            "n_gpu_layers": "-ngl only when num_gpu >= 0 (Modelfile/request); else --fit decides",
            "fit": "LLAMA_ARG_FIT inherited by llama-server; llama.cpp default on",
            "ollama_reserved_bytes_per_gpu": "server/sched.go load: overhead and "
                                             "MinimumMemory only logged since v0.30.0",
        },
    }
    if kv not in (None, "f16", "f32", "bf16") and fa == "auto":
        out["sources"]["flash_attn"] += ("; a quantized V cache makes llama.cpp switch auto to on "
                                         "(src/llama-context.cpp)")
    return out
