"""SGLang accounting against public start-up logs (benchmarks/runtime_logs/sglang/) and
against the formulas of sglang 0.5.5 it reproduces."""

import importlib.util
import os
import sys

import pytest

from deepseek_probe.profiles import get_model
from deepseek_probe.runtimes.base import GiB, MiB, Settings
from deepseek_probe.runtimes.sglang import (
    SglangOptions, auto_mem_fraction_static, cell_size_bytes, gpu_tier_defaults, sglang_memory,
    sglang_min_gpu_bytes)

_P = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "runtime_logs", "sglang_replay.py")
_spec = importlib.util.spec_from_file_location("sglang_replay", _P)
replay_mod = importlib.util.module_from_spec(_spec)
sys.modules["sglang_replay"] = replay_mod  # dataclasses need the module registered
_spec.loader.exec_module(replay_mod)
LOGS = replay_mod.load_logs()
H100_MIB, H200_MIB = 81559, 143771  # nvidia-smi memory.total (reference/census-*.json)


def test_there_are_logs_and_each_carries_verbatim_lines_and_a_url():
    assert len(LOGS) >= 2
    for name, log in LOGS:
        assert log["url"].startswith("https://"), name
        assert log["lines"] and all(isinstance(x, str) for x in log["lines"]), name


def _term_cases():
    cases = []
    for name, log in LOGS:
        known = log.get("known_deviation", {})
        for term, logged, ours in replay_mod.replay(log):
            marks = [pytest.mark.xfail(strict=True, reason=known[term])] if term in known else []
            cases.append(pytest.param(name, term, logged, ours, marks=marks, id=f"{name}:{term}"))
    return cases


@pytest.mark.parametrize("name,term,logged,ours", _term_cases())
def test_every_logged_term_within_5_percent_and_verdict_agrees(name, term, logged, ours):
    if term == "starts":
        assert logged == ours, f"{name}: verdict differs"
    else:
        assert abs(ours - logged) <= 0.05 * abs(logged), f"{name} {term}: logged {logged} ours {ours}"


@pytest.mark.parametrize("name,log", [(n, l) for n, l in LOGS if replay_mod.pool_formula_rows(l)],
                         ids=[n for n, l in LOGS if replay_mod.pool_formula_rows(l)])
def test_pool_arithmetic_alone_matches_the_logged_token_count_within_half_a_percent(name, log):
    # inputs: logged free memory, logged weights, the fraction; output compared: logged tokens
    for _, logged, ours in replay_mod.pool_formula_rows(log):
        assert abs(ours - logged) <= 0.005 * logged, f"{name}: logged {logged} ours {ours}"


def test_at_least_four_logs_check_weights_tokens_bytes_and_requests_from_the_device_state():
    full = [n for n, log in LOGS if {"weights_gb", "max_total_num_tokens", "max_running_requests"} <= set(log["logged"])]
    assert len(full) >= 3, full


def test_mla_cell_is_576_elements_per_layer_and_not_split_by_tp():
    v3 = get_model("deepseek-v3")
    assert cell_size_bytes(v3, 2, 1) == 576 * 61 * 2 == cell_size_bytes(v3, 2, 8)
    assert cell_size_bytes(v3, 1, 8) == 576 * 61


def test_gqa_cell_splits_kv_heads_by_tp_and_replicates_below_one():
    m = get_model("deepseek-r1-distill-llama-70b")  # 8 kv heads, head_dim 128, 80 layers
    assert cell_size_bytes(m, 2, 4) == 2 * 80 * 2 * 128 * 2
    assert cell_size_bytes(m, 2, 16) == 1 * 80 * 2 * 128 * 2


def test_auto_fraction_on_h100_tp1_matches_server_args_formula():
    chunk, bs = gpu_tier_defaults(H100_MIB, 1)
    assert (chunk, bs) == (8192, 256)
    f = auto_mem_fraction_static(H100_MIB, SglangOptions(), chunk, bs)
    reserved = max(512 + 8192 * 1.5 + 256 * 2 + 1 / 8 * 1024, 10 * 1024)
    assert f == round((H100_MIB - reserved) / H100_MIB, 3)


