"""memo.py: the one cache of per-architecture answers, keyed by the spec's contents."""

from __future__ import annotations

from dataclasses import replace

from deepseek_probe import memo
from deepseek_probe.profiles import get_model, weight_bytes


def test_a_spec_with_the_same_name_but_other_fields_gets_its_own_answer():
    spec = get_model("deepseek-r1-0528-qwen3-8b")
    as_llama = replace(spec, family="llama")  # same id, no q/k norms: 36 x 2 x 128 fewer params
    assert as_llama.id == spec.id and hash(as_llama) != hash(spec)
    assert weight_bytes(spec, "bf16") - weight_bytes(as_llama, "bf16") == 2 * 36 * 2 * 128


def test_equal_specs_share_one_entry_and_the_spec_holds_no_table():
    spec = get_model("deepseek-v2-lite")
    memo.clear()
    first = weight_bytes(spec, "int4")
    twin = replace(spec)
    assert twin == spec and twin is not spec and hash(twin) == hash(spec)
    calls = []
    assert memo.memo("profiles.weight_bytes", (twin, "int4", False), lambda: calls.append(1)) == first
    assert calls == []
    assert not any(k.startswith("_") and isinstance(v, dict) and k != "_counts" for k, v in vars(spec).items())
