"""vLLM by release (runtimes/vllm_releases.py): which behaviour each release gets, through the
same path `estimate --runtime-version V -- vllm serve ...` takes (parse_launch, Settings)."""

import dataclasses

from deepseek_probe.estimate import estimate
from deepseek_probe.profiles import get_model
from deepseek_probe.runtimes.base import GiB, Settings
from deepseek_probe.runtimes.launch import parse_launch, settings_from_command
from deepseek_probe.runtimes.vllm import vllm_memory
from deepseek_probe.runtimes.vllm_cli import launch_command

H100 = int(79.18 * GiB)
LITE = get_model("deepseek-v2-lite")
LLAMA = get_model("deepseek-r1-distill-llama-8b")


def _notes(spec, argv, version, env=None, total=H100, **base):
    cmd = parse_launch(argv.split(), env or {})
    s = settings_from_command(Settings(runtime="vllm", runtime_version=version, **base), cmd, spec, [total])
    return estimate(spec, s, total).notes["vllm"]


def test_no_version_is_0_33_exactly():
    argv = "vllm serve m --max-model-len 32768 -tp 2"
    assert _notes(LITE, argv, None) == _notes(LITE, argv, "0.33.0") == _notes(LITE, argv, "0.40.1")


def test_deepseek_cache_is_decompressed_before_mla_landed_in_0_7_1():
    old = _notes(LITE, "vllm serve m --max-model-len 8192", "0.6.6")
    new = _notes(LITE, "vllm serve m --max-model-len 8192", "0.7.1")
    # 16 KV heads x (K 192 + V padded to 192) x 2 B x 27 layers, in 16-token blocks
    assert old["kv_bytes_per_token"] == 16 * 2 * 192 * 2 * 27 and old["block_size"] == 16
    # Triton MLA's 16-token blocks until FlashMLA (after 0.7.3; vllm#12676's 0.7.2.dev log: 16)
    assert new["kv_bytes_per_token"] == 27 * 576 * 2 and new["block_size"] == 16
    assert _notes(LITE, "vllm serve m --max-model-len 8192", "0.8.0")["block_size"] == 64
    assert old["kv_tokens"] < new["kv_tokens"] / 10


def test_mla_cache_decompressed_and_vllm_mla_disable_change_the_sizing_on_0_33():
    latent = _notes(LITE, "vllm serve m --max-model-len 8192", None)
    asked = _notes(LITE, "vllm serve m --max-model-len 8192", None, mla_cache="decompressed")
    env = _notes(LITE, "vllm serve m --max-model-len 8192", None, env={"VLLM_MLA_DISABLE": "1"})
    assert asked["kv_bytes_per_token"] == env["kv_bytes_per_token"] == 16 * 2 * 192 * 2 * 27
    assert asked["kv_tokens"] < latent["kv_tokens"]


def test_vllm_use_v1_0_selects_v0_until_it_was_removed_in_0_11():
    argv = "vllm serve m --max-model-len 8192"
    v0 = _notes(LLAMA, argv, "0.9.2", env={"VLLM_USE_V1": "0"})
    v1 = _notes(LLAMA, argv, "0.9.2")
    gone = _notes(LLAMA, argv, "0.11.0", env={"VLLM_USE_V1": "0"})
    assert v0["max_num_batched_tokens"] == 8192 and v0["max_num_seqs"] == 256  # no chunked prefill
    assert v1["max_num_batched_tokens"] == 8192 and v1["max_num_seqs"] == 1024  # the H100 tier
    assert gone == _notes(LLAMA, argv, "0.11.0") or gone["kv_tokens"] == _notes(LLAMA, argv, "0.11.0")["kv_tokens"]
    assert any("V0 removed" in n for n in gone["notes"])


def test_v0_profiles_max_model_len_tokens_without_chunked_prefill():
    short = _notes(LLAMA, "vllm serve m --max-model-len 30000", "0.6.4")
    long_ = _notes(LLAMA, "vllm serve m --max-model-len 40000", "0.6.4")  # > 32K: chunked (vllm#6666)
    asked = _notes(LLAMA, "vllm serve m --max-model-len 40000 --no-enable-chunked-prefill", "0.6.4")
    assert short["max_num_batched_tokens"] == 30000
    assert long_["max_num_batched_tokens"] == 512
    assert asked["max_num_batched_tokens"] == 40000


