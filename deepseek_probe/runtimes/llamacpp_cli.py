"""`llama-server` / `llama-cli` command lines, read with llama.cpp's own flag names and defaults
(common/arg.cpp, 2026-10): what they set in LlamaCppOptions, what they change in memory that we
do not model, and what does not matter for memory."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence

from deepseek_probe.records import replace
from deepseek_probe.runtimes.command import (IGNORED, NOT_MODELLED, CommandError, Flag, ParsedCommand,
                                             parse_flags, to_int)
from deepseek_probe.runtimes.llamacpp_alloc import LlamaCppOptions

if TYPE_CHECKING:
    from deepseek_probe.profiles import ModelSpec
    from deepseek_probe.runtimes.base import Settings


def _onoff(flag: str) -> Any:
    def conv(v: str) -> str:
        t = v.strip().lower()
        words = {"on": "on", "1": "on", "true": "on", "enabled": "on", "off": "off", "0": "off",
                 "false": "off", "disabled": "off", "auto": "auto"}
        if t not in words:
            raise CommandError(f"{flag} must be on, off or auto, got {v!r}")
        return words[t]
    return conv


def _cache(flag: str) -> Any:
    def conv(v: str) -> str:
        t = v.strip().lower()
        if t not in ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl"):
            raise CommandError(f"{flag}: unknown cache type {v!r} (f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 iq4_nl)")
        return t
    return conv


def _ngl(flag: str) -> Any:
    base = to_int(flag)

    def conv(v: str) -> int:
        t = v.strip().lower()
        if t == "auto":
            return -1
        if t == "all":
            return -2
        return base(v)
    return conv


def _split(flag: str) -> Any:
    def conv(v: str) -> tuple:
        try:
            parts = tuple(float(x) for x in v.replace("/", ",").split(",") if x.strip())
        except ValueError:
            raise CommandError(f"{flag} needs numbers like 3,1, got {v!r}") from None
        if not parts or any(p < 0 for p in parts):
            raise CommandError(f"{flag} needs non-negative numbers, got {v!r}")
        return parts
    return conv


def _fit_target(flag: str) -> Any:
    base = to_int(flag)

    def conv(v: str) -> int:
        return base(v.split(",")[0])  # one value broadcast to every device (arg.cpp)
    return conv


_TABLE = [
    Flag(("-m", "--model"), "model"),
    # arg.cpp: "<user>/<model>[:quant]", the quant defaulting to Q4_K_M; downloads the GGUF
    Flag(("-hf", "-hfr", "--hf-repo"), "hf_repo"),
    Flag(("-dev", "--device"), "devices"),
    Flag(("-c", "--ctx-size"), "n_ctx", convert=to_int("-c")),
    Flag(("-ngl", "--gpu-layers", "--n-gpu-layers"), "n_gpu_layers", convert=_ngl("-ngl")),
    Flag(("-fa", "--flash-attn"), "flash_attn", convert=_onoff("-fa")),
    Flag(("-ctk", "--cache-type-k"), "cache_type_k", convert=_cache("-ctk")),
    Flag(("-ctv", "--cache-type-v"), "cache_type_v", convert=_cache("-ctv")),
    Flag(("-b", "--batch-size"), "n_batch", convert=to_int("-b")),
    Flag(("-ub", "--ubatch-size"), "n_ubatch", convert=to_int("-ub")),
    Flag(("-np", "--parallel"), "n_parallel", convert=to_int("-np")),
    Flag(("-kvu", "--kv-unified"), "kv_unified", takes_value=False),
    Flag(("-sm", "--split-mode"), "split_mode"),
    Flag(("-ts", "--tensor-split"), "tensor_split", convert=_split("-ts")),
    Flag(("-fit", "--fit"), "fit", convert=lambda v: _onoff("--fit")(v) != "off"),
    Flag(("-fitt", "--fit-target"), "fit_target_mib", convert=_fit_target("--fit-target")),
    Flag(("-fitc", "--fit-ctx"), "fit_ctx", convert=to_int("--fit-ctx")),
    Flag(("-cmoe", "--cpu-moe"), "cpu_moe", takes_value=False),
    Flag(("-ncmoe", "--n-cpu-moe"), "n_cpu_moe", convert=to_int("--n-cpu-moe")),
    Flag(("--no-mmap",), "no_mmap", takes_value=False),
    Flag(("--mlock",), "mlock", takes_value=False),
    # change memory, not modelled here
    Flag(("-ot", "--override-tensor"), "override_tensor", kind=NOT_MODELLED),
    Flag(("-md", "--model-draft"), "model_draft", kind=NOT_MODELLED),
    Flag(("--mmproj",), "mmproj", kind=NOT_MODELLED),
    Flag(("--lora",), "lora", kind=NOT_MODELLED),
    Flag(("--swa-full",), "swa_full", kind=NOT_MODELLED, takes_value=False),
    Flag(("-nkvo", "--no-kv-offload"), "no_kv_offload", kind=NOT_MODELLED, takes_value=False),
    Flag(("-mg", "--main-gpu"), "main_gpu", kind=NOT_MODELLED),
    Flag(("--cache-ram", "-cram"), "cache_ram", kind=NOT_MODELLED),
    # no effect on memory
    *[Flag((n,), n.strip("-"), kind=IGNORED) for n in (
        "--host", "--port", "-t", "--threads", "-tb", "--threads-batch", "--temp", "--top-k", "--top-p",
        "--min-p", "--seed", "-n", "--n-predict", "--api-key", "--alias", "-a", "--log-file",
        "--chat-template", "--jinja", "--repeat-penalty", "--prio", "--timeout", "-p", "--prompt",
        "--metrics", "--slots", "--props", "--no-webui", "-v", "--verbose", "--log-verbosity", "-lv",
        "--reasoning-format", "--reasoning-budget", "-cnv", "--conversation", "-st", "--single-turn",
        "--numa", "--system-prompt-file", "-sys", "--hf-file", "-hff")],
]
_SWITCHES_IGNORED = {"--jinja", "--metrics", "--slots", "--props", "--no-webui", "-v", "--verbose", "-cnv",
                     "--conversation", "-st", "--single-turn"}
for i, f in enumerate(_TABLE):
    if f.names[0] in _SWITCHES_IGNORED:
        _TABLE[i] = replace(f, takes_value=False)


def _fa_switch(args: Sequence[str]) -> List[str]:
    """`-fa` with no value, as builds before b6325 took it (a switch: on; PR #15434 made it
    on|off|auto), becomes `-fa on`."""
    out = list(args)
    for i in range(len(out) - 1, -1, -1):
        if out[i] in ("-fa", "--flash-attn") and (i + 1 == len(out) or out[i + 1].startswith("-")):
            out.insert(i + 1, "on")
    return out


def parse_command(argv: Sequence[str], env: Mapping[str, str]) -> ParsedCommand:
    """`llama-server -m FILE.gguf -c N ...` (also llama-cli and paths to either)."""
    if not argv:
        raise CommandError("empty llama.cpp command")
    program = os.path.basename(argv[0])
    flags = parse_flags(_fa_switch(argv[1:]), _TABLE, program)
    if flags.positional:
        raise CommandError(f"{program}: unexpected argument {flags.positional[0]!r}")
    values: Dict[str, Any] = dict(flags.values)
    hf_repo = values.pop("hf_repo", None) or env.get("LLAMA_ARG_HF_REPO")
    model = values.pop("model", None) or env.get("LLAMA_ARG_MODEL") or hf_repo
    devices = values.pop("devices", None) or env.get("LLAMA_ARG_DEVICE")
    for key, var in (("n_ctx", "LLAMA_ARG_CTX_SIZE"), ("n_gpu_layers", "LLAMA_ARG_N_GPU_LAYERS"),
                     ("n_parallel", "LLAMA_ARG_N_PARALLEL")):
        if key not in values and env.get(var):  # arg.cpp set_env: the flag wins over its variable
            values[key] = to_int(var)(env[var])
    for key in ("n_ctx", "n_batch", "n_ubatch", "fit_ctx", "n_cpu_moe"):
        if key in values and values[key] < 0:
            raise CommandError(f"{program}: {key} must not be negative, got {values[key]}")
    if values.get("n_parallel") == 0:
        raise CommandError(f"{program}: invalid value for n_parallel (0)")
    opts = LlamaCppOptions(**values, explicit=frozenset(values))
    generic: Dict[str, Any] = {}
    n_seq = 4 if opts.n_parallel in (-1, 0) else opts.n_parallel
    unified = opts.kv_unified or opts.n_parallel in (-1, 0)
    if opts.n_ctx:
        generic["context"] = opts.n_ctx if unified else max(1, opts.n_ctx // n_seq)
    else:
        generic["context"] = 0  # the model's trained context; --fit may shrink it
    generic["concurrency"] = 1 if unified else n_seq
    if devices and devices.strip().lower() != "none":  # -dev A,B: -sm layer over these devices
        generic["tensor_parallel"] = len([d for d in devices.split(",") if d.strip()])
    kv = {"f16": "fp16", "bf16": "bf16", "q8_0": "q8_0", "q4_0": "q4_0"}.get(opts.cache_type_k)
    if kv:
        generic["kv_precision"] = kv
    notes = []
    if unified:
        notes.append(f"{n_seq} slots share one KV cache of the whole context (server default -np auto)"
                     if opts.n_parallel in (-1, 0) else f"{n_seq} sequences share one unified KV cache")
    if not opts.n_ctx:
        notes.append("no -c: the model's trained context, shrunk by --fit if it does not fit")
    return ParsedCommand(runtime="llamacpp", program=program, model_ref=model, options=opts, generic=generic,
                         understood=tuple(flags.understood), not_modelled=tuple(flags.not_modelled),
                         ignored=tuple(flags.ignored), notes=tuple(notes))


# ---------------------------------------------------------------- the inverse: Settings -> argv

def launch_command(spec: "ModelSpec", settings: "Settings", model_ref: Optional[str] = None) -> List[str]:
    """The `llama-server` command whose options are the ones assessed (llamacpp.options_for):
    the model (`-m PATH` for a GGUF file, else `-hf REPO:QUANT`), then every option that
    differs from llama.cpp's default, always `-c`. Flags as common/arg.cpp spells them
    (2026-10, 0c1e570). Raises EmitError when no public GGUF repo is known and no file is named."""
    from deepseek_probe.runtimes import llamacpp, llamacpp_builds
    from deepseek_probe.runtimes.model_refs import GGUF_LADDER, GGUF_REPOS, EmitError

    if settings.mla_cache != "latent" and spec.is_mla:
        raise EmitError("llama.cpp: a decompressed MLA cache is an old GGUF or build; current "
                        "llama-server caches the latent")
    o = llamacpp.options_for(settings)
    quant = llamacpp._FTYPE.get(settings.precision)
    argv = ["llama-server"]
    if model_ref and (model_ref.lower().endswith(".gguf") or model_ref.startswith(("/", ".", "~"))):
        argv += ["-m", model_ref]
    elif model_ref and "/" in model_ref:  # an HF GGUF repo, with or without :QUANT
        argv += ["-hf", model_ref if ":" in model_ref or not quant else f"{model_ref}:{quant}"]
    elif spec.id in GGUF_REPOS and settings.precision in GGUF_LADDER:
        argv += ["-hf", f"{GGUF_REPOS[spec.id]}:{quant}"]
    else:
        raise EmitError(f"llama.cpp: no public {settings.precision} GGUF of {spec.id} is known; "
                        "name the .gguf file")
    build = llamacpp.build_of(settings)
    old_fa = not llamacpp_builds.FA_AUTO_ALL_LAYERS.applies(build)  # -fa a switch, -ngl 0 by default
    d = llamacpp.at_build(LlamaCppOptions(), build, False)
    argv += ["-c", str(o.n_ctx)]
    if settings.tensor_parallel > 1:  # -sm layer over these devices (CUDA backend names)
        argv += ["-dev", ",".join(f"CUDA{i}" for i in range(settings.tensor_parallel))]
    if old_fa and o.n_gpu_layers < 0:
        argv += ["-ngl", "999"]  # every layer ("all" and auto came with b6325)
    elif o.n_gpu_layers != d.n_gpu_layers:
        argv += ["-ngl", "all" if o.n_gpu_layers <= -2 else str(o.n_gpu_layers)]
    if o.cpu_moe:
        argv.append("--cpu-moe")
    if o.n_cpu_moe:
        argv += ["-ncmoe", str(o.n_cpu_moe)]
    if o.flash_attn != d.flash_attn:
        argv += ["-fa"] if old_fa else ["-fa", o.flash_attn]
    if o.cache_type_k != d.cache_type_k:
        argv += ["-ctk", o.cache_type_k]
    if o.cache_type_v != d.cache_type_v:
        argv += ["-ctv", o.cache_type_v]
    if o.n_parallel != d.n_parallel:
        argv += ["-np", str(o.n_parallel)]
    if o.kv_unified and o.n_parallel not in (-1, 0):  # -np auto turns it on by itself
        argv.append("-kvu")
    for flag, key in (("-b", "n_batch"), ("-ub", "n_ubatch"), ("-sm", "split_mode"),
                      ("-fitt", "fit_target_mib"), ("-fitc", "fit_ctx")):
        if getattr(o, key) != getattr(d, key):
            argv += [flag, str(getattr(o, key))]
    if o.tensor_split:
        argv += ["-ts", ",".join(f"{x:g}" for x in o.tensor_split)]
    if o.fit != d.fit:
        argv += ["--fit", "on" if o.fit else "off"]
    if o.no_mmap:
        argv.append("--no-mmap")
    if o.mlock:
        argv.append("--mlock")
    return argv
