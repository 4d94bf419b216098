"""2026 catalog rows (V3.1 .. V4): parameter counts, config.json parsing, cache by layer type."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest

from deepseek_probe.runtimes import kvcache
from deepseek_probe.formats.hf_config import spec_from_file as from_hf_config
from deepseek_probe.profiles import ModelConfigError, all_models, get_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "fixtures", "configs")
BENCH = os.path.join(ROOT, "benchmarks", "models2026")

# transformers 5.17 sum(p.numel()) of the model built on the meta device from each config.json
# (benchmarks/models2026/meta_param_counts.json; buffers such as tid2eid are not parameters)
with open(os.path.join(BENCH, "meta_param_counts.json"), encoding="utf-8") as f:
    BUILT = json.load(f)

# Published totals / actives (model cards): V3.2 685B checkpoint; V4-Flash 284B total, 13B active;
# V4-Pro 1.6T total (checkpoint incl. MTP), 49B active. Rounded figures: compared at their rounding.
PUBLISHED = {"deepseek-v3.2": ("checkpoint", 685e9, 0.5e9), "deepseek-v4-flash": ("params", 284e9, 0.5e9),
             "deepseek-v4-pro": ("checkpoint", 1.6e12, 0.05e12)}
PUBLISHED_ACTIVE = {"deepseek-v4-flash": (13e9, 1.0e9), "deepseek-v4-pro": (49e9, 1.0e9)}


CATALOG_BUILT = sorted(k for k in BUILT if k.startswith("deepseek"))


@pytest.mark.parametrize("name", CATALOG_BUILT)
def test_params_match_the_built_model(name):
    spec = get_model(name)
    assert abs(spec.params - BUILT[name]) <= 0.001 * BUILT[name]
    assert spec.verified == "measured"


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_params_match_the_published_figure(name):
    which, value, rounding = PUBLISHED[name]
    spec = get_model(name)
    got = spec.checkpoint_params if which == "checkpoint" else spec.params
    assert abs(got - value) <= rounding
    if name in PUBLISHED_ACTIVE:
        active, r = PUBLISHED_ACTIVE[name]
        assert abs(spec.active_params - active) <= r


@pytest.mark.parametrize("name", ["deepseek-v3.2", "deepseek-v4-flash", "deepseek-v4-pro"])
def test_from_hf_config_reads_the_published_config(name):
    spec = from_hf_config(os.path.join(CONFIGS, f"{name}.json"))
    cat = get_model(name)
    assert spec.architecture_key() == cat.architecture_key()
    assert spec.params == cat.params and spec.active_params == cat.active_params
    assert spec.compress_ratios == cat.compress_ratios and spec.index_topk == cat.index_topk


def test_v4_config_without_compress_ratios_is_a_one_line_error(tmp_path):
    cfg = json.load(open(os.path.join(CONFIGS, "deepseek-v4-flash.json")))
    del cfg["compress_ratios"]
    p = tmp_path / "config.json"
    p.write_text(json.dumps(cfg))
    with pytest.raises(ModelConfigError, match="compress_ratios"):
        from_hf_config(str(p))


def test_older_catalog_unchanged_and_new_rows_listed_after_it():
    old = all_models(include_2026=False)
    assert all(m.verified == "" for m in old)
    assert "compress_ratios" not in old[0].to_dict()
    ids = [m.id for m in all_models()]
    assert ids[:len(old)] == [m.id for m in old] and "deepseek-v4-flash" in ids


def test_v4_flash_layer_kinds():
    from deepseek_probe.profiles import arch2026
    kinds = arch2026.v4_layer_kinds(get_model("v4-flash"))
    assert kinds == {"sliding_attention": 2, "compressed_sparse_attention": 21, "heavily_compressed_attention": 20}


def test_v4_flash_1m_context_vllm_tp8_breakdown():
    """vLLM 0.33.0 groups (benchmarks/runtime_logs/vllm_v4_kv.md): every group page costs the
    widest group's block (21 x 37440 + 20 x 1728 + 21 x 8640 = 1,002,240 B); window and
    compressor-state groups hold min(window - 1 + 2 x 8192 in flight, T) tokens."""
    spec = get_model("deepseek-v4-flash")
    t = 1048576
    d = kvcache.kv_cache_breakdown(spec, t, 1, "fp8", "vllm", tensor_parallel=8)
    assert set(d) == {"v4_compressed_kv", "v4_sliding_window", "v4_csa_compressor_state", "v4_hca_compressor_state"}
    block = 21 * 37440 + 20 * 1728 + 21 * 8640
    assert d["v4_compressed_kv"] == (t // 256) * block
    assert d["v4_sliding_window"] == 2 * (-(-(127 + 16384) // 64) + 1) * block
    assert d["v4_csa_compressor_state"] == (-(-(7 + 16384) // 4) + 1) * block
    assert d["v4_hca_compressor_state"] == (-(-(127 + 16384) // 8) + 1) * block
    # replicated on every TP rank (one K=V head): the same as TP 1
    assert d == kvcache.kv_cache_breakdown(spec, t, 1, "fp8", "vllm", tensor_parallel=1)
    # doubling concurrency doubles every term; bf16 entries are larger than fp8
    d2 = kvcache.kv_cache_breakdown(spec, t, 2, "fp8", "vllm", 8)
    assert all(d2[k] == 2 * d[k] for k in d)
    assert kvcache.kv_cache_bytes(spec, t, 1, "bf16", "vllm") > kvcache.kv_cache_bytes(spec, t, 1, "fp8", "vllm")


def test_v4_llamacpp_pads_compressed_cells():
    spec = get_model("deepseek-v4-flash")
    d = kvcache.kv_cache_breakdown(spec, 1000, 1, "fp16", "llamacpp")
    assert d["v4_hca_compressed"] == 20 * (256 * 512 * 2 + 2 * 128 * 512 * 4)


def test_v32_sparse_attention_per_runtime():
    spec = get_model("deepseek-v3.2")
    t = 4096
    vllm = kvcache.kv_cache_breakdown(spec, t, 1, "fp8", "vllm")
    assert vllm == {"mla_latent": 61 * t * 656, "indexer_keys": 61 * t * 132}
    lc = kvcache.kv_cache_breakdown(spec, t, 1, "fp16", "llamacpp")
    assert lc == {"mla_latent_no_v": 61 * t * 576 * 2, "indexer_keys": 61 * t * 128 * 2}


def test_bad_runtime_is_an_input_error():
    with pytest.raises(kvcache.KVCacheInputError):
        kvcache.kv_cache_breakdown(get_model("v4-flash"), 10, runtime="tgi")


def _measured_cases():
    for name in ("measure_transformers.json", "measure_transformers_pro_b2.json"):
        with open(os.path.join(BENCH, name), encoding="utf-8") as f:
            yield from _rows(json.load(f))


def _rows(doc):
    for case in doc["cases"]:
        cfg = case["config"]
        for row in case["rows"]:
            if "error" not in row:
                yield row["model"], cfg, row


@pytest.mark.parametrize("model,cfg,row", list(_measured_cases()),
                         ids=lambda v: f"{v['layers']}L-{v['context']}x{v['batch']}" if isinstance(v, dict) and "context" in v else None)
def test_transformers_cache_within_3pct_of_measured(model, cfg, row):
    """Built with the real widths but few layers: shrink the catalog spec to the measured shape."""
    spec = get_model(model)
    n = row["layers"]
    if spec.family == "deepseek_v4":
        spec = replace(spec, layers=n, compress_ratios=tuple(cfg["layer_types"] and
                       [{"sliding_attention": 0, "compressed_sparse_attention": 4,
                         "heavily_compressed_attention": 128}[k] for k in cfg["layer_types"]]))
    else:
        spec = replace(spec, layers=n, first_k_dense=1)
    predicted = kvcache.kv_cache_bytes(spec, row["context"], row["batch"], "bf16", "transformers")
    assert abs(predicted - row["cache_storage_bytes"]) <= 0.03 * row["cache_storage_bytes"]
    # the allocator's view agrees (first case of a run also holds cuBLAS workspace: skip it)
    if row["context"] > 600:
        assert abs(predicted - row["allocated_delta"]) <= 0.03 * row["allocated_delta"]


def test_deepseek_ocr_params_equal_the_checkpoint_and_image_kv():
    from deepseek_probe.profiles import arch2026
    spec = get_model("deepseek-ocr")
    # checkpoint model.safetensors.index.json total_size 6,672,212,480 B, all bf16 (fixtures/configs/README.md)
    assert spec.params == 6_672_212_480 // 2
    assert spec.vision_params == arch2026.deepseek_ocr_vision_params(1280)
    assert [arch2026.deepseek_ocr_image_tokens(s) for s in (512, 640, 1024, 1280)] == [73, 111, 273, 421]
    # MHA decoder: 2 (K,V) x 12 layers x 10 heads x 128 x 2 B per token, 273 tokens per Base image
    assert kvcache.kv_bytes_per_image(spec, 2) == 2 * 273 * 2 * 12 * 10 * 128 * 2
    spec2 = from_hf_config(os.path.join(CONFIGS, "deepseek-ocr.json"))
    assert spec2.params == spec.params and spec2.image_tokens == 273
    with pytest.raises(kvcache.KVCacheInputError):
        kvcache.kv_bytes_per_image(get_model("v4-flash"))


def test_v4_sglang_adds_compressor_states_to_the_compressed_entries():
    spec = get_model("deepseek-v4-flash")
    t = 65536
    s = kvcache.kv_cache_breakdown(spec, t, 1, "fp8", "sglang")
    assert s["v4_hca_compressed"] == 20 * ((t // 128) * 584 + 128 * 1024 * 4)
    assert s["v4_csa_indexer"] == 21 * ((t // 4) * 132 + 8 * 512 * 4)


@pytest.mark.parametrize("name,gib", [("deepseek-v4-flash", 148.65), ("deepseek-v4-pro", 805.32)])
def test_v4_native_weight_bytes_equal_the_published_safetensors(name, gib):
    """Tensor bytes of the published checkpoints (46 / 64 safetensors files, tensor total 148.65 /
    805.32 GiB, fixtures/configs/README.md): fp8 attention, MXFP4 experts, e8m0 scales."""
    from deepseek_probe.profiles import weight_bytes
    got = weight_bytes(get_model(name), "fp8", include_mtp=True) / 2**30
    assert abs(got - gib) <= 0.005 + 1e-9
    assert weight_bytes(get_model(name), "fp8") < weight_bytes(get_model(name), "fp8", include_mtp=True)


def test_qwen3_q_k_norms_counted_like_the_built_model():
    spec = from_hf_config(os.path.join(CONFIGS, "qwen3-widths-test.json"))
    assert spec.family == "qwen3" and spec.head_dim == 128
    assert spec.params == BUILT["qwen3-widths-test"]
    # the q/k norms are what separates it from the same widths read as a llama config
    assert spec.params - replace(spec, family="llama").params == 36 * 2 * 128


def test_v32_fp8_checkpoint_bytes_equal_the_published_safetensors():
    """DeepSeek-V3.2: 163 safetensors files, tensor total 642.12 GiB (fixtures/configs/README.md);
    the difference left is the norms the checkpoint keeps in fp32 (~30 MB)."""
    from deepseek_probe.profiles import weight_bytes
    got = weight_bytes(get_model("deepseek-v3.2"), "fp8", include_mtp=True) / 2**30
    assert abs(got - 642.12) / 642.12 < 0.0002


def test_v32_sglang_rounds_to_64_token_pages():
    spec = get_model("deepseek-v3.2")
    s = kvcache.kv_cache_breakdown(spec, 1000, 1, "fp8", "sglang")
    assert s == {"mla_latent": 61 * 1024 * 656, "indexer_keys": 61 * 1024 * 132}


def test_kv_chart_data_matches_the_cache_model():
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "make_kv_chart.py")
    spec = importlib.util.spec_from_file_location("make_kv_chart", path)
    chart = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(chart)
    with open(os.path.join(os.path.dirname(path), "kv-vs-context.csv"), encoding="utf-8") as f:
        assert f.read() == chart.render_data_csv(), "run: .venv/bin/python docs/make_kv_chart.py"


def test_v4_flash_at_1m_context_on_8_gpus_gives_a_per_gpu_kv_by_layer_type(capsys):
    import json

    from deepseek_probe import cli

    with pytest.raises(SystemExit):
        cli.main(["estimate", "--model", "deepseek-v4-flash", "--context", "1048576", "--runtime", "vllm",
                  "--tensor-parallel", "8", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    by_type = doc["notes"]["kv_cache_by_layer_type"]
    assert set(by_type) == {"v4_compressed_kv", "v4_sliding_window", "v4_csa_compressor_state",
                            "v4_hca_compressor_state"}
    assert sum(by_type.values()) == doc["per_device"]["kv_cache_bytes"]
    # at 1M tokens the compressed entries (4096 pages of 256 tokens) are as large as the C4
    # compressor-state reserve (4099 pages for 2 x 8192 tokens in flight); windows are smaller
    assert by_type["v4_compressed_kv"] > by_type["v4_hca_compressor_state"] > by_type["v4_sliding_window"]
    assert doc["notes"]["verification"] == "derived from source, not measured"
