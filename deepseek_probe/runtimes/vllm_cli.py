"""Read a vLLM launch command: `vllm serve MODEL ...` or `python -m
vllm.entrypoints.openai.api_server --model MODEL ...`, with vLLM's own flag names
(vllm/engine/arg_utils.py EngineArgs.add_cli_args; the short forms -tp -pp -dp -q -ep are its
aliases). Integers accept vLLM's suffixes (arg_utils.py human_readable_int: lowercase k/m/g are
decimal, uppercase K/M/G binary, so `32k` = 32000 and `32K` = 32768); --max-model-len also takes
`auto` or -1 (human_readable_int_or_auto: the longest context that fits the memory).
"""

from __future__ import annotations

import json
import os
import re
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple

from deepseek_probe.records import replace
from deepseek_probe.runtimes.command import (
    IGNORED, NOT_MODELLED, CommandError, Flag, ParsedCommand, ParsedFlags, parse_flags, to_choice, to_float, to_fraction)
from deepseek_probe.runtimes.vllm import KV_DTYPE_BYTES, QUANT_TO_PRECISION, VllmOptions

if TYPE_CHECKING:
    from deepseek_probe.profiles import ModelSpec
    from deepseek_probe.runtimes.base import Settings

_HUMAN = re.compile(r"(\d+(?:\.\d+)?)([kmgtKMGT]?)")
_DECIMAL = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_BINARY = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def human_int(flag: str, minimum: int = 1) -> Any:
    """vLLM's human_readable_int: `8192`, `8k` (8000), `8K` (8192), `25.6k` (25600)."""
    def conv(v: str) -> int:
        m = _HUMAN.fullmatch(v.strip())
        if not m:
            raise CommandError(f"{flag} needs a whole number (suffixes k/K allowed), got {v!r}")
        number, suffix = m.groups()
        if suffix in _DECIMAL:
            n = int(float(number) * _DECIMAL[suffix])
        elif "." in number:
            raise CommandError(f"{flag}: decimals only with the decimal suffixes k/m/g/t, got {v!r}")
        else:
            n = int(number) * _BINARY.get(suffix, 1)
        if n < minimum:
            raise CommandError(f"{flag} needs a whole number >= {minimum}, got {v!r}")
        return n
    return conv


def _max_model_len(v: str) -> int:
    """-1 / auto -> 0 (our marker for auto-fit); else a human int."""
    if v.strip().lower() in ("auto", "-1"):
        return 0
    return human_int("--max-model-len")(v)


def _non_negative(flag: str) -> Any:
    base = to_float(flag)

    def conv(v: str) -> float:
        x = base(v)
        if x < 0:
            raise CommandError(f"{flag} needs a number >= 0, got {v!r}")
        return x
    return conv


_DTYPES = ("auto", "half", "float16", "bfloat16", "float", "float32")
# --dtype / --kv-cache-dtype words -> our precision names (config/model.py _STR_DTYPE_TO_TORCH_DTYPE)
_DTYPE_PRECISION = {"half": "fp16", "float16": "fp16", "bfloat16": "bf16", "float": "fp32", "float32": "fp32"}
# arg_utils.py --block-size choices (CacheConfig.block_size: BlockSize literal)
_BLOCK_SIZES = ("1", "8", "16", "32", "64", "128", "256")

