"""llama.cpp by build number (runtimes/llamacpp_builds.py): a launch command read at the build
named in the settings gets that build's defaults and KV cache; the newest build is today's model."""

from __future__ import annotations

from dataclasses import replace

import pytest

from deepseek_probe.estimate import estimate
from deepseek_probe.profiles import get_model
from deepseek_probe.runtimes import RUNTIMES, default_settings, launch, llamacpp, llamacpp_builds, versions
from deepseek_probe.runtimes.base import EstimateInputError, GiB

GGUF = "/models/model-Q4_K_M.gguf"


def _est(model: str, argv: list, build=None, gpu_gib=None):
    spec = get_model(model)
    base = replace(default_settings(spec, "llamacpp"), runtime_version=build)
    cmd = launch.parse_launch(["llama-server", "-m", GGUF, *argv], {})
    total = int(gpu_gib * GiB) if gpu_gib else None
    s = launch.settings_from_command(base, cmd, spec, [total] if total else [])
    return s, estimate(spec, s, total)


def test_the_runtime_record_names_its_build_range():
    rt = RUNTIMES["llamacpp"]
    assert rt.version_is_build and rt.versions == (llamacpp_builds.OLDEST, llamacpp_builds.NEWEST)
    with pytest.raises(EstimateInputError):
        versions.resolve(rt, "b3000")  # older than the oldest modelled


def test_the_newest_build_is_the_default_model():
    _, now = _est("7b", ["-c", "8192"])
    _, newest = _est("7b", ["-c", "8192"], llamacpp_builds.NEWEST)
    assert newest.per_device.total_bytes == now.per_device.total_bytes
    assert newest.notes["llamacpp_build"] == llamacpp_builds.NEWEST and "llamacpp_build" not in now.notes


def test_before_b6325_no_layer_is_offloaded_and_flash_attention_is_off():
    # PR #15434 (release b6325): -ngl defaulted to 0 and -fa was an opt-in switch before it
    _, old = _est("7b", ["-c", "8192"], "b6324")
    assert old.notes["llamacpp"]["gpu_layers"] == 0 and not old.notes["llamacpp"]["flash_attn"]
    _, new = _est("7b", ["-c", "8192"], "b6325")
    assert new.notes["llamacpp"]["gpu_layers"] == get_model("7b").layers and new.notes["llamacpp"]["flash_attn"]
    # the old switch form reads as on, and an explicit -ngl is kept
    _, switch = _est("7b", ["-c", "8192", "-fa", "-ngl", "99"], "b6000")
    assert switch.notes["llamacpp"]["flash_attn"] and switch.notes["llamacpp"]["gpu_layers"] > 0


def test_no_c_is_4096_before_fit_and_the_trained_context_after():
    spec = get_model("r1-7b")
    old_s, old = _est("r1-7b", ["-ngl", "99"], "b7000")
    new_s, new = _est("r1-7b", ["-ngl", "99"])
    assert (old_s.context, old.notes["llamacpp"]["n_ctx"]) == (llamacpp_builds.LEGACY_DEFAULT_CTX, 4096)
    assert new_s.context == spec.max_context > 4096
    # -c 0 is the trained context in every build
    zero_s, _ = _est("r1-7b", ["-c", "0", "-ngl", "99"], "b7000")
    assert zero_s.context == spec.max_context


def test_an_explicit_c_0_is_shrunk_by_fit_only_in_the_builds_before_pr_19070():
    spec = get_model("r1-7b")
    _, unset = _est("r1-7b", [], gpu_gib=10)
    assert unset.notes["llamacpp"]["n_ctx"] < spec.max_context  # --fit shrinks an unset context
    _, kept = _est("r1-7b", ["-c", "0"], gpu_gib=10)
    assert kept.notes["llamacpp"]["n_ctx"] >= spec.max_context
    _, shrunk = _est("r1-7b", ["-c", "0"], "b7539", gpu_gib=10)  # issue #18376 at b7539
    assert shrunk.notes["llamacpp"]["n_ctx"] < spec.max_context


def test_mla_cache_before_and_after_the_latent_and_the_v_less_cache():
    lite = get_model("16b")
    assert lite.is_mla
    _, now = _est("16b", ["-c", "16384", "-ngl", "99"])
    _, with_v = _est("16b", ["-c", "16384", "-ngl", "99"], "b8762")
    ratio = with_v.per_device.kv_cache_bytes / now.per_device.kv_cache_bytes
    assert 1.8 < ratio < 1.95  # PR #19067: "almost x2 less memory for the KV cache"
    assert any("may already have" in n for n in with_v.notes["llamacpp"]["notes"])  # inside the bracket
    _, per_head = _est("16b", ["-c", "16384", "-ngl", "99"], "b5000")
    assert per_head.notes["mla_cache"] == "decompressed"
    assert per_head.per_device.kv_cache_bytes > 5 * now.per_device.kv_cache_bytes
    assert any("PR #12801" in n for n in per_head.notes["llamacpp_build_notes"])  # b5000: inside its bracket


def test_a_command_for_an_old_build_uses_its_flags():
    spec = get_model("7b")
    s = replace(default_settings(spec, "llamacpp"), context=8192, runtime_version="b6000")
    argv = launch.launch_command(spec, s, GGUF)
    assert argv[argv.index("-ngl") + 1] == "999" and "--fit" not in argv and "auto" not in argv
    s_on = replace(s, runtime_options=replace(llamacpp.options_for(s), flash_attn="on"))
    assert "-fa" in launch.launch_command(spec, s_on, GGUF) and "on" not in launch.launch_command(spec, s_on, GGUF)
