"""vllm.start / sglang.start on recorded machines: the server's own verdict on the GPUs the profile
was placed on (checks/runtime_start.py over runtimes/vllm.py and runtimes/sglang.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from deepseek_probe import assess  # noqa: E402
from deepseek_probe import profiles, rules, runtimes
from deepseek_probe.checks.common import cuda_total_bytes
from deepseek_probe.runtimes.vllm import vllm_memory
from deepseek_probe.snapshot import Snapshot

SNAPSHOTS = Path(__file__).resolve().parent.parent / "fixtures" / "snapshots"


def _profile(fixture: str, model: str, runtime: str, **changes):
    spec = profiles.get_model(model)
    settings = replace(runtimes.default_settings(spec, runtime), **changes)
    snap = Snapshot.load(str(SNAPSHOTS / f"{fixture}.json"))
    return snap, spec, settings, assess.evaluate(snap, spec, settings)


def _start(profile, check: str):
    return next(f for f in profile.findings if f.check == check)


def test_vllm_starts_and_says_so_in_its_own_terms():
    snap, spec, settings, p = _profile("h100", "deepseek-r1-distill-qwen-7b", "vllm", context=32768)
    f = _start(p, "vllm.start")
    g = snap.visible_gpus[0]
    m = vllm_memory(spec, settings, None, cuda_total_bytes(g), g.memory_free_bytes, gpu_name=g.name)
    assert f.level == "pass" and f.measured == m.kv_tokens and f.required == 32768
    assert "--max-model-len 32 768" in f.message and f"{m.max_concurrency:.2f}x" in f.message


def test_vllm_refusal_carries_vllms_message_and_the_longest_context():
    _, _, _, p = _profile("h100", "deepseek-r1-distill-llama-8b", "vllm", context=131072, gpu_memory_utilization=0.3)
    f = _start(p, "vllm.start")
    assert f.level == "fail" and "To serve at least one request with the model's max seq len (131072)" in f.message
    assert f.suggestion.startswith(f"--max-model-len {f.measured}") and 0 < f.measured < 131072
    assert p.verdict == "fail"


def test_a_model_too_big_for_the_budget_is_vllms_no_memory_error():
    _, _, _, p = _profile("h100", "deepseek-r1-distill-llama-70b", "vllm", context=4096)
    f = _start(p, "vllm.start")
    assert f.level == "fail" and "No available memory for the cache blocks" in f.message


def test_sglang_starts_with_its_pool_and_requests():
    _, _, _, p = _profile("h100", "deepseek-r1-distill-qwen-7b", "sglang", context=32768)
    f = _start(p, "sglang.start")
    assert f.level in ("pass", "warn") and f.measured > 32768 and "max_running_requests" in f.message


def test_other_runtimes_get_no_start_finding():
    _, _, _, p = _profile("h100", "deepseek-r1-distill-qwen-7b", "transformers", context=4096)
    assert not [f for f in p.findings if f.check.endswith(".start")]