FLAGS: Tuple[Flag, ...] = (
    Flag(("--model",), "model"),
    Flag(("--tensor-parallel-size", "-tp"), "tp", convert=human_int("--tensor-parallel-size")),
    Flag(("--pipeline-parallel-size", "-pp"), "pp", convert=human_int("--pipeline-parallel-size")),
    Flag(("--data-parallel-size", "-dp"), "dp", convert=human_int("--data-parallel-size")),
    # which engine a V1-default release picks for -pp > 1 (vllm_releases.rules)
    Flag(("--distributed-executor-backend",), "distributed_executor_backend"),
    Flag(("--enable-expert-parallel", "-ep"), "enable_expert_parallel", takes_value=False),
    Flag(("--max-model-len",), "max_model_len", convert=_max_model_len),
    Flag(("--gpu-memory-utilization",), "gpu_memory_utilization",
         convert=to_fraction("--gpu-memory-utilization", one_allowed=True)),
    Flag(("--dtype",), "dtype", convert=to_choice("--dtype", _DTYPES)),
    Flag(("--quantization", "-q"), "quantization"),
    Flag(("--kv-cache-dtype",), "kv_cache_dtype", convert=to_choice("--kv-cache-dtype", tuple(KV_DTYPE_BYTES))),
    Flag(("--max-num-seqs",), "max_num_seqs", convert=human_int("--max-num-seqs")),
    Flag(("--max-num-batched-tokens",), "max_num_batched_tokens", convert=human_int("--max-num-batched-tokens")),
    Flag(("--enforce-eager",), "enforce_eager", takes_value=False),
    Flag(("--cpu-offload-gb",), "cpu_offload_gb", convert=_non_negative("--cpu-offload-gb")),
    Flag(("--block-size",), "block_size", convert=lambda v: int(to_choice("--block-size", _BLOCK_SIZES)(v))),
    Flag(("--kv-cache-memory-bytes", "--kv-cache-memory"), "kv_cache_memory_bytes",
         convert=human_int("--kv-cache-memory-bytes")),
    # method mtp is modelled for DeepSeek-V4 (runtimes/vllm_v4.py); other drafts are not (_speculative_mtp)
    Flag(("--speculative-config",), "speculative_config"),
    # change memory, not modelled here
    Flag(("--compilation-config", "-O"), "compilation", NOT_MODELLED),
    Flag(("--max-seq-len-to-capture",), "capture_len", NOT_MODELLED),
    Flag(("--limit-mm-per-prompt",), "mm", NOT_MODELLED),
    # LoRA slots: their stacked A/B weights (vllm_releases.lora_weight_bytes); not the profile's LoRA terms
    Flag(("--enable-lora",), "enable_lora", takes_value=False),
    Flag(("--max-loras",), "max_loras", convert=human_int("--max-loras")),
    Flag(("--max-lora-rank",), "max_lora_rank", convert=human_int("--max-lora-rank")),
    Flag(("--enable-chunked-prefill",), "enable_chunked_prefill", takes_value=False),
    Flag(("--no-enable-chunked-prefill",), "no_enable_chunked_prefill", takes_value=False),
    Flag(("--hf-overrides",), "hf_overrides", NOT_MODELLED),
    Flag(("--rope-scaling",), "rope_scaling", NOT_MODELLED),
    Flag(("--kv-transfer-config",), "kv_transfer", NOT_MODELLED),
    Flag(("--enable-sleep-mode",), "sleep", NOT_MODELLED, takes_value=False),
    Flag(("--config",), "config_file", NOT_MODELLED),
    Flag(("--swap-space",), "swap_space", NOT_MODELLED),  # host RAM per GPU (V0 engine)
    # do not change what the GPU holds at start-up
    *(Flag((n,), n, IGNORED) for n in (
        "--host", "--port", "--served-model-name", "--tokenizer", "--tokenizer-mode", "--api-key",
        "--chat-template", "--reasoning-parser", "--tool-call-parser", "--seed", "--download-dir",
        "--revision", "--load-format", "--uvicorn-log-level", "--generation-config", "--root-path",
        "--config-format", "--trust-request-chat-template",
        "--tokenizer-revision", "--code-revision", "--middleware", "--allowed-origins", "--ssl-keyfile",
        "--ssl-certfile", "--max-log-len", "--response-role", "--lora-modules", "--guided-decoding-backend",
        "--structured-outputs-config", "--override-generation-config", "--logits-processors", "--task",
        "--runner", "--convert")),
    *(Flag((n,), n, IGNORED, takes_value=False) for n in (
        "--trust-remote-code", "--enable-prefix-caching", "--no-enable-prefix-caching",
        "--disable-log-requests",
        "--disable-log-stats", "--enable-log-requests", "--enable-auto-tool-choice",
        "--disable-custom-all-reduce", "--disable-frontend-multiprocessing", "--enable-reasoning",
        "--disable-fastapi-docs", "--enable-prompt-tokens-details", "--enable-server-load-tracking",
        "--enable-force-include-usage", "--headless", "--async-scheduling", "--no-async-scheduling")),
)

_API_SERVER = "vllm.entrypoints.openai.api_server"


