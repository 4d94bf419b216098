"""Command line: click commands only; what they do is in commands.py (where `check`'s common
lines also run without click: argv.py). Wires probes -> snapshot -> estimate/rules -> report.

Exit codes (DESIGN.md): 0 ready, 1 ready with warnings, 2 not ready, 3 unknown,
64 usage error or bad input, 70 internal error (a bug), 130 interrupted (Ctrl-C).
Heavy modules are imported inside the commands so `--help` and bad flags stay instant.
"""

from __future__ import annotations

import sys
from typing import List, Optional, Sequence

import click

from deepseek_probe import __version__, commands
from deepseek_probe.argv import FORMATS, KV_PRECISIONS, PRECISIONS, RUNTIME_ALIASES, RUNTIMES

EXIT_HELP = """\b
Exit codes:
  0   ready: every check passed
  1   ready with warnings
  2   not ready: at least one check failed
  3   unknown: the machine could not be probed well enough to decide
  64  usage error or bad input (bad flag, unknown model, unreadable snapshot)
  70  internal error (a bug: please report it; --debug shows the traceback)
  130 interrupted (Ctrl-C)"""


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


def _launch_command() -> Optional[List[str]]:
    """The words after `--`, for the commands that take a launch command (check, estimate)."""
    return (click.get_current_context().obj or {}).get("launch")


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
@click.option("--format", "fmt", type=_Choice(FORMATS),
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
    commands.check(_launch_command(), models, precision, kv_precision, context, concurrency, runtime,
                   tensor_parallel, model_configs, snapshot_path, model_dir, fmt, output, no_redact, verify,
                   mla_cache, gpu_memory_utilization, print_command, runtime_version, probe_versions, train,
                   **training_flags)


@cli.command(epilog=EXIT_HELP)
@click.argument("snapshots", nargs=-1, required=True, type=click.Path())
@click.option("--model", "models", multiple=True, help="Model id or alias (repeatable; default: 671b). "
              "The runtime defaults to vllm, which serves across nodes.")
@_settings_options
@click.option("--format", "fmt", type=_Choice(FORMATS),
              default="text", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False), help="Write the report to FILE.")
@click.option("--no-redact", is_flag=True, help="Keep serials, UUIDs, hostnames and user names.")
def fleet(snapshots, models, precision, kv_precision, context, concurrency, runtime,
          tensor_parallel, model_configs, fmt, output, no_redact, mla_cache, gpu_memory_utilization):
    """Check many nodes' snapshots (files or directories) for a multi-node deployment:
    tensor parallel inside a node (--tensor-parallel), pipeline parallel across nodes."""
    from deepseek_probe import fleet as fleet_mod
    from deepseek_probe.report import fleet as fleet_report

    flags = commands.flags(runtime or "vllm", precision, kv_precision, context, concurrency, tensor_parallel,
                   mla_cache, gpu_memory_utilization)
    questions = commands.questions(models or ("671b",), model_configs, flags, None)
    result = fleet_mod.evaluate_fleet(snapshots, [(q.spec, q.settings) for q in questions])
    color = commands.color(fmt, output)
    commands.write(fleet_report.render_fleet(result, fmt, redact=not no_redact, color=color), output)
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
        commands.write(snap.to_json(), output)
    else:
        from deepseek_probe.report.snapshot_text import render_snapshot

        commands.write(render_snapshot(snap), output)


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
    flags = commands.flags(runtime, precision, kv_precision, context, concurrency, tensor_parallel, mla_cache,
                   gpu_memory_utilization, runtime_version)
    questions = commands.questions(models, model_configs, flags, _launch_command(),
                                   [device_total] if device_total else (),
                                   commands.workload(train, precision, training_flags),
                                   commands.installed_lookup(probe_versions=probe_versions))
    if not questions:
        raise InputError("estimate needs --model ID (or --model-config PATH); see `deepseek-probe models`")
    if any(q.training is not None for q in questions):  # a fine-tuning run: its per-GPU peak
        from deepseek_probe.report.estimate import render_training

        commands.write(render_training(questions, fmt), output)
        return
    results = []
    for q in questions:
        est = est_mod.estimate(q.spec, q.settings, device_total)
        if q.launch is not None:
            est.notes["command_understood"] = q.launch
        est.notes["model_resolution"] = q.model_dict()
        est.notes["context_source"] = q.context_source
        results.append(est)
    commands.write(render_estimates(results, fmt, questions), output)


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

        commands.write(render_requirements(fmt), output)
        return
    flags = commands.flags(runtime, precision, kv_precision, context, concurrency, tensor_parallel, mla_cache,
                   gpu_memory_utilization)
    questions = commands.questions(models, model_configs, flags, None)
    if not questions:
        raise InputError("plan needs --model ID, --model-config PATH or --all")
    plans = [plan_mod.hardware_plan(q) for q in questions]
    from deepseek_probe import report

    commands.write(report.render_plans(plans, fmt), output)


@cli.command()
@click.option("--format", "fmt", type=_Choice(["text", "json"]), default="text", show_default=True)
def models(fmt):
    """List model profiles, their aliases and architecture facts."""
    from deepseek_probe.report.estimate import render_models

    commands.write(render_models(fmt), None)


@cli.command()
@click.argument("name", type=_Choice(["survey", "check", "estimate"]), default="survey")
def schema(name):
    """Print the JSON Schema of a versioned output (survey: `check` with no model; check:
    `check --model` / `check -- CMD`; estimate)."""
    from importlib import resources

    text = resources.files("deepseek_probe.schemas").joinpath(f"{name}.schema.json").read_text("utf-8")
    commands.write(text, None)


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point: maps every failure to a documented exit code, never a raw traceback
    (commands.main; the `check` lines argv.py reads run without click)."""
    commands.main(argv, _with_click)


def _with_click(argv: List[str], launch: Optional[List[str]]) -> None:
    """The command line through click; click's own errors (usage, --help, Ctrl-C) as exit codes."""
    try:
        cli.main(args=argv, prog_name="deepseek-probe", standalone_mode=False, obj={"launch": launch})
    except click.exceptions.Exit as e:  # --help, --version
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        commands.aborted()
    except click.exceptions.UsageError as e:
        # One line on stderr (scripts log it as one record); the --help hint rides along.
        hint = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
        commands.error(f"{e.format_message()}{hint}")
        sys.exit(64)
    except click.exceptions.ClickException as e:
        commands.error(e.format_message())
        sys.exit(64)
