"""Draw docs/memory-vs-context.png: per-GPU memory vs context for every model, bf16 and int4.

    .venv/bin/pip install matplotlib      # docs extra only, not a runtime dependency
    .venv/bin/python docs/make_chart.py

Transformers runtime, one GPU (tensor parallel 1), one sequence, KV cache bf16; the figures are
`deepseek-probe estimate --model M --precision P --context T` totals (margin excluded). Context runs
1K..128K tokens on a log scale and stops at each model's maximum. Dotted lines: the memory of one
GPU of each class in the requirement tables (its whole memory; `plan` also keeps a margin free).
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from typing import Any, List, Tuple

DOCS_DIR = os.path.dirname(os.path.abspath(__file__))
OUT_PATH = os.path.join(DOCS_DIR, "memory-vs-context.png")
# The numbers behind the chart: tests compare them with the estimator (no matplotlib needed), so a
# chart that no longer matches the code fails CI even though the PNG itself is not compared.
DATA_PATH = os.path.join(DOCS_DIR, "memory-vs-context.csv")
PRECISIONS = ("bf16", "int4")
MIN_CONTEXT, MAX_CONTEXT = 1024, 131072
GIB = 2**30


def contexts(max_context: int) -> List[int]:
    """Powers of two and their midpoints (x1.5) from 1K to 128K, up to the model's maximum."""
    out = []
    t = MIN_CONTEXT
    while t <= MAX_CONTEXT:
        out += [t, t * 3 // 2]
        t *= 2
    out = [c for c in out if c <= min(max_context, MAX_CONTEXT)]
    if max_context < MAX_CONTEXT and max_context not in out:
        out.append(max_context)
    return sorted(out)


def _short(name: str) -> str:
    return name.replace("GeForce ", "")


def points(precision: str) -> List[Tuple[Any, List[int], List[int]]]:
    """(model spec, contexts, per-GPU bytes) per catalog model at `precision`."""
    from deepseek_probe import profiles, runtimes
    from deepseek_probe.estimate import estimate

    out = []
    # the models of 2026 (V3.2's indexer, V4's compressed layers) have a chart of their own,
    # docs/kv-vs-context.png (docs/make_kv_chart.py)
    for spec in profiles.all_models(include_2026=False):
        base = replace(runtimes.default_settings(spec, "transformers"), precision=precision,
                       concurrency=1, tensor_parallel=1)
        xs = contexts(spec.max_context)
        out.append((spec, xs, [int(estimate(spec, replace(base, context=t)).per_device.total_bytes)
                               for t in xs]))
    return out


def render_data_csv() -> str:
    """The plotted points, one per line: model,precision,context,per_gpu_bytes."""
    lines = ["model,precision,context,per_gpu_bytes"]
    for precision in PRECISIONS:
        for spec, xs, ys in points(precision):
            lines += [f"{spec.id},{precision},{t},{b}" for t, b in zip(xs, ys)]
    return "\n".join(lines) + "\n"


def series(precision: str) -> List[Tuple[str, List[int], List[float], bool]]:
    """(legend label, contexts, GiB per GPU, is MoE) per catalog model."""
    return [(spec.id + (f" ({spec.aliases[0]})" if spec.aliases else ""), xs, [b / GIB for b in ys],
             spec.is_moe) for spec, xs, ys in points(precision)]


def main() -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    from deepseek_probe.requirements import class_gpus, GPU_CLASSES

    data = {p: series(p) for p in PRECISIONS}
    # Distinct colours for dense models; MoE models (dashed) reuse three of them.
    dense_colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                    "#7f7f7f", "#bcbd22", "#17becf", "#000000", "#aec7e8"]
    moe_colors = ["#2ca02c", "#d62728", "#1f77b4"]
    fig, axes = plt.subplots(1, 2, figsize=(14, 7.2), sharey=True)
    ticks = [1024 * 2**i for i in range(8)]
    y_min = min(min(s[2]) for p in PRECISIONS for s in data[p]) * 0.8
    y_max = max(max(s[2]) for p in PRECISIONS for s in data[p]) * 1.25
    classes = list(zip(GPU_CLASSES, class_gpus()))
    for ax, precision in zip(axes, PRECISIONS):
        for ((class_gb, _), g) in classes:
            gib_total = g.memory_bytes / GIB
            ax.axhline(gib_total, color="0.6", linestyle=":", linewidth=1.0, zorder=1)
            # label under the line for the 141 GB class so it clears the 192 GB label above it
            below = class_gb == 141
            ax.text(MIN_CONTEXT * 0.93, gib_total * (0.95 if below else 1.04),
                    f"one {_short(g.name)}", va="top" if below else "bottom", ha="left",
                    fontsize=7.5, color="0.4")
        dense = iter(dense_colors)
        moe = iter(moe_colors)
        for label, xs, ys, is_moe in data[precision]:
            color = next(moe) if is_moe else next(dense)
            ax.plot(xs, ys, color=color, linestyle=(0, (5, 2)) if is_moe else "-", linewidth=1.8,
                    marker="o", markersize=2.5, label=label + (" · MoE" if is_moe else ""), zorder=2)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlim(MIN_CONTEXT / 1.12, MAX_CONTEXT * 1.12)
        ax.set_ylim(y_min, y_max)
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{int(v) // 1024}K"))
        yt = [v for v in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
              if y_min <= v <= y_max]
        ax.yaxis.set_major_locator(FixedLocator(yt))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.grid(True, which="major", color="0.9", linewidth=0.8, zorder=0)
        ax.set_title(f"{precision} weights, KV cache bf16", fontsize=12)
        ax.set_xlabel("context (tokens, one sequence)")
    axes[0].set_ylabel("memory on one GPU (GiB, transformers, margin excluded)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=8.5, frameon=False)
    fig.suptitle("DeepSeek models: per-GPU memory vs context (deepseek-probe estimate, tensor parallel 1)",
                 fontsize=13)
    fig.tight_layout(rect=(0, 0.12, 1, 0.96))
    # No timestamp or software version in the file: the PNG changes only when the figures do.
    fig.savefig(OUT_PATH, dpi=110, metadata={"Software": None})
    with open(DATA_PATH, "w", encoding="utf-8") as f:
        f.write(render_data_csv())
    print(f"wrote {OUT_PATH} and {DATA_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
