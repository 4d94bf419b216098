"""The fine-tuning accounting against real Trainer runs (benchmarks/training/results.jsonl,
measured by benchmarks/training/run_cases.py: NVML peak used minus NVML used before the process).

Constants were fitted on the "cal" cases only (benchmarks/training/fit.py); the "val" cases were
held out before any fit (every third case) and are what the error bound is asserted on."""

from __future__ import annotations

import importlib.util
import json
import os

import pytest

from deepseek_probe.profiles import get_model
from deepseek_probe.training.accounting import training_memory

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(os.path.dirname(HERE), "benchmarks", "training")
RESULTS = os.path.join(BENCH, "results.jsonl")
VAL_BOUND = 0.15  # |predicted - measured| / measured on every held-out case that ran

pytestmark = pytest.mark.skipif(not os.path.exists(RESULTS), reason="no committed measurements yet")


def _rows():
    return [json.loads(x) for x in open(RESULTS) if x.strip()]


def _workload(row):
    spec = importlib.util.spec_from_file_location("fit", os.path.join(BENCH, "fit.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.workload(row)


def test_split_was_fixed_up_front():
    rows = _rows()
    for r in rows:
        assert r["split"] == ("val" if int(r["id"][1:]) % 3 == 2 else "cal")


def test_trainable_parameter_counts_are_exact():
    for r in _rows():
        if r.get("trainable") is None:
            continue
        m = training_memory(get_model(r["model"]), _workload(r))
        assert m.trainable_params == r["trainable"], r["id"]


def test_held_out_cases_within_bound():
    val = [r for r in _rows() if r["split"] == "val" and r["outcome"] == "ok"]
    assert len(val) >= 5
    for r in val:
        pred = training_memory(get_model(r["model"]), _workload(r)).peak_bytes
        err = (pred - r["nvml_peak_used"]) / r["nvml_peak_used"]
        assert abs(err) <= VAL_BOUND, (r["id"], round(err, 3))


def test_ooms_are_predicted():
    for r in _rows():
        if r["outcome"] == "oom":
            pred = training_memory(get_model(r["model"]), _workload(r)).peak_bytes
            assert pred > r["gpu_total"], r["id"]
