"""llama.cpp's allocation (runtimes/llamacpp_alloc.py, llamacpp_graph.py) against llama-server
runs on an H100 (benchmarks/llamacpp/results/results.jsonl: every "CUDA0 ... buffer size" line the
server printed, and NVML used after one /completion, the process's peak), and the launch-command form of the issue: `estimate --model ID --precision q4_k_m
--format json -- llama-server -c N [flags]`."""

from __future__ import annotations

import json
import os

import pytest

from deepseek_probe import cli
from deepseek_probe.profiles import get_model
from deepseek_probe.runtimes import llamacpp_alloc as la
from deepseek_probe.runtimes.command import CommandError
from deepseek_probe.runtimes.llamacpp_cli import parse_command

RESULTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "benchmarks", "llamacpp", "results", "results.jsonl")
MiB = 2**20
H100_TOTAL = 81559 * MiB


def measured_cases():
    with open(RESULTS, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r for r in rows if r.get("loaded") and r.get("used_after_completion_mib")]


def _used_mib(row):
    before = row["used_before_mib"][0][0]
    return row["used_after_completion_mib"][0][0] - before


def _estimate_json(capsys, model, ftype, args):
    with pytest.raises(SystemExit) as exc:
        cli.main(["estimate", "--model", model, "--precision", ftype.lower(), "--gpu-memory",
                  str(H100_TOTAL / 2**30), "--format", "json", "--", "llama-server", *args])
    out, err = capsys.readouterr()
    assert (exc.value.code or 0) == 0, err
    return json.loads(out)


# Every buffer line the server printed (-v): the last of each kind (the first ones come from
# --fit's dry run). CUDA_Host compute is the pinned host share of the graph.
LOGGED_TERMS = {("CUDA0", "model"): "gpu_model", ("CUDA0", "KV"): "gpu_kv",
                ("CUDA0", "compute"): "gpu_compute", ("CUDA_Host", "compute"): "host_compute"}

# Named misses, kept visible (strict: they fail the day they pass). The dense partial-offload runs
# are replayed (runtimes/llamacpp_replay.py), deepseek2's quantized cache too
# (runtimes/llamacpp_replay_mla.py); deepseek2's partial offload is replayed exactly only in
# tests/test_llamacpp_mla.py.
TERM_MISSES = {
    ("v2-c16k-ngl10", "gpu_compute"): "deepseek2 partial offload stays on the closed form in the product "
    "(the op_offload copies among ggml-alloc's holes: -1 %); llamacpp_replay_mla replays it exactly "
    "(test_llamacpp_mla.py) but costs ~10 ms a placement, a dozen per survey",
}
TOTAL_MISSES: dict = {}


def _logged(row):
    out = {}
    for b in row["buffers"]:
        key = LOGGED_TERMS.get((b["buffer"], b["kind"]))
        if key:
            out[key] = b["mib"]
    return out


def _ours(row):
    spec = get_model(row["model"])
    m = la.llamacpp_memory(spec, row["ftype"], parse_command(["llama-server", *row["args"]], {}).options)
    return {"gpu_model": m.gpu_model_bytes[0] / MiB, "gpu_kv": m.gpu_kv_bytes[0] / MiB,
            "gpu_compute": m.gpu_compute_bytes[0] / MiB, "host_compute": m.host_compute_bytes / MiB}


def _term_cases():
    for row in measured_cases():
        for term in _logged(row):
            reason = TERM_MISSES.get((row["id"], term))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(row, term, id=f"{row['id']}-{term}", marks=marks)


@pytest.mark.parametrize("row,term", list(_term_cases()))
def test_every_logged_buffer_is_within_half_a_percent(row, term):
    logged, ours = _logged(row)[term], _ours(row)[term]
    # the log prints MiB with two decimals: allow its rounding on the small buffers
    assert abs(ours - logged) <= max(0.005 * logged, 0.01), f"{row['id']} {term}: ours {ours:.2f}, log {logged:.2f} MiB"


def _case(row):
    reason = TOTAL_MISSES.get(row["id"])
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(row, id=row["id"], marks=marks)


@pytest.mark.parametrize("row", [_case(r) for r in measured_cases()])
def test_every_measured_case_is_within_half_a_percent_of_nvml_used(capsys, row):
    doc = _estimate_json(capsys, row["model"], row["ftype"], row["args"])
    ours = doc["per_device"]["total_bytes"] / MiB
    used = _used_mib(row)
    assert abs(ours - used) <= 0.005 * used, f"{row['id']}: ours {ours:.0f} MiB, NVML {used} MiB"


