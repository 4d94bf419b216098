"""Upgrade suggestions and `plan --model M`: every number we suggest is checked against the
estimator itself (a suggested context must fit, the next step must not)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from deepseek_probe import assess  # noqa: E402
from deepseek_probe import runtimes
from deepseek_probe import fixes as fixes_mod
from deepseek_probe import gpus, machines, plan, profiles, rules, speed
from deepseek_probe.estimate import estimate
from deepseek_probe.question import Flags, Question, question_for
from deepseek_probe.runtimes import RUNTIMES, llamacpp
from deepseek_probe.snapshot import Snapshot

SNAPSHOTS = Path(__file__).resolve().parent.parent / "fixtures" / "snapshots"
GIB = 2**30


def request(model: str, runtime: str = "transformers", **changes):
    spec = profiles.get_model(model)
    s = runtimes.default_settings(spec, runtime)
    return spec, replace(s, **changes) if changes else s


def need(spec, settings) -> int:
    return estimate(spec, settings).per_device.total_bytes


def tokens_per_s(spec, est, bw, gpu_layers=None, host_bw=speed.HOST_RAM_BANDWIDTH_BYTES_PER_S):
    """The speed model on est.tensor_parallel GPUs of bandwidth `bw`."""
    where = speed.Where([bw] * est.tensor_parallel, host_bw, gpu_layers)
    return speed.decode_tokens_per_s(spec, est, RUNTIMES[est.runtime], where)


@pytest.mark.parametrize("model,runtime,budget_gib,changes", [
    ("33b", "transformers", 70, {}), ("70b", "vllm", 140, {}), ("7b", "llamacpp", 6, {}),
    ("236b", "vllm", 126, {"precision": "int4", "tensor_parallel": 2}),
])
def test_the_max_context_that_fits_is_really_the_max(model, runtime, budget_gib, changes):
    spec, s = request(model, runtime, **changes)
    budget = budget_gib * GIB
    mc = plan.max_context_fitting(spec, s, budget)
    step = plan.CONTEXT_STEP_TOKENS
    assert mc > 0
    assert need(spec, replace(s, context=mc)) <= budget
    if mc + step <= spec.max_context:
        assert need(spec, replace(s, context=mc + step)) > budget
    else:
        assert mc == spec.max_context or mc + step > spec.max_context


def test_nothing_fits_when_the_weights_alone_are_too_big():
    spec, s = request("70b", precision="bf16")
    assert plan.max_context_fitting(spec, s, 40 * GIB) == 0


def test_max_concurrency_is_the_most_sequences_that_fit():
    spec, s = request("33b", "vllm", context=4096)
    budget = 75 * GIB
    n = plan.max_concurrency_fitting(spec, s, budget)
    assert n >= 1
    assert need(spec, replace(s, concurrency=n)) <= budget
    assert need(spec, replace(s, concurrency=n + 1)) > budget


def test_a_33b_at_16k_on_a_half_free_h100_gets_a_context_that_fits():
    """The user's question: what context can I run here? The suggestion must be a real answer."""
    spec, s = request("33b", context=16384)
    budget = 66 * GIB
    assert need(spec, s) > budget
    fixes = plan.vram_fixes(spec, s, budget, gpu_total_bytes=85520809984, gpu_name="NVIDIA H100 80GB HBM3", n_gpus=1)
    ctx = [f for f in fixes if f.kind == "context"]
    assert ctx, [f.text for f in fixes]
    mc = ctx[0].change["context"]
    assert re.search(r"max context that fits: [\d ]+ tokens", ctx[0].text)
    assert need(spec, replace(s, context=mc)) <= budget
    assert need(spec, replace(s, context=mc + plan.CONTEXT_STEP_TOKENS)) > budget


def test_the_lower_precision_suggested_is_the_best_one_that_fits():
    spec, s = request("70b", precision="bf16", context=4096)
    budget = 78 * GIB
    fixes = [f for f in plan.vram_fixes(spec, s, budget) if f.kind == "precision"]
    assert fixes
    chosen = fixes[0].change["precision"]
    assert need(spec, replace(s, precision=chosen)) <= budget
    order = RUNTIMES["transformers"].lower_precisions
    better = [p for p in order[:order.index(chosen)] if fixes_mod._BITS[p] < fixes_mod._BITS["bf16"]]
    for p in better:
        assert need(spec, replace(s, precision=p)) > budget


def test_vllm_gets_an_fp8_kv_cache_suggestion_when_that_alone_is_enough():
    spec, s = request("70b", "vllm", context=32768, precision="fp8")
    budget = need(spec, replace(s, kv_precision="fp8")) + GIB  # fits with fp8 KV ...
    assert need(spec, s) > budget  # ... but not with bf16 KV
    kinds = [f.kind for f in plan.vram_fixes(spec, s, budget)]
    assert kinds[0] == "kv_precision"


