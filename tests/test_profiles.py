"""The model catalog: parameter counts from the architecture, names, user configs, precisions."""

from __future__ import annotations

import glob
import json
import os

import pytest

from deepseek_probe.formats.hf_config import spec_from_file
from deepseek_probe import runtimes
from deepseek_probe import profiles
from deepseek_probe.errors import InputError
from deepseek_probe.estimate import EstimateInputError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Measured by building each model with random weights in transformers and counting
# (docs/reference/deepseek-models.md, last column). Not derived from our code.
MEASURED_PARAMS = {
    "deepseek-llm-7b": 6_910_365_696,
    "deepseek-llm-67b": 67_425_001_472,
    "deepseek-coder-6.7b": 6_740_512_768,
    "deepseek-coder-33b": 33_342_991_360,
    "deepseek-r1-distill-qwen-7b": 7_615_616_512,
    "deepseek-r1-distill-llama-8b": 8_030_261_248,
    "deepseek-r1-distill-qwen-14b": 14_770_033_664,
    "deepseek-r1-distill-llama-70b": 70_553_706_496,
    "deepseek-v2-lite": 15_706_484_224,
}


@pytest.mark.parametrize("model_id", sorted(MEASURED_PARAMS))
def test_parameter_count_matches_the_measured_count_to_the_parameter(model_id):
    assert profiles.get_model(model_id).params == MEASURED_PARAMS[model_id]


def _groundtruth_runs():
    for path in sorted(glob.glob(os.path.join(ROOT, "benchmarks", "groundtruth", "*.json"))):
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        for run in doc.get("runs", []):
            yield os.path.basename(path), run


@pytest.mark.parametrize("source,run", list(_groundtruth_runs()),
                         ids=lambda x: x if isinstance(x, str) else x["model"])
def test_parameter_count_matches_every_model_counted_on_the_gpu_host(source, run):
    # each groundtruth run counted sum(p.numel()) of the model it built
    assert profiles.get_model(run["model"]).params == run["params"]


def test_r1_0528_qwen3_8b_has_the_published_parameter_count_and_its_config_json():
    """DeepSeek-R1-0528-Qwen3-8B is Qwen3-8B post-trained: 8,190,735,360 parameters, the
    published safetensors total of that architecture (all BF16; index total_size 16,381,470,720 B,
    model card "8.19B"; fixtures/configs/README.md). q/k RMSNorms counted, no q/k/v bias."""
    spec = profiles.get_model("deepseek-r1-0528-qwen3-8b")
    assert spec.params == 8_190_735_360
    assert profiles.weight_bytes(spec, "bf16") == 16_381_470_720
    user = spec_from_file(os.path.join(ROOT, "fixtures", "configs", "deepseek-r1-0528-qwen3-8b.json"))
    assert user.architecture_key() == spec.architecture_key()
    assert user.max_context == spec.max_context == 32768 * 4  # YaRN factor 4 over 32768
    assert (spec.family, spec.kv_heads, spec.head_dim, spec.qkv_bias, spec.tie_embeddings) == ("qwen3", 8, 128,
                                                                                                False, False)


@pytest.mark.parametrize("model_id,public_billions,tolerance", [
    ("deepseek-r1-distill-qwen-1.5b", 1.78, 0.01),  # deepseek-models.md "≈1.78 B"
    ("deepseek-r1-distill-qwen-32b", 32.8, 0.1),  # "≈32.8 B"
    ("deepseek-v2", 236, 0.5),  # "236 B"
    ("deepseek-v3", 671, 0.5),  # "671 B"
])
def test_parameter_count_of_unmeasured_models_matches_the_public_figure(model_id, public_billions, tolerance):
    assert abs(profiles.get_model(model_id).params / 1e9 - public_billions) <= tolerance


def test_moe_active_parameters_match_the_published_figures():
    assert round(profiles.get_model("236b").active_params / 1e9) == 21  # "21 B active"
    assert 37 <= profiles.get_model("671b").active_params / 1e9 < 38  # "37 B active"


def test_v3_checkpoint_carries_a_14b_mtp_module_the_runtime_does_not_load():
    v3 = profiles.get_model("deepseek-v3")
    assert 13e9 < v3.mtp_params < 14.5e9  # "671 B + 14 B MTP module"
    assert v3.checkpoint_params == v3.params + v3.mtp_params