def _split_program(argv: Sequence[str]) -> Tuple[str, Sequence[str], Optional[str]]:
    """(program as shown, the flags, the positional model of `vllm serve MODEL` or None)."""
    if not argv:
        raise CommandError("vllm: empty launch command")
    head = os.path.basename(argv[0]).lower().removesuffix(".exe")
    if head.startswith("python"):
        if len(argv) >= 3 and argv[1] == "-m" and argv[2] == _API_SERVER:
            return f"{os.path.basename(argv[0])} -m {_API_SERVER}", argv[3:], None
        raise CommandError(f"vllm: expected `python -m {_API_SERVER} ...`, got {' '.join(argv[:3])!r}")
    if head != "vllm":
        raise CommandError(f"vllm: not a vLLM launch command: {argv[0]!r}")
    if len(argv) < 2 or argv[1] != "serve":
        sub = argv[1] if len(argv) > 1 else "(none)"
        raise CommandError(f"vllm: only `vllm serve` starts a server, got subcommand {sub!r}")
    rest = list(argv[2:])
    if rest and not rest[0].startswith("-"):  # `vllm serve MODEL` (cli/serve.py model_tag)
        return "vllm serve", rest[1:], rest[0]
    return "vllm serve", rest, None


def _dashes(arg: str) -> str:
    """utils/argparse_utils.py FlexibleArgumentParser.parse_args: `--max_model_len=8k` is read
    as `--max-model-len=8k` (underscores in a long flag's name become dashes)."""
    if not arg.startswith("--"):
        return arg
    name, eq, value = arg.partition("=")
    return name.replace("_", "-") + eq + value


# config/speculative.py SpeculativeConfig.method: the target model's own MTP layers as the draft
# ("deepseek_mtp" the name before the generic "mtp")
_MTP_METHODS = ("mtp", "deepseek_mtp")


def _speculative_mtp(raw: str, parsed: ParsedFlags) -> bool:
    """--speculative-config JSON (arg_utils.py: json.loads): True for an MTP draft; any other
    draft, or a value that is not a JSON object, is reported as not modelled."""
    try:
        cfg = json.loads(raw)
    except ValueError:
        cfg = None
    if isinstance(cfg, dict) and str(cfg.get("method", "")).lower() in _MTP_METHODS:
        return True
    parsed.understood = [u for u in parsed.understood if u[0] != "--speculative-config"]
    parsed.not_modelled.append(f"--speculative-config {raw} (only method mtp is modelled)")
    return False