def test_ngl_counts_the_output_layer_as_the_last_of_n_layer_plus_one():
    # llama-model.cpp i_gpu_start = n_layer + 1 - ngl; the q7-c32k-ngl14 log: "offloading output
    # layer to GPU", "offloading 13 repeating layers to GPU"
    q7 = get_model("deepseek-r1-distill-qwen-7b")
    m = la.llamacpp_memory(q7, "Q4_K_M", la.LlamaCppOptions(n_ctx=4096, n_gpu_layers=14))
    assert (m.gpu_layers, m.output_on_gpu) == (13, True)
    m = la.llamacpp_memory(q7, "Q4_K_M", la.LlamaCppOptions(n_ctx=4096, n_gpu_layers=q7.layers + 1))
    assert (m.gpu_layers, m.output_on_gpu) == (q7.layers, True)
    m = la.llamacpp_memory(q7, "Q4_K_M", la.LlamaCppOptions(n_ctx=4096, n_gpu_layers=0))
    assert (m.gpu_layers, m.output_on_gpu, m.gpu_kv_bytes[0]) == (0, False, 0)


def test_the_issue_examples_7b_at_128k():
    # issue 14: R1-Distill-Qwen-7B Q4_K_M -c 131072: the old estimate said 18.8 GiB, the GPU held 11.9
    m = la.llamacpp_memory(get_model("deepseek-r1-distill-qwen-7b"), "Q4_K_M", la.LlamaCppOptions(n_ctx=131072))
    assert 11.6 < m.gpu_total_bytes[0] / 2**30 < 12.2


def test_the_issue_example_32b_with_40_of_64_layers_on_the_gpu():
    # issue 14: R1-Distill-Qwen-32B Q4_K_M -c 16384 -ngl 40: the GPU held 14.6 GiB (team measurement)
    m = la.llamacpp_memory(get_model("deepseek-r1-distill-qwen-32b"), "Q4_K_M",
                           la.LlamaCppOptions(n_ctx=16384, n_gpu_layers=40))
    assert m.gpu_layers == 39 and m.output_on_gpu  # 39 repeating layers + the output layer
    assert abs(m.gpu_total_bytes[0] / 2**30 - 14.6) <= 0.03 * 14.6


def test_kv_grows_by_layers_x_kv_width_per_cell_and_mla_keeps_no_v():
    q7 = get_model("deepseek-r1-distill-qwen-7b")
    a = la.llamacpp_memory(q7, "Q4_K_M", la.LlamaCppOptions(n_ctx=4096))
    b = la.llamacpp_memory(q7, "Q4_K_M", la.LlamaCppOptions(n_ctx=8192))
    assert b.gpu_kv_bytes[0] - a.gpu_kv_bytes[0] == 4096 * q7.layers * 2 * q7.kv_heads * q7.head_dim * 2
    lite = get_model("deepseek-v2-lite")
    m = la.llamacpp_memory(lite, "Q4_K_M", la.LlamaCppOptions(n_ctx=4096))
    assert m.gpu_kv_bytes[0] == 4096 * lite.layers * (lite.kv_lora_rank + lite.qk_rope_head_dim) * 2


def test_context_is_padded_to_256_and_split_over_separate_slots():
    q7 = get_model("deepseek-r1-distill-qwen-7b")
    assert la.llamacpp_memory(q7, "Q4_K_M", la.LlamaCppOptions(n_ctx=1000)).n_ctx == 1024
    m = la.llamacpp_memory(q7, "Q4_K_M", la.LlamaCppOptions(n_ctx=8192, n_parallel=2))
    assert (m.n_seq, m.n_ctx_seq, m.n_ctx) == (2, 4096, 8192)


def test_flash_attention_off_costs_the_per_head_scores():
    q7 = get_model("deepseek-r1-distill-qwen-7b")
    on = la.llamacpp_memory(q7, "Q4_K_M", la.LlamaCppOptions(n_ctx=32768)).gpu_compute_bytes[0]
    off = la.llamacpp_memory(q7, "Q4_K_M", la.LlamaCppOptions(n_ctx=32768, flash_attn="off")).gpu_compute_bytes[0]
    assert off - on > q7.heads * 32768 * 512 * 4 * 0.9


