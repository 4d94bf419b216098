"""Ollama layer: expected values are worked out by hand from ollama v0.33.0-rc2 (fb30760)."""

import pytest

from deepseek_probe.runtimes import ollama as ol
from deepseek_probe.runtimes.base import GiB, MiB
from deepseek_probe.runtimes.command import CommandError


# ---------------------------------------------------------------- parsing

def test_run_tag_with_prefix_env_and_ignored_flags():
    p = ol.parse_command(["OLLAMA_CONTEXT_LENGTH=8192", "ollama", "run",
                          "deepseek-r1:32b-qwen-distill-q4_K_M", "--verbose", "why?"],
                         {"OLLAMA_NUM_PARALLEL": "2"})
    assert p.runtime == "ollama" and p.model_ref == "deepseek-r1:32b-qwen-distill-q4_K_M"
    assert p.options.num_ctx == 8192 and p.options.num_parallel == 2
    assert p.generic == {"context": 8192, "concurrency": 2, "precision": "q4_k_m"}
    assert "--verbose" in p.ignored and "prompt" in p.ignored


def test_prefix_env_wins_over_inherited_env():
    p = ol.parse_command(["env", "OLLAMA_NUM_PARALLEL=4", "/usr/bin/ollama", "serve"],
                         {"OLLAMA_NUM_PARALLEL": "1"})
    assert p.model_ref is None and p.options.num_parallel == 4 and p.program == "ollama"


def test_start_is_serve_alias_and_auto_context_is_noted():
    p = ol.parse_command(["ollama", "start"], {})
    assert p.options.num_ctx is None and "context" not in p.generic
    assert any("VRAM tier" in n for n in p.notes)


def test_cobra_style_bool_and_think_values_are_accepted():
    p = ol.parse_command(["ollama", "run", "deepseek-r1", "--think=high", "--verbose=false",
                          "--keepalive", "10m"], {})
    assert p.model_ref == "deepseek-r1"
    assert "--think=high" in p.ignored and "--keepalive 10m" in p.ignored


@pytest.mark.parametrize("argv", [
    [], ["ollama"], ["llama-server", "-m", "x.gguf"], ["ollama", "pull", "deepseek-r1"],
    ["ollama", "run"], ["ollama", "run", "deepseek-r1", "--ctx-size", "8192"],
    ["ollama", "serve", "deepseek-r1"], ["ollama", "serve", "--port", "1"],
    ["ollama", "run", "x", "--keepalive"],
])
def test_malformed_commands_give_one_line_errors(argv):
    with pytest.raises(CommandError) as e:
        ol.parse_command(argv, {})
    assert "\n" not in str(e.value)


# ---------------------------------------------------------------- environment

def test_kv_cache_type_is_lowercased_and_validated():
    p = ol.parse_command(["ollama", "serve"], {"OLLAMA_KV_CACHE_TYPE": " 'Q8_0' "})
    assert p.options.kv_cache_type == "q8_0" and p.generic["kv_precision"] == "q8_0"
    with pytest.raises(CommandError):
        ol.parse_command(["ollama", "serve"], {"OLLAMA_KV_CACHE_TYPE": "q3_k"})


def test_bad_bool_reads_as_true_like_envconfig():
    p = ol.parse_command(["ollama", "serve"], {"OLLAMA_FLASH_ATTENTION": "yes"})
    assert p.options.flash_attention is True and any("Go bool" in n for n in p.notes)
    p = ol.parse_command(["ollama", "serve"], {"OLLAMA_FLASH_ATTENTION": '"0"'})
    assert p.options.flash_attention is False


def test_bad_uint_keeps_default_and_zero_parallel_counts_as_one():
    p = ol.parse_command(["ollama", "serve"], {"OLLAMA_NUM_PARALLEL": "four",
                                               "OLLAMA_GPU_OVERHEAD": "-5"})
    assert p.options.num_parallel == 1 and p.options.gpu_overhead_bytes == 0
    assert len([n for n in p.notes if "default" in n]) == 2
    assert ol.parse_command(["ollama", "serve"], {"OLLAMA_NUM_PARALLEL": "0"}).options.num_parallel == 1