def parse_command(argv: Sequence[str], env: Optional[Mapping[str, str]] = None) -> ParsedCommand:
    """Read a vLLM launch command into VllmOptions (+ the generic Settings fields it sets).
    `env`: VLLM_USE_FLASHINFER_SAMPLER, VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS and
    VLLM_ALLOW_LONG_MAX_MODEL_LEN change the sizing (envs.py, 0.33.0); VLLM_USE_V1=0 is only noted
    (0.33 has no V0 engine); CUDA_VISIBLE_DEVICES chooses GPUs, not memory."""
    program, args, model_tag = _split_program(list(argv))
    parsed = parse_flags([_dashes(a) for a in args], FLAGS, program)
    positional = list(parsed.positional)
    if program == "vllm serve" and model_tag is None and positional:  # argparse: the tag may come last
        model_tag = positional.pop(0)
    if positional:
        raise CommandError(f"{program}: unexpected argument {positional[0]!r}")
    v: Dict[str, Any] = dict(parsed.values)
    if v.pop("no_enable_chunked_prefill", False):  # argparse BooleanOptionalAction's negative form
        v["enable_chunked_prefill"] = False
    if "speculative_config" in v:
        v["speculative_mtp"] = _speculative_mtp(v.pop("speculative_config"), parsed)
    if model_tag is not None:
        if "model" in v and v["model"] != model_tag:
            raise CommandError(f"{program}: the model is given twice ({model_tag!r} and --model {v['model']!r})")
        v["model"] = model_tag
    if "model" not in v:
        raise CommandError(f"{program}: no model (vllm serve MODEL, or --model MODEL)")
    if v.get("max_model_len") == 0:
        v["max_model_len"], v["max_model_len_auto"] = None, True
    if v.get("quantization") is not None and v["quantization"] not in QUANT_TO_PRECISION:
        # vLLM accepts more methods; ours are the ones whose weight layout we model
        parsed.not_modelled.append(f"--quantization {v['quantization']} (weights taken at the asked precision)")
        del v["quantization"]
    try:
        opts = VllmOptions(**v)
    except ValueError as e:  # EstimateInputError from the options' own checks
        raise CommandError(str(e)) from None
    generic: Dict[str, Any] = {"tensor_parallel": opts.tp, "gpu_memory_utilization": opts.gpu_memory_utilization}
    if opts.max_model_len is not None:
        generic["context"] = opts.max_model_len
    if opts.kv_cache_dtype.startswith("fp8"):
        generic["kv_precision"] = "fp8"
    elif opts.kv_cache_dtype in _DTYPE_PRECISION:
        generic["kv_precision"] = _DTYPE_PRECISION[opts.kv_cache_dtype]
    q = QUANT_TO_PRECISION.get(opts.quantization or "")
    if q:
        generic["precision"] = q
    elif opts.dtype in _DTYPE_PRECISION:
        generic["precision"] = _DTYPE_PRECISION[opts.dtype]
    notes = []
    env = env or {}
    flags = {}
    if env.get("VLLM_USE_FLASHINFER_SAMPLER", "").strip() == "0":
        flags["flashinfer_sampler"] = False
        notes.append("VLLM_USE_FLASHINFER_SAMPLER=0: the PyTorch-native sampler (a full sort) in the profile run")
    if env.get("VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS", "").strip() == "0":
        flags["cudagraph_in_budget"] = False
        notes.append("VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=0: CUDA graphs come on top of the utilization budget")
    fi = env.get("VLLM_USE_FLASHINFER_SAMPLER", "").strip()
    if fi in ("0", "1"):  # releases before 0.33 use FlashInfer only where it is installed (vllm_releases.py)
        flags["flashinfer_sampler_env"] = fi == "1"
    v1 = env.get("VLLM_USE_V1", "").strip()
    if v1 in ("0", "1"):  # which engine, where the release has both (vllm_releases.rules)
        flags["use_v1"] = v1 == "1"
        notes.append(f"VLLM_USE_V1={v1}: the {'V1' if v1 == '1' else 'V0'} engine where the release has both "
                     "(V1 from 0.7.0, the default from 0.8.0; V0 removed in 0.11.0)")
    if env.get("VLLM_MLA_DISABLE", "").strip() == "1":
        flags["mla_disable"] = True
        notes.append("VLLM_MLA_DISABLE=1: DeepSeek's cache decompressed to K and V per head")
    # 0.7.2 reads VLLM_CUDA_MEM_ALIGN_KV_CACHE, the builds after 0.7.3 VLLM_MLA_CUDA_MEM_ALIGN_KV_CACHE
    # (envs.py; vllm#12676, vllm#14842): the V0 MLA cache's 256-byte entries (vllm_releases.py)
    align = env.get("VLLM_MLA_CUDA_MEM_ALIGN_KV_CACHE", env.get("VLLM_CUDA_MEM_ALIGN_KV_CACHE", "")).strip()
    if align in ("0", "1"):
        flags["mla_cache_align"] = align == "1"
    if env.get("VLLM_ALLOW_LONG_MAX_MODEL_LEN", "").strip().lower() in ("1", "true"):
        flags["allow_long_max_model_len"] = True
        notes.append("VLLM_ALLOW_LONG_MAX_MODEL_LEN=1: --max-model-len may pass the model's maximum")
    if flags:
        opts = replace(opts, **flags)
    if opts.max_model_len_auto:
        notes.append("--max-model-len auto: vLLM picks the longest context the KV pool holds")
    elif opts.max_model_len is None:
        notes.append("--max-model-len not given: vLLM uses the model's maximum context")
    return ParsedCommand(runtime="vllm", program=program, model_ref=opts.model, options=opts,
                         generic=generic, understood=tuple(parsed.understood),
                         not_modelled=tuple(parsed.not_modelled), ignored=tuple(parsed.ignored),
                         notes=tuple(notes))


# ---------------------------------------------------------------- the inverse: Settings -> argv

