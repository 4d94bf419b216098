"""Fit the two constants of deepseek_probe/training/calibration.py on the calibration cases and
print the measured-vs-predicted table for all cases (benchmarks/training/README.md).

Usage: python3 benchmarks/training/fit.py [results.jsonl] [--markdown]

Fitted on "cal" cases only (run_cases.py fixed the split before any fit):
- NON_TORCH_BYTES: median over successful cal cases of NVML peak - torch max_memory_reserved;
- ALLOCATOR_FRAGMENTATION: median over successful cal cases of (max_reserved - max_allocated) /
  (max_allocated - allocated at a step end), the bytes that come and go each step.
The "val" rows are the validation: the accounting never saw them.
"""

from __future__ import annotations

import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from deepseek_probe.profiles import get_model  # noqa: E402
from deepseek_probe.training.accounting import training_memory  # noqa: E402
from deepseek_probe.training.workload import make_workload  # noqa: E402

# the case's `optim` ("" = Trainer default), or what the run recorded (str(TrainingArguments.optim))
OPTIM = {"": "adamw", "adafactor": "adafactor", "adamw_bnb_8bit": "adamw_8bit", "sgd": "sgd",
         "paged_adamw_8bit": "paged_adamw_8bit", "OptimizerNames.ADAMW_TORCH_FUSED": "adamw",
         "OptimizerNames.ADAFACTOR": "adafactor", "OptimizerNames.ADAMW_BNB": "adamw_8bit",
         "OptimizerNames.SGD": "sgd", "OptimizerNames.PAGED_ADAMW_8BIT": "paged_adamw_8bit"}
GiB = 1 << 30


def workload(r: dict):
    kw = {}
    if r["method"] != "full":
        kw = dict(lora_rank=r["rank"], lora_targets=("all-linear",) if r["targets"] == "all-linear"
                  else tuple(r["targets"].split(",")))
    return make_workload(method=r["method"], micro_batch=r["batch"], seq_len=r["seq"],
                         gradient_checkpointing=bool(r["gc"]), load_precision=r["load"],
                         optimizer=OPTIM[r.get("optim", "")], attention=r["attn"], **kw)


def load(path: str) -> list:
    return [json.loads(x) for x in open(path) if x.strip()]


def fit(rows: list) -> dict:
    cal = [r for r in rows if r["split"] == "cal" and r["outcome"] == "ok"]
    non_torch = statistics.median(r["nvml_peak_used"] - r["max_reserved"] for r in cal)
    frag = statistics.median((r["max_reserved"] - r["max_allocated"]) / (r["max_allocated"] - r["steps"][-1]["alloc"])
                             for r in cal)
    return {"non_torch_bytes": int(non_torch), "fragmentation": round(frag, 4), "n_cal": len(cal)}


def table(rows: list, gpu_total: int) -> list:
    out = []
    for r in rows:
        spec = get_model(r["model"])
        m = training_memory(spec, workload(r))
        meas = r.get("nvml_peak_used")
        pred = m.peak_bytes
        pred_oom = pred > gpu_total
        err = (pred - meas) / meas if (meas and r["outcome"] == "ok") else None
        out.append(dict(id=r["id"], split=r["split"], model=r["model"], method=r["method"], load=r["load"],
                        batch=r["batch"], seq=r["seq"], gc=r["gc"], rank=r["rank"], targets=r["targets"],
                        optim=OPTIM[r.get("optim", "")], attn=r["attn"], outcome=r["outcome"],
                        measured=meas, predicted=pred, err=err, pred_oom=pred_oom,
                        trainable_meas=r.get("trainable"), trainable_pred=m.trainable_params,
                        max_alloc=r.get("max_allocated"), max_res=r.get("max_reserved")))
    return out


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    path = args[0] if args else os.path.join(HERE, "results.jsonl")
    rows = load(path)
    print(json.dumps(fit(rows)))
    total = max(r.get("gpu_total", 0) for r in rows)
    t = table(rows, total)
    print("| id | split | model | method | load | b | seq | gc | LoRA | optim | attn | outcome | NVML peak GiB "
          "| predicted GiB | error | trainable (measured / predicted) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for x in t:
        meas = f"{x['measured'] / GiB:.2f}" if x["measured"] is not None else "-"
        err = f"{100 * x['err']:+.1f} %" if x["err"] is not None else ("predicted OOM" if x["pred_oom"] else "-")
        lora = f"r{x['rank']} {x['targets']}" if x["method"] != "full" else "-"
        print(f"| {x['id']} | {x['split']} | {x['model'].replace('deepseek-', '')} | {x['method']} | {x['load']} | "
              f"{x['batch']} | {x['seq']} | {int(x['gc'])} | {lora} | {x['optim']} | {x['attn']} | {x['outcome']} | "
              f"{meas} | {x['predicted'] / GiB:.2f} | {err} | {x['trainable_meas']} / {x['trainable_pred']} |")
    for split in ("cal", "val"):
        errs = [abs(x["err"]) for x in t if x["split"] == split and x["err"] is not None]
        if errs:
            print(f"{split}: {len(errs)} ok cases, median |error| {100 * statistics.median(errs):.1f} %, "
                  f"max {100 * max(errs):.1f} %")


if __name__ == "__main__":
    main()
