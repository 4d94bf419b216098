"""What the commands do, without click: the entry point (`main`), the exception -> exit-code map,
the plumbing every command shares (questions from flags or a launch command, the snapshot, the
report's output) and `check` itself.

Why apart from cli.py: importing click costs a `check` about as much as its whole survey saves
elsewhere (~53M of ~500M instructions on the dev box, valgrind; CHANGELOG.md). The `check`
invocations provisioning loops run (argv.py says which) are parsed here, exactly as click parses
them, and never import it; every other line goes to cli.py's click commands, which call the same
functions. Exit codes: see cli.EXIT_HELP (DESIGN.md).
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

from deepseek_probe import argv as argv_mod

# Command names (cli.py's click group; a test checks they agree): a launch command after `--`
# is only for check and estimate.
COMMANDS = ("check", "fleet", "probe", "estimate", "plan", "models", "schema")

_TRAIN_FIELDS = {"micro_batch": "--batch", "seq_len": "--seq-len", "gradient_checkpointing": "--gradient-checkpointing",
                 "lora_rank": "--lora-rank", "lora_alpha": "--lora-alpha", "lora_targets": "--lora-targets",
                 "optimizer": "--optimizer", "gradient_accumulation": "--gradient-accumulation", "gpus": "--gpus",
                 "strategy": "--strategy", "offload": "--offload"}


# --- output ---------------------------------------------------------------------------------

def echo(text: str, err: bool = False) -> None:
    """click.echo(text, nl=False, err=err). Where click would write `text` to the stream as it is
    (a text stream that is not ASCII-only, or has no binary buffer to re-wrap; nothing to strip,
    or a terminal: click/utils.py echo, click/_compat.py _force_correct_text_stream), write it
    here; anything else goes to click.echo itself."""
    stream = sys.stderr if err else sys.stdout
    if _as_is(stream) and ("\x1b" not in text or _isatty(stream)):
        stream.write(text)
        stream.flush()
        return
    import click

    click.echo(text, nl=False, err=err)


def _as_is(stream: Any) -> bool:
    import io

    if stream is None or not isinstance(stream, io.TextIOBase) or sys.platform == "win32" \
            or type(stream).__module__.startswith("ipykernel."):
        return False
    encoding, errors = getattr(stream, "encoding", None), getattr(stream, "errors", None)
    if encoding is not None and errors is not None and not _ascii(encoding):
        return True
    return getattr(stream, "buffer", None) is None  # click finds no binary writer: it keeps the stream


def _ascii(encoding: str) -> bool:
    import codecs

    try:
        return codecs.lookup(encoding).name == "ascii"
    except LookupError:
        return False


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except Exception:  # noqa: BLE001 - click.utils' isatty
        return False


def write(text: str, output: Optional[str]) -> None:
    """The report, to stdout or to --output FILE (the only file the tool ever writes)."""
    if not text.endswith("\n"):
        text += "\n"
    if output is None or output == "-":
        echo(text)
        return
    try:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        from deepseek_probe.errors import InputError

        raise InputError(f"cannot write {output}: {e.strerror or e}") from None


def color(fmt: str, output: Optional[str]) -> bool:
    return (fmt == "text" and output in (None, "-") and sys.stdout.isatty()
            and "NO_COLOR" not in os.environ)


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def error(message: str) -> None:
    echo(f"deepseek-probe: error: {one_line(message)}\n", err=True)


# --- questions and the snapshot -------------------------------------------------------------

def workload(train: Optional[str], precision: Optional[str], given: Dict[str, Any]) -> Any:
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


def _read_model(name: str) -> Any:
    """A model named by its path on this machine, read by the probe (imported only for a path)."""
    from deepseek_probe.profiles.names import looks_like_path

    if not (looks_like_path(name) or (os.sep in name and os.path.exists(name))):
        return None
    from deepseek_probe.probes.model_path import read_model

    return read_model(name)


def _read_model_config(path: str) -> Any:
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


def flags(runtime: Optional[str], precision: Optional[str], kv_precision: Optional[str], context: Optional[int],
          concurrency: Optional[int], tensor_parallel: Optional[int], mla_cache: Optional[str],
          gpu_memory_utilization: Optional[float], runtime_version: Optional[str] = None) -> Any:
    from deepseek_probe.question import Flags

    return Flags(runtime, precision, kv_precision, context, concurrency, tensor_parallel, mla_cache,
                 gpu_memory_utilization, runtime_version)


def installed_lookup(snap: Any = None, replay: bool = False, probe_versions: bool = False) -> Any:
    """Where the default --runtime-version comes from: a replayed snapshot's record only, or this
    machine (its snapshot's record, else read on first use)."""
    from deepseek_probe.probes import installed_lookup as lookup

    if snap is None:
        return lookup.LiveLookup(os.environ, probe_versions)
    return lookup.InstalledLookup(snap.installed, os.environ, live=not replay, probe=probe_versions)


def questions(models: Tuple[str, ...], model_configs: Tuple[str, ...], flags_: Any, launch: Optional[List[str]],
              gpu_totals: Any = (), training: Any = None, installed: Any = None) -> List[Any]:
    """The questions of this invocation: from the launch command after `--`, else the flags.
    `installed`: where the default runtime release comes from (installed_lookup); None reads none."""
    from deepseek_probe import question

    disk = question.Disk(model=_read_model, config=_read_model_config, text=_read_config,
                         installed=installed or question.NO_DISK.installed)
    return question.build(models, model_configs, flags_, launch, os.environ, gpu_totals, training, disk)


def load_or_probe(snapshot_path: Optional[str], model_dir: Optional[str], probe_versions: bool = False,
                  pending: Any = None) -> Any:
    """The snapshot file, else this machine's (`pending`: the one `prefetch` started)."""
    if snapshot_path:
        from deepseek_probe.snapshot import Snapshot

        return Snapshot.load(snapshot_path)
    from deepseek_probe.probes import DEFAULT_TIME_LIMIT_S, take_snapshot

    # take_snapshot's file probes are bounded by the limit, and NVML's reading (read apart, or
    # here when that child failed) by the limit and a second: a child still silent after twice
    # the limit and 5 s of slack is stuck, and is stopped.
    snap = pending.result(2 * DEFAULT_TIME_LIMIT_S + 5.0) if pending is not None else None
    return snap if snap is not None else take_snapshot(model_dir=model_dir, probe_versions=probe_versions)


def prefetch(snapshot_path: Optional[str], model_dir: Optional[str]) -> Any:
    """This machine's snapshot, taken in forked children while this process imports what the
    answer needs (parallel.py; None where it does not fork): NVML's reading in one, which the
    other's file probes take when they are done. Apart, neither waits on the other's Python for
    the interpreter (benchmarks/startup_workers.py)."""
    if snapshot_path:
        return None
    from deepseek_probe import parallel

    nvidia = parallel.start(_probe_nvidia)
    pending = parallel.start(lambda: _probe(model_dir, nvidia), uses=nvidia)
    if pending is None and nvidia is not None:
        nvidia.cancel()
    return pending


def _probe_nvidia() -> Any:
    from deepseek_probe.probes import probe_nvidia

    return probe_nvidia(shutdown=False)  # this child ends once it has sent the reading


def _probe(model_dir: Optional[str], nvidia: Any) -> Any:
    import time

    from deepseek_probe.probes import take_snapshot

    started = time.monotonic()

    def reading(limit_s: float) -> Any:
        # The NVML child, started just before this one, bounds its own probe by the limit; a
        # second more is slack for its exit. Silent after that, it is read here.
        return nvidia.result(max(0.0, started + limit_s + 1.0 - time.monotonic()))

    return take_snapshot(model_dir=model_dir, nvidia=reading if nvidia is not None else None)


# --- check ----------------------------------------------------------------------------------

def check(launch: Optional[List[str]], models: Tuple[str, ...], precision: Optional[str],
          kv_precision: Optional[str], context: Optional[int], concurrency: Optional[int], runtime: Optional[str],
          tensor_parallel: Optional[int], model_configs: Tuple[str, ...], snapshot_path: Optional[str],
          model_dir: Optional[str], fmt: str, output: Optional[str], no_redact: bool, verify: bool,
          mla_cache: Optional[str], gpu_memory_utilization: Optional[float], print_command: bool,
          runtime_version: Optional[str], probe_versions: bool, train: Optional[str], **training_flags: Any) -> None:
    """`check` (cli.check's help says what it does); exits with the verdict's code."""
    # Not with --verify (it drives the GPUs itself) nor --probe-versions (it runs programs, which a
    # bad flag must stop before they start).
    pending = prefetch(snapshot_path, model_dir) if not (verify or probe_versions) else None
    named = bool(models or model_configs or launch is not None)
    workers = None
    try:
        if pending is not None and not named and train is None:
            # The survey's workers, forked now, small: each imports what the rows use while the
            # snapshot is taken (as this process does), then waits for its share (parallel.Workers).
            from deepseek_probe import parallel

            workers = parallel.Workers(parallel.worker_count(), warm=_warm_rows)
        from deepseek_probe import assess, report
        from deepseek_probe.errors import InputError

        training = workload(train, precision, training_flags)
        if training is not None and not named:
            # No model named: what can be fine-tuned here, and how (issue 22).
            from deepseek_probe import survey

            snap = load_or_probe(snapshot_path, model_dir, probe_versions, pending)
            result = survey.training_survey(snap, training)
            write(report.render(result, fmt, redact=not no_redact, color=color(fmt, output)), output)
            sys.exit(result.exit_code)
        if not named:
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
            raise InputError("--probe-versions runs this machine's runtimes; "
                             "a snapshot replays the versions it recorded")
        flags_ = flags(runtime, precision, kv_precision, context, concurrency, tensor_parallel, mla_cache,
                       gpu_memory_utilization, runtime_version)
        if launch is not None or runtime_version:  # a bad command or release fails before probing
            questions(models, model_configs, flags_, launch, training=training)
        if workers is not None:  # while the children take the snapshot: what this process's rows and report use
            _warm_rows()
            report.prepare()
        snap = load_or_probe(snapshot_path, model_dir, probe_versions, pending)
        if not named:
            # No model named: the capability survey (what runs here, how well, what the rest needs).
            from deepseek_probe import parallel, survey

            if workers is None:
                workers = parallel.Workers(parallel.worker_count())
            result = survey.survey(snap, map_rows=workers.map)
            if print_command:
                print_commands([(r.models[0], r.launch_command, r.launch_command_note) for r in result.rows
                                if r.fit != "none"], output)
                sys.exit(result.exit_code)
            write(report.render(result, fmt, redact=not no_redact, color=color(fmt, output)), output)
            sys.exit(result.exit_code)
        gpu_totals = [g.memory_total_bytes for g in snap.visible_gpus if g.memory_total_bytes]
        installed = installed_lookup(snap, replay=bool(snapshot_path), probe_versions=probe_versions)
        result = assess.check(snap, questions(models, model_configs, flags_, launch, gpu_totals, training, installed))
        if verify:
            from deepseek_probe import verify as verify_mod

            verify_mod.verify_check_result(result, snap)
        if print_command:
            print_commands([(p.model, p.launch_command, p.command_note or _why_not(p)) for p in result.profiles],
                           output)
            sys.exit(result.exit_code)
        write(report.render(result, fmt, redact=not no_redact, color=color(fmt, output)), output)
        sys.exit(result.exit_code)

    finally:
        if workers is not None:
            workers.close()
        if pending is not None:
            pending.cancel()


def _warm_rows() -> None:
    from deepseek_probe import survey

    survey.prepare()


def _why_not(profile: Any) -> Optional[str]:
    """The first failing finding and its fix, for a profile that does not run here."""
    bad = next((f for f in profile.findings if f.level == "fail"), None)
    if bad is None:
        return None
    return f"{bad.message}" + (f"; {bad.suggestion}" if bad.suggestion else "")


def print_commands(answers: List[Tuple[str, Optional[List[str]], Optional[str]]], output: Optional[str]) -> None:
    """--print-command: one shell line per answer that has a command; the others on stderr."""
    from deepseek_probe.runtimes.launch import shell_line

    lines = []
    for model, argv, why in answers:
        if argv:
            lines.append(shell_line(argv))
        else:
            echo(f"deepseek-probe: {model}: no launch command ({one_line(why or 'it does not run here')})\n",
                 err=True)
    if lines:
        write("\n".join(lines), output)


# --- the entry point ------------------------------------------------------------------------

def main(args: Optional[List[str]], with_click: Callable[[List[str], Optional[List[str]]], None]) -> None:
    """Run one command line and exit with its documented code, never a raw traceback. The
    `check` lines argv.check_options reads run here; `with_click(argv, launch)` runs the rest
    (cli.py), mapping click's own errors."""
    words = list(sys.argv[1:] if args is None else args)
    # --debug is accepted anywhere on the line (before or after the command name).
    debug = "--debug" in words or os.environ.get("DEEPSEEK_PROBE_DEBUG") == "1"
    launch: Optional[List[str]] = None
    if "--" in words:  # everything after -- is the launch command the user will run
        cut = words.index("--")
        words, launch = words[:cut], words[cut + 1:]
    words = [a for a in words if a != "--debug"]
    command = next((a for a in words if a in COMMANDS), None)
    if launch is not None and command not in ("check", "estimate"):
        error(f"only check and estimate take a launch command after --{f', not {command}' if command else ''}")
        sys.exit(64)
    if any("\x00" in a for a in words):  # only reachable in-process; os.stat() would raise ValueError
        error("an argument contains a NUL byte")
        sys.exit(64)
    options = argv_mod.check_options(words) if _as_is(sys.stdout) and _as_is(sys.stderr) else None
    if options is None:
        _guarded(lambda: with_click(words, launch), debug)
    else:
        _guarded(lambda: _as_click_runs(lambda: check(launch, **options)), debug)
    sys.exit(0)


def _as_click_runs(call: Callable[[], None]) -> None:
    """What click's Command.main adds around a command: Ctrl-C (or EOF) ends a line on stderr and
    aborts (click/core.py: `except (EOFError, KeyboardInterrupt)` -> Abort; cli.py maps Abort)."""
    try:
        call()
    except (EOFError, KeyboardInterrupt):
        echo("\n", err=True)
        aborted()


def aborted() -> None:
    echo("deepseek-probe: aborted\n", err=True)
    sys.exit(130)


def _guarded(call: Callable[[], None], debug: bool) -> None:
    from deepseek_probe.errors import InputError

    try:
        call()
    except InputError as e:
        error(str(e))
        sys.exit(64)
    except KeyboardInterrupt:
        echo("deepseek-probe: interrupted\n", err=True)
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
        echo(f"deepseek-probe: internal error: {type(e).__name__}: {one_line(str(e))} "
             f"(this is a bug; please report it with --debug output)\n", err=True)
        sys.exit(70)
