"""One question, one answer: the same question asked through every door gets the same per-GPU
bytes, decode speed and verdict (issue 21).

Doors: `check --model` with flags; `check -- <launch command>` with the equivalent command; the
survey (its rows, re-asked with `check`); `plan` on a node of the fixture's GPUs; `fleet` with the
fixture as its one node. Property-based (hypothesis): fixture x model x runtime x precision x
context x tensor parallel, drawn at random; the seed is printed on failure.
"""

from __future__ import annotations

import os
from typing import Optional

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from deepseek_probe import assess, fleet, machines, plan, profiles, survey
from deepseek_probe.errors import InputError
from deepseek_probe.question import Flags, Question, from_command, question_for
from deepseek_probe.snapshot import Snapshot

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SNAPS = os.path.join(ROOT, "fixtures", "snapshots")
GPU_FIXTURES = ["h100", "h200", "2xh200", "derived-rtx4090", "derived-8xh200", "derived-h200-tenant-60gb"]
MODELS = ["deepseek-r1-distill-qwen-1.5b", "deepseek-llm-7b", "deepseek-r1-distill-llama-8b",
          "deepseek-r1-distill-qwen-14b", "deepseek-r1-distill-qwen-32b", "deepseek-v2-lite",
          "deepseek-r1-distill-llama-70b", "deepseek-v3"]
WAYS = [("vllm", None), ("vllm", "fp8"), ("llamacpp", "q4_k_m"), ("llamacpp", "q8_0"), ("sglang", None),
        ("transformers", None)]
_SNAPS = {}


def snap(name: str) -> Snapshot:
    if name not in _SNAPS:
        _SNAPS[name] = Snapshot.load(os.path.join(SNAPS, name + ".json"))
    return _SNAPS[name]


def same(a: assess.Assessment, b: assess.Assessment) -> None:
    assert a.per_gpu_bytes == b.per_gpu_bytes
    assert a.decode_tokens_per_s == b.decode_tokens_per_s
    assert a.tensor_parallel == b.tensor_parallel
    assert a.fit == b.fit


def _command(q: Question) -> Optional[list]:
    """The launch command that asks the same question, written the way users write it."""
    s, spec = q.settings, q.spec
    hf = f"deepseek-ai/{spec.id}"
    if s.runtime == "vllm":
        argv = ["vllm", "serve", hf, "--max-model-len", str(s.context), "-tp", str(s.tensor_parallel)]
        if s.precision != spec.native_precision:
            argv += ["--quantization", {"fp8": "fp8", "int4": "awq"}.get(s.precision, s.precision)]
        return argv if s.precision in ("fp8", spec.native_precision) else None
    if s.runtime == "llamacpp":
        return ["llama-server", "-m", f"/models/{spec.id}-{s.precision.upper()}.gguf", "-c", str(s.context)]
    return None


@st.composite
def questions(draw):
    fixture = draw(st.sampled_from(GPU_FIXTURES))
    spec = profiles.get_model(draw(st.sampled_from(MODELS)))
    runtime, precision = draw(st.sampled_from(WAYS))
    context = draw(st.sampled_from([1024, 4096, 16384, 32768]))
    tp = draw(st.sampled_from([1, 1, 2, 4, 8]))
    flags = Flags(runtime=runtime, precision=precision, context=min(context, spec.max_context), tensor_parallel=tp)
    return fixture, question_for(spec, runtime, flags)


def _assess(q: Question, s: Snapshot) -> Optional[assess.Assessment]:
    try:
        return assess.assess(q, s)
    except InputError:  # a split the model cannot take: every door refuses it alike
        return None


@seed(21)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
@given(questions())
def test_flags_command_plan_and_fleet_agree(case):
    fixture, q = case
    s = snap(fixture)
    a = _assess(q, s)
    if a is None:
        return
    # the launch command that says the same
    argv = _command(q)
    if argv is not None:
        (qc,) = from_command(argv, {}, [q.spec.id], [], Flags(tensor_parallel=q.settings.tensor_parallel),
                             [g.memory_total_bytes for g in s.visible_gpus])
        b = assess.assess(qc, s)
        same(a, b)
        assert a.verdict == b.verdict
    # plan, on a node of these very GPUs
    if a.fit == "gpu" and len({g.name for g in s.visible_gpus}) == 1:
        node = machines.like(s, len(s.visible_gpus))
        p = plan.on_node(q, node)
        assert p is not None and len(p.gpus_used) == len(a.gpus_used)
        assert p.per_gpu_bytes == a.per_gpu_bytes
        assert p.decode_tokens_per_s == a.decode_tokens_per_s
    # fleet, with this machine as its one node
    path = os.path.join(SNAPS, fixture + ".json")
    fr = fleet.evaluate_fleet([path], [(q.spec, q.settings)])
    (node_check,) = [n.check for n in fr.nodes]
    same(node_check.profiles[0], a)
    assert node_check.profiles[0].verdict == a.verdict
    kp = fr.profiles[0].plan
    if a.fit == "gpu" and kp is not None and kp.pipeline_parallel == 1:
        assert kp.per_gpu_need_bytes == a.per_gpu_bytes
        assert kp.tensor_parallel == a.tensor_parallel
        assert kp.decode_tokens_per_s == a.decode_tokens_per_s