def test_dense_models_have_as_many_active_as_total_parameters():
    for spec in profiles.all_models():
        if not spec.is_moe:
            assert spec.active_params == spec.params


@pytest.mark.parametrize("alias,model_id", [
    ("7b", "deepseek-llm-7b"), ("33b", "deepseek-coder-33b"), ("67b", "deepseek-llm-67b"),
    ("70b", "deepseek-r1-distill-llama-70b"), ("236b", "deepseek-v2"), ("671b", "deepseek-v3"),
    ("16b", "deepseek-v2-lite"), ("deepseek-r1", "deepseek-v3"), ("R1", "deepseek-v3"),
    ("DeepSeek-V3", "deepseek-v3"), ("deepseek-ai/DeepSeek-R1-Distill-Llama-70B", "deepseek-r1-distill-llama-70b"),
    ("deepseek-coder-v2-lite-instruct", "deepseek-v2-lite"), ("deepseek-v2.5", "deepseek-v2"),
])
def test_every_alias_names_its_model_case_insensitively(alias, model_id):
    assert profiles.get_model(alias).id == model_id


def test_headline_profiles_are_7b_33b_70b_236b_and_all_resolve():
    assert profiles.HEADLINE == ("7b", "33b", "70b", "236b")
    assert [profiles.get_model(a).id for a in profiles.HEADLINE] == [
        "deepseek-llm-7b", "deepseek-coder-33b", "deepseek-r1-distill-llama-70b", "deepseek-v2"]


def test_every_model_of_the_reference_table_is_in_the_catalog():
    ids = {s.id for s in profiles.all_models()}
    assert ids >= {"deepseek-llm-7b", "deepseek-llm-67b", "deepseek-coder-1.3b", "deepseek-coder-6.7b",
                   "deepseek-coder-33b", "deepseek-r1-distill-qwen-1.5b", "deepseek-r1-distill-qwen-7b",
                   "deepseek-r1-distill-llama-8b", "deepseek-r1-distill-qwen-14b",
                   "deepseek-r1-distill-qwen-32b", "deepseek-r1-distill-llama-70b", "deepseek-v2-lite",
                   "deepseek-v2", "deepseek-v3"}


def test_no_name_points_at_two_models():
    seen = {}
    for spec in profiles.all_models():
        for name in (spec.id,) + spec.aliases:
            assert name.lower() not in seen, f"{name} used by {seen.get(name.lower())} and {spec.id}"
            seen[name.lower()] = spec.id


def test_unknown_model_is_bad_input_with_close_matches():
    with pytest.raises(profiles.UnknownModelError) as err:
        profiles.get_model("deepseek-llm-8b")
    assert isinstance(err.value, InputError)
    msg = str(err.value)
    assert "\n" not in msg and "deepseek-llm-7b" in msg


def test_unknown_model_with_nothing_close_points_to_the_models_command():
    with pytest.raises(profiles.UnknownModelError, match="deepseek-probe models"):
        profiles.get_model("zzzz")


def test_family_and_precision_fields_are_from_the_allowed_sets():
    for spec in profiles.all_models():
        assert spec.family in profiles.FAMILIES
        assert spec.native_precision in ("bf16", "fp8")
        assert spec.max_context > 0 and spec.head_dim > 0
    assert profiles.get_model("v3").native_precision == "fp8"


def test_qwen_distills_have_qkv_biases_and_llama_ones_do_not():
    assert profiles.get_model("deepseek-r1-distill-qwen-7b").qkv_bias
    assert not profiles.get_model("deepseek-r1-distill-llama-8b").qkv_bias


