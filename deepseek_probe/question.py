"""The question, made once: flags or a launch command -> one typed Question per model.

Every door (check, check -- cmd, estimate, plan, fleet, the survey) asks assess() the same kind of
question, so the same question gets the same answer through each. A Question holds:
- the model, resolved through the one name resolver (profiles/names.py): catalog id, alias, Ollama
  tag (a bare name means `:latest` inside an Ollama command), HF id, GGUF file, checkpoint folder,
  or the model named inside the launch command; and how the name was resolved;
- the runtime with its typed settings (runtimes/base.Settings, the runtime's own options);
- the workload: context (and where it came from), concurrency.

Pure apart from the name resolver reading a local GGUF / checkpoint header when a path is named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from deepseek_probe.errors import InputError
from deepseek_probe.profiles import ModelSpec
from deepseek_probe.runtimes.base import Settings
from deepseek_probe.records import record, replace
if TYPE_CHECKING:  # annotations only: training is imported only for a training question
    from deepseek_probe.runtimes.command import ParsedCommand
    from deepseek_probe.profiles.names import Resolved
    from deepseek_probe.training.workload import TrainingWorkload

# Reads a file a training launch command names (a YAML config, a DeepSpeed JSON); the CLI passes
# one that opens regular files only.
Reader = Callable[[str], str]


def _no_text(path: str) -> str:
    raise InputError(f"{path}: this command reads no files")


def _no_model(name: str) -> "Optional[Resolved]":
    return None


def _no_config(path: str) -> ModelSpec:
    raise InputError(f"{path}: this command reads no files")


def _none_installed(runtime: str, program: Optional[str]) -> Tuple[Optional[str], str]:
    return None, "installed runtimes not read"


# (runtime, the launch command's program word or None) -> (installed release or None, where in
# words: "installed in /opt/venv", or why none: "none installed"); probes/installed_lookup.py.
InstalledLookup = Callable[[str, Optional[str]], Tuple[Optional[str], str]]


@record(frozen=True)
class Disk:
    """What building a question may read from this machine. The CLI passes the probes' readers
    (probes/model_path.read_model, formats/hf_config.spec_from_file, a regular-file reader);
    the default reads nothing, so a question built in code stays pure."""

    model: Callable[[str], "Optional[Resolved]"] = _no_model  # a model named by its path
    config: Callable[[str], ModelSpec] = _no_config  # --model-config FILE
    text: Reader = _no_text  # a YAML / JSON a training command names
    installed: InstalledLookup = _none_installed  # the runtime release installed where it would run


NO_DISK = Disk()


@record(frozen=True, many=True)
class Flags:
    """What the user set with flags; None = not set (the runtime's default applies)."""

    runtime: Optional[str] = None
    precision: Optional[str] = None
    kv_precision: Optional[str] = None
    context: Optional[int] = None
    concurrency: Optional[int] = None
    tensor_parallel: Optional[int] = None
    mla_cache: Optional[str] = None
    gpu_memory_utilization: Optional[float] = None
    runtime_version: Optional[str] = None  # --runtime-version V


@record(frozen=True, many=True)
class Question:
    """One model under one runtime and workload: what assess() answers."""

    spec: ModelSpec
    settings: Settings
    model_name: str  # as the user (or the launch command) wrote it
    resolved_by: str  # catalog | ollama tag | HF id | GGUF header | config.json | ...
    resolution: Optional[str] = None  # one line saying what the name became, when not plain
    context_source: str = "runtime default"  # flag | launch command | runtime default | ...
    launch: Optional[Dict[str, object]] = None  # the launch command after `--`, as understood
    training: Optional["TrainingWorkload"] = None  # a fine-tuning run instead of serving (issue 22)
    # The runtime release modelled and why ("0.8.4", "installed in /opt/venv"); None for a runtime
    # modelled at one release only (Runtime.versions == ()) and for questions built in code.
    runtime_version: Optional[str] = None
    runtime_version_source: Optional[str] = None

    @classmethod
    def of(cls, spec: ModelSpec, settings: Settings) -> "Question":
        """A catalog model under settings built in code (tables, tests): no name to resolve."""
        return cls(spec, settings, spec.id, "catalog")

    def with_settings(self, **changes: object) -> "Question":
        """The same question with some settings changed (a fix, a survey candidate, a TP)."""
        src = "flag" if "context" in changes else self.context_source
        return replace(self, settings=replace(self.settings, **changes), context_source=src)

    def version_dict(self) -> Optional[Dict[str, object]]:
        """The release modelled and why, for the JSON reports; None when no release is chosen."""
        if self.runtime_version is None:
            return None
        return {"version": self.runtime_version, "source": self.runtime_version_source}

    def version_text(self) -> Optional[str]:
        """"vLLM 0.8.4 (installed in /opt/venv)": the release modelled and why, for people."""
        if self.runtime_version is None:
            return None
        from deepseek_probe.runtimes import RUNTIMES

        rt = RUNTIMES[self.settings.runtime]
        return f"{rt.label or rt.name} {self.runtime_version} ({self.runtime_version_source})"

    def model_dict(self) -> Dict[str, object]:
        """How the model was resolved, for the JSON reports."""
        return {"id": self.spec.id, "name": self.model_name, "resolved_by": self.resolved_by,
                "note": self.resolution}


def default_settings(spec: ModelSpec, runtime: str, flags: Flags = Flags()) -> Settings:
    """The runtime's defaults for the model, then what the flags set."""
    from deepseek_probe import runtimes

    s = runtimes.default_settings(spec, runtime)
    given = {"precision": flags.precision, "kv_precision": flags.kv_precision, "context": flags.context,
             "concurrency": flags.concurrency, "tensor_parallel": flags.tensor_parallel,
             "mla_cache": flags.mla_cache, "gpu_memory_utilization": flags.gpu_memory_utilization}
    changes = {name: value for name, value in given.items() if value}  # unset flags keep defaults
    return replace(s, **changes) if changes else s


def question_for(spec: ModelSpec, runtime: str, flags: Flags = Flags(), model_name: Optional[str] = None,
                 resolved_by: str = "catalog") -> Question:
    """A question built in code (survey candidates, plan, tests): catalog model + settings."""
    return Question(spec, default_settings(spec, runtime, flags), model_name or spec.id, resolved_by,
                    context_source="flag" if flags.context else "runtime default")


@record(frozen=True)
class _Named:
    spec: ModelSpec
    name: str
    precision: Optional[str]  # the weight format the name implies (a GGUF quant, AWQ...)
    runtime: Optional[str]  # the runtime the name implies (llamacpp for a GGUF / Ollama tag)
    resolved_by: str
    note: Optional[str]


def _resolve(name: str, runtime: Optional[str] = None, disk: Disk = NO_DISK) -> _Named:
    """One name through the one resolver (profiles/names.py); a path is read through `disk`."""
    from deepseek_probe.profiles import PRECISIONS, names

    r = names.resolve(name, runtime=runtime, local=disk.model(name))
    if r.spec is None:
        raise InputError(f"{name}: {r.unresolved or 'not a model in the catalog'}")
    precision = r.precision if r.precision in PRECISIONS else None
    note = None
    if r.source != "catalog" or r.notes:
        note = (f"{name} -> {r.spec.id}" + (f", {r.quant or precision}" if (r.quant or precision) else "")
                + f" ({r.source})" + "".join(f"; {n}" for n in r.notes))
    return _Named(r.spec, name, precision, r.runtime, r.source, note)


def _from_config(path: str, disk: Disk = NO_DISK) -> _Named:
    spec = disk.config(path)
    return _Named(spec, path, None, None, "config.json", f"{path} -> {spec.id} (config.json)")


def from_flags(models: Sequence[str], model_configs: Sequence[str], flags: Flags,
               training: Optional["TrainingWorkload"] = None, disk: Disk = NO_DISK) -> List[Question]:
    """One question per model named with --model / --model-config, settings from the flags (a
    fine-tuning run when `training` is given: Trainer runs the model in transformers)."""
    from deepseek_probe.runtimes import RUNTIMES

    out = []
    if training is not None:
        for n in [_from_config(p, disk) for p in model_configs] + [_resolve(m, None, disk) for m in models]:
            out.append(_training_question(n, training, flags, disk=disk))
        return out
    for n in [_from_config(p, disk) for p in model_configs] + [_resolve(m, flags.runtime, disk) for m in models]:
        rt = flags.runtime or n.runtime or "transformers"
        implied = n.precision if n.precision in RUNTIMES[rt].precisions else None  # a GGUF quant means nothing to vLLM
        f = replace(flags, precision=flags.precision or implied)
        q = Question(n.spec, default_settings(n.spec, rt, f), n.name, n.resolved_by, n.note,
                     "flag" if flags.context else "runtime default")
        out.append(_with_version(q, rt, None, flags.runtime_version, disk))
    return out


def _training_question(n: "_Named", w: "TrainingWorkload", flags: Flags,
                       launch: Optional[Dict[str, object]] = None, note: Optional[str] = None,
                       disk: "Disk" = NO_DISK) -> Question:
    from deepseek_probe.runtimes import RUNTIMES

    trainer = next(name for name, rt in RUNTIMES.items() if rt.trains)  # HF Trainer runs transformers
    s = default_settings(n.spec, trainer, replace(flags, precision=w.load_precision, context=min(w.seq_len, n.spec.max_context)))
    q = Question(n.spec, replace(s, concurrency=w.micro_batch), n.name, n.resolved_by,
                 "; ".join(x for x in (n.note, note) if x) or None, "training --seq-len", launch, w)
    return _with_version(q, trainer, None, flags.runtime_version, disk)


def from_training_command(argv: Sequence[str], models: Sequence[str], model_configs: Sequence[str],
                          flags: Flags, disk: Disk = NO_DISK) -> Optional[List[Question]]:
    """`trl sft ...`, `llamafactory-cli train cfg.yaml`, `axolotl train cfg.yml`, `deepspeed ...`:
    the fine-tuning run it starts; None when argv is not a training command."""
    from deepseek_probe.training.launch import parse_training_command

    t = parse_training_command(argv, disk.text)
    if t is None:
        return None
    echo: Dict[str, object] = {"program": t.program, "runtime": "training", "model": t.model_ref,
                               "understood": [], "not_modelled": [], "ignored": list(t.ignored), "notes": []}
    given = [_from_config(p, disk) for p in model_configs] + [_resolve(m, None, disk) for m in models]
    if not given and not t.model_ref:
        raise InputError(f"{t.program}: the command names no model; add --model ID")
    named = given or [_resolve(str(t.model_ref), None, disk)]
    if given and t.model_ref:
        own = _resolve(str(t.model_ref), None, disk)
        if any(n.spec.id != own.spec.id for n in given):
            raise InputError(f"--model and the command's model {t.model_ref} ({own.spec.id}) disagree: drop one")
    return [_training_question(n, t.workload, flags, echo, disk=disk) for n in named]


def from_command(argv: Sequence[str], env: Mapping[str, str], models: Sequence[str],
                 model_configs: Sequence[str], flags: Flags,
                 gpu_totals: Sequence[int] = (), disk: Disk = NO_DISK) -> List[Question]:
    """The question a launch command asks: its runtime, its flags and defaults, its model.

    --model / --model-config name the model when the command's own model is absent or a file not
    on this machine; when both name a model they must agree (else: one-line error)."""
    from deepseek_probe.runtimes import launch as launch_mod

    training = from_training_command(argv, models, model_configs, flags, disk)
    if training is not None:
        return training
    cmd = launch_mod.parse_launch(argv, env)
    named = _command_models(cmd, models, model_configs, disk)
    quant = launch_mod.command_quant(cmd)
    runtime = launch_mod.ESTIMATOR_RUNTIME[cmd.runtime]
    echo = launch_mod.echo(cmd)
    out = []
    from deepseek_probe.profiles import PRECISIONS
    from deepseek_probe.runtimes import RUNTIMES

    for n, how in named:
        implied = n.precision
        if implied and PRECISIONS[implied].gguf != RUNTIMES[runtime].loads_gguf:
            implied = None  # an HF checkpoint is not what llama.cpp loads, nor a GGUF what vLLM does
        base = default_settings(n.spec, runtime, replace(flags, precision=flags.precision or quant or implied))
        s = launch_mod.settings_from_command(base, cmd, n.spec, gpu_totals)
        note = "; ".join(x for x in (n.note, how) if x) or None
        q = Question(n.spec, s, n.name, n.resolved_by, note, launch_mod.context_source(cmd), echo)
        out.append(_with_version(q, cmd.runtime, launch_mod.program_word(argv), flags.runtime_version, disk))
    return out


def _with_version(q: Question, runtime: str, program: Optional[str], named: Optional[str],
                  disk: Disk) -> Question:
    """`q` with the runtime release it models (issue 23): the one named with --runtime-version;
    else the one installed where the command (or, for flags, this machine) would run it; else the
    newest modelled. `runtime`: the launch command's runtime (ollama, lmstudio...) or the flags'.
    Exit 64 for a named release that is not one, or older than the oldest modelled."""
    from deepseek_probe.runtimes import RUNTIMES, versions

    rt = RUNTIMES[q.settings.runtime]
    if named:
        versions.resolve(rt, named)  # one line, exit 64: not a release, too old, no range modelled
    if not rt.versions:
        return q
    builds = rt.version_is_build
    oldest, newest = (versions.parse(v, builds) for v in rt.versions)
    newest_label = versions.label(newest, builds)  # type: ignore[arg-type]
    if named:
        chosen, shown, source = named, named, "named"
    else:
        found, where = disk.installed(runtime, program)
        chosen, shown, source = found, found, where
        if found is None:
            chosen, shown, source = None, newest_label, f"newest modelled; {where}"
        elif versions.parse(found, builds) is None:
            chosen, shown, source = None, newest_label, f"newest modelled; {found} {where} is not a release read here"
    release = versions.parse(chosen, builds) if chosen else None
    if release is not None and release < oldest:  # type: ignore[operator]  # installed, older than modelled
        source = f"{source}; older than the oldest modelled, modelled as {rt.versions[0]}"
        chosen = rt.versions[0]
    elif release is not None and release > newest:  # type: ignore[operator]
        source = f"{source}; newer than the newest modelled, modelled as {newest_label}"
    if release is not None and release >= newest:  # type: ignore[operator]  # None = the newest
        chosen = None
    return replace(q, settings=replace(q.settings, runtime_version=chosen), runtime_version=shown,
                   runtime_version_source=source)


def _command_models(cmd: ParsedCommand, models: Sequence[str], model_configs: Sequence[str],
                    disk: Disk = NO_DISK) -> List[Tuple[_Named, Optional[str]]]:
    """(model, how --model and the command's model were reconciled) for a launch command."""
    from deepseek_probe.profiles.names import looks_like_path

    given = [_from_config(p, disk) for p in model_configs] + [_resolve(m, cmd.runtime, disk) for m in models]
    ref = cmd.model_ref
    if not ref:
        if not given:
            raise InputError(f"{cmd.program}: the command names no model; add --model ID")
        return [(n, None) for n in given]
    if given and looks_like_path(ref):
        try:
            here = disk.model(ref)
        except InputError:  # no such file here
            here = None
        if here is None:  # a path on the machine it will run on, not this one: --model says what it is
            return [(n, f"{ref} is not on this machine: using --model {n.name}") for n in given]
    own = _resolve(ref, cmd.runtime, disk)
    if not given:
        return [(own, None)]
    for n in given:
        if n.spec.id != own.spec.id:
            raise InputError(f"--model {n.name} ({n.spec.id}) and the command's model {ref} "
                             f"({own.spec.id}) disagree: drop one")
    return [(n, f"--model {n.name} and the command's {ref} are the same model") for n in given]


def build(models: Sequence[str], model_configs: Sequence[str], flags: Flags,
          launch: Optional[Sequence[str]] = None, env: Optional[Mapping[str, str]] = None,
          gpu_totals: Sequence[int] = (), training: Optional["TrainingWorkload"] = None,
          disk: Disk = NO_DISK) -> List[Question]:
    """The questions of one invocation: from the launch command after `--` when there is one,
    else from the flags (`training`: the --train workload)."""
    if launch is not None:
        if training is not None and training.explicit:
            raise InputError("--train flags and a launch command both describe the run: use one")
        return from_command(launch, {} if env is None else env, models, model_configs, flags,
                            gpu_totals, disk)
    return from_flags(models, model_configs, flags, training, disk)


def model_spec(name: str, disk: Disk = NO_DISK) -> Tuple[ModelSpec, Optional[str]]:
    """A model name -> (catalog spec, resolution note); for doors that take one model by name."""
    n = _resolve(name, None, disk)
    return n.spec, n.note
