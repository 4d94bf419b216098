"""vLLM accounting against public start-up logs (benchmarks/runtime_logs/vllm/) and against
the formulas of vllm 0.33.0 it reproduces."""

import importlib.util
import math
import os
import sys

import pytest

from deepseek_probe.profiles import get_model
from deepseek_probe.runtimes.base import GiB, Settings
from deepseek_probe.runtimes.vllm import (
    VllmOptions, batch_defaults, forward_peak_bytes, kv_bytes_per_token, not_enough_text, sampler_peak_bytes,
    vllm_memory)
from deepseek_probe.runtimes.vllm_cli import parse_command

_P = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "runtime_logs", "vllm_replay.py")
_spec = importlib.util.spec_from_file_location("vllm_replay", _P)
replay_mod = importlib.util.module_from_spec(_spec)
sys.modules["vllm_replay"] = replay_mod
_spec.loader.exec_module(replay_mod)
LOGS = replay_mod.load_logs()
H100 = int(79.18 * GiB)  # torch total of an H100 80GB as vLLM logs it


def test_there_are_at_least_ten_logs_each_with_a_url_a_command_and_verbatim_lines():
    assert len(LOGS) >= 10
    for name, log in LOGS:
        assert log["url"].startswith("https://"), name
        assert log["lines"] and all(isinstance(x, str) for x in log["lines"]), name
        parse_command(log["command"], log.get("env") or {})  # every command reads


# runtimes/vllm_releases.py V0_NON_TORCH_BYTES (0.30 GiB) is the median of three V0 logs'
# non-torch memory: they are its calibration set, and their test ids say so. Every other log is
# held out from that constant.
# (Both RTX 3090 logs of vllm#10517 come from the same machine: both count as calibration.)
V0_CALIBRATION = ("issue-10517-llama-3.1-8b-rtx3090-20k.json", "issue-10517-llama-3.1-8b-rtx3090-29k-refused.json",
                  "issue-13061-r1-distill-qwen-14b-2x4090.json", "issue-15815-qwen2.5-32b-instruct-2xl40s.json")


def test_the_v0_calibration_logs_exist():
    names = {name for name, _ in LOGS}
    assert set(V0_CALIBRATION) <= names


def _cases(kind):
    out = []
    for name, log in LOGS:
        role = "calibration" if name in V0_CALIBRATION else "held-out"
        known = log.get("known_deviation", {})
        rows = replay_mod.replay(log) if kind == "full" else replay_mod.replay_pool(log)
        for term, logged, ours in rows:
            key = term if kind == "full" else f"pool:{term}"
            marks = [pytest.mark.xfail(strict=True, reason=known[key])] if key in known else []
            out.append(pytest.param(name, term, logged, ours, marks=marks, id=f"{role}:{name}:{key}"))
    return out


@pytest.mark.parametrize("name,term,logged,ours", _cases("full"))
def test_every_logged_term_within_5_percent_and_the_verdict_agrees(name, term, logged, ours):
    if term == "starts":
        assert logged == ours, f"{name}: verdict differs"
    else:
        assert abs(ours - logged) <= 0.05 * abs(logged), f"{name} {term}: logged {logged} ours {ours}"


@pytest.mark.parametrize("name,term,logged,ours", _cases("pool"))
def test_the_pool_arithmetic_alone_reproduces_tokens_blocks_and_concurrency(name, term, logged, ours):
    # the logged KV memory in; page sizes, block rounding and vLLM's formulas out
    # the log rounds the KV memory to 0.01 GiB (and concurrency to 0.01): that much, no more; the
    # KV memory's rounding carries into the concurrency as into the tokens (vllm#20665: 12.13 GiB)
    tolerance = 0.002 * abs(logged) + (0.011 if term == "max_concurrency" else 1)
    assert abs(ours - logged) <= tolerance, f"{name} {term}: logged {logged} ours {ours}"


def test_batch_defaults_follow_get_batch_defaults_of_0_33():
    assert batch_defaults(int(79.18 * GiB), "NVIDIA H100 80GB HBM3") == (8192, 1024)
    assert batch_defaults(int(79.15 * GiB), "NVIDIA A100-SXM4-80GB") == (2048, 256)
    assert batch_defaults(int(178 * GiB), "NVIDIA B200") == (16384, 1024)
    assert batch_defaults(int(23.5 * GiB), "NVIDIA GeForce RTX 4090") == (2048, 256)


def test_sampler_dominates_small_models_and_the_native_path_costs_the_measured_36_bytes():
    m = get_model("deepseek-r1-distill-llama-8b")
    native = sampler_peak_bytes(m, 8192, 1024, flashinfer=False)
    assert native == 8192 * 4096 * 2 + 1024 * 128256 * (2 + 36)
    assert native > sampler_peak_bytes(m, 8192, 1024, flashinfer=True) > forward_peak_bytes(m, 8192, 1)


def test_mla_pool_is_not_split_by_tp_and_uses_64_token_blocks():
    v3 = get_model("deepseek-v3")
    s = Settings(precision="fp8", runtime="vllm", tensor_parallel=8, context=32768)
    one = vllm_memory(v3, s, VllmOptions(tp=8, max_model_len=32768), int(139.8 * GiB))
    assert one.block_size == 64
    assert one.kv_bytes_per_token == 61 * 576 * 2  # 576-wide latent, bf16, every layer on every rank
    assert one.starts and one.num_blocks == one.kv_available_bytes // (one.kv_bytes_per_token * 64)