def test_context_length_zero_means_automatic():
    assert ol.parse_command(["ollama", "serve"], {"OLLAMA_CONTEXT_LENGTH": "0"}).options.num_ctx is None


def test_removed_engine_variable_and_fa_off_with_quantized_kv_are_noted():
    p = ol.parse_command(["ollama", "serve"], {"OLLAMA_NEW_ENGINE": "1",
                                               "OLLAMA_FLASH_ATTENTION": "false",
                                               "OLLAMA_KV_CACHE_TYPE": "q4_0"})
    assert any("OLLAMA_NEW_ENGINE" in n for n in p.notes)
    assert any("load fails" in n for n in p.notes)


def test_llama_fit_variables_pass_through():
    p = ol.parse_command(["ollama", "serve"], {"LLAMA_ARG_FIT_TARGET": "2048", "LLAMA_ARG_FIT": "off"})
    s = ol.to_llamacpp_settings(p.options, 80 * GiB)
    assert s["fit"] == "off" and s["fit_target_mib"] == 2048


# ---------------------------------------------------------------- context tiers

@pytest.mark.parametrize("vram,ctx", [
    (None, 4096), (0, 4096), (23 * GiB - 1, 4096), (23 * GiB, 32768),
    (47 * GiB - 1, 32768), (47 * GiB, 262144), (141 * GiB, 262144),
])
def test_default_context_tiers_at_their_boundaries(vram, ctx):
    assert ol.default_num_ctx(vram) == ctx


def test_rtx4090_is_32k_but_a_1gib_overhead_drops_it_to_4k():
    total = 24564 * MiB  # what NVML reports for a 24 GB card: 23.99 GiB
    assert ol.default_num_ctx(ol.vram_for_context_tier([total])) == 32768
    assert ol.default_num_ctx(ol.vram_for_context_tier([total], 1 * GiB)) == 4096


def test_two_24gb_cards_add_up_to_the_top_tier():
    assert ol.default_num_ctx(ol.vram_for_context_tier([24564 * MiB] * 2)) == 262144


def test_overhead_larger_than_the_gpu_wraps_like_go_uint64():
    assert ol.vram_for_context_tier([8 * GiB], 9 * GiB) == 2 ** 64 - GiB


# ---------------------------------------------------------------- llama.cpp settings

def test_h200_auto_context_is_256k_per_slot_capped_at_training():
    opts = ol.OllamaOptions(num_parallel=2)
    s = ol.to_llamacpp_settings(opts, 141 * GiB, trained_ctx=131072)
    assert s["n_ctx_per_seq"] == 131072 and s["n_ctx"] == 262144 and s["n_parallel"] == 2


def test_overhead_is_taken_per_gpu_for_the_tier_but_not_reserved():
    opts = ol.OllamaOptions(gpu_overhead_bytes=2 * GiB)
    s = ol.to_llamacpp_settings(opts, 2 * 24 * GiB, gpu_count=2)  # 44 GiB after overhead
    assert s["n_ctx"] == 32768
    assert s["ollama_reserved_bytes_per_gpu"] == 0
    assert s["legacy_reserved_bytes_per_gpu"] == 2 * GiB + 457 * MiB


def test_embedding_and_single_sequence_architectures_get_one_slot():
    assert ol.default_num_parallel("qwen3next", requested=4) == 1
    assert ol.default_num_parallel("deepseek2", requested=4) == 4
    assert ol.default_num_parallel("deepseek2", embedding=True, requested=4) == 1


def test_flash_attention_mode():
    assert ol.flash_attn_mode(ol.OllamaOptions()) == "auto"
    assert ol.flash_attn_mode(ol.OllamaOptions(), gpus_support_fa=False) == "off"
    assert ol.flash_attn_mode(ol.OllamaOptions(flash_attention=True), False) == "on"
    assert ol.flash_attn_mode(ol.OllamaOptions(flash_attention=False)) == "off"