def test_70b_bf16_on_one_h100_needs_a_second_h100():
    spec, s = request("70b", precision="bf16", context=4096)
    h100 = gpus.get_gpu("h100-sxm")
    fixes = [f for f in plan.vram_fixes(spec, s, 78 * GIB, gpu_total_bytes=h100.memory_bytes,
                                        gpu_name="NVIDIA H100 80GB HBM3", n_gpus=1) if f.kind == "gpus"]
    assert "needs 2x H100 80GB HBM3" in fixes[0].text and "add 1x" in fixes[0].text
    usable = fixes_mod._usable_bytes(h100.memory_bytes, s)
    assert need(spec, replace(s, tensor_parallel=2)) <= usable < need(spec, s)


def test_the_vram_finding_says_how_much_more_memory_is_needed():
    s = Snapshot.load(str(SNAPSHOTS / "h100.json"))
    spec, settings = request("70b", precision="bf16", context=4096)
    vram = [f for f in assess.evaluate(s, spec, settings).findings if f.check == "gpu.vram"][0]
    short = vram.required - vram.measured
    assert f"+{short / GIB:.1f} GiB VRAM" in vram.suggestion


def test_llamacpp_offload_split_adds_up_and_is_slower_than_full_gpu():
    spec, s = request("70b", "llamacpp")
    h100 = gpus.get_gpu("h100-sxm")
    split = llamacpp.offload_split(spec, s, 22 * GIB)
    assert split.gpu_layers > 0 and split.cpu_layers > 0
    assert split.gpu_layers + split.cpu_layers == spec.layers
    assert split.gpu_bytes <= 22 * GIB
    est = estimate(spec, s)
    full = tokens_per_s(spec, est, h100.bandwidth_bytes_per_s)["mid"]
    part = tokens_per_s(spec, est, h100.bandwidth_bytes_per_s, gpu_layers=split.gpu_layers)["mid"]
    assert 0 < part < full


# --- plan --model M (no probing) --------------------------------------------------------------


@pytest.mark.parametrize("model,runtime", [("7b", "transformers"), ("70b", "vllm"), ("671b", "vllm"),
                                           ("236b", "llamacpp")])
def test_plan_gives_the_smallest_gpu_count_that_fits(model, runtime):
    """A row's count is what `check` on a node of those GPUs answers: it runs on `count` of them,
    and on no fewer."""
    spec, s = request(model, runtime)
    result = plan.hardware_plan(Question.of(spec, s))
    assert len(result.rows) == len(gpus.CATALOG)
    for row in result.rows:
        fewer = range(1, (row.count or plan.MAX_GPUS_PER_NODE + 1))
        for n in fewer:
            try:
                a = assess.assess(Question.of(spec, replace(s, tensor_parallel=n)), machines.catalog_node(row.gpu, n),
                                  verify_fixes=False)
            except Exception:  # a split the model cannot take
                continue
            assert a.fit != "gpu", (row.gpu.key, n)
        if row.count is not None:
            a = assess.assess(Question.of(spec, replace(s, tensor_parallel=row.count)),
                              machines.catalog_node(row.gpu, row.count), verify_fixes=False)
            assert a.fit == "gpu" and a.per_gpu_bytes == row.per_device_bytes


def test_7b_bf16_fits_one_h100_and_decodes_faster_on_faster_memory():
    spec, s = request("7b")
    rows = {r.gpu.key: r for r in plan.hardware_plan(Question.of(spec, s)).rows}
    assert rows["h100-sxm"].count == 1 and rows["h200"].count == 1
    assert rows["h200"].tokens_per_s["mid"] > rows["h100-sxm"].tokens_per_s["mid"] > rows["l40s"].tokens_per_s["mid"]


def test_671b_does_not_fit_on_eight_24gb_cards():
    spec, s = request("671b")
    rows = {r.gpu.key: r for r in plan.hardware_plan(Question.of(spec, s)).rows}
    assert rows["rtx-4090"].count is None
    assert rows["h200"].count is not None


def test_plan_json_has_one_entry_per_gpu():
    spec, s = request("33b")
    doc = plan.hardware_plan(Question.of(spec, s)).to_dict()
    assert doc["model"] == "deepseek-coder-33b" and len(doc["gpus"]) == len(gpus.CATALOG)
    assert all(g["source"] for g in doc["gpus"])


# --- the GPU catalog ----------------------------------------------------------------------------


def test_every_catalog_gpu_names_its_source_and_a_memory_class():
    for g in gpus.CATALOG:
        assert g.source and g.bandwidth_bytes_per_s > 0
        assert g.memory_class_gb in (24, 32, 40, 48, 80, 141, 192)
        assert abs(g.memory_bytes / 2**30 - g.memory_class_gb) < 15