def test_0_7_forces_chunked_prefill_off_for_mla():
    n = _notes(LITE, "vllm serve m --max-model-len 20000", "0.7.3")
    assert n["max_num_batched_tokens"] == 20000
    assert _notes(LITE, "vllm serve m --max-model-len 20000", "0.8.0")["max_num_batched_tokens"] == 8192


def test_printed_tokens_are_blocks_times_block_size_before_0_21():
    # the same pool (CUDA graphs in the budget from 0.20), printed two ways
    old = _notes(LLAMA, "vllm serve m --max-model-len 10001", "0.20.0")
    new = _notes(LLAMA, "vllm serve m --max-model-len 10001", "0.21.0")
    assert old["kv_available_bytes"] == new["kv_available_bytes"] and old["kv_tokens"] % 16 == 0
    blocks = old["kv_tokens"] // 16
    assert new["kv_tokens"] == int(blocks / 626 * 10001)  # int(concurrency x max_model_len), 626 blocks a request


def test_v0_refuses_in_its_own_words():
    n = _notes(LITE, "vllm serve m", "0.5.1", total=int(23.6 * GiB))
    assert n["starts"] is False
    assert "is larger than the maximum number of tokens that can be stored in KV cache" in n["error"] or \
           "No available memory for the cache blocks" in n["error"]


def test_lora_slots_add_their_weights_and_the_command_echoes_them():
    base = _notes(LLAMA, "vllm serve m --max-model-len 8192", None)
    lora = _notes(LLAMA, "vllm serve m --max-model-len 8192 --enable-lora --max-loras 2 --max-lora-rank 16", None)
    assert base["kv_available_bytes"] - lora["kv_available_bytes"] > 0.1 * GiB
    cmd = parse_launch("vllm serve m --enable-lora --max-loras 2 --max-lora-rank 16".split(), {})
    s = settings_from_command(Settings(runtime="vllm"), cmd, LLAMA)
    argv = launch_command(LLAMA, s, "m")
    assert "--enable-lora" in argv and argv[argv.index("--max-loras") + 1] == "2"


def test_the_start_finding_names_the_release():
    from deepseek_probe.runtimes.base import StartDevice
    from deepseek_probe.runtimes.vllm import start_finding

    s = Settings(runtime="vllm", runtime_version="0.6.4", context=8192)
    f = start_finding(LLAMA, s, StartDevice(H100, H100, H100, "NVIDIA H100 80GB HBM3"))
    assert "vLLM 0.6.4 starts" in f.message


def test_older_releases_use_the_pytorch_sampler_unless_flashinfer_is_said_installed():
    o = parse_launch("vllm serve m".split(), {}).options
    s = Settings(runtime="vllm", runtime_version="0.10.1", runtime_options=o)
    native = vllm_memory(LLAMA, s, o, H100)
    fi = dataclasses.replace(o, flashinfer_sampler_env=True)
    assert vllm_memory(LLAMA, s, fi, H100).sampler_peak_bytes < native.sampler_peak_bytes


def test_v0_mla_entries_are_256_byte_aligned_in_0_7_2_to_0_7_x_only():
    # vllm#12676 (first in 0.7.2): 576 bf16 -> 640 elements (1280 B); fp8 576 -> 768 B; removed by vllm#14842
    argv = "vllm serve m --max-model-len 8192"
    assert _notes(LITE, argv, "0.7.3")["kv_bytes_per_token"] == 27 * 1280
    assert _notes(LITE, argv + " --kv-cache-dtype fp8", "0.7.3")["kv_bytes_per_token"] == 27 * 768
    assert _notes(LITE, argv, "0.7.3", {"VLLM_CUDA_MEM_ALIGN_KV_CACHE": "0"})["kv_bytes_per_token"] == 27 * 1152
    assert _notes(LITE, argv, "0.7.1")["kv_bytes_per_token"] == 27 * 1152  # before the PR
    assert _notes(LITE, argv, "0.7.3", {"VLLM_USE_V1": "1"})["kv_bytes_per_token"] == 27 * 1152  # V0 only
    assert _notes(LITE, argv, "0.8.0", {"VLLM_USE_V1": "0"})["kv_bytes_per_token"] == 27 * 1152
    aligned = _notes(LITE, argv, "0.7.3")
    assert any("padded to 256 bytes" in n for n in aligned["notes"])
    # the emitter says what the command said
    cmd = parse_launch(argv.split(), {"VLLM_CUDA_MEM_ALIGN_KV_CACHE": "0"})
    s = settings_from_command(Settings(runtime="vllm", runtime_version="0.7.3"), cmd, LITE, [H100])
    assert "VLLM_CUDA_MEM_ALIGN_KV_CACHE=0" in launch_command(LITE, s)