def test_v3_fp8_does_not_start_on_8_h200_at_half_static_fraction_with_sglang_words():
    v3 = get_model("deepseek-v3")
    m = sglang_memory(v3, Settings(precision="fp8"), SglangOptions(tp=8, mem_fraction_static=0.5), H200_MIB * MiB)
    assert m.starts is False and m.max_total_num_tokens <= 0
    assert "Not enough memory. Please try to increase --mem-fraction-static" in m.error
    assert "mem_fraction_static=0.5" in m.error


def test_v3_fp8_on_8_h200_default_fraction_starts_with_half_a_million_tokens():
    v3 = get_model("deepseek-v3")
    m = sglang_memory(v3, Settings(precision="fp8"), SglangOptions(tp=8), H200_MIB * MiB)
    assert m.starts and 300_000 < m.max_total_num_tokens < 1_000_000
    assert m.max_running_requests == min(m.max_total_num_tokens // 2, m.req_pool_reqs)
    assert m.max_context == min(m.context_len, m.max_total_num_tokens) - 1


def test_context_past_model_maximum_is_refused_like_sglang():
    v3 = get_model("deepseek-v3")
    m = sglang_memory(v3, Settings(precision="fp8"), SglangOptions(tp=8, context_length=10**6), H200_MIB * MiB)
    assert m.starts is False and "SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN=1" in m.error


def test_min_gpu_for_v3_fp8_tp8_is_between_h100_and_h200_and_it_starts_there():
    v3 = get_model("deepseek-v3")
    s = Settings(precision="fp8", context=4096)
    need = sglang_min_gpu_bytes(v3, s, SglangOptions(tp=8))
    assert 80 * GiB < need < 141 * GiB
    assert sglang_memory(v3, s, SglangOptions(tp=8), need).starts
    assert not sglang_memory(v3, s, SglangOptions(tp=8), need - GiB).starts or \
        (sglang_memory(v3, s, SglangOptions(tp=8), need - GiB).max_total_num_tokens or 0) < 4096


def test_dp_attention_replicates_attention_weights_and_divides_the_request_limit():
    v3 = get_model("deepseek-v3")
    s = Settings(precision="fp8")
    plain = sglang_memory(v3, s, SglangOptions(tp=8, mem_fraction_static=0.9, max_running_requests=256), H200_MIB * MiB)
    dpa = sglang_memory(v3, s, SglangOptions(tp=8, dp=8, enable_dp_attention=True, mem_fraction_static=0.9,
                                             max_running_requests=256), H200_MIB * MiB)
    assert dpa.attn_tp == 1 and dpa.weights_bytes > plain.weights_bytes + 5 * GiB
    assert plain.max_running_requests == 256 and dpa.max_running_requests == 256 // 8


def test_v32_indexer_adds_to_the_cell_and_fp8_nsa_rows_store_656_bytes():
    import dataclasses
    from deepseek_probe.profiles import ModelSpec
    from deepseek_probe.runtimes.sglang import kv_pool_bytes

    v3 = get_model("deepseek-v3")
    v32 = dataclasses.replace(v3, index_head_dim=128)  # V3 with V3.2's NSA indexer head
    assert cell_size_bytes(v32, 1, 1) == 576 * 61 + (128 + 4) * 61
    per_token = (kv_pool_bytes(v32, 640_000, 64, 1, 1) - kv_pool_bytes(v32, 0, 64, 1, 1)) / 640_000
    assert abs(per_token - (656 + 132) * 61) < 1
    assert sglang_memory(v32, Settings(precision="fp8"), SglangOptions(tp=8), None).page_size == 64


def test_account_never_claims_more_than_the_device_when_sglang_starts():
    from deepseek_probe.runtimes import sglang as rt
    from deepseek_probe.runtimes.base import DeviceMemory, Estimate
    v3 = get_model("deepseek-v3")
    s = Settings(precision="fp8", context=8192, concurrency=4, runtime="sglang", tensor_parallel=8)
    est = Estimate(v3.id, "fp8", "bf16", 8192, 4, "sglang", 8, v3.params, DeviceMemory(), 0, 0, 0)
    rt.account(v3, s, est, H200_MIB * MiB)
    assert est.notes["sglang"]["starts"] and est.per_device.total_bytes <= H200_MIB * MiB
    assert est.per_device.kv_cache_bytes > 40 * GiB


def test_max_total_tokens_caps_the_pool_and_warns_with_the_profiled_value():
    v3 = get_model("deepseek-v3")
    s = Settings(precision="fp8")
    free = sglang_memory(v3, s, SglangOptions(tp=8, mem_fraction_static=0.9), H200_MIB * MiB).max_total_num_tokens
    capped = sglang_memory(v3, s, SglangOptions(tp=8, mem_fraction_static=0.9, max_total_tokens=100_000), H200_MIB * MiB)
    assert capped.max_total_num_tokens == 100_000 and not capped.warnings
    over = sglang_memory(v3, s, SglangOptions(tp=8, mem_fraction_static=0.9, max_total_tokens=10**8), H200_MIB * MiB)
    assert over.max_total_num_tokens == free
    assert f"is larger than the profiled value {free}" in over.warnings[0]


# -- releases (runtimes/sglang_versions.py): each default as the release's server_args.py sets it
def _f(version, gpu_mib, tp=1):
    v3 = get_model("deepseek-v3")
    m = sglang_memory(v3, Settings(precision="fp8", runtime_version=version), SglangOptions(tp=tp), gpu_mib * MiB)
    return m


@pytest.mark.parametrize("version,tp,f", [("0.4.0", 1, 0.88), ("0.4.3", 2, 0.87), ("0.4.5", 4, 0.85),
                                          ("0.4.5", 8, 0.81), ("0.4.5", 16, 0.79)])
def test_sglang_04_fraction_follows_the_tp_table(version, tp, f):
    assert _f(version, H100_MIB, tp).mem_fraction_static == f


def test_sglang_046_and_047_big_gpu_rules_differ_on_h200():
    # 0.4.6: (gpu - 13 GiB) / gpu; 0.4.7: min(0.88 + 48 GiB x 0.12 / gpu, (gpu - 18 GiB) / gpu)
    assert _f("0.4.6", H200_MIB).mem_fraction_static == pytest.approx((H200_MIB - 13 * 1024) / H200_MIB)
    assert _f("0.4.7", H200_MIB).mem_fraction_static == pytest.approx(
        min(0.88 + 48 * 1024 * 0.12 / H200_MIB, (H200_MIB - 18 * 1024) / H200_MIB))


def test_sglang_048_to_052_reserve_by_tier_then_053_by_chunk_and_graphs():
    # PR #7054 (0.4.8): H100 tier reserves (9.5 + tp/2) GiB; PR #10975 (0.5.3): max(..., 10 GiB)
    assert _f("0.5.2", H100_MIB, 8).mem_fraction_static == round((H100_MIB - 13.5 * 1024) / H100_MIB, 3)
    assert _f("0.5.3", H100_MIB, 8).mem_fraction_static == _f(None, H100_MIB, 8).mem_fraction_static


def test_no_version_is_the_newest_modelled_and_labelled_as_before():
    m = _f(None, H200_MIB, 8)
    assert m.version == "0.5.5" and _f("0.5.5", H200_MIB, 8).max_total_num_tokens == m.max_total_num_tokens


def test_the_request_pool_had_one_extra_row_before_047():
    v3 = get_model("deepseek-v3")

    def reqs(version):
        s = Settings(precision="fp8", runtime_version=version)
        return sglang_memory(v3, s, SglangOptions(tp=8, mem_fraction_static=0.9), H200_MIB * MiB).req_pool_reqs
    assert reqs("0.4.6") == reqs("0.4.7") + 1


def test_a_release_older_than_modelled_is_refused():
    from deepseek_probe.runtimes.base import EstimateInputError
    with pytest.raises(EstimateInputError):
        _f("0.3.6", H100_MIB)


def test_release_versions_bring_the_kv_token_error_down():
    med_new, worst_new, _, _ = replay_mod.summary(with_version=False)
    med_v, worst_v, agree, n = replay_mod.summary(with_version=True)
    assert agree == n and med_v <= med_new and worst_v < worst_new
