"""The premises of the survey's savings (survey.py, fixes.py, estimate.py): each shortcut gives
what the computation it skips gives."""

from __future__ import annotations

import os

import pytest

from deepseek_probe import estimate as est_mod
from deepseek_probe import profiles
from deepseek_probe.runtimes import llamacpp
from deepseek_probe.records import replace
from deepseek_probe.runtimes.base import Settings
from deepseek_probe.runtimes.llamacpp_alloc import LlamaCppOptions

GiB = 1 << 30
DEVICES = (24 * GiB, 80 * GiB, 141 * GiB)


@pytest.mark.parametrize("model", ["deepseek-r1-distill-qwen-7b", "deepseek-coder-33b",
                                   "deepseek-r1-distill-llama-70b", "deepseek-v2-lite", "deepseek-v3"])
@pytest.mark.parametrize("precision,context,tp", [("q4_k_m", 4096, 1), ("q8_0", 32768, 1), ("q2_k", 4096, 3)])
def test_llamacpp_from_flags_is_the_same_on_every_device(model, precision, context, tp):
    # estimate() keeps one answer for every device size where llama.cpp's account ignores it
    spec = profiles.get_model(model)
    s = Settings(runtime="llamacpp", precision=precision, kv_precision="fp16", context=context,
                 tensor_parallel=tp)
    assert not llamacpp.sized_by_device(s)
    alone = est_mod._estimate(spec, s, None).to_dict()
    for d in DEVICES:
        assert est_mod._estimate(spec, s, d).to_dict() == alone  # the uncached computation
        assert est_mod.estimate(spec, s, d).to_dict() == alone


def test_a_llamacpp_command_is_sized_by_its_device():
    # --fit of a launch command reads the device: no answer is shared across sizes
    spec = profiles.get_model("deepseek-r1-distill-llama-70b")
    s = Settings(runtime="llamacpp", precision="q4_k_m", kv_precision="fp16", context=4096,
                 runtime_options=LlamaCppOptions())
    assert llamacpp.sized_by_device(s)
    got = {d: est_mod.estimate(spec, s, d).to_dict() for d in DEVICES}
    for d in DEVICES:
        assert got[d] == est_mod._estimate(spec, s, d).to_dict()
    assert got[24 * GiB] != got[141 * GiB]


# -- fixes._fitting_context: no context search where the shortest context does not fit ----------
FIXTURES = ("h100", "derived-rtx4090", "nogpu-dev", "derived-8xh200", "2xh200", "derived-h100-no-driver")


def _vram_fixes_calls(monkeypatch):
    """(spec, settings, budget) of every vram_fixes call a survey and the goldens' `check`
    questions make on the fixtures."""
    from conftest import SNAPSHOT_FIXTURES
    from deepseek_probe import fixes, survey
    from deepseek_probe.assess import assess
    from deepseek_probe.question import Flags, question_for
    from deepseek_probe.snapshot import Snapshot

    calls = []
    real = fixes.vram_fixes

    def record(spec, settings, budget_bytes, *a, **k):
        calls.append((spec, settings, budget_bytes))
        return real(spec, settings, budget_bytes, *a, **k)

    monkeypatch.setattr(fixes, "vram_fixes", record)
    for name in FIXTURES:
        snap = Snapshot.load(os.path.join(SNAPSHOT_FIXTURES, name + ".json"))
        survey.survey(snap)
        for rt, model in (("vllm", "deepseek-llm-67b"), ("llamacpp", "deepseek-coder-33b"), ("vllm", "deepseek-v2")):
            spec = profiles.get_model(model)
            assess(question_for(spec, rt, Flags(context=spec.max_context)), snap)
    monkeypatch.setattr(fixes, "vram_fixes", real)
    return calls


def _grid():
    """Every catalog architecture on vLLM and llama.cpp, from a small GPU to a big one."""
    from deepseek_probe.runtimes import default_settings
    from deepseek_probe.survey import architecture_groups

    for group in architecture_groups(profiles.all_models()):
        spec = group[0]
        for rt, p in (("vllm", spec.native_precision), ("llamacpp", "q4_k_m")):
            s = replace(default_settings(spec, rt), precision=p, context=4096)
            for budget in (4 * GiB, 16 * GiB, 40 * GiB, 80 * GiB, 130 * GiB):
                yield spec, s, budget


def test_fitting_context_is_the_search_on_every_failing_profile_and_a_grid(monkeypatch):
    from deepseek_probe import fixes

    cases = _vram_fixes_calls(monkeypatch) + list(_grid())
    assert len(cases) > 200
    answers = set()
    for spec, s, budget in cases:
        want = fixes.max_context_fitting(spec, s, budget)
        assert fixes._fitting_context(spec, s, budget) == want, (spec.id, s, budget)
        answers.add("zero" if want == 0 else "some")
    assert answers == {"zero", "some"}  # both sides of the shortcut are exercised


# -- survey._stopping_findings: no re-assessment where no stop carries fixes ---------------------
def test_a_host_stop_needs_no_reassessment(monkeypatch):
    from conftest import SNAPSHOT_FIXTURES
    from deepseek_probe import survey
    from deepseek_probe.assess import assess
    from deepseek_probe.snapshot import Snapshot

    def reassessed(snap, a, stops):
        return assess(a.question, snap).findings  # what the survey did before the shortcut

    real = survey._stopping_findings
    seen = []

    def compare(snap, a, stops):
        got = real(snap, a, stops)
        want = reassessed(snap, a, stops)
        pick = lambda fs: [f.to_dict() for f in fs if f.check in stops]  # noqa: E731
        assert pick(got) == pick(want), (a.model, a.runtime, a.precision, stops)
        seen.append("gpu.vram" in stops)
        return got

    for name in FIXTURES + ("derived-epyc9354p-cpu-only",):
        snap = Snapshot.load(os.path.join(SNAPSHOT_FIXTURES, name + ".json"))
        monkeypatch.setattr(survey, "_stopping_findings", compare)
        fast = [r.to_dict() for r in survey.survey(snap).rows]
        monkeypatch.setattr(survey, "_stopping_findings", reassessed)
        full = [r.to_dict() for r in survey.survey(snap).rows]
        assert fast == full, name
    assert True in seen and False in seen  # both ways are exercised