def test_fit_shrinks_an_unset_context_before_moving_layers():
    q32 = get_model("deepseek-r1-distill-qwen-32b")
    free = [24 * 2**30]
    m = la.llamacpp_memory(q32, "Q4_K_M", la.LlamaCppOptions(), free)
    assert 4096 <= m.n_ctx < q32.max_context and m.gpu_layers == q32.layers
    assert m.gpu_total_bytes[0] + 1024 * MiB <= free[0]
    assert any("--fit: context" in n for n in m.notes)
    # a context set with -c is kept: layers move instead
    m = la.llamacpp_memory(q32, "Q4_K_M", la.LlamaCppOptions(n_ctx=65536), free)
    assert m.n_ctx == 65536 and m.gpu_layers < q32.layers


def test_an_mla_model_refuses_different_k_and_v_cache_types():
    lite = get_model("deepseek-v2-lite")
    msg = la.refusal(lite, la.LlamaCppOptions(cache_type_k="q8_0"))
    assert msg == "llama_init_from_model: model does not support different K (q8_0) and V (f16) cache types"
    assert la.refusal(lite, la.LlamaCppOptions(cache_type_k="q8_0", cache_type_v="q8_0")) is None
    q7 = get_model("deepseek-r1-distill-qwen-7b")
    assert "requires flash_attn" in la.refusal(q7, la.LlamaCppOptions(cache_type_v="q4_0", flash_attn="off"))


def test_a_refused_context_is_a_failed_check(capsys):
    snap = os.path.join(os.path.dirname(RESULTS), "..", "..", "..", "fixtures", "snapshots", "h100.json")
    with pytest.raises(SystemExit) as exc:
        cli.main(["check", "--snapshot", snap, "--model", "deepseek-v2-lite", "--format", "json", "--",
                  "llama-server", "-c", "8192", "-ctk", "q8_0"])
    doc = json.loads(capsys.readouterr().out)
    checks = {f["check"]: f for f in doc["profiles"][0]["findings"]}
    assert exc.value.code == 2 and checks["llamacpp.context"]["level"] == "fail"
    assert "does not support different K" in checks["llamacpp.context"]["message"]


def test_parser_reads_llama_server_flags_and_sorts_the_rest():
    cmd = parse_command(["/opt/bin/llama-server", "-m", "m-Q4_K_M.gguf", "-c", "16384", "-ngl", "40", "-fa", "on",
                         "-ctk", "q8_0", "-ctv", "q8_0", "-np", "2", "--port", "8080", "-ot", "exps=CPU",
                         "--jinja"], {})
    o = cmd.options
    assert (o.n_ctx, o.n_gpu_layers, o.flash_attn, o.cache_type_k, o.n_parallel) == (16384, 40, "on", "q8_0", 2)
    assert cmd.model_ref == "m-Q4_K_M.gguf" and cmd.generic == {"context": 8192, "concurrency": 2, "kv_precision": "q8_0"}
    assert cmd.not_modelled == ("-ot exps=CPU",) and "--port 8080" in cmd.ignored and "--jinja" in cmd.ignored


@pytest.mark.parametrize("argv", [["llama-server", "-c"], ["llama-server", "-c", "lots"], ["llama-server", "-np", "0"],
                                  ["llama-server", "-fa", "maybe"], ["llama-server", "-ctk", "q9"],
                                  ["llama-server", "stray"], ["llama-server", "-c", "-5"]])
def test_malformed_llama_server_commands_are_one_line_errors(argv):
    with pytest.raises(CommandError) as e:
        parse_command(argv, {})
    assert "\n" not in str(e.value)


def _graph_lines():
    """Each log's last "sched_reserve: graph (pp bs=N, ...): nodes = X / X, splits = Y / Z" line
    (printed when the graph has more than one split)."""
    import re
    import tarfile
    out = {}
    with tarfile.open(os.path.join(os.path.dirname(RESULTS), "logs.tgz")) as tf:
        for m in tf.getmembers():
            if m.name.startswith("logs/") and m.name.endswith(".log"):
                text = tf.extractfile(m).read().decode("utf-8", "replace")
                found = re.findall(r"graph \(pp bs=\d+, tg bs=\d+\): nodes = (\d+) / \d+, splits = (\d+) /", text)
                if found:
                    out[m.name[5:-4]] = tuple(int(x) for x in found[-1])
    return out


def _replayable(row):
    spec = get_model(row["model"])
    o = parse_command(["llama-server", *row["args"]], {}).options
    return not spec.is_mla and o.flash_attn != "off" and o.cache_type_k == o.cache_type_v == "f16"


