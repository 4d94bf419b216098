"""`check|estimate ... -- <launch command>`: which runtime module reads the command, and the
Settings the command amounts to.

Each runtime module parses its own flags (`parse_command(argv, env) -> ParsedCommand`); this
module only picks the module from the program name and turns what it understood into Settings.
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from deepseek_probe.profiles import ModelSpec
from deepseek_probe.records import replace
from deepseek_probe.runtimes.base import Settings
from deepseek_probe.runtimes.command import CommandError, ParsedCommand

# program (basename, lower case, without .exe) -> the module that parses its command line
_PROGRAMS: Dict[str, str] = {
    "llama-server": "deepseek_probe.runtimes.llamacpp_cli",
    "llama-cli": "deepseek_probe.runtimes.llamacpp_cli",
    "ollama": "deepseek_probe.runtimes.ollama",
    "lms": "deepseek_probe.runtimes.lmstudio",
    "vllm": "deepseek_probe.runtimes.vllm_cli",
    "sglang": "deepseek_probe.runtimes.sglang_cli",
}
# `python -m MODULE` -> parser module
_PYTHON_MODULES: Dict[str, str] = {
    "vllm.entrypoints.openai.api_server": "deepseek_probe.runtimes.vllm_cli",
    "sglang.launch_server": "deepseek_probe.runtimes.sglang_cli",
}
# the estimator's runtime for each parser's runtime name (Ollama and LM Studio run llama.cpp)
ESTIMATOR_RUNTIME = {"llamacpp": "llamacpp", "ollama": "llamacpp", "lmstudio": "llamacpp",
                     "vllm": "vllm", "sglang": "sglang"}
_ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
KNOWN = "llama-server, llama-cli, ollama, lms, vllm serve, sglang serve or python -m sglang.launch_server"


def program_word(argv: Sequence[str]) -> Optional[str]:
    """The program a launch command runs, as written (after its `VAR=value` words): an
    interpreter (`/venv/bin/python`), a script (`vllm`) or a binary (`llama-server`)."""
    return next((str(w) for w in argv if not _ENV_ASSIGNMENT.match(str(w))), None)


def _program(argv: Sequence[str]) -> Tuple[str, int]:
    """(parser module, index of the program word) for a command line, after `VAR=value` words."""
    i = 0
    while i < len(argv) and _ENV_ASSIGNMENT.match(argv[i]):
        i += 1
    if i >= len(argv):
        raise CommandError("the launch command after -- is empty")
    word = os.path.basename(argv[i]).lower()
    if word.endswith(".exe"):
        word = word[:-4]
    if word in _PROGRAMS:
        return _PROGRAMS[word], i
    if re.fullmatch(r"python(\d+(\.\d+)*)?", word):
        rest = list(argv[i + 1:])
        if "-m" in rest and rest.index("-m") + 1 < len(rest):
            mod = rest[rest.index("-m") + 1]
            if mod in _PYTHON_MODULES:
                return _PYTHON_MODULES[mod], i
            raise CommandError(f"python -m {mod} is not a runtime we model; expected {KNOWN}")
        raise CommandError(f"{argv[i]} without -m MODULE is not a launch command we know; expected {KNOWN}")
    raise CommandError(f"unknown launch command {argv[i]!r}; expected {KNOWN}")


def parse_launch(argv: Sequence[str], env: Mapping[str, str]) -> ParsedCommand:
    """The runtime's own reading of `argv` (its flags, its defaults). `VAR=value` words before the
    program are environment for it and override `env`."""
    argv = [str(a) for a in argv]
    module, at = _program(argv)
    merged = dict(env)
    for word in argv[:at]:
        k, _, v = word.partition("=")
        merged[k] = v
    try:
        parser = importlib.import_module(module)
    except ImportError:  # a runtime whose parser is not part of this build
        raise CommandError(f"{argv[at]}: this deepseek-probe cannot read its launch commands yet") from None
    return parser.parse_command(argv, merged)


def command_quant(cmd: ParsedCommand) -> Optional[str]:
    """The weight format the command names: its own precision flag, the Ollama tag's quant, or the
    quant in a GGUF file name."""
    if cmd.generic.get("precision"):
        return str(cmd.generic["precision"])
    if cmd.runtime == "ollama" and cmd.model_ref:
        from deepseek_probe.runtimes import ollama

        q = ollama.tag_quantization(cmd.model_ref)
        return q.lower() if q else None
    return gguf_quant_from_name(cmd.model_ref)


def context_source(cmd: ParsedCommand) -> str:
    """Where the context the command runs with comes from, in the runtime's words."""
    if cmd.runtime == "ollama":
        return "Ollama's context (OLLAMA_CONTEXT_LENGTH, else its tier for this GPU memory)"
    if cmd.runtime == "lmstudio":
        return "LM Studio's context (--context-length, else its default)"
    if cmd.generic.get("context"):
        return "launch command"
    return "the model's trained context (the command sets none)"


