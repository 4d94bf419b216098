"""The memory estimate: KV cache, weights, runtimes, limits, speed, bad input.

Expected figures come from outside the code under test: measured bytes (groundtruth JSON),
the anchors' tables (anchors-memory-tools.md §3, ik_llama.cpp's log), public configs, physics.
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import replace

import math

import pytest

from deepseek_probe import runtimes
from deepseek_probe import profiles
from deepseek_probe.errors import InputError
from deepseek_probe.estimate import (EstimateInputError, Settings, decode_tokens_per_s, estimate,
                                     kv_bytes_per_token, kv_cache_bytes, max_context, offload_split)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
H100_TOTAL = 85_520_809_984  # NVML total of an H100 80GB HBM3 (groundtruth-h100.json)
H200_TOTAL = 150_754_820_096  # NVML total of an H200 (census-h200.json)


def spec(name):
    return profiles.get_model(name)


def S(**kw):
    return Settings(**kw)


# -- KV cache ------------------------------------------------------------------------------------
def _measured_kv():
    for path in sorted(glob.glob(os.path.join(ROOT, "benchmarks", "groundtruth", "*.json"))):
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        for run in doc.get("runs", []):
            for c in run.get("cases", []):
                if "kv_bytes" in c:
                    yield run["model"], c["context"], c["batch"], c["kv_bytes"]


@pytest.mark.parametrize("model,context,batch,kv", sorted(set(_measured_kv())))
def test_kv_cache_is_exactly_the_bytes_transformers_held(model, context, batch, kv):
    assert kv_cache_bytes(spec(model), S(context=context, concurrency=batch)) == kv


@pytest.mark.parametrize("model,per_token_kib", [
    ("deepseek-llm-7b", 480), ("deepseek-coder-33b", 248), ("deepseek-r1-distill-llama-70b", 320),
    ("deepseek-v2", 67.5)])
def test_kv_per_token_matches_the_anchor_table(model, per_token_kib):
    assert kv_bytes_per_token(spec(model), S()) == per_token_kib * KiB


@pytest.mark.parametrize("context,gib", [(4096, 0.26), (32768, 2.1), (131072, 8.4)])
def test_deepseek_v2_mla_kv_at_4k_32k_128k_matches_the_anchor_table(context, gib):
    assert round(kv_cache_bytes(spec("236b"), S(context=context)) / GiB, 2 if gib < 1 else 1) == gib


def test_decompressed_mla_cache_of_v2_is_4800_kib_per_token_71x_the_latent():
    v2 = spec("236b")
    old = kv_bytes_per_token(v2, S(mla_cache="decompressed"))
    assert old == 4800 * KiB
    assert round(old / kv_bytes_per_token(v2, S())) == 71


def test_llamacpp_q8_0_latent_cache_of_r1_at_32k_is_what_ik_llama_logged():
    # ik_llama.cpp PR #259: 1166.62 MiB for 61 layers at 32K with a q8_0 latent
    s = S(runtime="llamacpp", precision="q4_k_m", kv_precision="q8_0", context=32768)
    assert round(kv_cache_bytes(spec("r1"), s) / MiB, 1) == 1166.6


def test_mla_cache_is_not_divided_by_tensor_parallel():
    v3 = spec("671b")
    one = estimate(v3, S(runtime="vllm", precision="fp8", context=32768))
    eight = estimate(v3, S(runtime="vllm", precision="fp8", context=32768, tensor_parallel=8))
    assert eight.per_device.kv_cache_bytes == one.per_device.kv_cache_bytes
    # the linears split 8 ways; the MLA down-projections, router, norms and rope cache do not
    assert one.per_device.weights_bytes // 8 < eight.per_device.weights_bytes < one.per_device.weights_bytes // 8 * 1.02


def test_gqa_cache_is_split_by_tensor_parallel_and_replicated_past_the_kv_heads():
    m70 = spec("70b")  # 8 KV heads
    base = kv_cache_bytes(m70, S(runtime="vllm", context=8192))
    assert kv_cache_bytes(m70, S(runtime="vllm", context=8192, tensor_parallel=8)) == base // 8
    # TP 16 > 8 KV heads: each GPU still holds one whole head (vLLM replicates)
    assert kv_cache_bytes(m70, S(runtime="vllm", context=8192, tensor_parallel=16)) == base // 8


def test_kv_precision_scales_the_cache_by_its_bytes_per_element():
    m = spec("8b")
    f16 = kv_cache_bytes(m, S(runtime="llamacpp", precision="q4_k_m", kv_precision="fp16"))
    q8 = kv_cache_bytes(m, S(runtime="llamacpp", precision="q4_k_m", kv_precision="q8_0"))
    q4 = kv_cache_bytes(m, S(runtime="llamacpp", precision="q4_k_m", kv_precision="q4_0"))
    assert (q8, q4) == (f16 * 34 // 64, f16 * 18 // 64)


# -- guide claims --------------------------------------------------------------------------------
def test_70b_fp16_weights_are_141_gb_not_56_gb():
    e = estimate(spec("70b"), S(precision="fp16"))
    assert round(e.per_device.weights_bytes / 1e9) == 141


def test_7b_bf16_at_4k_holds_about_18_6_gb_in_transformers_not_14():
    total = estimate(spec("7b"), S(context=4096)).per_device.total_bytes
    assert 18.0e9 < total < 19.2e9


def test_67b_kv_cache_for_32_sequences_of_2048_is_about_25_gb_not_2_5():
    kv = kv_cache_bytes(spec("67b"), S(context=2048, concurrency=32))
    assert 24e9 < kv < 27e9


def test_70b_fp16_does_not_fit_one_a100_40gb():
    assert estimate(spec("70b"), S(precision="fp16", context=1024)).per_device.total_bytes > 40e9


def test_70b_fp16_checkpoint_on_disk_is_about_141_gb():
    assert round(estimate(spec("70b"), S(precision="bf16")).disk_bytes / 1e9) == 141


def test_70b_bf16_16k_does_not_fit_on_one_h200():
    assert estimate(spec("70b"), S(context=16384)).per_device.total_bytes > H200_TOTAL


def test_v3_native_fp8_disk_includes_the_mtp_module_and_gguf_does_not():
    v3 = spec("v3")
    fp8 = estimate(v3, S(precision="fp8")).disk_bytes
    assert 680e9 < fp8 < 700e9  # the published checkpoint is ~689 GB
    q4 = estimate(v3, S(runtime="llamacpp", precision="q4_k_m", kv_precision="fp16")).disk_bytes
    assert q4 == int(v3.params * 4.90 / 8)


# -- monotonicity --------------------------------------------------------------------------------
@pytest.mark.parametrize("runtime,precision,kv", [
    ("transformers", "bf16", "bf16"), ("vllm", "bf16", "bf16"), ("llamacpp", "q4_k_m", "fp16")])
@pytest.mark.parametrize("model", ["7b", "33b", "8b", "16b", "70b", "236b"])
def test_more_context_or_more_sequences_never_needs_less_memory(model, runtime, precision, kv):
    m = spec(model)
    prev = 0
    ctx = 512
    while ctx <= m.max_context:
        total = estimate(m, S(runtime=runtime, precision=precision, kv_precision=kv, context=ctx)).per_device.total_bytes
        assert total >= prev
        prev, ctx = total, ctx * 2
    prev = 0
    for n in (1, 2, 4, 8, 16):
        total = estimate(m, S(runtime=runtime, precision=precision, kv_precision=kv, context=2048,
                              concurrency=n)).per_device.total_bytes
        assert total >= prev
        prev = total


@pytest.mark.parametrize("runtime,precisions", [
    ("llamacpp", ("q2_k", "q3_k_m", "q4_0", "q4_k_m", "q5_k_m", "q6_k", "q8_0", "bf16", "fp32")),
    ("vllm", ("int4", "fp8", "bf16", "fp32")),
    ("transformers", ("int4", "int8", "bf16", "fp32")),
])
def test_more_bits_per_weight_never_needs_less_memory(runtime, precisions):
    kv = runtimes.default_kv_precision(runtime)
    for model in ("7b", "70b", "16b"):
        totals = [estimate(spec(model), S(runtime=runtime, precision=p, kv_precision=kv, context=4096))
                  .per_device.total_bytes for p in precisions]
        assert totals == sorted(totals)


def test_tensor_parallel_splits_the_weights_and_lowers_the_per_gpu_need():
    m = spec("70b")
    totals = [estimate(m, S(runtime="vllm", context=8192, tensor_parallel=tp)).per_device.total_bytes
              for tp in (1, 2, 4, 8)]
    assert totals == sorted(totals, reverse=True)


# -- vLLM ----------------------------------------------------------------------------------------
def test_vllm_holds_gpu_memory_utilization_of_the_total_and_the_kv_pool_takes_the_rest():
    e = estimate(spec("8b"), S(runtime="vllm", context=32768), device_total_bytes=H100_TOTAL)
    d, v = e.per_device, e.notes["vllm"]
    assert v["requested_bytes"] == math.ceil(H100_TOTAL * 0.9) == d.total_bytes
    assert d.weights_bytes + d.activation_bytes + d.runtime_overhead_bytes + v["kv_available_bytes"] == d.total_bytes
    per_token = kv_bytes_per_token(spec("8b"), S(runtime="vllm"))
    blocks = v["kv_available_bytes"] // (per_token * 16)
    assert v["kv_tokens"] == blocks * 16  # 32768 is whole blocks: tokens = blocks x block_size
    assert v["max_concurrency"] == round(blocks / (32768 // 16), 2)
    assert v["starts"] is True and v["error"] is None


def test_vllm_max_concurrency_grows_when_the_kv_cache_is_fp8():
    m = spec("8b")
    bf16 = estimate(m, S(runtime="vllm", context=32768), H100_TOTAL).notes["vllm"]["max_concurrency"]
    fp8 = estimate(m, S(runtime="vllm", context=32768, kv_precision="fp8"), H100_TOTAL).notes["vllm"]["max_concurrency"]
    assert bf16 >= 2 and abs(fp8 - 2 * bf16) < 0.05  # half the bytes per token, the same pool


def test_vllm_lower_utilization_leaves_a_smaller_pool():
    m = spec("8b")
    hi = estimate(m, S(runtime="vllm", context=8192), H100_TOTAL).notes["vllm"]["kv_available_bytes"]
    lo = estimate(m, S(runtime="vllm", context=8192, gpu_memory_utilization=0.5), H100_TOTAL).notes["vllm"]["kv_available_bytes"]
    assert hi - lo == math.ceil(H100_TOTAL * 0.9) - math.ceil(H100_TOTAL * 0.5)


def test_vllm_70b_bf16_does_not_fit_one_h100_and_says_what_vllm_says():
    e = estimate(spec("70b"), S(runtime="vllm", context=4096), H100_TOTAL)
    v = e.notes["vllm"]
    assert v["starts"] is False and v["error"].startswith("ValueError: No available memory for the cache blocks.")
    assert e.per_device.total_bytes > H100_TOTAL * 0.9


def test_vllm_too_long_a_context_names_the_longest_that_fits():
    # 8B at 128K with a 0.3 budget on an H100: one request does not fit; vLLM prints its estimate
    e = estimate(spec("8b"), S(runtime="vllm", context=131072, gpu_memory_utilization=0.3), H100_TOTAL)
    v = e.notes["vllm"]
    assert v["starts"] is False and "the estimated maximum model length is" in v["error"]
    longest = v["estimated_max_model_len"]
    assert 0 < longest < 131072
    per_token = kv_bytes_per_token(spec("8b"), S(runtime="vllm"))
    assert math.ceil(longest / 16) * 16 * per_token <= v["kv_available_bytes"] < (math.ceil(longest / 16) + 1) * 16 * per_token


def test_vllm_without_a_device_reports_the_minimum_need():
    e = estimate(spec("8b"), S(runtime="vllm", context=8192))
    d = e.per_device
    assert d.total_bytes == d.weights_bytes + d.kv_cache_bytes + d.activation_bytes + d.runtime_overhead_bytes
    assert d.kv_cache_bytes == kv_cache_bytes(spec("8b"), S(runtime="vllm", context=8192))


def test_vllm_activation_peak_is_the_larger_of_the_forward_and_the_sampler():
    # a small-vocab 70B at 8192 tokens peaks in the MLP; an 8B's peak is its sampler
    from deepseek_probe.runtimes.vllm import forward_peak_bytes, sampler_peak_bytes
    for model in ("8b", "70b"):
        act = estimate(spec(model), S(runtime="vllm", context=4096)).per_device.activation_bytes
        m = spec(model)
        assert act == max(forward_peak_bytes(m, 8192, 1), sampler_peak_bytes(m, 8192, 1024, True))
    assert forward_peak_bytes(spec("70b"), 8192, 1) > sampler_peak_bytes(spec("70b"), 8192, 1024, True)
    assert forward_peak_bytes(spec("8b"), 8192, 1) < sampler_peak_bytes(spec("8b"), 8192, 1024, True)


# -- llama.cpp -----------------------------------------------------------------------------------
def _ll(**kw):
    return S(runtime="llamacpp", precision="q4_k_m", kv_precision="fp16", **kw)


def test_llamacpp_offload_puts_everything_on_a_big_gpu_and_nothing_on_a_tiny_one():
    m = spec("70b")
    full = offload_split(m, _ll(), 200 * GiB)
    assert (full.gpu_layers, full.cpu_layers, full.output_on_gpu) == (80, 0, True)
    none = offload_split(m, _ll(), 256 * MiB)
    assert (none.gpu_layers, none.cpu_layers, none.gpu_bytes) == (0, 80, 0)


def test_llamacpp_offload_moves_layers_to_host_ram_as_the_gpu_shrinks():
    m = spec("70b")
    splits = [offload_split(m, _ll(context=8192), gib * GiB) for gib in (8, 16, 24, 32, 40)]
    layers = [x.gpu_layers for x in splits]
    assert layers == sorted(layers) and 0 < layers[0] < layers[-1] < 80
    hosts = [x.host_bytes for x in splits]
    assert hosts == sorted(hosts, reverse=True)
    for x, gib in zip(splits, (8, 16, 24, 32, 40)):
        assert x.gpu_bytes <= gib * GiB


def test_llamacpp_full_offload_need_equals_the_estimate_total():
    m = spec("8b")
    e = estimate(m, _ll(context=8192))
    assert offload_split(m, _ll(context=8192), e.per_device.total_bytes).gpu_layers == m.layers


def test_llamacpp_token_embedding_stays_in_host_ram():
    m = spec("8b")
    e = estimate(m, _ll())
    assert e.notes["token_embedding_host_bytes"] > 0
    assert e.per_device.weights_bytes + e.notes["token_embedding_host_bytes"] <= e.disk_bytes + 1


def test_llamacpp_old_gguf_with_decompressed_mla_cache_needs_far_more():
    r1 = spec("r1")
    new = estimate(r1, _ll(context=32768)).per_device.kv_cache_bytes
    old = estimate(r1, _ll(context=32768, mla_cache="decompressed")).per_device.kv_cache_bytes
    assert old > 50 * new


# -- max context, speed --------------------------------------------------------------------------
@pytest.mark.parametrize("runtime,precision,kv,budget_gib", [
    ("transformers", "bf16", "bf16", 40), ("vllm", "bf16", "bf16", 24), ("llamacpp", "q4_k_m", "fp16", 12)])
def test_max_context_is_the_largest_that_fits(runtime, precision, kv, budget_gib):
    m = spec("8b")
    s = S(runtime=runtime, precision=precision, kv_precision=kv)
    budget = budget_gib * GiB
    t = max_context(m, s, budget)
    assert 0 < t < m.max_context
    assert estimate(m, replace(s, context=t)).per_device.total_bytes <= budget
    assert estimate(m, replace(s, context=t + 1)).per_device.total_bytes > budget


def test_max_context_grows_with_the_budget_and_is_zero_when_weights_do_not_fit():
    m = spec("8b")
    s = S()
    values = [max_context(m, s, gib * GiB) for gib in (10, 20, 30, 40, 80)]
    assert values == sorted(values)
    assert values[0] == 0  # 16 GB of weights do not fit 10 GiB
    assert max_context(m, s, 10**15) == m.max_context


def test_decode_speed_is_bandwidth_over_bytes_read_with_a_range():
    e = estimate(spec("8b"), S(context=4096))
    tps = decode_tokens_per_s(e, 3.35e12)  # H100 SXM HBM3
    assert tps["low"] < tps["mid"] < tps["high"]
    assert tps["mid"] == pytest.approx(0.55 * 3.35e12 / e.bytes_read_per_token, rel=1e-3)
    assert decode_tokens_per_s(e, 6.7e12)["mid"] == pytest.approx(2 * tps["mid"], rel=1e-3)


def test_moe_decode_reads_only_the_active_experts():
    v3 = estimate(spec("v3"), S(runtime="vllm", precision="fp8", context=4096, tensor_parallel=8))
    dense_equivalent = v3.per_device.weights_bytes
    assert v3.bytes_read_per_token < 0.1 * dense_equivalent


def test_decode_speed_without_bandwidth_is_zero_not_an_error():
    e = estimate(spec("7b"), S())
    assert decode_tokens_per_s(e, 0) == {"low": 0.0, "mid": 0.0, "high": 0.0}


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("model,settings,fragment", [
    ("7b", dict(context=0), "positive"),
    ("7b", dict(context=-5), "positive"),
    ("7b", dict(context=8192), "maximum of 4096"),
    ("7b", dict(concurrency=0), "concurrency"),
    ("7b", dict(precision="fp4"), "unknown precision"),
    ("7b", dict(precision="q4_k_m"), "not available in transformers"),
    ("7b", dict(kv_precision="fp8"), "not available in transformers"),
    ("7b", dict(kv_precision="int2"), "unknown KV precision"),
    ("7b", dict(runtime="tgi"), "unknown runtime"),
    ("33b", dict(tensor_parallel=3), "does not divide"),  # 56 heads
    ("33b", dict(runtime="vllm", tensor_parallel=16), "does not divide"),
    ("7b", dict(tensor_parallel=0), "positive"),
    ("7b", dict(gpu_memory_utilization=1.5), "gpu_memory_utilization"),
    ("v3", dict(mla_cache="full"), "mla_cache"),
    ("7b", dict(context=4096.5), "positive"),
])
def test_bad_settings_are_bad_input_with_one_clear_line(model, settings, fragment):
    with pytest.raises(EstimateInputError) as err:
        estimate(spec(model), S(**settings))
    assert isinstance(err.value, InputError)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_llamacpp_splits_layers_so_any_gpu_count_up_to_the_layers_is_fine():
    m = spec("33b")  # 56 heads: TP 3 is invalid for vLLM, fine as a llama.cpp layer split
    e = estimate(m, _ll(tensor_parallel=3))
    one = estimate(m, _ll()).per_device.weights_bytes
    # whole layers: the busiest GPU holds ceil(62 / 3) = 21 of 62 layers plus the output layer
    assert one / 3 < e.per_device.weights_bytes < one * 21 / 62 * 1.08
    with pytest.raises(EstimateInputError, match="layers"):
        estimate(m, _ll(tensor_parallel=63))


# -- contract ------------------------------------------------------------------------------------
def test_estimate_json_has_the_design_contract_keys_and_sources():
    doc = estimate(spec("7b"), S()).to_dict()
    assert doc["schema_version"] == 1
    for key in ("model", "precision", "kv_precision", "context", "concurrency", "runtime",
                "tensor_parallel", "params", "per_device", "host_ram_bytes", "disk_bytes", "sources"):
        assert key in doc
    assert set(doc["per_device"]) == {"weights_bytes", "kv_cache_bytes", "activation_bytes",
                                      "runtime_overhead_bytes", "total_bytes"}
    d = doc["per_device"]
    assert d["total_bytes"] == sum(v for k, v in d.items() if k != "total_bytes")
    for key in ("weights_bytes", "kv_cache_bytes", "activation_bytes", "runtime_overhead_bytes"):
        assert doc["sources"].get(key)
    json.dumps(doc)


@pytest.mark.parametrize("runtime", ["transformers", "vllm", "llamacpp"])
def test_every_catalog_model_estimates_with_each_runtime_default(runtime):
    for m in profiles.all_models():
        e = estimate(m, runtimes.default_settings(m, runtime), device_total_bytes=H100_TOTAL)
        assert e.per_device.total_bytes > e.per_device.weights_bytes > 0
        assert e.host_ram_bytes > 0 and e.disk_bytes > 0 and e.bytes_read_per_token > 0


def test_an_a100_differs_only_by_its_smaller_cublas_workspace():
    # torch: CUBLAS_WORKSPACE_CONFIG ":4096:8" (32 MiB) on sm90, ":4096:2:16:8" (8.125 MiB) before
    for name in ("6.7b", "8b"):  # MHA (cuDNN SDPA on H100, flash on A100) and GQA (flash)
        m = spec(name)
        h100 = estimate(m, S(context=16384))
        assert estimate(m, S(context=16384, gpu_compute_capability=9.0)).per_device == h100.per_device
        a100 = estimate(m, S(context=16384, gpu_compute_capability=8.0))
        assert h100.per_device.total_bytes - a100.per_device.total_bytes == 32 * MiB - (8 * MiB + 128 * KiB)
        assert a100.notes["attention_kernel"].startswith("flash")
    with pytest.raises(EstimateInputError, match="compute_capability"):
        estimate(spec("8b"), S(gpu_compute_capability="sm90"))