def placement(row):
    """(spec, options, slots, unified, cells per slot, first GPU layer, output device) of a run,
    as llamacpp_memory places it on one GPU."""
    spec = get_model(row["model"])
    o = parse_command(["llama-server", *row["args"]], {}).options
    n_seq, unified = la._slots(o)
    _, per_seq = la._cells(o.n_ctx or spec.max_context, n_seq, unified)
    ngl = spec.layers + 1 if o.n_gpu_layers < 0 else min(o.n_gpu_layers, spec.layers + 1)
    first, _, out_dev = la._layer_ranges(spec.layers, ngl, (1.0,))
    return spec, o, n_seq, unified, per_seq, first, out_dev


def _replay(row, full=False):
    from deepseek_probe.runtimes import llamacpp_replay as rp
    spec, o, n_seq, unified, per_seq, first, out_dev = placement(row)
    sums = la._tensor_sums(spec, row["ftype"])
    return rp.replay(rp.DenseGraph(
        spec.hidden, spec.heads, spec.kv_heads, spec.head_dim, spec.intermediate, spec.vocab, spec.layers,
        bool(spec.qkv_bias), min(o.n_ubatch, o.n_batch), n_seq, per_seq, 1 if unified else n_seq, first,
        out_dev is None, tuple(tuple(w.get(k, 0) for k in rp.WEIGHT_NAMES) for w in sums.layer_weights),
        sums.output_weights), full=full)


@pytest.mark.parametrize("row", [pytest.param(r, id=r["id"]) for r in measured_cases() if _replayable(r)])
def test_the_replayed_allocator_gives_every_dense_runs_cuda_compute_buffer(row):
    # full offload included: there the closed form is used, and the replay must agree with the log too
    logged = _logged(row)["gpu_compute"]
    ours = _replay(row).cuda_compute_bytes / MiB
    assert abs(ours - logged) <= max(0.005 * logged, 0.01), f"{row['id']}: replay {ours:.2f}, log {logged:.2f} MiB"


def test_the_replayed_graph_has_the_logged_nodes_and_splits():
    lines = _graph_lines()
    rows = [r for r in measured_cases() if r["id"] in lines and _replayable(r)]
    assert len(rows) >= 4  # the dense partial-offload runs
    for row in rows:
        r = _replay(row, full=True)
        assert (r.nodes, r.splits) == lines[row["id"]], row["id"]


def test_fit_confirms_its_layer_count_with_the_replayed_compute_buffer():
    q32 = get_model("deepseek-r1-distill-qwen-32b")
    free = [16 * 2**30]
    m = la.llamacpp_memory(q32, "Q4_K_M", la.LlamaCppOptions(n_ctx=16384), free)
    assert 0 < m.gpu_layers < q32.layers
    assert m.gpu_total_bytes[0] + 1024 * MiB <= free[0]
    assert not any("without the allocator's holes" in n for n in m.notes)


@pytest.mark.parametrize("model,ftype", [("deepseek-r1-distill-qwen-7b", "Q4_K_M"), ("deepseek-llm-7b", "Q8_0"),
                                         ("deepseek-r1-distill-llama-8b", "Q4_K_M")])
def test_the_shortened_replay_gives_the_full_replays_buffers(model, ftype):
    # shortened() drops third and later repetitions of identical layers; the buffers must not move
    from deepseek_probe.runtimes import llamacpp_replay as rp
    spec = get_model(model)
    sums = la._tensor_sums(spec, ftype)
    weights = tuple(tuple(w.get(k, 0) for k in rp.WEIGHT_NAMES) for w in sums.layer_weights)
    for ngl in (1, spec.layers // 3, spec.layers // 2 + 1, spec.layers - 1, spec.layers + 1):
        first, _, out_dev = la._layer_ranges(spec.layers, ngl, (1.0,))
        g = rp.DenseGraph(spec.hidden, spec.heads, spec.kv_heads, spec.head_dim, spec.intermediate, spec.vocab,
                          spec.layers, bool(spec.qkv_bias), 512, 4, 8192, 1, first, out_dev is None, weights,
                          sums.output_weights)
        full, short = rp.replay(g, full=True), rp.replay(g)
        assert short.nodes < full.nodes
        assert (short.cuda_compute_bytes, short.host_compute_bytes) == (full.cuda_compute_bytes, full.host_compute_bytes)