@pytest.mark.parametrize("fixture", GPU_FIXTURES + ["nogpu-dev", "derived-epyc9354p-cpu-only"])
def test_every_survey_row_is_what_check_says_with_its_settings(fixture):
    s = snap(fixture)
    for row in survey.survey(s).rows:
        if row.fit == "none":
            continue
        spec = profiles.get_model(row.models[0])
        q = question_for(spec, row.runtime, Flags(precision=row.precision, kv_precision=row.kv_precision,
                                                  context=row.max_context, tensor_parallel=row.tensor_parallel))
        a = assess.assess(q, s)
        assert (a.fit, a.per_gpu_bytes, a.host_ram_bytes, a.decode_tokens_per_s, a.tensor_parallel) == (
            row.fit, row.per_gpu_bytes, row.host_ram_bytes, row.decode_tokens_per_s, row.tensor_parallel), row.models


@pytest.mark.parametrize("fixture", GPU_FIXTURES + ["nogpu-dev"])
def test_every_printed_fix_holds_when_applied(fixture):
    """A second property: apply any fix a failing profile prints, re-check, and it runs."""
    s = snap(fixture)
    for model in ("deepseek-r1-distill-llama-70b", "deepseek-v3", "deepseek-llm-7b"):
        for runtime in ("vllm", "llamacpp", "transformers"):
            q = question_for(profiles.get_model(model), runtime, Flags(context=8192))
            a = _assess(q, s)
            if a is None:
                continue
            for f in a.findings:
                for fix in f.fixes:
                    if fix.kind == "multinode":
                        continue
                    q2, s2 = assess._apply(q, s, fix)
                    b = assess.assess(q2, s2, verify_fixes=False)
                    assert b.fit != "none", (model, runtime, fix.text)


def test_check_and_estimate_json_follow_their_schemas(capsys):
    jsonschema = pytest.importorskip("jsonschema")
    import json

    from deepseek_probe import cli

    def run(argv):
        with pytest.raises(SystemExit):
            cli.main(argv)
        return capsys.readouterr().out

    for name, argv in (("check", ["check", "--snapshot", os.path.join(SNAPS, "h100.json"), "--model", "7b",
                                  "--model", "deepseek-r1:32b", "--format", "json"]),
                       ("estimate", ["estimate", "--model", "7b", "--format", "json", "--", "llama-server",
                                     "-m", "x.gguf", "-c", "32768"])):
        schema = json.loads(run(["schema", name]))
        doc = json.loads(run(argv))
        jsonschema.validate(doc, schema)
        if name == "estimate":
            assert doc["context"] == 32768  # what llama.cpp allocates, past the trained 4096


ALL_FIXTURES = sorted(f[:-5] for f in os.listdir(SNAPS) if f.endswith(".json"))


@pytest.mark.parametrize("fixture", ALL_FIXTURES)
def test_every_survey_rows_command_checks_back_to_the_row(fixture):
    """Issue 25: `check --snapshot S -- <row.launch_command>` gives the row's per-GPU bytes, speed
    and fit; a row that does not run has no command, and each command of its fixes is no longer a
    fail when checked."""
    s = snap(fixture)
    totals = [g.memory_total_bytes for g in s.visible_gpus if g.memory_total_bytes]
    for row in survey.survey(s).rows:
        if row.fit == "none":
            assert row.launch_command is None
            for argv in row.to_run_commands:
                (q,) = from_command(argv, {}, [row.models[0]], [], Flags(), totals)
                assert q.spec.id == row.models[0]
            continue
        if row.launch_command is None:  # no public checkpoint name we can vouch for: it says so
            assert row.launch_command_note, row.models
            continue
        (q,) = from_command(row.launch_command, {}, [], [], Flags(), totals)
        a = assess.assess(q, s)
        assert q.spec.id == row.models[0]
        got = (a.fit, a.per_gpu_bytes, a.decode_tokens_per_s, a.tensor_parallel)
        assert got == (row.fit, row.per_gpu_bytes, row.decode_tokens_per_s, row.tensor_parallel), (
            row.models[0], row.launch_command)


@pytest.mark.parametrize("fixture", GPU_FIXTURES)
def test_a_profiles_command_and_its_fix_commands_check_back(fixture):
    s = snap(fixture)
    totals = [g.memory_total_bytes for g in s.visible_gpus if g.memory_total_bytes]
    for model in ("deepseek-r1-distill-qwen-32b", "deepseek-r1-distill-llama-70b"):
        for runtime in ("vllm", "llamacpp", "sglang"):
            q = question_for(profiles.get_model(model), runtime, Flags(context=32768))
            a = _assess(q, s)
            if a is None:
                continue
            if a.launch_command:
                (qc,) = from_command(a.launch_command, {}, [], [], Flags(), totals)
                b = assess.assess(qc, s)
                assert (b.fit, b.per_gpu_bytes, b.decode_tokens_per_s, b.verdict == "fail") == (
                    a.fit, a.per_gpu_bytes, a.decode_tokens_per_s, a.verdict == "fail"), a.launch_command
            for f in a.findings:
                if f.fix_command:
                    (qf,) = from_command(f.fix_command, {}, [], [], Flags(), totals)
                    b = assess.assess(qf, _fixed_machine(s, f), verify_fixes=False)
                    assert b.fit != "none", f.fix_command


def _fixed_machine(s: Snapshot, f) -> Snapshot:
    """The machine the first held fix proposes (more GPUs, another GPU): the command runs there."""
    from deepseek_probe import gpus as gpu_catalog

    change = next(x.change for x in f.fixes if x.command == f.fix_command)
    n = int(change.get("tensor_parallel") or 1)
    if change.get("gpu"):
        return machines.catalog_node(gpu_catalog.get_gpu(change["gpu"]), n)
    if change.get("machine") == "more":
        return machines.like(s, n)
    if change.get("machine") == "freed":
        return machines.freed(s)
    return s
