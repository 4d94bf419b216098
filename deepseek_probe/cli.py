"""Command line: click commands only. Wires probes -> snapshot -> estimate/rules -> report.

Exit codes (DESIGN.md): 0 ready, 1 ready with warnings, 2 not ready, 3 unknown,
64 usage error or bad input, 70 internal error (a bug), 130 interrupted (Ctrl-C).
Heavy modules are imported inside the commands so `--help` and bad flags stay instant.
"""

from __future__ import annotations

import os
import sys
from typing import List, Optional, Sequence

import click

from deepseek_probe import __version__

EXIT_HELP = """\b
Exit codes:
  0   ready: every check passed
  1   ready with warnings
  2   not ready: at least one check failed
  3   unknown: the machine could not be probed well enough to decide
  64  usage error or bad input (bad flag, unknown model, unreadable snapshot)
  70  internal error (a bug: please report it; --debug shows the traceback)
  130 interrupted (Ctrl-C)"""

PRECISIONS = ["fp32", "bf16", "fp16", "fp8", "int8", "int4",
              "q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_0", "q3_k_m", "q2_k"]
KV_PRECISIONS = ["bf16", "fp16", "fp8", "q8_0", "q4_0"]
RUNTIMES = ["transformers", "vllm", "sglang", "llamacpp"]
# Ollama and LM Studio run llama.cpp underneath; accept their names for the same model.
RUNTIME_ALIASES = {"ollama": "llamacpp", "lmstudio": "llamacpp", "llama.cpp": "llamacpp", "hf": "transformers"}


class _Choice(click.Choice):
    """Case-insensitive choice that also accepts runtime aliases."""

    def __init__(self, choices: Sequence[str], aliases: Optional[dict] = None):
        self.aliases = aliases or {}
        super().__init__(list(choices) + list(self.aliases), case_sensitive=False)

    def convert(self, value, param, ctx):
        value = super().convert(value, param, ctx)
        return self.aliases.get(value.lower(), value.lower())


