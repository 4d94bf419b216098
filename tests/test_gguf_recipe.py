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
