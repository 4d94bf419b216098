"""Decode tokens/s on a real GPU vs the estimator's bandwidth model (issue 7 calibration).

A batch-1 decode step must read every active weight once; at that size each matmul is a
matrix-vector product, bound by memory bandwidth. This script builds each model's real weight
shapes (from our catalog, random bf16), runs one decode step's worth of batch-1 matmuls —
attention projections, MLP (MoE: shared + the routed experts one token activates), LM head —
captured in ONE CUDA graph so launch overhead is gone, and times replays with CUDA events.
That is the bandwidth ceiling a graph-capturing runtime (vLLM, llama.cpp with CUDA graphs)
approaches; eager transformers is far below it (launch-bound: see decode_tok_s_per_seq in
benchmarks/groundtruth/*.json). Printed per model: measured tokens/s, achieved bandwidth,
efficiency vs NVML peak, and the estimator's low/mid/high at the same peak bandwidth.

    python3 benchmarks/decode_speed.py [--models 7b 33b ...] [--out FILE]

Needs torch with CUDA and nvidia-ml-py; the repository root is put on sys.path.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from deepseek_probe import profiles  # noqa: E402
from deepseek_probe.estimate import Settings, decode_tokens_per_s, estimate  # noqa: E402


def weight_shapes(spec):
    """(out, in) of every matrix one batch-1 decode step reads, in order."""
    h, shapes = spec.hidden, []
    for layer in range(spec.layers):
        if getattr(spec, "kv_lora_rank", None):  # MLA (DeepSeek-V2/V3): latent projections
            qk = spec.qk_nope_head_dim + spec.qk_rope_head_dim
            if spec.q_lora_rank:
                shapes += [(spec.q_lora_rank, h), (spec.heads * qk, spec.q_lora_rank)]
            else:
                shapes += [(spec.heads * qk, h)]
            shapes += [(spec.kv_lora_rank + spec.qk_rope_head_dim, h),
                       (spec.heads * (spec.qk_nope_head_dim + spec.v_head_dim), spec.kv_lora_rank),
                       (h, spec.heads * spec.v_head_dim)]
        else:
            hd = spec.head_dim
            shapes += [(spec.heads * hd, h), (spec.kv_heads * hd, h), (spec.kv_heads * hd, h),
                       (h, spec.heads * hd)]
        moe = spec.routed_experts and layer >= (spec.first_k_dense or 0)
        if moe:
            inter = spec.moe_intermediate
            experts = (spec.shared_experts or 0) + spec.experts_per_token
            shapes += [(spec.routed_experts, h)]  # router
            shapes += [(inter, h), (inter, h), (h, inter)] * experts
        else:
            shapes += [(spec.intermediate, h), (spec.intermediate, h), (h, spec.intermediate)]
    shapes.append((spec.vocab, h))  # LM head (the input embedding is a lookup: one row)
    return shapes


def measure(spec, torch, replays: int = 50):
    dev = "cuda"
    shapes = weight_shapes(spec)
    weights = [torch.empty(s, dtype=torch.bfloat16, device=dev).normal_(0, 0.02) for s in shapes]
    xs = [torch.randn(1, s[1], dtype=torch.bfloat16, device=dev) for s in shapes]
    outs = [torch.empty(1, s[0], dtype=torch.bfloat16, device=dev) for s in shapes]
    nbytes = sum(w.numel() * w.element_size() for w in weights)

    def step():
        for w, x, o in zip(weights, xs, outs):
            torch.matmul(x, w.t(), out=o)

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    for _ in range(5):
        graph.replay()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(replays):
        graph.replay()
    end.record()
    torch.cuda.synchronize()
    seconds = start.elapsed_time(end) / 1e3 / replays
    del weights, xs, outs, graph
    torch.cuda.empty_cache()
    return nbytes, seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["7b", "deepseek-r1-distill-llama-8b", "33b",
                                                     "deepseek-v2-lite"])
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import pynvml
    import torch

    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    name = pynvml.nvmlDeviceGetName(h)
    name = name.decode() if isinstance(name, bytes) else name
    # Peak DRAM bandwidth as our probe computes it: 2 x max memory clock x bus width.
    peak = 2 * pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_MEM) * 1e6 \
        * pynvml.nvmlDeviceGetMemoryBusWidth(h) / 8
    rows = []
    print(f"{name}: NVML peak bandwidth {peak / 1e12:.2f} TB/s")
    print(f"{'model':32} {'read/token':>11} {'tok/s':>8} {'GB/s':>8} {'eff':>5}  estimate low/mid/high")
    for model in args.models:
        spec = profiles.get_model(model)
        est = estimate(spec, Settings(precision="bf16", kv_precision="bf16", context=1, concurrency=1,
                                      runtime="vllm", tensor_parallel=1))
        try:
            nbytes, seconds = measure(spec, torch)
        except torch.OutOfMemoryError:
            print(f"{spec.id:32} out of memory")
            torch.cuda.empty_cache()
            continue
        predicted = decode_tokens_per_s(est, peak)
        row = {"model": spec.id, "gpu": name, "peak_bandwidth_bytes_per_s": peak,
               "bytes_read_per_token_measured": nbytes,
               "bytes_read_per_token_estimated": est.bytes_read_per_token,
               "tokens_per_s_measured": round(1 / seconds, 2),
               "achieved_bandwidth_bytes_per_s": nbytes / seconds,
               "efficiency_vs_peak": round(nbytes / seconds / peak, 3),
               "tokens_per_s_estimated": predicted}
        rows.append(row)
        print(f"{spec.id:32} {nbytes / 1e9:9.2f}GB {1 / seconds:8.1f} {nbytes / seconds / 1e9:8.0f}"
              f" {row['efficiency_vs_peak']:5.2f}  {predicted['low']:.0f} / {predicted['mid']:.0f} /"
              f" {predicted['high']:.0f}")
    doc = {"benchmark": "decode_speed", "torch": torch.__version__, "gpu": name,
           "method": "batch-1 matmuls over every active weight, one CUDA graph, CUDA-event timed",
           "rows": rows}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(doc, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
