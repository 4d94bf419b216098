"""Read an SGLang launch command: `python -m sglang.launch_server ...`, `python3 -m
sglang.launch_server ...` or `sglang serve ...` (sglang 0.5.5: launch_server.py and
cli/main.py, whose `serve` subcommand hands the rest to the same ServerArgs parser).

Flag names are server_args.py ServerArgs.add_cli_args (0.5.5). `--tp` and `--dp` are not
declared there; argparse accepts them as unambiguous prefixes of `--tp-size` / `--dp-size`
(allow_abbrev, the argparse default), so users write them and we accept them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple

from deepseek_probe.runtimes.command import (
    IGNORED, NOT_MODELLED, CommandError, Flag, ParsedCommand, parse_flags, to_choice, to_fraction, to_int)
from deepseek_probe.runtimes.sglang import KV_DTYPE_BYTES, SglangOptions

if TYPE_CHECKING:
    from deepseek_probe.profiles import ModelSpec
    from deepseek_probe.runtimes.base import Settings


def _positive(flag: str) -> Any:
    base = to_int(flag)

    def conv(v: str) -> int:
        n = base(v)
        if n < 1:
            raise CommandError(f"{flag} needs a whole number >= 1, got {v!r}")
        return n
    return conv


def _int_list_max(flag: str) -> Any:
    base = to_int(flag)

    def conv(v: str) -> int:
        return max(base(x) for x in v.replace(",", " ").split()) if v.strip() else base(v)
    return conv


_KV = tuple(KV_DTYPE_BYTES)
# server_args.py QUANTIZATION_CHOICES (0.5.5)
_QUANT = ("awq", "fp8", "gptq", "marlin", "gptq_marlin", "awq_marlin", "bitsandbytes", "gguf", "modelopt",
          "modelopt_fp8", "modelopt_fp4", "petit_nvfp4", "w8a8_int8", "w8a8_fp8", "moe_wna16", "qoq",
          "w4afp8", "mxfp4", "auto-round", "compressed-tensors")
_DTYPES = ("auto", "half", "float16", "bfloat16", "float", "float32")
_DTYPE_PRECISION = {"half": "fp16", "float16": "fp16", "bfloat16": "bf16", "float": "fp32", "float32": "fp32"}

FLAGS: Tuple[Flag, ...] = (
    Flag(("--model-path", "--model"), "model_path"),
    Flag(("--tensor-parallel-size", "--tp-size", "--tp"), "tp", convert=_positive("--tp-size")),
    Flag(("--data-parallel-size", "--dp-size", "--dp"), "dp", convert=_positive("--dp-size")),
    Flag(("--pipeline-parallel-size", "--pp-size"), "pp", convert=_positive("--pp-size")),
    Flag(("--mem-fraction-static",), "mem_fraction_static", convert=to_fraction("--mem-fraction-static")),
    Flag(("--context-length",), "context_length", convert=_positive("--context-length")),
    Flag(("--kv-cache-dtype",), "kv_cache_dtype", convert=to_choice("--kv-cache-dtype", _KV)),
    Flag(("--quantization",), "quantization", convert=to_choice("--quantization", _QUANT)),
    Flag(("--dtype",), "dtype", convert=to_choice("--dtype", _DTYPES)),
    Flag(("--max-running-requests",), "max_running_requests", convert=_positive("--max-running-requests")),
    Flag(("--max-total-tokens",), "max_total_tokens", convert=_positive("--max-total-tokens")),
    Flag(("--chunked-prefill-size",), "chunked_prefill_size", convert=to_int("--chunked-prefill-size")),
    Flag(("--max-prefill-tokens",), "max_prefill_tokens", convert=_positive("--max-prefill-tokens")),
    Flag(("--cuda-graph-max-bs",), "cuda_graph_max_bs", convert=_positive("--cuda-graph-max-bs")),
    Flag(("--cuda-graph-bs",), "cuda_graph_max_bs", convert=_int_list_max("--cuda-graph-bs")),
    Flag(("--disable-cuda-graph",), "disable_cuda_graph", takes_value=False),
    Flag(("--enable-dp-attention",), "enable_dp_attention", takes_value=False),
    Flag(("--page-size",), "page_size", convert=_positive("--page-size")),
    Flag(("--speculative-algorithm",), "speculative_algorithm"),
    # affect memory, not modelled here
    Flag(("--ep-size", "--ep", "--expert-parallel-size"), "ep", NOT_MODELLED),
    Flag(("--enable-torch-compile",), "torch_compile", NOT_MODELLED, takes_value=False),
    Flag(("--enable-piecewise-cuda-graph",), "piecewise", NOT_MODELLED, takes_value=False),
    Flag(("--speculative-draft-model-path", "--speculative-draft-model"), "draft", NOT_MODELLED),
    Flag(("--enable-hierarchical-cache",), "hicache", NOT_MODELLED, takes_value=False),
    Flag(("--attention-backend",), "attention_backend", NOT_MODELLED),
    Flag(("--json-model-override-args",), "override", NOT_MODELLED),
    Flag(("--enable-dp-lm-head",), "dp_lm_head", NOT_MODELLED, takes_value=False),
    Flag(("--moe-a2a-backend",), "a2a", NOT_MODELLED),
    Flag(("--enable-memory-saver",), "memory_saver", NOT_MODELLED, takes_value=False),
    # do not change what the GPU holds at start-up
    *(Flag((n,), n, IGNORED) for n in (
        "--host", "--port", "--served-model-name", "--tokenizer-path", "--tokenizer-mode", "--log-level",
        "--api-key", "--chat-template", "--reasoning-parser", "--tool-call-parser", "--random-seed",
        "--download-dir", "--revision", "--watchdog-timeout", "--dist-init-addr", "--nnodes",
        "--node-rank", "--load-format", "--schedule-policy", "--decode-log-interval",
        "--stream-interval", "--grammar-backend", "--dist-timeout", "--file-storage-path",
        "--model-loader-extra-config", "--schedule-conservativeness", "--max-queued-requests")),
    *(Flag((n,), n, IGNORED, takes_value=False) for n in (
        "--trust-remote-code", "--enable-metrics", "--log-requests", "--show-time-cost",
        "--disable-radix-cache", "--enable-p2p-check", "--skip-server-warmup", "--enable-mixed-chunk",
        "--disable-cuda-graph-padding", "--enable-cache-report", "--disable-custom-all-reduce",
        "--skip-tokenizer-init", "--enable-deterministic-inference")),
)

_MODULE = "sglang.launch_server"


def _split_program(argv: Sequence[str]) -> Tuple[str, Sequence[str]]:
    if not argv:
        raise CommandError("sglang: empty launch command")
    head = os.path.basename(argv[0])
    if head.startswith("python"):
        if len(argv) >= 3 and argv[1] == "-m" and argv[2] == _MODULE:
            return f"{head} -m {_MODULE}", argv[3:]
        if len(argv) >= 2 and argv[1] == f"-m{_MODULE}":
            return f"{head} -m {_MODULE}", argv[2:]
        raise CommandError(f"sglang: expected `{head} -m {_MODULE} ...`, got {' '.join(argv[:3])!r}")
    if head == "sglang":
        if len(argv) >= 2 and argv[1] == "serve":
            return "sglang serve", argv[2:]
        sub = argv[1] if len(argv) > 1 else "(none)"
        raise CommandError(f"sglang: only `sglang serve` starts a server, got subcommand {sub!r}")
    raise CommandError(f"sglang: not an SGLang launch command: {argv[0]!r}")


def _join_lists(args: Sequence[str]) -> list:
    """`--cuda-graph-bs 1 2 4 8` (argparse nargs="+") -> `--cuda-graph-bs 1,2,4,8`."""
    out, i = [], 0
    while i < len(args):
        out.append(args[i])
        if args[i] == "--cuda-graph-bs":
            vals = []
            while i + 1 < len(args) and args[i + 1].lstrip("-").isdigit() and not args[i + 1].startswith("--"):
                vals.append(args[i + 1])
                i += 1
            if vals:
                out.append(",".join(vals))
        i += 1
    return out


def parse_command(argv: Sequence[str], env: Optional[Mapping[str, str]] = None) -> ParsedCommand:
    """Read an SGLang launch command into SglangOptions (+ the generic Settings fields it sets).
    `env`: SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN is noted (it lets --context-length pass the
    model's maximum); CUDA_VISIBLE_DEVICES is ignored (it chooses GPUs, not memory)."""
    program, args = _split_program(list(argv))
    parsed = parse_flags(_join_lists(args), FLAGS, program)
    if parsed.positional:
        raise CommandError(f"{program}: unexpected argument {parsed.positional[0]!r} "
                           "(the model is given with --model-path)")
    v: Dict[str, Any] = dict(parsed.values)
    if "model_path" not in v:
        raise CommandError(f"{program}: --model-path is required")
    try:
        opts = SglangOptions(**v)
    except ValueError as e:  # EstimateInputError from the options' own checks
        raise CommandError(str(e)) from None
    generic: Dict[str, Any] = {"tensor_parallel": opts.tp}
    if opts.context_length is not None:
        generic["context"] = opts.context_length
    if opts.max_running_requests is not None:
        generic["concurrency"] = opts.max_running_requests
    if opts.kv_cache_dtype in ("fp8_e4m3", "fp8_e5m2"):
        generic["kv_precision"] = "fp8"
    elif opts.kv_cache_dtype in ("bf16", "bfloat16"):
        generic["kv_precision"] = "bf16"
    elif opts.kv_cache_dtype == "auto" and opts.dtype in ("half", "float16"):
        generic["kv_precision"] = "fp16"  # model_runner.py: auto = the model dtype
    q = {"fp8": "fp8", "w8a8_fp8": "fp8", "modelopt_fp8": "fp8", "awq": "int4", "awq_marlin": "int4",
         "gptq": "int4", "gptq_marlin": "int4", "moe_wna16": "int4", "w8a8_int8": "int8"}.get(opts.quantization or "")
    if q:
        generic["precision"] = q
    elif opts.dtype in _DTYPE_PRECISION:  # a 16/32-bit checkpoint loaded in this dtype
        generic["precision"] = _DTYPE_PRECISION[opts.dtype]
    notes = []
    if env and env.get("SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN", "").lower() in ("1", "true"):
        opts = SglangOptions(**{**v, "allow_longer_context": True})
        notes.append("SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN set: --context-length may pass the model's maximum")
    if opts.mem_fraction_static is None:
        notes.append("--mem-fraction-static not given: SGLang derives it from the GPU size")
    return ParsedCommand(runtime="sglang", program=program, model_ref=opts.model_path, options=opts,
                         generic=generic, understood=tuple(parsed.understood),
                         not_modelled=tuple(parsed.not_modelled), ignored=tuple(parsed.ignored),
                         notes=tuple(notes))


# ---------------------------------------------------------------- the inverse: Settings -> argv

def launch_command(spec: "ModelSpec", settings: "Settings", model_ref: Optional[str] = None) -> List[str]:
    """`python -m sglang.launch_server --model-path M --context-length N ...` for the assessed
    options (sglang.options_for): server_args.py flags (0.5.5), each only where SGLang's default
    would not give the setup, but always --context-length. Raises EmitError for weights only a
    pre-quantized checkpoint has, or a KV precision SGLang has no word for."""
    from deepseek_probe.runtimes import sglang
    from deepseek_probe.runtimes.model_refs import EmitError, hf_repo, weight_flags

    given = settings.runtime_options if isinstance(settings.runtime_options, SglangOptions) else None
    o = sglang.options_for(settings, given)
    d = SglangOptions()
    argv = ["python", "-m", _MODULE, "--model-path", hf_repo(spec, model_ref, "sglang"),
            "--context-length", str(o.context_length or settings.context)]
    for flag, key in (("--tp", "tp"), ("--dp", "dp"), ("--pp-size", "pp"),
                      ("--mem-fraction-static", "mem_fraction_static"),
                      ("--max-running-requests", "max_running_requests"), ("--max-total-tokens", "max_total_tokens"),
                      ("--chunked-prefill-size", "chunked_prefill_size"),
                      ("--max-prefill-tokens", "max_prefill_tokens"), ("--cuda-graph-max-bs", "cuda_graph_max_bs"),
                      ("--page-size", "page_size"), ("--speculative-algorithm", "speculative_algorithm")):
        v = getattr(o, key)
        if v != getattr(d, key):
            argv += [flag, f"{v:g}" if isinstance(v, float) else str(v)]
    for flag, key in (("--disable-cuda-graph", "disable_cuda_graph"), ("--enable-dp-attention", "enable_dp_attention")):
        if getattr(o, key):
            argv.append(flag)
    words, dtype = weight_flags(spec, settings.precision, o.dtype, o.quantization, model_ref, "sglang")
    argv += words
    if dtype != "auto":
        argv += ["--dtype", dtype]
    kv = o.kv_cache_dtype
    auto_kv = "fp16" if _DTYPE_PRECISION.get(dtype) == "fp16" else "bf16"
    if kv == "auto" and settings.kv_precision != auto_kv:  # from flags: the KV precision asked
        if settings.kv_precision == "fp16":
            raise EmitError("sglang: the KV cache takes the model dtype; an fp16 cache needs "
                            "--dtype float16 (fp16 weights)")
        kv = {"fp8": "fp8_e4m3", "bf16": "bf16"}[settings.kv_precision]
    if kv != "auto":
        argv += ["--kv-cache-dtype", kv]
    return argv
