"""gguf_recipe against the GGUFs llama-quantize (llama.cpp 0c1e570) really wrote on the H100 host
(benchmarks/llamacpp/results/gguf_types.json, dumped with gguf-py's GGUFReader)."""
import json
import os

import pytest

from deepseek_probe.profiles import get_model
from deepseek_probe.runtimes.gguf_recipe import RecipeError, gguf_tensors

_PATH = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "llamacpp", "results", "gguf_types.json")
_REAL = json.load(open(_PATH))


@pytest.mark.parametrize("fname", sorted(_REAL))
def test_every_tensor_type_and_size_matches_llama_quantize(fname):
    model, ftype = fname[: -len(".gguf")].rsplit(".", 1)
    mine = {t.name: (t.type, t.nbytes, list(t.shape)) for t in gguf_tensors(get_model(model), ftype)}
    real = {n: (ty, nb, sh) for n, ty, nb, sh in _REAL[fname]}
    assert mine == real


def test_unknown_ftype_is_an_input_error():
    with pytest.raises(RecipeError):
        gguf_tensors(get_model("deepseek-llm-7b"), "IQ9_Z")


def test_qwen3_q4_k_m_equals_the_size_llama_server_reports_for_a_qwen3_8b_gguf():
    """llama-server /v1/models says size 5021827072, n_params 8190735360 for Qwen3-8B-Q4_K_M.gguf
    (fixtures/configs/README.md); DeepSeek-R1-0528-Qwen3-8B has the same tensors (399, as the
    Qwen3-8B safetensors index)."""
    tensors = gguf_tensors(get_model("deepseek-r1-0528-qwen3-8b"), "Q4_K_M")
    assert len(tensors) == 399
    assert sum(t.n_elements for t in tensors) == 8_190_735_360
    assert sum(t.nbytes for t in tensors) == 5_021_827_072
    names = {t.name: t for t in tensors}
    assert names["blk.0.attn_q_norm.weight"].type == "F32" and names["blk.0.attn_k_norm.weight"].shape == (128,)
    assert "blk.0.attn_q.bias" not in names


def test_llama_cpp_allocation_is_modelled_for_qwen3():
    from deepseek_probe.runtimes import default_settings, llamacpp

    spec = get_model("deepseek-r1-0528-qwen3-8b")
    assert llamacpp.modelled(spec, default_settings(spec, "llamacpp"))
