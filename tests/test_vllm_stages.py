"""Pipeline-parallel stages and --cpu-offload-gb in vLLM (runtimes/vllm_stages.py)."""

from deepseek_probe.profiles import get_model
from deepseek_probe.runtimes import sharded, vllm_stages
from deepseek_probe.runtimes.base import GiB, Settings
from deepseek_probe.runtimes.vllm import VllmOptions, vllm_memory

RTX3090 = int(23.58 * GiB)
L4 = int(22.07 * GiB)


def test_layers_split_like_get_pp_indices_with_the_remainder_before_the_last_stage():
    # vllm/distributed/utils.py get_pp_indices; 61 layers over 4 stages is vLLM's documented example
    assert vllm_stages.partition(27, 2) == [14, 13]
    assert vllm_stages.partition(61, 4) == [15, 15, 16, 15]
    assert vllm_stages.partition(5, 3) == [2, 2, 1]
    assert vllm_stages.partition(61, 1) == [61]


def test_stages_hold_every_weight_once_plus_their_own_rotary_cache():
    spec = get_model("deepseek-v2-lite")
    whole, _ = sharded.device_weight_bytes(spec, "bf16", 2, 2, 1)
    parts = vllm_stages.stages(spec, "bf16", 2, 2)
    rope = sharded.rope_cache_bytes(spec)
    assert abs(sum(p.weights_bytes for p in parts) - (whole + rope)) <= 2
    # the first stage: 14 layers, one of them dense (first_k_dense_replace 1), and the embedding
    assert [p.layers for p in parts] == [14, 13] and parts[1].last and not parts[0].last


def test_only_the_last_stage_samples_in_the_profile_run():
    spec = get_model("deepseek-v2-lite")
    s = Settings(runtime="vllm", runtime_version="0.9.2")
    one = vllm_memory(spec, s, VllmOptions(tp=2, pp=2, max_model_len=1024, enforce_eager=True), L4)
    assert any("stage 1 of 2 binds" in n for n in one.notes)  # 14 layers + embedding, no sampler
    assert one.sampler_peak_bytes == 0
    # its pool holds 14 of 27 layers' latent rows: 576 x 2 bytes each
    assert one.kv_bytes_per_token == 14 * 576 * 2


def test_offloaded_weights_cost_v1_nothing_but_v0_copies_a_layer_back_while_it_runs():
    spec = get_model("deepseek-v2-lite")
    opts = VllmOptions(max_model_len=8192, cpu_offload_gb=13, enforce_eager=True)
    v1 = vllm_memory(spec, Settings(runtime="vllm", runtime_version="0.8.3"), opts, RTX3090)
    v0 = vllm_memory(spec, Settings(runtime="vllm", runtime_version="0.7.3"), opts, RTX3090)
    bare = {v: vllm_memory(spec, Settings(runtime="vllm", runtime_version=v),
                           VllmOptions(max_model_len=8192, enforce_eager=True), RTX3090) for v in ("0.8.3", "0.7.3")}
    moved = bare["0.8.3"].weights_bytes - v1.weights_bytes
    assert 13 * GiB <= moved < 13.7 * GiB  # up to one fused expert tensor (w13: 64 x 2816 x 2048 bf16) over
    assert v1.forward_peak_bytes == bare["0.8.3"].forward_peak_bytes
    # V0: one MoE layer (64 routed + 2 shared experts of 3 x 1408 x 2048, bf16: 1.06 GiB) rides on the forward
    assert 1.0 * GiB < v0.forward_peak_bytes - bare["0.7.3"].forward_peak_bytes < 1.15 * GiB
    assert any("UVA" in n for n in v1.notes) and any("one layer at a time" in n for n in v0.notes)


def test_v1_releases_before_0_8_3_fall_back_to_v0_for_cpu_offload():
    spec = get_model("deepseek-v2-lite")
    opts = VllmOptions(max_model_len=8192, cpu_offload_gb=13, enforce_eager=True)
    m = vllm_memory(spec, Settings(runtime="vllm", runtime_version="0.8.2"), opts, RTX3090)
    assert any("not supported by the V1 engine" in n for n in m.notes)
    assert any("one layer at a time" in n for n in m.notes)


def test_the_embedding_and_head_never_leave_the_gpu():
    spec = get_model("deepseek-v2-lite")
    m = vllm_memory(spec, Settings(runtime="vllm", runtime_version="0.8.3"),
                    VllmOptions(max_model_len=8192, cpu_offload_gb=100), RTX3090)
    # embedding and LM head (2 x 102400 x 2048 bf16 = 0.78 GiB), the rotary cache (0.04 GiB) and the
    # MLA W_UK/W_UV copies (27 x 512 x 16 x 256 bf16 = 0.11 GiB: made after loading, not parameters) stay
    assert 0.78 * GiB <= m.weights_bytes < 0.95 * GiB


def test_the_first_of_four_deepseek_v3_stages_holds_what_its_log_printed():
    # https://github.com/deepseek-ai/DeepSeek-V3/issues/205: vLLM 0.6.6, DeepSeek-V3 fp8 on 32 RTX 4090,
    # --tensor-parallel-size 8 --pipeline-parallel-size 4; the driver (first stage: layers 0-14, three
    # of them dense, and the embedding) printed "Loading model weights took 16.9583 GB" (GiB). Before
    # vLLM 0.7.1's MLA there are no W_UK/W_UV copies. Held out: nothing was fitted to it.
    first = vllm_stages.stages(get_model("deepseek-v3"), "fp8", 8, 4, post_per_layer=0.0)[0]
    assert first.layers == 15
    assert abs(first.weights_bytes / GiB - 16.9583) <= 0.02 * 16.9583
