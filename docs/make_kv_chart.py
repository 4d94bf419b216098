"""Draw docs/kv-vs-context.png: what the 2026 attention buys. KV cache of one sequence against
context for DeepSeek-V3 (MLA latent), V3.2 (MLA + lightning-indexer keys) and V4-Flash / V4-Pro
(sliding window + compressed sparse + heavily compressed layers), in vLLM with an fp8 cache and
with a bf16 cache, from deepseek_probe/runtimes/kvcache.py (derived from vLLM's source, not measured).

    .venv/bin/pip install matplotlib && .venv/bin/python docs/make_kv_chart.py
"""

from __future__ import annotations

import os
import sys
from typing import List, Tuple

DOCS_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(DOCS_DIR))
MODELS = ("deepseek-v3", "deepseek-v3.2", "deepseek-v4-flash", "deepseek-v4-pro")
DTYPES = ("fp8", "bf16")
GIB = 2**30


def contexts(max_context: int) -> List[int]:
    out, t = [], 4096
    while t <= max_context:
        out.append(t)
        t *= 2
    if out[-1] != max_context:
        out.append(max_context)
    return out


def points(kv_dtype: str) -> List[Tuple[str, List[int], List[int]]]:
    from deepseek_probe import profiles
    from deepseek_probe.runtimes import kvcache

    out = []
    for mid in MODELS:
        spec = profiles.get_model(mid)
        xs = contexts(spec.max_context)
        out.append((mid, xs, [kvcache.kv_cache_bytes(spec, t, 1, kv_dtype, "vllm") for t in xs]))
    return out


def render_data_csv() -> str:
    lines = ["model,kv_dtype,context,kv_bytes_one_sequence"]
    for dt in DTYPES:
        for mid, xs, ys in points(dt):
            lines += [f"{mid},{dt},{t},{b}" for t, b in zip(xs, ys)]
    return "\n".join(lines) + "\n"


def main() -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5.5), sharey=True)
    for ax, dt in zip(axes, DTYPES):
        for mid, xs, ys in points(dt):
            ax.plot(xs, [y / GIB for y in ys], marker="o", markersize=3, label=mid)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(f"vLLM, KV cache {dt}: one sequence, all layers")
        ax.set_xlabel("context (tokens)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("KV cache (GiB)")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(os.path.join(DOCS_DIR, "kv-vs-context.png"), dpi=110)
    with open(os.path.join(DOCS_DIR, "kv-vs-context.csv"), "w", encoding="utf-8") as f:
        f.write(render_data_csv())
    print("wrote docs/kv-vs-context.png and .csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