def test_catalog_matches_the_names_nvml_reported_on_our_hosts():
    for name, key in (("census-h100.json", "h100-sxm"), ("census-h200.json", "h200")):
        import json

        with open(Path(__file__).resolve().parents[1] / "fixtures" / "census" / name, encoding="utf-8") as f:
            calls = json.load(f)["calls"]
        nvml_name = calls["gpu0.name"]["value"].strip("'")
        total = int(calls["gpu0.mem_v1_fields"]["value"].strip("()").split(",")[0])
        g = gpus.match_name(nvml_name)
        assert g is not None and g.key == key
        assert g.memory_bytes == total
        bus_bits = int(calls["gpu0.bus_width"]["value"])
        mem_mhz = int(calls["gpu0.max_mem_clock"]["value"])
        assert abs(2 * mem_mhz * 1e6 * bus_bits / 8 - g.bandwidth_bytes_per_s) / g.bandwidth_bytes_per_s < 0.05


def test_name_matching_keeps_close_names_apart():
    assert gpus.match_name("NVIDIA A100-SXM4-40GB").key == "a100-40gb"
    assert gpus.match_name("NVIDIA A100 80GB PCIe").key == "a100-80gb"
    assert gpus.match_name("NVIDIA L40S").key == "l40s"
    assert gpus.match_name("NVIDIA L4").key == "l4"
    assert gpus.match_name("NVIDIA A10").key == "a10"
    assert gpus.match_name("NVIDIA H100 PCIe").key == "h100-pcie"
    assert gpus.match_name("Tesla V100-SXM2-16GB") is None


def test_splitting_by_layers_does_not_make_decode_faster_but_vllm_tensor_parallel_does():
    bw = gpus.get_gpu("h100-sxm").bandwidth_bytes_per_s
    spec, s = request("70b", precision="int4", context=4096)
    one = tokens_per_s(spec, estimate(spec, s), bw)["mid"]
    two = tokens_per_s(spec, estimate(spec, replace(s, tensor_parallel=2)), bw)["mid"]
    assert two <= one * 1.1  # device_map runs GPU 0's layers, then GPU 1's
    for rt in ("vllm", "sglang"):  # both all-reduce each layer: both GPUs read their half at once
        spec, v = request("70b", rt, precision="int4", context=4096)
        one_v = tokens_per_s(spec, estimate(spec, v), bw)["mid"]
        two_v = tokens_per_s(spec, estimate(spec, replace(v, tensor_parallel=2)), bw)["mid"]
        assert two_v > one_v * 1.5


@pytest.mark.parametrize("model", [s.id for s in profiles.all_models()])
def test_fewest_gpus_is_the_row_the_whole_plan_picks(model):
    # survey._to_run asks plan.fewest_gpus, which stops early and skips nodes that cannot hold the
    # weights; it must pick what min((count, memory)) over every assessed row of the plan picks.
    spec = profiles.get_model(model)
    q = question_for(spec, "vllm", Flags(context=min(4096, spec.max_context)))
    everyone = [r for r in plan.hardware_plan(q).rows if r.count]
    # the reference: every GPU assessed, no weights bound
    assessed = [plan.plan_row(q, g) for g in gpus.CATALOG]
    assert [r.count for r in plan.hardware_plan(q).rows] == [r.count for r in assessed]
    # the premise of fewest_gpus' skip: a GPU holds at most its memory of the weights
    weights = plan._weights_bytes(estimate(spec, q.settings))
    assert all(r.count >= -(-weights // r.gpu.memory_bytes) for r in everyone)
    # and of its other skip: GPUs of one memory size that run it need as many
    by_memory = {}
    for r in everyone:
        by_memory.setdefault(r.gpu.memory_bytes, set()).add(r.count)
    assert all(len(counts) == 1 for counts in by_memory.values()), by_memory
    want = min(everyone, key=lambda r: (r.count, r.gpu.memory_bytes)) if everyone else None
    got = plan.fewest_gpus(q)
    assert (got and (got.gpu.name, got.count)) == (want and (want.gpu.name, want.count))


def test_a_catalog_node_is_built_once_and_planning_leaves_it_as_built():
    # catalog_node shares one Snapshot per (GPU, count): safe only while nothing that assesses on
    # it writes to it; plan the whole catalog for a dense and an MoE model, then compare
    for mid in ("deepseek-r1-distill-qwen-32b", "deepseek-v3"):
        plan.hardware_plan(question_for(profiles.get_model(mid), "vllm", Flags()))
    for g in gpus.CATALOG:
        node = machines.catalog_node(g, plan.MAX_GPUS_PER_NODE)
        assert node is machines.catalog_node(g, plan.MAX_GPUS_PER_NODE)
        assert node.to_dict() == machines._catalog_node(g, plan.MAX_GPUS_PER_NODE).to_dict(), g.key
