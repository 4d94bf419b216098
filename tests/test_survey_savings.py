"""The premises of the survey's savings (survey.py, fixes.py, estimate.py): each shortcut gives
what the computation it skips gives."""

from __future__ import annotations

import pytest

from deepseek_probe import estimate as est_mod
from deepseek_probe import profiles
from deepseek_probe.runtimes import llamacpp
from deepseek_probe.runtimes.base import Settings
from deepseek_probe.runtimes.llamacpp_alloc import LlamaCppOptions

GiB = 1 << 30
DEVICES = (24 * GiB, 80 * GiB, 141 * GiB)


@pytest.mark.parametrize("model", ["deepseek-r1-distill-qwen-7b", "deepseek-coder-33b",
                                   "deepseek-r1-distill-llama-70b", "deepseek-v2-lite", "deepseek-v3"])
@pytest.mark.parametrize("precision,context,tp", [("q4_k_m", 4096, 1), ("q8_0", 32768, 1), ("q2_k", 4096, 3)])
def test_llamacpp_from_flags_is_the_same_on_every_device(model, precision, context, tp):
    # estimate() keeps one answer for every device size where llama.cpp's account ignores it
    spec = profiles.get_model(model)
    s = Settings(runtime="llamacpp", precision=precision, kv_precision="fp16", context=context,
                 tensor_parallel=tp)
    assert not llamacpp.sized_by_device(s)
    alone = est_mod._estimate(spec, s, None).to_dict()
    for d in DEVICES:
        assert est_mod._estimate(spec, s, d).to_dict() == alone  # the uncached computation
        assert est_mod.estimate(spec, s, d).to_dict() == alone


def test_a_llamacpp_command_is_sized_by_its_device():
    # --fit of a launch command reads the device: no answer is shared across sizes
    spec = profiles.get_model("deepseek-r1-distill-llama-70b")
    s = Settings(runtime="llamacpp", precision="q4_k_m", kv_precision="fp16", context=4096,
                 runtime_options=LlamaCppOptions())
    assert llamacpp.sized_by_device(s)
    got = {d: est_mod.estimate(spec, s, d).to_dict() for d in DEVICES}
    for d in DEVICES:
        assert got[d] == est_mod._estimate(spec, s, d).to_dict()
    assert got[24 * GiB] != got[141 * GiB]
