"""deepseek2's reserve graph replayed (runtimes/llamacpp_replay_mla.py) against the DeepSeek-V2-Lite
llama-server runs (benchmarks/llamacpp/results/results.jsonl and logs.tgz, H100): every CUDA0
compute buffer, the logged node and split counts, and where the flash attention nodes fall."""

from __future__ import annotations

import os
import re
import tarfile

import pytest

from deepseek_probe.profiles import get_model
from deepseek_probe.runtimes import llamacpp_alloc as la
from deepseek_probe.runtimes import llamacpp_replay_mla as rm
from test_llamacpp_alloc import RESULTS, _graph_lines, _logged, measured_cases, placement

MiB = 2**20


def _graph(row, ub=None):
    spec, o, n_seq, unified, per_seq, first, out_dev = placement(row)
    n_moe_host = spec.layers if o.cpu_moe else max(min(o.n_cpu_moe, spec.layers), first)
    return la.mla_graph(spec, row["ftype"], la._cache_type(o.cache_type_k), ub or min(o.n_ubatch, o.n_batch),
                        n_seq, per_seq, 1 if unified else n_seq, first, n_moe_host, out_dev is None)


def _mla_rows():
    return [r for r in measured_cases() if get_model(r["model"]).is_mla and "off" not in r["args"]]


@pytest.mark.parametrize("row", [pytest.param(r, id=r["id"]) for r in _mla_rows()])
def test_the_mla_replay_gives_every_deepseek2_runs_cuda_compute_buffer(row):
    # full offload with an f16 cache included: there the closed form is used, and the replay
    # must agree with the log too
    logged = _logged(row)["gpu_compute"]
    ours = rm.replay(_graph(row)).cuda_compute_bytes / MiB
    assert abs(ours - logged) <= max(0.005 * logged, 0.01), f"{row['id']}: replay {ours:.2f}, log {logged:.2f} MiB"


def test_the_mla_rows_include_partial_offload_experts_on_the_host_and_a_quantized_cache():
    ids = {r["id"] for r in _mla_rows()}
    assert {"v2-c16k-ngl10", "v2-c16k-cpumoe", "v2-c16k-ncmoe10-ho", "v2-c32k-kvq8"} <= ids


def test_the_replayed_mla_graph_has_the_logged_nodes_and_splits():
    lines = _graph_lines()
    rows = [r for r in _mla_rows() if r["id"] in lines]
    assert len(rows) == 3  # -ngl 10, --cpu-moe, -ncmoe 10: the runs with more than one split
    for row in rows:
        r = rm.replay(_graph(row), full=True)
        assert (r.nodes, r.splits) == lines[row["id"]], row["id"]


def test_the_flash_attention_nodes_are_where_the_log_puts_them():
    # llama_graph_n_input_tensors: "attn_inp_kq_mask ... is used by node 'node_N' (FLASH_ATTN_EXT)"
    with tarfile.open(os.path.join(os.path.dirname(RESULTS), "logs.tgz")) as tf:
        text = tf.extractfile("logs/v2-c16k-ngl10.log").read().decode("utf-8", "replace")
    logged = sorted({int(n) for n in re.findall(r"attn_inp_kq_mask' .*? by node 'node_(\d+)' \(FLASH_ATTN_EXT\)", text)})
    row = next(r for r in _mla_rows() if r["id"] == "v2-c16k-ngl10")
    nodes, _, _ = rm._build(_graph(row, ub=4))  # the log names the nodes of the 4-token graph
    ours = [i for i, t in enumerate(nodes) if t.op == "FLASH_ATTN_EXT"]
    assert len(logged) == 27 and ours == logged


def test_graph_optimize_dependencies_are_what_the_quantized_cache_run_needs(monkeypatch):
    # without the CUDA backend's fusion dependencies (the weighted expert sum keeps the down
    # projection's output, so the mul is not in place) the q8_0 run comes out 4 % short
    row = next(r for r in _mla_rows() if r["id"] == "v2-c32k-kvq8")
    logged = _logged(row)["gpu_compute"]
    monkeypatch.setattr(rm, "_fuse", lambda graph, nodes, fusions: graph)
    ours = rm.replay(_graph(row)).cuda_compute_bytes / MiB
    assert logged - ours > 0.02 * logged


@pytest.mark.parametrize("model", ["deepseek-v2-lite", "deepseek-v2", "deepseek-v3"])
def test_the_shortened_mla_replay_gives_the_full_replays_buffers(model):
    spec = get_model(model)
    for cache in ("F16", "Q8_0"):
        for ngl, ncmoe in ((spec.layers + 1, 0), (spec.layers + 1, spec.layers // 2), (spec.layers // 3, 0),
                           (spec.layers - 1, 0), (5, 0), (2, 0)):
            first, _, out_dev = la._layer_ranges(spec.layers, ngl, (1.0,))
            g = la.mla_graph(spec, "Q4_K_M", cache, 512, 4, 4096, 1, first, max(first, ncmoe), out_dev is None)
            full, short = rm.replay(g, full=True), rm.replay(g)
            assert short.nodes < full.nodes
            assert short.cuda_compute_bytes == full.cuda_compute_bytes, (model, cache, ngl, ncmoe)