def test_v1_samples_1024_dummy_requests_until_0_8_4_reverted_it_off_h100():
    rtx3090 = int(23.58 * GiB)
    argv = "vllm serve m --max-model-len 8192"
    # vllm#16158 (first in 0.8.4): back to 256 except on H100/H200
    assert _notes(LLAMA, argv, "0.8.3", total=rtx3090)["max_num_seqs"] == 1024
    assert _notes(LLAMA, argv, "0.8.4", total=rtx3090)["max_num_seqs"] == 256
    assert _notes(LLAMA, argv, "0.8.4")["max_num_seqs"] == 1024  # H100
    # V0 (VLLM_USE_V1=0) keeps its 256 in 0.8.3
    assert _notes(LLAMA, argv, "0.8.3", env={"VLLM_USE_V1": "0"}, total=rtx3090)["max_num_seqs"] == 256
    # the sampler's rows are what grows: the pool shrinks by their logits
    assert (_notes(LLAMA, argv, "0.8.3", total=rtx3090)["kv_available_bytes"]
            < _notes(LLAMA, argv, "0.8.4", total=rtx3090)["kv_available_bytes"])


def test_v0_mla_materializes_the_absorbed_matrices_in_0_7_1_to_0_7_3_only():
    r1 = get_model("deepseek-r1")
    argv = "vllm serve m -tp 8 --max-model-len 16384"
    env = {"VLLM_USE_V1": "0"}
    h200 = int(139.81 * GiB)
    w = {v: _notes(r1, argv, v, env=env, total=h200, precision="fp8")["kv_available_bytes"] for v in ("0.7.3", "0.8.0")}
    # per GPU at TP8, 61 layers: W_Q_UK 1536 x 16 x 512 and W_UV_O 16 x 512 x 7168 in fp8 (4.05 GiB),
    # instead of the W_UK / W_UV copies (16 x 256 x 512 bf16 per layer, 0.24 GiB)
    # (the two releases profile the same 16384 tokens: V0 without chunked prefill)
    assert abs((w["0.8.0"] - w["0.7.3"]) - (4.05 - 0.24) * GiB) < 0.02 * GiB


def test_pipeline_parallel_falls_back_to_v0_until_0_9_1_unless_ray_is_named():
    argv = "vllm serve m -tp 2 -pp 2 --max-model-len 8192"
    v0 = "pipeline parallelism without --distributed-executor-backend ray"
    assert any(v0 in n for n in _notes(LITE, argv, "0.8.3")["notes"])
    assert _notes(LITE, argv, "0.8.3")["max_num_seqs"] == 256  # V0's, not 0.8.3 V1's 1024
    assert not any(v0 in n for n in _notes(LITE, argv + " --distributed-executor-backend ray", "0.8.3")["notes"])
    assert not any(v0 in n for n in _notes(LITE, argv, "0.9.1")["notes"])  # vllm#18915


def test_the_command_echoes_the_executor_backend():
    cmd = parse_launch("vllm serve deepseek-ai/DeepSeek-V2-Lite -pp 2 --distributed-executor-backend ray".split(), {})
    s = settings_from_command(Settings(runtime="vllm"), cmd, LITE, [H100])
    assert "--distributed-executor-backend ray" in " ".join(launch_command(LITE, s))
