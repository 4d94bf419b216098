"""Fine-tuning table rows and the guides' three training claims (deepseek_probe/training/tables.py)."""

from __future__ import annotations

from deepseek_probe.profiles import get_model
from deepseek_probe.training.accounting import training_memory
from deepseek_probe.training.tables import guide_claims, markdown, rows
from deepseek_probe.training.workload import make_workload


def test_rows_cover_methods_lengths_batches_and_are_reassessed():
    spec = get_model("8b")
    rs = rows([spec])
    assert {(r.method, r.seq_len, r.micro_batch) for r in rs} == {
        (m, s, b) for m in ("full", "lora", "qlora") for s in (2048, 8192) for b in (1, 8)}
    for r in rs:
        lora = dict(lora_rank=16, lora_targets=("all-linear",)) if r.method != "full" else {}
        w = make_workload(method=r.method, seq_len=r.seq_len, micro_batch=r.micro_batch, **lora)
        assert r.one_gpu_bytes == training_memory(spec, w).peak_bytes
        assert r.zero3_8_bytes < r.one_gpu_bytes
    assert markdown([spec]).count("\n") == len(rs) + 2


def test_guide_claims_are_checked_with_figures():
    c1, c2, c3 = guide_claims()
    assert "--strategy zero3" in c1.command and "GiB" in c1.ours
    assert c2.verdict.startswith("wrong") and "bytes per parameter" in c2.ours
    assert "16 bytes per parameter" in c3.ours and c3.verdict.startswith("wrong")
