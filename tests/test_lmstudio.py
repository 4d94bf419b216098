"""LM Studio layer: values from lms@07b7252 (load.ts) and lmstudio-js@6ec11db (schema.ts)."""

import pytest

from deepseek_probe.runtimes import lmstudio as lm
from deepseek_probe.runtimes.command import CommandError


def test_load_with_context_gpu_ratio_and_parallel():
    p = lm.parse_command(["lms", "load", "deepseek-r1-distill-qwen-32b", "--gpu", "0.5",
                          "--context-length=16384", "--parallel", "2", "--ttl", "600"], {})
    assert p.runtime == "lmstudio" and p.model_ref == "deepseek-r1-distill-qwen-32b"
    assert p.options.gpu_ratio == 0.5 and p.options.context_length == 16384
    assert p.options.parallel == 2 and "--ttl 600" in p.ignored
    # unified KV: two predictions share one 16K context
    assert p.generic == {"context": 16384, "concurrency": 1}


@pytest.mark.parametrize("raw,ratio", [("max", 1.0), ("OFF", 0.0), (" 0.25 ", 0.25), ("1", 1.0),
                                       ("0", 0.0)])
def test_gpu_ratio_words_and_numbers(raw, ratio):
    assert lm.parse_gpu_ratio(raw) == ratio


@pytest.mark.parametrize("argv", [
    [], ["lms"], ["ollama", "run", "x"], ["lms", "get", "x"], ["lms", "load"],
    ["lms", "load", "x", "--gpu", "1.5"], ["lms", "load", "x", "--gpu", "half"],
    ["lms", "load", "x", "-c", "0"], ["lms", "load", "x", "-c", "4096.5"],
    ["lms", "load", "x", "--context-length"], ["lms", "load", "x", "--flash-attention"],
    ["lms", "load", "x", "y"], ["lms", "server", "start", "x"], ["lms", "server", "stop"],
])
def test_malformed_commands_give_one_line_errors(argv):
    with pytest.raises(CommandError) as e:
        lm.parse_command(argv, {})
    assert "\n" not in str(e.value)


def test_server_start_loads_nothing():
    p = lm.parse_command(["lms", "server", "start", "--port", "1234", "--cors"], {})
    assert p.model_ref is None and p.options == lm.LMStudioOptions()
    assert any("JIT" in n for n in p.notes)


def test_defaults_without_flags_follow_the_schema():
    p = lm.parse_command(["lms", "load", "qwen"], {})
    s = lm.to_llamacpp_settings(p.options, n_layers=65)
    assert (s["n_ctx"], s["n_parallel"], s["kv_unified"]) == (2048, 4, True)
    assert (s["n_batch"], s["n_ubatch"]) == (2048, 512)
    assert s["flash_attn"] == "auto" and s["cache_type_k"] == s["cache_type_v"] == "f16"
    assert s["n_gpu_layers"] is None and s["fit"] == "on"
    assert "context" not in p.generic


def test_separate_kv_caches_multiply_the_context():
    s = lm.to_llamacpp_settings(lm.LMStudioOptions(context_length=8192, parallel=3,
                                                   unified_kv=False))
    assert s["n_ctx"] == 3 * 8192


@pytest.mark.parametrize("ratio,layers,ngl", [(0.0, 65, 0), (1.0, 65, 65), (0.5, 65, 33),
                                              (0.5, 64, 32), (0.01, 65, 1), (0.001, 65, 0)])
def test_offload_ratio_to_layers(ratio, layers, ngl):
    assert lm.offload_ratio_to_layers(ratio, layers) == ngl


def test_gpu_off_and_max_without_layer_count():
    assert lm.to_llamacpp_settings(lm.LMStudioOptions(gpu_ratio=0.0))["n_gpu_layers"] == 0
    assert lm.to_llamacpp_settings(lm.LMStudioOptions(gpu_ratio=1.0))["n_gpu_layers"] == -1
    assert lm.to_llamacpp_settings(lm.LMStudioOptions(gpu_ratio=0.4))["n_gpu_layers"] is None


def test_explicit_flash_attention_setting():
    assert lm.to_llamacpp_settings(lm.LMStudioOptions(flash_attention=False))["flash_attn"] == "off"
    assert lm.to_llamacpp_settings(lm.LMStudioOptions(flash_attention=True))["flash_attn"] == "on"