def settings_from_command(base: Settings, cmd: ParsedCommand, spec: ModelSpec,
                          gpu_total_bytes: Sequence[int] = ()) -> Settings:
    """`base` (the runtime's defaults for the model, then the user's --flags) with what the
    command sets: its generic fields (context, concurrency, precision...) and its options.
    Ollama and LM Studio options become llama.cpp's (their defaults can depend on the GPUs:
    Ollama's context follows total VRAM)."""
    runtime = ESTIMATOR_RUNTIME.get(cmd.runtime, cmd.runtime)
    changes = {k: v for k, v in cmd.generic.items() if k in Settings.__dataclass_fields__ and v is not None}
    options = cmd.options
    if cmd.runtime in ("ollama", "lmstudio"):
        ll = _llamacpp_values(cmd, spec, gpu_total_bytes, base.runtime_version)
        # the release named is Ollama's / LM Studio's, not a llama.cpp build: its defaults are in ll
        changes["runtime_version"] = None
        changes["context"] = min(spec.max_context, ll["n_ctx_per_seq"])
        changes["concurrency"] = ll["concurrency"]
        kv = _KV_NAMES.get(str(ll.get("cache_type_k") or "f16").lower())
        if kv:
            changes["kv_precision"] = kv
        options = _llamacpp_options(ll)
    elif changes.get("context") == 0:  # llama.cpp -c 0: the model's trained context (--fit may shrink it)
        changes["context"] = spec.max_context
        if cmd.runtime == "llamacpp" and base.runtime_version:  # no -c before --fit: 4096
            from deepseek_probe.runtimes import llamacpp

            changes["context"] = llamacpp.command_context(base, options, spec.max_context)
    if "context" in changes and not _beyond_trained_ok(runtime):
        changes["context"] = min(int(changes["context"]), spec.max_context)
    return replace(base, runtime=runtime, runtime_options=options, **changes)


def _beyond_trained_ok(runtime: str) -> bool:
    """llama.cpp allocates -c cells even past the trained context (it only warns); the others cap
    or refuse (their own verdict says so)."""
    from deepseek_probe.runtimes import RUNTIMES

    return RUNTIMES[runtime].context_beyond_trained


# llama.cpp cache type names -> our KV precision names
_KV_NAMES = {"f16": "fp16", "bf16": "bf16", "q8_0": "q8_0", "q4_0": "q4_0", "f32": "fp32"}


def _llamacpp_values(cmd: ParsedCommand, spec: ModelSpec, gpu_total_bytes: Sequence[int],
                     version: Optional[str] = None) -> Dict[str, object]:
    if cmd.runtime == "ollama":
        from deepseek_probe.runtimes import ollama

        total = sum(gpu_total_bytes) or None
        ll = ollama.to_llamacpp_settings(cmd.options, total, trained_ctx=spec.max_context,
                                         gpu_count=max(1, len(gpu_total_bytes)), version=version)
        ll["concurrency"] = ll["n_parallel"]
        return ll
    from deepseek_probe.runtimes import lmstudio

    ll = lmstudio.to_llamacpp_settings(cmd.options, spec.layers)
    # unified KV: the parallel slots share one cache of n_ctx tokens (one sequence's worth)
    ll["n_ctx_per_seq"] = ll["n_ctx"] if ll["kv_unified"] else ll["n_ctx"] // ll["n_parallel"]
    ll["concurrency"] = 1 if ll["kv_unified"] else ll["n_parallel"]
    return ll