# -- a user's config.json ------------------------------------------------------------------------
V3_CONFIG = {  # DeepSeek-V3 config.json (public), the fields we read
    "model_type": "deepseek_v3", "hidden_size": 7168, "intermediate_size": 18432, "num_hidden_layers": 61,
    "num_attention_heads": 128, "num_key_value_heads": 128, "vocab_size": 129280,
    "max_position_embeddings": 163840, "kv_lora_rank": 512, "q_lora_rank": 1536, "qk_nope_head_dim": 128,
    "qk_rope_head_dim": 64, "v_head_dim": 128, "first_k_dense_replace": 3, "moe_intermediate_size": 2048,
    "n_routed_experts": 256, "n_shared_experts": 1, "num_experts_per_tok": 8, "num_nextn_predict_layers": 1,
    "tie_word_embeddings": False,
    "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                            "weight_block_size": [128, 128]},
}
LLAMA_70B_CONFIG = {  # DeepSeek-R1-Distill-Llama-70B config.json (public)
    "model_type": "llama", "hidden_size": 8192, "intermediate_size": 28672, "num_hidden_layers": 80,
    "num_attention_heads": 64, "num_key_value_heads": 8, "vocab_size": 128256,
    "max_position_embeddings": 131072, "tie_word_embeddings": False, "attention_bias": False,
}
QWEN_7B_CONFIG = {  # DeepSeek-R1-Distill-Qwen-7B config.json (public)
    "model_type": "qwen2", "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
    "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064,
    "max_position_embeddings": 131072, "tie_word_embeddings": False,
}
V2_LITE_CONFIG = {  # DeepSeek-V2-Lite config.json (public)
    "model_type": "deepseek_v2", "hidden_size": 2048, "intermediate_size": 10944, "num_hidden_layers": 27,
    "num_attention_heads": 16, "num_key_value_heads": 16, "vocab_size": 102400,
    "max_position_embeddings": 163840, "kv_lora_rank": 512, "q_lora_rank": None, "qk_nope_head_dim": 128,
    "qk_rope_head_dim": 64, "v_head_dim": 128, "first_k_dense_replace": 1, "moe_intermediate_size": 1408,
    "n_routed_experts": 64, "n_shared_experts": 2, "num_experts_per_tok": 6, "tie_word_embeddings": False,
}


def _write(tmp_path, cfg, name="config.json"):
    p = tmp_path / name
    p.write_text(json.dumps(cfg) if not isinstance(cfg, str) else cfg)
    return str(p)


@pytest.mark.parametrize("cfg,model_id", [
    (V3_CONFIG, "deepseek-v3"), (LLAMA_70B_CONFIG, "deepseek-r1-distill-llama-70b"),
    (QWEN_7B_CONFIG, "deepseek-r1-distill-qwen-7b"), (V2_LITE_CONFIG, "deepseek-v2-lite"),
])
def test_a_public_config_json_gives_the_same_model_as_the_catalog(tmp_path, cfg, model_id):
    spec = spec_from_file(_write(tmp_path, cfg))
    known = profiles.get_model(model_id)
    assert spec.params == known.params
    assert spec.active_params == known.active_params
    assert spec.native_precision == known.native_precision
    # same architecture: it borrows the catalog's simulated transformers table
    assert spec.transformers_activation == known.transformers_activation


def test_config_folder_is_accepted_as_well_as_the_file(tmp_path):
    _write(tmp_path, LLAMA_70B_CONFIG)
    assert spec_from_file(str(tmp_path)).params == MEASURED_PARAMS["deepseek-r1-distill-llama-70b"]


def test_tied_embeddings_count_the_embedding_once(tmp_path):
    untied = spec_from_file(_write(tmp_path, QWEN_7B_CONFIG, "a.json"))
    tied = spec_from_file(_write(tmp_path, {**QWEN_7B_CONFIG, "tie_word_embeddings": True}, "b.json"))
    assert untied.params - tied.params == 152064 * 3584


@pytest.mark.parametrize("content,fragment", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a JSON object"),
    (json.dumps({**LLAMA_70B_CONFIG, "model_type": "mistral"}), "not supported"),
    (json.dumps({k: v for k, v in LLAMA_70B_CONFIG.items() if k != "hidden_size"}), "hidden_size"),
    (json.dumps({**LLAMA_70B_CONFIG, "num_hidden_layers": "80"}), "num_hidden_layers"),
    (json.dumps({**LLAMA_70B_CONFIG, "num_key_value_heads": 7}), "num_key_value_heads"),
    (json.dumps({k: v for k, v in V2_LITE_CONFIG.items() if k != "kv_lora_rank"}), "kv_lora_rank"),
])
def test_a_bad_config_json_is_bad_input_with_one_line(tmp_path, content, fragment):
    with pytest.raises(InputError) as err:
        spec_from_file(_write(tmp_path, content))
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_a_missing_config_file_is_bad_input(tmp_path):
    with pytest.raises(profiles.ModelConfigError, match="cannot read"):
        spec_from_file(str(tmp_path / "nope.json"))