def _settings_options(f):
    """Options shared by check / estimate / plan."""
    opts = [
        click.option("--precision", type=_Choice(PRECISIONS), default=None,
                     help="Weight precision (default: the runtime's default for the model)."),
        click.option("--kv-precision", type=_Choice(KV_PRECISIONS), default=None,
                     help="KV-cache precision (default: bf16, or the runtime's default)."),
        click.option("--context", type=click.IntRange(min=1), default=None,
                     help="Context length in tokens per sequence (default: the runtime's default)."),
        click.option("--concurrency", type=click.IntRange(min=1, max=65536), default=None,
                     help="Sequences served at once (default 1)."),
        click.option("--runtime", type=_Choice(RUNTIMES, RUNTIME_ALIASES), default=None,
                     help="Inference runtime (ollama/lmstudio = llamacpp; default: transformers, or "
                          "llamacpp for a GGUF file or an Ollama tag)."),
        click.option("--tensor-parallel", type=click.IntRange(min=1, max=1024), default=None,
                     help="GPUs the model is split over (default: 1, or the fewest that fit in check)."),
        click.option("--mla-cache", type=_Choice(["latent", "decompressed"]), default=None,
                     help="DeepSeek V2/V3 KV cache: the compressed latent (vLLM, current llama.cpp) "
                          "or decompressed K/V (older runtimes and GGUF conversions)."),
        click.option("--gpu-memory-utilization", type=click.FloatRange(min=0.01, max=1.0), default=None,
                     help="vLLM's share of total GPU memory (default 0.9)."),
        click.option("--model-config", "model_configs", multiple=True,
                     type=click.Path(dir_okay=False),
                     help="Add a model from a Hugging Face config.json on disk (repeatable)."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _version_options(f):
    """The runtime release to model (issue 23), on check and estimate."""
    opts = [
        click.option("--runtime-version", default=None, metavar="V",
                     help="The runtime release to model: vLLM 0.8.4, llama.cpp b6123... (default: the one "
                          "installed where the command would run it, else the newest modelled)."),
        click.option("--probe-versions", is_flag=True,
                     help="Also run `llama-server|ollama|lms --version` (a subprocess, 3 s limit each) to read "
                          "their releases; without it only files are read."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _training_options(f):
    """Fine-tuning flags shared by check / estimate (issue 22); their defaults are Trainer's."""
    opts = [
        click.option("--train", type=_Choice(["full", "lora", "qlora"]), default=None,
                     help="Ask about a fine-tuning run instead of serving (Hugging Face Trainer / TRL defaults)."),
        click.option("--batch", "micro_batch", type=int, default=None, help="Micro-batch per GPU (default 8)."),
        click.option("--seq-len", type=int, default=None, help="Tokens per training sequence (default 2048)."),
        click.option("--gradient-checkpointing/--no-gradient-checkpointing", default=None,
                     help="Recompute activations in backward (default off; on for QLoRA)."),
        click.option("--lora-rank", type=int, default=None, help="LoRA rank r (default 8)."),
        click.option("--lora-alpha", type=int, default=None, help="LoRA alpha (default 2 x rank)."),
        click.option("--lora-targets", default=None,
                     help="all-linear, or module names: q_proj,v_proj (default q_proj,v_proj)."),
        click.option("--optimizer", default=None,
                     help="adamw (Trainer's adamw_torch_fused) | adamw_8bit | paged_adamw_8bit | adafactor | sgd."),
        click.option("--gradient-accumulation", type=int, default=None, help="Gradient accumulation steps (default 1)."),
        click.option("--gpus", type=int, default=None, help="GPUs the run uses (default 1)."),
        click.option("--strategy", default=None, help="ddp | zero1 | zero2 | zero3 | fsdp (default ddp)."),
        click.option("--offload", default=None, help="none | optimizer | params (ZeRO / FSDP CPU offload)."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


_TRAIN_FIELDS = {"micro_batch": "--batch", "seq_len": "--seq-len", "gradient_checkpointing": "--gradient-checkpointing",
                 "lora_rank": "--lora-rank", "lora_alpha": "--lora-alpha", "lora_targets": "--lora-targets",
                 "optimizer": "--optimizer", "gradient_accumulation": "--gradient-accumulation", "gpus": "--gpus",
                 "strategy": "--strategy", "offload": "--offload"}


def _workload(train, precision, given):
    """The --train workload from the flags the user set (None without --train); a training flag
    without --train is bad input."""
    from deepseek_probe.errors import InputError

    set_ = {k: v for k, v in given.items() if v is not None}
    if train is None:
        if set_:
            raise InputError(f"{_TRAIN_FIELDS[next(iter(set_))]} needs --train full|lora|qlora")
        return None
    from deepseek_probe.training.workload import make_workload

    if "lora_targets" in set_:
        set_["lora_targets"] = tuple(t.strip() for t in str(set_["lora_targets"]).split(",") if t.strip())
    if precision is not None:
        set_["load_precision"] = precision
    return make_workload(method=train, **set_)


def _read_model(name: str):
    """A model named by its path on this machine, read by the probe (imported only for a path)."""
    from deepseek_probe.profiles.names import looks_like_path

    if not (looks_like_path(name) or (os.sep in name and os.path.exists(name))):
        return None
    from deepseek_probe.probes.model_path import read_model

    return read_model(name)


def _read_model_config(path: str):
    from deepseek_probe.formats.hf_config import spec_from_file

    return spec_from_file(path)


def _read_config(path: str) -> str:
    """A config file a training command names (YAML, DeepSpeed JSON): regular files only."""
    from deepseek_probe.errors import InputError

    if not os.path.isfile(path):
        raise InputError(f"{path}: not a readable file")
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None


def _flags(runtime, precision, kv_precision, context, concurrency, tensor_parallel, mla_cache,
           gpu_memory_utilization, runtime_version=None):
    from deepseek_probe.question import Flags

    return Flags(runtime, precision, kv_precision, context, concurrency, tensor_parallel, mla_cache,
                 gpu_memory_utilization, runtime_version)


def _installed_lookup(snap=None, replay: bool = False, probe_versions: bool = False):
    """Where the default --runtime-version comes from: a replayed snapshot's record only, or this
    machine (its snapshot's record, else read on first use)."""
    from deepseek_probe.probes import installed_lookup

    if snap is None:
        return installed_lookup.LiveLookup(os.environ, probe_versions)
    return installed_lookup.InstalledLookup(snap.installed, os.environ, live=not replay, probe=probe_versions)


def _launch_command() -> Optional[List[str]]:
    """The words after `--`, for the commands that take a launch command (check, estimate)."""
    return (click.get_current_context().obj or {}).get("launch")


def _questions(models, model_configs, flags, gpu_totals=(), training=None, installed=None):
    """The questions of this invocation: from the launch command after `--`, else the flags.
    `installed`: where the default runtime release comes from (_installed_lookup); None reads none."""
    from deepseek_probe import question

    disk = question.Disk(model=_read_model, config=_read_model_config, text=_read_config,
                         installed=installed or question.NO_DISK.installed)
    return question.build(models, model_configs, flags, _launch_command(), os.environ, gpu_totals, training,
                          disk)


def _write(text: str, output: Optional[str]) -> None:
    if not text.endswith("\n"):
        text += "\n"
    if output is None or output == "-":
        click.echo(text, nl=False)
        return
    try:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        from deepseek_probe.errors import InputError

        raise InputError(f"cannot write {output}: {e.strerror or e}") from None


def _color(fmt: str, output: Optional[str]) -> bool:
    return (fmt == "text" and output in (None, "-") and sys.stdout.isatty()
            and "NO_COLOR" not in os.environ)


def _load_or_probe(snapshot_path: Optional[str], model_dir: Optional[str], probe_versions: bool = False):
    if snapshot_path:
        from deepseek_probe.snapshot import Snapshot

        return Snapshot.load(snapshot_path)
    from deepseek_probe.probes import take_snapshot

    return take_snapshot(model_dir=model_dir, probe_versions=probe_versions)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog=EXIT_HELP)
@click.version_option(__version__, prog_name="deepseek-probe")
@click.option("--debug", is_flag=True, help="Show tracebacks for internal errors.")
def cli(debug: bool) -> None:
    """Will this machine run a DeepSeek model? Probe the hardware, estimate what the model
    needs, and check one against the other."""


@cli.command(epilog=EXIT_HELP)
@click.option("--model", "models", multiple=True,
              help="Model: catalog id or alias, Ollama tag, Hugging Face id, .gguf file or checkpoint "
                   "folder (repeatable). Without one (and without a launch command), check surveys "
                   "every model. See `models`.")
@_settings_options
@click.option("--snapshot", "snapshot_path", type=click.Path(dir_okay=False),
              help="Evaluate a saved snapshot instead of probing this machine.")
@click.option("--model-dir", type=click.Path(file_okay=False),
              help="Where the model will be stored (disk check; default: the Hugging Face cache).")
@click.option("--format", "fmt", type=_Choice(["text", "json", "markdown", "prometheus"]),
              default="text", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False), help="Write the report to FILE.")
@click.option("--no-redact", is_flag=True, help="Keep serials, UUIDs, hostnames and user names.")
@click.option("--verify", is_flag=True,
              help="Also reserve the estimated memory on each GPU through CUDA, then free it.")
@click.option("--print-command", is_flag=True,
              help="Print only the launch command of each answer that runs here (one line each), "
                   "with the same exit code; why not, on stderr, for one that does not.")
@_version_options
@_training_options
def check(models, precision, kv_precision, context, concurrency, runtime, tensor_parallel,
          model_configs, snapshot_path, model_dir, fmt, output, no_redact, verify, mla_cache,
          gpu_memory_utilization, print_command, runtime_version, probe_versions, train, **training_flags):
    """Check this machine (or a snapshot) against DeepSeek model requirements.

    \b
    With `-- LAUNCH COMMAND` at the end, check the exact command you will run:
      deepseek-probe check -- llama-server -m model.gguf -c 32768 -ngl 40
      deepseek-probe check -- vllm serve deepseek-ai/DeepSeek-R1-Distill-Qwen-32B --max-model-len 32768
      deepseek-probe check -- ollama run deepseek-r1:32b
      deepseek-probe check --train lora --model deepseek-r1:7b --batch 4 --seq-len 4096
      deepseek-probe check -- trl sft --model_name_or_path deepseek-ai/DeepSeek-R1-Distill-Qwen-7B --use_peft"""
    from deepseek_probe import assess, report

    from deepseek_probe.errors import InputError

    training = _workload(train, precision, training_flags)
    if training is not None and not models and not model_configs and _launch_command() is None:
        # No model named: what can be fine-tuned here, and how (issue 22).
        from deepseek_probe import survey

        snap = _load_or_probe(snapshot_path, model_dir, probe_versions)
        result = survey.training_survey(snap, training)
        _write(report.render(result, fmt, redact=not no_redact, color=_color(fmt, output)), output)
        sys.exit(result.exit_code)
    if not models and not model_configs and _launch_command() is None:
        given = [flag for flag, v in (("--precision", precision), ("--kv-precision", kv_precision),
                                      ("--context", context), ("--concurrency", concurrency),
                                      ("--runtime", runtime), ("--tensor-parallel", tensor_parallel),
                                      ("--mla-cache", mla_cache),
                                      ("--gpu-memory-utilization", gpu_memory_utilization),
                                      ("--runtime-version", runtime_version), ("--verify", verify)) if v]
        if given:
            raise InputError(f"{given[0]} needs --model: without one, check surveys every model "
                             "with the settings that suit each")
    if verify and snapshot_path:
        raise InputError("--verify reserves memory on this machine's GPUs; it cannot be used with --snapshot")
    if probe_versions and snapshot_path:
        raise InputError("--probe-versions runs this machine's runtimes; a snapshot replays the versions it recorded")
    flags = _flags(runtime, precision, kv_precision, context, concurrency, tensor_parallel, mla_cache,
                   gpu_memory_utilization, runtime_version)
    if _launch_command() is not None or runtime_version:  # a bad command or release fails before probing
        _questions(models, model_configs, flags, training=training)
    snap = _load_or_probe(snapshot_path, model_dir, probe_versions)
    if not models and not model_configs and _launch_command() is None:
        # No model named: the capability survey (what runs here, how well, what the rest needs).
        from deepseek_probe import survey

        result = survey.survey(snap)
        if print_command:
            _print_commands([(r.models[0], r.launch_command, r.launch_command_note) for r in result.rows
                             if r.fit != "none"], output)
            sys.exit(result.exit_code)
        _write(report.render(result, fmt, redact=not no_redact, color=_color(fmt, output)), output)
        sys.exit(result.exit_code)
    gpu_totals = [g.memory_total_bytes for g in snap.visible_gpus if g.memory_total_bytes]
    installed = _installed_lookup(snap, replay=bool(snapshot_path), probe_versions=probe_versions)
    result = assess.check(snap, _questions(models, model_configs, flags, gpu_totals, training, installed))
    if verify:
        from deepseek_probe import verify as verify_mod

        verify_mod.verify_check_result(result, snap)
    if print_command:
        _print_commands([(p.model, p.launch_command, p.command_note or _why_not(p)) for p in result.profiles],
                        output)
        sys.exit(result.exit_code)
    _write(report.render(result, fmt, redact=not no_redact, color=_color(fmt, output)), output)
    sys.exit(result.exit_code)


def _why_not(profile) -> Optional[str]:
    """The first failing finding and its fix, for a profile that does not run here."""
    bad = next((f for f in profile.findings if f.level == "fail"), None)
    if bad is None:
        return None
    return f"{bad.message}" + (f"; {bad.suggestion}" if bad.suggestion else "")


def _print_commands(answers, output: Optional[str]) -> None:
    """--print-command: one shell line per answer that has a command; the others on stderr."""
    from deepseek_probe.runtimes.launch import shell_line

    lines = []
    for model, argv, why in answers:
        if argv:
            lines.append(shell_line(argv))
        else:
            click.echo(f"deepseek-probe: {model}: no launch command ({_one_line(why or 'it does not run here')})",
                       err=True)
    if lines:
        _write("\n".join(lines), output)


@cli.command(epilog=EXIT_HELP)
@click.argument("snapshots", nargs=-1, required=True, type=click.Path())
@click.option("--model", "models", multiple=True, help="Model id or alias (repeatable; default: 671b). "
              "The runtime defaults to vllm, which serves across nodes.")
@_settings_options
@click.option("--format", "fmt", type=_Choice(["text", "json", "markdown", "prometheus"]),
              default="text", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False), help="Write the report to FILE.")
@click.option("--no-redact", is_flag=True, help="Keep serials, UUIDs, hostnames and user names.")
def fleet(snapshots, models, precision, kv_precision, context, concurrency, runtime,
          tensor_parallel, model_configs, fmt, output, no_redact, mla_cache, gpu_memory_utilization):
    """Check many nodes' snapshots (files or directories) for a multi-node deployment:
    tensor parallel inside a node (--tensor-parallel), pipeline parallel across nodes."""
    from deepseek_probe import fleet as fleet_mod
    from deepseek_probe.report import fleet as fleet_report

    flags = _flags(runtime or "vllm", precision, kv_precision, context, concurrency, tensor_parallel,
                   mla_cache, gpu_memory_utilization)
    questions = _questions(models or ("671b",), model_configs, flags)
    result = fleet_mod.evaluate_fleet(snapshots, [(q.spec, q.settings) for q in questions])
    _write(fleet_report.render_fleet(result, fmt, redact=not no_redact, color=_color(fmt, output)), output)
    sys.exit(result.exit_code)


@cli.command()
@click.option("--format", "fmt", type=_Choice(["json", "text"]), default="json", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False), help="Write the snapshot to FILE.")
@click.option("--model-dir", type=click.Path(file_okay=False),
              help="Directory whose disk is probed (default: the Hugging Face cache).")
@click.option("--redact", is_flag=True, help="Remove serials, UUIDs, hostnames and user names.")
@click.option("--probe-versions", is_flag=True,
              help="Also run `llama-server|ollama|lms --version` (a subprocess, 3 s limit each).")
def probe(fmt, output, model_dir, redact, probe_versions):
    """Capture a snapshot of this machine (replay it later with --snapshot)."""
    from deepseek_probe.probes import take_snapshot

    snap = take_snapshot(model_dir=model_dir, probe_versions=probe_versions)
    if redact:
        from deepseek_probe.redact import redact_snapshot

        snap = redact_snapshot(snap)
    if fmt == "json":
        _write(snap.to_json(), output)
    else:
        from deepseek_probe.report.snapshot_text import render_snapshot

        _write(render_snapshot(snap), output)


@cli.command()
@click.option("--model", "models", multiple=True, help="Model id or alias.")
@_settings_options
@click.option("--gpu-memory", "gpu_memory_gib", type=click.FloatRange(min=0.1, max=1e6), default=None,
              help="Total memory of one GPU in GiB (vLLM sizes its KV pool from it).")
@click.option("--format", "fmt", type=_Choice(["json", "text"]), default="text", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False), help="Write to FILE.")
@_version_options
@_training_options
def estimate(models, precision, kv_precision, context, concurrency, runtime, tensor_parallel,
             model_configs, gpu_memory_gib, fmt, output, mla_cache, gpu_memory_utilization, runtime_version,
             probe_versions, train, **training_flags):
    """Memory a model needs per GPU, host RAM and disk (no probing).

    \b
    With `-- LAUNCH COMMAND` at the end, estimate the exact command you will run:
      deepseek-probe estimate --gpu-memory 80 -- vllm serve deepseek-ai/DeepSeek-V3 -tp 8"""
    from deepseek_probe import estimate as est_mod
    from deepseek_probe.errors import InputError
    from deepseek_probe.report.estimate import render_estimates

    if gpu_memory_gib is not None and gpu_memory_gib != gpu_memory_gib:  # "nan" passes FloatRange
        raise InputError("--gpu-memory must be a number of GiB, got nan")
    device_total = int(gpu_memory_gib * 2**30) if gpu_memory_gib else None
    flags = _flags(runtime, precision, kv_precision, context, concurrency, tensor_parallel, mla_cache,
                   gpu_memory_utilization, runtime_version)
    questions = _questions(models, model_configs, flags, [device_total] if device_total else (),
                           _workload(train, precision, training_flags), _installed_lookup(probe_versions=probe_versions))
    if not questions:
        raise InputError("estimate needs --model ID (or --model-config PATH); see `deepseek-probe models`")
    if any(q.training is not None for q in questions):  # a fine-tuning run: its per-GPU peak
        from deepseek_probe.report.estimate import render_training

        _write(render_training(questions, fmt), output)
        return
    results = []
    for q in questions:
        est = est_mod.estimate(q.spec, q.settings, device_total)
        if q.launch is not None:
            est.notes["command_understood"] = q.launch
        est.notes["model_resolution"] = q.model_dict()
        est.notes["context_source"] = q.context_source
        results.append(est)
    _write(render_estimates(results, fmt, questions), output)


@cli.command()
@click.option("--model", "models", multiple=True, help="Model id or alias.")
@click.option("--all", "all_models", is_flag=True, help="Every profile x precision x context x runtime.")
@_settings_options
@click.option("--format", "fmt", type=_Choice(["text", "json", "markdown", "csv"]), default="text",
              show_default=True)
@click.option("--output", type=click.Path(dir_okay=False), help="Write to FILE.")
def plan(models, all_models, precision, kv_precision, context, concurrency, runtime,
         tensor_parallel, model_configs, fmt, output, mla_cache, gpu_memory_utilization):
    """Hardware a model needs: per-GPU memory and how many of which common GPU (no probing)."""
    from deepseek_probe import plan as plan_mod
    from deepseek_probe.errors import InputError

    if all_models:
        from deepseek_probe.requirements import render_requirements

        _write(render_requirements(fmt), output)
        return
    flags = _flags(runtime, precision, kv_precision, context, concurrency, tensor_parallel, mla_cache,
                   gpu_memory_utilization)
    questions = _questions(models, model_configs, flags)
    if not questions:
        raise InputError("plan needs --model ID, --model-config PATH or --all")
    plans = [plan_mod.hardware_plan(q) for q in questions]
    from deepseek_probe import report

    _write(report.render_plans(plans, fmt), output)


@cli.command()
@click.option("--format", "fmt", type=_Choice(["text", "json"]), default="text", show_default=True)
def models(fmt):
    """List model profiles, their aliases and architecture facts."""
    from deepseek_probe.report.estimate import render_models

    _write(render_models(fmt), None)


@cli.command()
@click.argument("name", type=_Choice(["survey", "check", "estimate"]), default="survey")
def schema(name):
    """Print the JSON Schema of a versioned output (survey: `check` with no model; check:
    `check --model` / `check -- CMD`; estimate)."""
    from importlib import resources

    _write(resources.files("deepseek_probe.schemas").joinpath(f"{name}.schema.json").read_text("utf-8"), None)


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point: maps every failure to a documented exit code, never a raw traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # --debug is accepted anywhere on the line (before or after the command name).
    debug = "--debug" in argv or os.environ.get("DEEPSEEK_PROBE_DEBUG") == "1"
    launch: Optional[List[str]] = None
    if "--" in argv:  # everything after -- is the launch command the user will run
        cut = argv.index("--")
        argv, launch = argv[:cut], argv[cut + 1:]
    argv = [a for a in argv if a != "--debug"]
    from deepseek_probe.errors import InputError

    command = next((a for a in argv if a in cli.commands), None)
    if launch is not None and command not in ("check", "estimate"):
        click.echo(f"deepseek-probe: error: only check and estimate take a launch command after --"
                   f"{f', not {command}' if command else ''}", err=True)
        sys.exit(64)

    if any("\x00" in a for a in argv):  # only reachable in-process; os.stat() would raise ValueError
        click.echo("deepseek-probe: error: an argument contains a NUL byte", err=True)
        sys.exit(64)

    try:
        cli.main(args=argv, prog_name="deepseek-probe", standalone_mode=False, obj={"launch": launch})
    except click.exceptions.Exit as e:  # --help, --version
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("deepseek-probe: aborted", err=True)
        sys.exit(130)
    except click.exceptions.UsageError as e:
        # One line on stderr (scripts log it as one record); the --help hint rides along.
        hint = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
        click.echo(f"deepseek-probe: error: {_one_line(e.format_message())}{hint}", err=True)
        sys.exit(64)
    except click.exceptions.ClickException as e:
        click.echo(f"deepseek-probe: error: {_one_line(e.format_message())}", err=True)
        sys.exit(64)
    except InputError as e:
        click.echo(f"deepseek-probe: error: {_one_line(str(e))}", err=True)
        sys.exit(64)
    except KeyboardInterrupt:
        click.echo("deepseek-probe: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        # `deepseek-probe check | head`: the reader left; not our failure.
        try:
            sys.stdout = None  # type: ignore[assignment]
        finally:
            os._exit(0)
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001 - the last line of defence
        if debug:
            import traceback

            traceback.print_exc()
        click.echo(f"deepseek-probe: internal error: {type(e).__name__}: {_one_line(str(e))} "
                   f"(this is a bug; please report it with --debug output)", err=True)
        sys.exit(70)
    sys.exit(0)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