def launch_command(spec: "ModelSpec", settings: "Settings", model_ref: Optional[str] = None) -> List[str]:
    """`vllm serve MODEL --max-model-len N ...` for the assessed options (vllm.options_for):
    flags of vLLM 0.33.0 (arg_utils.py), each only where vLLM's default would not give the
    setup, but always --max-model-len. Environment words (VLLM_*) come first. Raises EmitError
    for weights only a pre-quantized checkpoint has (int4 / int8) when no checkpoint is named."""
    from deepseek_probe.runtimes import vllm
    from deepseek_probe.runtimes.model_refs import hf_repo, weight_flags

    o = vllm.options_for(settings, settings.runtime_options if isinstance(settings.runtime_options,
                                                                          vllm.VllmOptions) else None)
    d = vllm.VllmOptions()
    env: List[str] = []
    if not o.flashinfer_sampler:
        env.append("VLLM_USE_FLASHINFER_SAMPLER=0")
    elif o.flashinfer_sampler_env:
        env.append("VLLM_USE_FLASHINFER_SAMPLER=1")
    if not o.cudagraph_in_budget:
        env.append("VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=0")
    if o.allow_long_max_model_len:
        env.append("VLLM_ALLOW_LONG_MAX_MODEL_LEN=1")
    if o.use_v1 is not None:
        env.append(f"VLLM_USE_V1={int(o.use_v1)}")
    if o.mla_disable:
        env.append("VLLM_MLA_DISABLE=1")
    if o.mla_cache_align is not None:
        env.append(f"VLLM_CUDA_MEM_ALIGN_KV_CACHE={int(o.mla_cache_align)}")
    argv = env + ["vllm", "serve", hf_repo(spec, model_ref, "vllm")]
    argv += ["--max-model-len", "auto" if o.max_model_len_auto else str(o.max_model_len or settings.context)]
    for flag, key in (("-tp", "tp"), ("-pp", "pp"), ("-dp", "dp"), ("--max-num-seqs", "max_num_seqs"),
                      ("--max-num-batched-tokens", "max_num_batched_tokens"), ("--block-size", "block_size"),
                      ("--kv-cache-memory-bytes", "kv_cache_memory_bytes")):
        if getattr(o, key) != getattr(d, key):
            argv += [flag, str(getattr(o, key))]
    if o.gpu_memory_utilization != d.gpu_memory_utilization:
        argv += ["--gpu-memory-utilization", f"{o.gpu_memory_utilization:g}"]
    if o.cpu_offload_gb:
        argv += ["--cpu-offload-gb", f"{o.cpu_offload_gb:g}"]
    if o.distributed_executor_backend:
        argv += ["--distributed-executor-backend", o.distributed_executor_backend]
    if o.enable_expert_parallel:
        argv.append("--enable-expert-parallel")
    if o.enforce_eager:
        argv.append("--enforce-eager")
    if o.enable_chunked_prefill is not None:
        argv.append("--enable-chunked-prefill" if o.enable_chunked_prefill else "--no-enable-chunked-prefill")
    if o.enable_lora:
        argv.append("--enable-lora")
        for flag, key in (("--max-loras", "max_loras"), ("--max-lora-rank", "max_lora_rank")):
            if getattr(o, key) != getattr(d, key):
                argv += [flag, str(getattr(o, key))]
    # fp32 too: vLLM casts a 16-bit checkpoint up with --dtype float32 (fp8.py for online fp8)
    words, dtype = weight_flags(spec, settings.precision, o.dtype, o.quantization, model_ref, "vllm",
                                ("bf16", "fp16", "fp32"))
    argv += words
    if dtype != "auto":
        argv += ["--dtype", dtype]
    kv = o.kv_cache_dtype
    # from flags: the KV precision asked, where the parse of the command would not give it
    # (bf16 is the default a parsed command starts from; --dtype float32 makes "auto" fp32)
    if kv == "auto" and (settings.kv_precision != "bf16" or _DTYPE_PRECISION.get(dtype) == "fp32"):
        kv = {"fp8": "fp8", "bf16": "bfloat16", "fp16": "float16"}[settings.kv_precision]
    if kv != "auto":
        argv += ["--kv-cache-dtype", kv]
    return argv