def test_auto_max_model_len_shrinks_to_what_fits():
    m = get_model("deepseek-r1-distill-llama-8b")
    s = Settings(runtime="vllm")
    mem = vllm_memory(m, s, VllmOptions(max_model_len_auto=True, gpu_memory_utilization=0.3), H100)
    assert mem.starts and mem.max_model_len < m.max_context
    per = kv_bytes_per_token(m, "bf16", 1, 1, 1)
    assert math.ceil(mem.max_model_len / 16) * 16 * per <= mem.kv_available_bytes
    assert any("Auto-fit max_model_len: reduced from 131072" in n for n in mem.notes)


def test_the_refusal_text_is_vllm_0_33s():
    text = not_enough_text(30000, 6.66 * GiB, 5.44 * GiB, 13528)
    assert text.startswith("To serve at least one request with the model's max seq len (30000), (6.66 GiB KV cache "
                           "is needed, which is larger than the available KV cache memory (5.44 GiB). Based on the "
                           "available memory, the estimated maximum model length is 13528. Try increasing")


def test_a_busy_gpu_gives_vllms_free_memory_error():
    m = get_model("deepseek-r1-distill-qwen-7b")
    mem = vllm_memory(m, Settings(runtime="vllm"), VllmOptions(max_model_len=8192), H100, gpu_free_bytes=40 * GiB)
    assert mem.starts is False and "Free memory on device cuda:0 (40.0/79.18 GiB) on startup is less than desired GPU " \
                                   "memory utilization (0.9, 71.26 GiB)" in mem.error


def test_a_max_model_len_past_the_model_is_refused_unless_allowed():
    m = get_model("deepseek-r1-distill-qwen-7b")
    o = parse_command(["vllm", "serve", "m", "--max-model-len", "200000"], {}).options
    assert "User-specified max_model_len (200000)" in vllm_memory(m, Settings(runtime="vllm"), o, H100).error
    o = parse_command(["vllm", "serve", "m", "--max-model-len", "200000"], {"VLLM_ALLOW_LONG_MAX_MODEL_LEN": "1"}).options
    assert vllm_memory(m, Settings(runtime="vllm"), o, H100).error is None


def test_cpu_offload_and_cuda_graph_flags_move_memory_the_way_vllm_does():
    m = get_model("deepseek-r1-distill-qwen-32b")
    s = Settings(runtime="vllm")
    base = vllm_memory(m, s, VllmOptions(max_model_len=8192), H100)
    off = vllm_memory(m, s, VllmOptions(max_model_len=8192, cpu_offload_gb=10), H100)
    eager = vllm_memory(m, s, VllmOptions(max_model_len=8192, enforce_eager=True), H100)
    # whole parameters leave until 10 GiB have gone: the last one overshoots, by less than the
    # largest (a 32B layer's gate_up_proj: 2 x 27648 x 5120 bf16 = 0.53 GiB)
    moved = base.weights_bytes - off.weights_bytes
    assert 10 * GiB <= moved < 10.53 * GiB
    assert off.kv_available_bytes - base.kv_available_bytes == moved
    assert eager.cuda_graph_bytes == 0 and eager.kv_available_bytes - base.kv_available_bytes == base.cuda_graph_bytes


def test_no_logged_number_is_an_input_and_each_log_runs_with_its_release():
    # the replay is `estimate --runtime-version V --gpu-memory GIB -- <command>`: scrambling every
    # logged term (the GPU size the log prints aside: that is --gpu-memory) changes no prediction
    import copy

    for name, log in LOGS:
        spec, s, _ = replay_mod.inputs(log)
        assert s.runtime_version == replay_mod.version_of(log), name
        scrambled = copy.deepcopy(log)
        scrambled["logged"] = {k: (v * 3 if isinstance(v, (int, float)) and k != "total_gpu_memory_gib" else v)
                               for k, v in log["logged"].items()}
        if log["gpu"].get("memory_total_gib") is None:
            scrambled["logged"].pop("total_gpu_memory_gib", None)
        assert replay_mod.product(scrambled) == replay_mod.product(log), name


V0_SWAP_BYTES = 4 * GiB  # config.py CacheConfig swap_space default 4 (GiB per GPU), the V0 engine's CPU blocks


@pytest.mark.parametrize("name,log", [(n, lg) for n, lg in LOGS if lg["logged"].get("cpu_blocks")], ids=lambda v: v
                         if isinstance(v, str) else "")
def test_v0_cpu_blocks_give_our_block_bytes(name, log):
    # V0 prints "# CPU blocks: int(swap_space / block bytes)" (worker.py determine_num_available_blocks):
    # an independent reading of the bytes per block (MLA alignment, block size, heads per rank)
    assert "--swap-space" not in log["command"]
    spec, s, opts = replay_mod.inputs(log)
    m = vllm_memory(spec, s, opts, replay_mod.gpu_total_bytes(log))
    assert m.block_size == log["logged"].get("block_size", m.block_size), name
    assert int(V0_SWAP_BYTES // (m.kv_bytes_per_token * m.block_size)) == log["logged"]["cpu_blocks"], name