def _llamacpp_options(values: Mapping[str, object]) -> object:
    """llama.cpp's own options dataclass from Ollama/LM Studio's llama.cpp-level values (the
    fields it has); the values themselves when this build has no such dataclass."""
    try:
        from deepseek_probe.runtimes.llamacpp_alloc import LlamaCppOptions
    except ImportError:
        return dict(values)
    fields = LlamaCppOptions.__dataclass_fields__
    kw = {k: v for k, v in values.items() if k in fields and v is not None}
    if isinstance(kw.get("fit"), str):  # Ollama / LM Studio say "on" / "off"
        kw["fit"] = kw["fit"].lower() not in ("off", "0", "false")
    return LlamaCppOptions(**kw)


def echo(cmd: ParsedCommand) -> Dict[str, object]:
    """What the report shows of the command: understood, not modelled, ignored."""
    return {"program": cmd.program, "runtime": cmd.runtime, "model": cmd.model_ref,
            "understood": [f"{flag} {value}".strip() for flag, value in cmd.understood],
            "not_modelled": list(cmd.not_modelled), "ignored": list(cmd.ignored), "notes": list(cmd.notes)}


def gguf_quant_from_name(path: Optional[str]) -> Optional[str]:
    """'DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.gguf' -> 'q4_k_m' (the quant people write in file
    names and Ollama tags); None when the name carries none we model."""
    if not path:
        return None
    m = re.search(r"(?i)(?<![a-z0-9])(q8_0|q6_k|q5_k_m|q4_k_m|q4_0|q3_k_m|q2_k|f16|bf16|f32)(?![a-z0-9])",
                  os.path.basename(path))
    if not m:
        return None
    q = m.group(1).lower()
    return {"f16": "fp16", "f32": "fp32"}.get(q, q)


# -- the inverse (issue 25): Settings -> the command that makes them happen ------------------
# launch runtime -> the module whose launch_command(spec, settings, model_ref) writes its argv
_EMITTERS: Dict[str, str] = {
    "llamacpp": "deepseek_probe.runtimes.llamacpp_cli",
    "ollama": "deepseek_probe.runtimes.ollama_emit",
    "vllm": "deepseek_probe.runtimes.vllm_cli",
    "sglang": "deepseek_probe.runtimes.sglang_cli",
    "transformers": "deepseek_probe.runtimes.transformers_cli",
}


def launch_command(spec: ModelSpec, settings: Settings, model_ref: Optional[str] = None,
                   runtime: Optional[str] = None) -> List[str]:
    """The argv of the command that runs `spec` with `settings` (the assessed setup), for
    `runtime` (llamacpp | ollama | vllm | sglang | transformers; default settings.runtime; Ollama
    runs llama.cpp's settings). `model_ref`: the name the user gave (a tag, an HF id, a .gguf
    path), used where it is a real name for that runtime; else the catalog's known repo / tag.
    Raises model_refs.EmitError (an InputError) when no such command exists."""
    from deepseek_probe.runtimes.model_refs import EmitError

    name = runtime or settings.runtime
    if name not in _EMITTERS or ESTIMATOR_RUNTIME.get(name, name) != settings.runtime:
        raise EmitError(f"no {name} launch command for {settings.runtime} settings")
    return importlib.import_module(_EMITTERS[name]).launch_command(spec, settings, model_ref)


def shell_line(argv: Sequence[str]) -> str:
    """One line to paste into a POSIX shell (text and Markdown output)."""
    return shlex.join(argv)
