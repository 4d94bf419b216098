"""vllm.start / sglang.start on recorded machines: the server's own verdict on the GPUs the profile
was placed on (checks/runtime_start.py over runtimes/vllm.py and runtimes/sglang.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from deepseek_probe import assess  # noqa: E402
from deepseek_probe import profiles, rules, runtimes
from deepseek_probe.snapshot import Snapshot

SNAPSHOTS = Path(__file__).resolve().parent.parent / "fixtures" / "snapshots"


def _profile(fixture: str, model: str, runtime: str, **changes):
    spec = profiles.get_model(model)
    settings = replace(runtimes.default_settings(spec, runtime), **changes)
    snap = Snapshot.load(str(SNAPSHOTS / f"{fixture}.json"))
    return snap, spec, settings, assess.evaluate(snap, spec, settings)


def _start(profile, check: str):
    return next(f for f in profile.findings if f.check == check)


# R1-Distill-Qwen-7B on the H100 fixture, by hand (not through vllm_memory):
# torch's total = NVML total - reserved = 85 520 809 984 - 503 316 480 = 85 017 493 504 B
# (fixtures/snapshots/h100.json); vLLM's budget = 0.9 x that = 76 515 744 154 B; bf16 weights =
# 7 615 616 512 params x 2 B = 15 231 233 024 B. KV per token (config.json: 28 layers, 4 KV heads
# of 128) = 2 (K, V) x 28 x 4 x 128 x 2 B = 57 344 B. The pool is the budget less the weights,
# less the profile run's activation peak, non-torch memory and CUDA graphs. Those took ~0.5 GiB for
# Qwen2-7B in a public vLLM 0.10 log (benchmarks/runtime_logs/vllm/dennislee22-…-1xa100-80gb-util0.5
# .json: 0.5 x ~79.2 GiB budget - 14.25 GiB weights - 24.83 GiB KV); 4 GiB bounds them generously
# at max_num_batched_tokens 8192.
QWEN7B_KV_BYTES_PER_TOKEN = 2 * 28 * 4 * 128 * 2
QWEN7B_POOL_CEILING = 76_515_744_154 - 15_231_233_024
QWEN7B_POOL_FLOOR = QWEN7B_POOL_CEILING - 4 * 2**30


def test_vllm_starts_and_says_so_in_its_own_terms():
    _, _, _, p = _profile("h100", "deepseek-r1-distill-qwen-7b", "vllm", context=32768)
    f = _start(p, "vllm.start")
    assert f.level == "pass" and f.required == 32768
    tokens = f.measured
    assert QWEN7B_POOL_FLOOR // QWEN7B_KV_BYTES_PER_TOKEN <= tokens <= QWEN7B_POOL_CEILING // QWEN7B_KV_BYTES_PER_TOKEN
    assert tokens % 16 == 0  # whole blocks of 16 tokens (vLLM's default block size for full attention)
    # vLLM's "Maximum concurrency for 32,768 tokens per request: N x" is the pool over the length
    assert "--max-model-len 32 768" in f.message and f"{tokens / 32768:.2f}x" in f.message


def test_a_larger_budget_never_gives_vllm_a_smaller_pool():
    pools = [_start(_profile("h100", "deepseek-r1-distill-qwen-7b", "vllm", context=32768,
                             gpu_memory_utilization=u)[3], "vllm.start").measured for u in (0.5, 0.7, 0.9)]
    assert pools == sorted(pools) and len(set(pools)) == 3
    # 0.2 of torch's total more budget is at most that many bytes more pool (the rest is fixed)
    assert pools[2] - pools[1] <= 0.2 * 85_017_493_504 / QWEN7B_KV_BYTES_PER_TOKEN + 16


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