# -- precisions and runtimes -----------------------------------------------------------------------
def test_v3_native_fp8_checkpoint_is_about_one_byte_per_param_plus_block_scales():
    v3 = profiles.get_model("v3")
    fp8 = profiles.weight_bytes(v3, "fp8")
    bf16 = profiles.weight_bytes(v3, "bf16")
    scales = 4 * v3.linear_blocks_128x128  # one fp32 per 128x128 block
    assert 0.0002 * v3.params < scales < 0.0003 * v3.params  # ~4/16384 bytes per weight
    assert 0.50 < fp8 / bf16 < 0.52  # the bf16 conversion roughly doubles it


def test_int4_is_more_than_an_eighth_of_fp32_because_of_scales_and_16bit_embeddings():
    # guide claim 7: "INT4 uses 12.5 % of FP32 memory"
    for alias in ("7b", "70b"):
        spec = profiles.get_model(alias)
        ratio = profiles.weight_bytes(spec, "int4") / profiles.weight_bytes(spec, "fp32")
        assert ratio > 0.125
    small = profiles.get_model("7b")  # big vocabulary relative to its size: embeddings matter
    assert profiles.weight_bytes(small, "int4") / profiles.weight_bytes(small, "fp32") > 0.15


def test_gguf_sizes_follow_their_average_bits_per_weight():
    spec = profiles.get_model("8b")
    for name in ("q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_0", "q3_k_m", "q2_k"):
        bpw = profiles.weight_bytes(spec, name) * 8 / spec.params
        assert abs(bpw - profiles.PRECISIONS[name].bits) < 0.01
    sizes = [profiles.weight_bytes(spec, n) for n in ("q8_0", "q6_k", "q5_k_m", "q4_k_m", "q3_k_m", "q2_k")]
    assert sizes == sorted(sizes, reverse=True)


def test_every_precision_and_kv_precision_names_its_source():
    for p in profiles.PRECISIONS.values():
        assert p.source
    assert profiles.KV_PRECISIONS["q8_0"] == 34 / 32 and profiles.KV_PRECISIONS["q4_0"] == 18 / 32


@pytest.mark.parametrize("runtime,precision,kv", [
    ("transformers", "bf16", "bf16"), ("vllm", "bf16", "bf16"), ("llamacpp", "q4_k_m", "fp16")])
def test_default_settings_per_runtime(runtime, precision, kv):
    spec = profiles.get_model("8b")
    s = runtimes.default_settings(spec, runtime)
    assert (s.runtime, s.precision, s.kv_precision, s.concurrency, s.tensor_parallel) == (
        runtime, precision, kv, 1, 1)
    assert s.precision in runtimes.RUNTIMES[runtime].precisions
    assert s.kv_precision in runtimes.RUNTIMES[runtime].kv_precisions


def test_default_context_is_capped_at_the_model_maximum_and_vllm_takes_the_maximum():
    assert runtimes.default_settings(profiles.get_model("7b"), "vllm").context == 4096
    assert runtimes.default_settings(profiles.get_model("v3"), "vllm").context == 163840
    assert runtimes.default_settings(profiles.get_model("v3"), "transformers").context == 4096
    assert runtimes.default_settings(profiles.get_model("v3"), "transformers").precision == "fp8"


def test_default_settings_for_an_unknown_runtime_is_bad_input():
    with pytest.raises(EstimateInputError, match="unknown runtime"):
        runtimes.default_settings(profiles.get_model("7b"), "tgi")


def test_spec_serialises_to_plain_json():
    doc = profiles.get_model("v2-lite").to_dict()
    json.dumps(doc)
    assert doc["params"] == MEASURED_PARAMS["deepseek-v2-lite"] and "16b" in doc["aliases"]