@pytest.mark.parametrize("ctx,pred,avail,batch", [
    (40000, 10 * GiB, 80 * GiB, 2048),   # 10 <= 48 (60 %), 2 GiB <= 64 - 10
    (40000, 50 * GiB, 80 * GiB, 1024),   # 50 > 48; 50 <= 60 (75 %), 768 MiB <= 14 GiB
    (40000, 63 * GiB + 512 * MiB, 80 * GiB, 512),  # 63.5 > 60
    (8192, 10 * GiB, 80 * GiB, 1024), (4096, 10 * GiB, 80 * GiB, 512),
])
def test_automatic_batch(ctx, pred, avail, batch):
    assert ol.automatic_num_batch(ctx, pred, avail, "auto") == batch


def test_automatic_batch_without_flash_attention_on_cuda():
    assert ol.automatic_num_batch(40000, GiB, 80 * GiB, "off") == 512
    assert ol.automatic_num_batch(8192, GiB, 8 * GiB, "off", smallest_cuda_gpu_bytes=8 * GiB) == 256
    assert ol.automatic_num_batch(4096, GiB, 8 * GiB, "off", smallest_cuda_gpu_bytes=8 * GiB) == 512


# -- releases: each default as the tag named in runtimes/ol.py sets it
@pytest.mark.parametrize("version,ctx", [("0.5.7", 2048), ("0.6.7", 4096), ("0.12.3", 4096), ("0.15.5", 32768),
                                         (None, 32768)])
def test_default_context_by_release_on_a_24gb_card(version, ctx):
    ll = ol.to_llamacpp_settings(ol.OllamaOptions(), 24 * GiB, version=version)
    assert ll["n_ctx_per_seq"] == ctx


@pytest.mark.parametrize("version,par", [("0.5.7", 4), ("0.6.7", 2), ("0.9.7", 1), (None, 1)])
def test_parallel_slots_by_release_when_unset(version, par):
    ll = ol.to_llamacpp_settings(ol.OllamaOptions(), 24 * GiB, version=version)
    assert ll["n_parallel"] == par and ll["n_ctx"] == par * ll["n_ctx_per_seq"]


def test_set_parallel_wins_in_every_release_and_zero_meant_auto_before_097():
    opts, _, _ = ol.options_from_env({"OLLAMA_NUM_PARALLEL": "3"})
    assert ol.to_llamacpp_settings(opts, 24 * GiB, version="0.5.7")["n_parallel"] == 3
    zero, _, _ = ol.options_from_env({"OLLAMA_NUM_PARALLEL": "0"})
    assert ol.to_llamacpp_settings(zero, 24 * GiB, version="0.5.7")["n_parallel"] == 4
    assert ol.to_llamacpp_settings(zero, 24 * GiB)["n_parallel"] == 1


def test_flash_attention_was_off_for_deepseek_before_llama_server():
    o = ol.OllamaOptions()
    assert ol.to_llamacpp_settings(o, 24 * GiB, version="0.12.4", architecture="deepseek2")["flash_attn"] == "off"
    assert ol.to_llamacpp_settings(o, 24 * GiB, version="0.12.4", architecture="qwen3")["flash_attn"] == "on"
    assert ol.to_llamacpp_settings(o, 24 * GiB, architecture="deepseek2")["flash_attn"] == "auto"


def test_ollama_release_older_than_modelled_is_refused():
    from deepseek_probe.runtimes.base import EstimateInputError
    with pytest.raises(EstimateInputError):
        ol.to_llamacpp_settings(ol.OllamaOptions(), 24 * GiB, version="0.1.30")


def test_a_launch_command_reaches_the_release_named_in_the_settings():
    from dataclasses import replace
    from deepseek_probe.profiles import get_model
    from deepseek_probe.runtimes import default_settings, launch
    spec = get_model("deepseek-r1-distill-qwen-7b")
    cmd = ol.parse_command(["ollama", "run", "deepseek-r1:7b"], {})
    old = launch.settings_from_command(replace(default_settings(spec, "llamacpp"), runtime_version="0.5.7"),
                                       cmd, spec, [24 * GiB])
    assert (old.context, old.concurrency, old.runtime_version) == (2048, 4, None)
    new = launch.settings_from_command(default_settings(spec, "llamacpp"), cmd, spec, [24 * GiB])
    assert (new.context, new.concurrency) == (32768, 1)
