"""vLLM 0.33.0: how the server sizes its memory at start-up, term by term. The vLLM KV pool
formula is `vllm_memory` below.

Read from the vllm 0.33.0 wheel (PyPI; vllm/_version.py commit 4ba787ec9); each term names its
file and function there. Per GPU (one worker process each):

1. v1/worker/gpu_worker.py Worker.init_device + v1/worker/utils.py request_memory: NCCL is
   initialised, then a snapshot; requested = ceil(total x --gpu-memory-utilization). vLLM
   refuses to start when less than that is free.
2. GPUModelRunner.load_model: "Model loading took X GiB" = the weights this rank holds
   (runtimes/sharded.py: TP shards, replicated MLA down-projections, rope cache, MLA W_UK/W_UV).
3. Worker.determine_available_memory: profile_run = one eager forward of max_num_batched_tokens
   tokens plus a sampler pass over min(max_num_seqs, tokens) requests (_dummy_run,
   _dummy_sampler_run); then the CUDA-graph memory estimate (profile_cudagraph_memory,
   VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS default 1 since 0.20). KV memory = requested -
   (weights + non-torch + torch activation peak) - CUDA-graph estimate (utils/mem_utils.py
   memory_profiling: total_consumed + transient peak headroom).
4. v1/core/kv_cache_planning.py: num_blocks = available // (page bytes x layers); errors when
   no block fits ("No available memory for the cache blocks") or one max_model_len request does
   not ("To serve at least one request ..."), with the estimated maximum length (binary search);
   --max-model-len auto/-1 shrinks max_model_len to what fits (_auto_fit_max_model_len).
5. Log: "GPU KV cache size: N tokens, Maximum concurrency for L tokens per request: C x" with
   C = num_blocks / cdiv(L, block_size) and N = int(C x L).

The activation peak and the non-torch / CUDA-graph sizes are not vLLM formulas: they are our
model of the profile run, checked against public logs (benchmarks/runtime_logs/vllm/) and one
measurement (benchmarks/vllm/sampler_peak-h200.json). Pure; the command parser is vllm_cli.py.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional

from deepseek_probe import memory
from deepseek_probe.runtimes import kvcache, vllm_releases, vllm_stages
from deepseek_probe.memo import memo
from deepseek_probe.profiles import PRECISIONS, ModelSpec
from deepseek_probe.findings import Finding
from deepseek_probe.runtimes.base import (CudaBuilds, Estimate, EstimateInputError, GiB, MiB, RocmBuild, Runtime,
                                          Settings, StartDevice)
from deepseek_probe.thresholds import CC_VLLM_MIN
from deepseek_probe.units import count, gib
from deepseek_probe.runtimes.sharded import device_weight_bytes
from deepseek_probe.records import field, record, replace

VLLM_VERSION = "0.33.0"

RUNTIME = Runtime(
    "vllm", ("fp32", "bf16", "fp16", "fp8", "int8", "int4"), ("bf16", "fp16", "fp8"), 0,
    "vLLM 0.33.0: --max-model-len defaults to the model's maximum (config/model.py "
    "_get_and_verify_max_len); --kv-cache-dtype auto|fp8; KV pool = ceil(util x total) - the rest",
    all_reduce_per_layer=True, fp8_marlin=True, versions=("0.5.0", VLLM_VERSION),
    label="vLLM", lower_precisions=("fp8", "int8", "int4"), kv_fix=("fp8", "--kv-cache-dtype fp8"),
    # v1/worker/utils.py request_memory: ceil(total x --gpu-memory-utilization) must be free
    reserves_fraction_of_total=True,
    tp_flag="--tensor-parallel-size {n}", nccl_workers=True,
    multinode_hint="vLLM: --tensor-parallel-size {tp} --pipeline-parallel-size {pp}",
    # vLLM docs, installation/gpu.cuda.inc.md: "vLLM contains pre-compiled C++ and CUDA (12.9)
    # binaries"; release wheels also for CUDA 12.8 and 13.0 (vLLM 0.18 install docs).
    cuda=CudaBuilds(
        "12.9", ("13.0", "12.8"), False,
        "install the vllm-<version>+cu{v} wheel from the vLLM GitHub release",
        "vLLM installation docs: default wheels CUDA 12.9, also 12.8 and 13.0"),
    # vLLM docs (GPU: compute capability 7.5 or higher; Marlin int4 needs 8.0; thresholds.py)
    min_compute_capability=CC_VLLM_MIN, int4_marlin=True, flash_attention_2=True,
    rocm_builds=(RocmBuild(
        "vllm", frozenset("gfx906 gfx908 gfx90a gfx942 gfx950 gfx1030 gfx1100 gfx1101 gfx1102 gfx1103 "
                          "gfx1150 gfx1151 gfx1152 gfx1153 gfx1200 gfx1201".split()),
        "vllm-project/vllm CMakeLists.txt HIP_SUPPORTED_ARCHS (commit 000a1ee9)"),),
    # vLLM docs, "Installation > GPU": Linux only, Windows through WSL; no Metal backend
    native_windows=False)

# --kv-cache-dtype -> bytes per element (None = "auto": the model dtype). config/cache.py
# CacheDType; the fp8 family is stored as uint8 (utils STR_DTYPE_TO_TORCH_DTYPE).
KV_DTYPE_BYTES: Dict[str, Optional[int]] = {
    "auto": None, "bfloat16": 2, "float16": 2, "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1, "fp8_inc": 1,
    "fp8_ds_mla": 1,
}
# --quantization -> the precision our weight math uses (profiles.PRECISIONS: fp8 with 128x128
# block scales, int4 with group-128 scales and zeros: awq.py / gptq.py create_weights).
QUANT_TO_PRECISION: Dict[str, str] = {
    "fp8": "fp8", "fbgemm_fp8": "fp8", "modelopt": "fp8", "ptpc_fp8": "fp8",
    "awq": "int4", "awq_marlin": "int4", "gptq": "int4", "gptq_marlin": "int4", "moe_wna16": "int4",
    "experts_int8": "int8",
}

# engine/arg_utils.py EngineArgs.get_batch_defaults (0.33.0), `vllm serve` (OPENAI_API_SERVER):
# >= 160 GiB: 16384 tokens / 1024 seqs; >= 70 GiB and not an A100: 8192 / 1024; else 2048 / 256.
BIG_GPU_BYTES, LARGE_GPU_BYTES = 160 * GiB, 70 * GiB
# Block size: platforms/cuda.py check_and_update_config sets 16; MLA backends need 64
# (FlashMLA / Triton MLA; CUTLASS MLA on Blackwell uses 128).
BLOCK_SIZE, MLA_BLOCK_SIZE, MLA_BLOCK_SIZE_BLACKWELL = 16, 64, 128
# Sampler of the profile run: bytes per (request x vocab) logit above the model-dtype logits.
# PyTorch-native top-k/top-p (full sort, masks, scatter, softmax, exponential): 36.0 B,
# measured (benchmarks/vllm/sampler_peak-h200.json, torch 2.11, H200, 6 shapes). FlashInfer
# (default on CUDA; a hard dependency of the 0.33 wheel) samples without the sort: the fp32
# copy of the logits plus FlashInfer's fp32 probabilities, 8 B (not measured: FlashInfer
# does not run on our host).
SAMPLER_NATIVE_BYTES, SAMPLER_FLASHINFER_BYTES = 36.0, 8.0
# fused_moe.py fused_experts_impl: tokens are processed in chunks of VLLM_FUSED_MOE_CHUNK_SIZE.
FUSED_MOE_CHUNK = 32768
# Memory outside torch after the profile run: cuBLAS/cuBLASLt workspaces, kernels loaded after
# the snapshot (0.13 GiB on one H100, 0.14 GiB for a 70B: llm-d benchmark logs, vLLM 0.11), and
# with TP > 1 NCCL / custom all-reduce buffers created at the first collective (+0.42 GiB at TP2
# on H100s, same source). Users' logs, not our measurement.
NON_TORCH_BYTES = int(0.13 * GiB)
NON_TORCH_TP_BYTES = int(0.42 * GiB)
# CUDA graphs: vLLM 0.33 captures two sizes and extrapolates (profile_cudagraph_memory); the
# public logs of "Graph capturing finished ... took X GiB" show 0.45-0.74 GiB for 1.5B-8B models
# at TP1 and 0.65 GiB at TP2 (benchmarks/runtime_logs/vllm/). We take 0.5 GiB + 0.15 GiB with TP.
CUDA_GRAPH_BYTES = GiB // 2
CUDA_GRAPH_TP_BYTES = int(0.15 * GiB)
# The process's CUDA context sits outside the utilization budget (created before the snapshot):
# 621 MiB measured on the H100 (benchmarks/groundtruth/groundtruth-h100.json).
CUDA_CONTEXT_BYTES = 621 * MiB


@record(frozen=True, many=True)
class VllmOptions:
    """`vllm serve` flags (and environment) that shape memory, with vLLM 0.33.0's defaults
    (engine/arg_utils.py EngineArgs). None = vLLM decides (from the model or the GPU)."""

    model: Optional[str] = None
    tp: int = 1
    pp: int = 1
    dp: int = 1  # one engine per DP rank: memory per GPU as with dp = 1
    distributed_executor_backend: Optional[str] = None  # ray / mp / ... as given (None: vLLM picks)
    enable_expert_parallel: bool = False
    max_model_len: Optional[int] = None  # None: the model's derived maximum
    max_model_len_auto: bool = False  # --max-model-len auto / -1
    gpu_memory_utilization: float = 0.9
    dtype: str = "auto"
    quantization: Optional[str] = None
    kv_cache_dtype: str = "auto"
    max_num_seqs: Optional[int] = None
    max_num_batched_tokens: Optional[int] = None
    enforce_eager: bool = False
    cpu_offload_gb: float = 0.0
    block_size: Optional[int] = None
    kv_cache_memory_bytes: Optional[int] = None  # skips profiling and the utilization budget
    flashinfer_sampler: bool = True  # VLLM_USE_FLASHINFER_SAMPLER (default 1)
    cudagraph_in_budget: bool = True  # VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS (default 1)
    allow_long_max_model_len: bool = False  # VLLM_ALLOW_LONG_MAX_MODEL_LEN=1
    # Older engines, for replaying their logs (benchmarks/runtime_logs/vllm_replay.py): the V0
    # engine profiles max(max_model_len, 2048) tokens when chunked prefill is off, and only its
    # driver rank samples (worker/model_runner.py profile_run; the other ranks' peak is the forward).
    v0_engine: bool = False
    sampler_in_profile: bool = True
    vllm_release: str = VLLM_VERSION  # whose DeepSeek-V4 group arithmetic applies (kvcache.vllm_v4_need)
    mtp_layers: int = 0  # MTP draft layers with their own KV (--speculative-config with MTP)
    # Release-dependent (runtimes/vllm_releases.py): VLLM_USE_V1 (None = unset), VLLM_MLA_DISABLE=1,
    # VLLM_USE_FLASHINFER_SAMPLER as set (None = unset), --[no-]enable-chunked-prefill (None = unset)
    use_v1: Optional[bool] = None
    mla_disable: bool = False
    flashinfer_sampler_env: Optional[bool] = None
    enable_chunked_prefill: Optional[bool] = None
    mla_cache_align: Optional[bool] = None  # VLLM_(MLA_)CUDA_MEM_ALIGN_KV_CACHE as set (None = unset)
    # --enable-lora / --max-loras / --max-lora-rank (config/lora.py LoRAConfig defaults 1 and 16)
    enable_lora: bool = False
    max_loras: int = 1
    max_lora_rank: int = 16
    speculative_mtp: bool = False  # --speculative-config method mtp: the model's own MTP draft (V4: vllm_v4.py)

    def __post_init__(self) -> None:
        for name in ("tp", "pp", "dp"):
            if getattr(self, name) < 1:
                raise EstimateInputError(f"vllm: --{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.gpu_memory_utilization <= 1:
            raise EstimateInputError("vllm: --gpu-memory-utilization must be in (0, 1], got "
                                     f"{self.gpu_memory_utilization}")
        if self.kv_cache_dtype not in KV_DTYPE_BYTES:
            raise EstimateInputError(f"vllm: --kv-cache-dtype {self.kv_cache_dtype!r} is not one of "
                                     f"{', '.join(KV_DTYPE_BYTES)}")
        if self.cpu_offload_gb < 0:
            raise EstimateInputError(f"vllm: --cpu-offload-gb must be >= 0, got {self.cpu_offload_gb}")


@record(many=True)
class VllmMemory:
    """One GPU's memory as vLLM (0.33.0, or `version`) would size it (bytes unless named otherwise)."""

    version: str
    tp: int
    pp: int
    max_model_len: int
    max_num_batched_tokens: int
    max_num_seqs: int
    block_size: int
    precision: str
    kv_bytes_per_token: float  # all layers this GPU holds
    weights_bytes: int
    activation_bytes: int  # torch peak increase of the profile run
    forward_peak_bytes: int
    sampler_peak_bytes: int
    non_torch_bytes: int
    cuda_graph_bytes: int  # estimated CUDA-graph pool
    graphs_in_budget: bool = True  # False: captured after the KV pool is sized (on top of the budget)
    gpu_total_bytes: Optional[int] = None
    requested_bytes: Optional[int] = None
    kv_available_bytes: Optional[int] = None  # "Available KV cache memory"
    num_blocks: Optional[int] = None
    kv_tokens: Optional[int] = None  # "GPU KV cache size" (V0: "# GPU blocks" x block size)
    max_concurrency: Optional[float] = None  # "Maximum concurrency for max_model_len tokens"
    kv_needed_bytes: int = 0  # one request of max_model_len
    estimated_max_model_len: Optional[int] = None
    starts: Optional[bool] = None
    error: Optional[str] = None  # what vLLM would raise, verbatim format
    notes: List[str] = field(default_factory=list)


# -- defaults ------------------------------------------------------------------------------
def batch_defaults(gpu_total_bytes: Optional[int], gpu_name: str = "") -> tuple:
    """(max_num_batched_tokens, max_num_seqs) `vllm serve` picks (get_batch_defaults, 0.33.0).
    Without a GPU size: the large-GPU tier (H100/H200), the common serving host."""
    if gpu_total_bytes is None:
        return 8192, 1024
    if gpu_total_bytes >= BIG_GPU_BYTES:
        return 16384, 1024
    if gpu_total_bytes >= LARGE_GPU_BYTES and "a100" not in gpu_name.lower():
        return 8192, 1024
    return 2048, 256


def block_size_for(spec: ModelSpec, opts: VllmOptions, compute_capability: Optional[float]) -> int:
    if opts.block_size:
        return opts.block_size
    if spec.family == "deepseek_v4":
        return kvcache.VLLM_V4_BLOCK_SIZE
    if spec.is_mla:
        return MLA_BLOCK_SIZE_BLACKWELL if (compute_capability or 0) >= 10 else MLA_BLOCK_SIZE
    return BLOCK_SIZE


def weight_precision(s: Settings, opts: VllmOptions) -> str:
    if opts.quantization:
        q = QUANT_TO_PRECISION.get(opts.quantization)
        if q is None:
            raise EstimateInputError(f"vllm: --quantization {opts.quantization} is not modelled "
                                     f"(modelled: {', '.join(sorted(QUANT_TO_PRECISION))})")
        return q
    if opts.dtype in ("float", "float32") and PRECISIONS[s.precision].kind == "float":
        return "fp32"
    return s.precision


def kv_dtype_name(s: Settings, opts: VllmOptions) -> str:
    """kvcache.py's dtype name: fp8 for the fp8 family, else the asked KV precision."""
    if KV_DTYPE_BYTES[opts.kv_cache_dtype] == 1:
        return "fp8"
    if opts.kv_cache_dtype == "auto" and opts.dtype in ("float", "float32"):
        return "fp32"
    return s.kv_precision


def _v4_options(opts: VllmOptions, tokens: int, block_size: int) -> dict:
    """kvcache.vllm_v4_need's options: in-flight tokens, block size, release, MTP layers."""
    return dict(max_num_batched_tokens=tokens, block_size=block_size, vllm_release=opts.vllm_release,
                mtp_layers=opts.mtp_layers)


def kv_bytes_per_token(spec: ModelSpec, kv_dtype: str, tp: int, pp: int, context: int) -> float:
    """KV bytes per token on one GPU (kv_cache_interface.py page sizes / block_size): GQA
    2 x max(1, kv_heads/TP) x head_dim x dtype per layer; MLA one 576-wide latent row, not split
    by TP; V3.2 fp8_ds_mla 656 B + 132 B indexer keys (kvcache.py). Layers / PP on the heaviest
    stage. V4's windowed layers make the per-token cost depend on the context: averaged here."""
    def per_token(t: int) -> float:
        return kvcache.kv_cache_bytes(spec, t, 1, kv_dtype, "vllm", tp) / t * math.ceil(spec.layers / pp) / spec.layers

    if spec.family in memory.SPARSE_CACHE_FAMILIES:  # windowed / compressed layers: depends on t
        return per_token(max(1, context))
    return memo("vllm.kv_bytes_per_token", (spec, kv_dtype, tp, pp), lambda: per_token(1024))


# -- the profile run -----------------------------------------------------------------------
def forward_peak_bytes(spec: ModelSpec, tokens: int, tp: int, act_bytes: int = 2) -> int:
    """Torch peak of the eager dummy forward (attention is not run in the profile: no metadata).
    Dense MLP: residual + normed input + all-reduce output (3 x hidden) and gate_up (2 x I/TP) +
    SiLU-and-mul output (I/TP) per token; fits the V0 0.6.4 logs of vllm#10517 (20000 and 29000
    tokens) within 0.5 %. MoE layers (fused_moe.py fused_experts_impl): chunks of M = min(T,
    32768) tokens x top_k rows of cache13 (max(N, K)) and cache2 (N / 2), N = 2 x moe_inter / TP,
    K = hidden, plus fp32 router logits, over 3 hidden-sized buffers."""
    h = spec.hidden
    peak = tokens * (3 * h + 3 * spec.intermediate // tp) * act_bytes if spec.dense_layers else 0
    if spec.is_moe:
        m = min(tokens, FUSED_MOE_CHUNK)
        n = 2 * spec.moe_intermediate // tp
        moe = m * spec.experts_per_token * (max(n, h) + n // 2) * act_bytes
        moe += tokens * 3 * h * act_bytes + tokens * spec.routed_experts * 4
        peak = max(peak, moe)
    return int(peak)


def sampler_peak_bytes(spec: ModelSpec, tokens: int, seqs: int, flashinfer: bool, act_bytes: int = 2) -> int:
    """_dummy_sampler_run: the dummy forward's hidden states stay alive while logits of
    min(seqs, tokens) requests x vocab are sampled with top-k and top-p."""
    r = min(seqs, tokens)
    per = SAMPLER_FLASHINFER_BYTES if flashinfer else SAMPLER_NATIVE_BYTES
    return int(tokens * spec.hidden * act_bytes + r * spec.vocab * (act_bytes + per))


# -- texts vLLM prints (verbatim formats, 0.33.0) ------------------------------------------
def _gib(b: float) -> str:
    """vllm/utils/mem_utils.py format_gib: round(b / 2^30, 2), printed with %s."""
    return str(round(b / GiB, 2))


def no_memory_text() -> str:
    """v1/core/kv_cache_planning.py _check_enough_kv_cache_memory, available <= 0."""
    return ("No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when "
            "initializing the engine (this flag also controls CPU memory reservation on the CPU backend, "
            "despite its name). See https://docs.vllm.ai/en/latest/configuration/conserving_memory/ for more "
            "details.")


def not_enough_text(max_model_len: int, needed: float, available: float, estimated: int) -> str:
    """_check_enough_kv_cache_memory, one max_model_len request does not fit."""
    est = (f"Based on the available memory, the estimated maximum model length is {estimated}. "
           if estimated > 0 else "")
    return (f"To serve at least one request with the model's max seq len ({max_model_len}), "
            f"({_gib(needed)} GiB KV cache is needed, which is larger than the available KV cache memory "
            f"({_gib(available)} GiB). {est}Try increasing `gpu_memory_utilization` (which also controls CPU "
            "memory on the CPU backend) or decreasing `max_model_len` when initializing the engine. See "
            "https://docs.vllm.ai/en/latest/configuration/conserving_memory/ for more details.")


def free_memory_text(free: int, total: int, util: float, requested: int) -> str:
    """v1/worker/utils.py request_memory (device printed as cuda:0)."""
    return (f"Free memory on device cuda:0 ({_gib(free)}/{_gib(total)} GiB) on startup is less than desired "
            f"GPU memory utilization ({util}, {_gib(requested)} GiB). Decrease GPU memory utilization or "
            "reduce GPU memory used by other processes.")


def too_long_text(max_model_len: int, derived: int) -> str:
    """config/model.py _get_and_verify_max_len (the key named as our catalog's maximum)."""
    return (f"User-specified max_model_len ({max_model_len}) is greater than the derived max_model_len "
            f"(max_position_embeddings={derived} or model_max_length=None in model's config.json). To allow "
            "overriding this maximum, set the env var VLLM_ALLOW_LONG_MAX_MODEL_LEN=1. VLLM_ALLOW_LONG_MAX_MODEL_LEN "
            "must be used with extreme caution. If the model uses relative position encoding (RoPE), positions "
            "exceeding derived_max_model_len lead to nan. If the model uses absolute position encoding, positions "
            "exceeding derived_max_model_len will cause a CUDA array out-of-bounds error.")


def auto_fit_failed_text() -> str:
    """kv_cache_utils.py _auto_fit_max_model_len, nothing fits."""
    return ("Cannot auto-fit max_model_len: not enough GPU memory available to serve even a single token. "
            "Try increasing `gpu_memory_utilization`.")


# -- the accounting ------------------------------------------------------------------------
def options_for(s: Settings, opts: Optional[VllmOptions]) -> VllmOptions:
    """The parsed command's options, else vLLM's defaults with the Settings' TP and utilization."""
    if opts is not None:
        return opts
    return VllmOptions(tp=s.tensor_parallel, gpu_memory_utilization=s.gpu_memory_utilization,
                       max_model_len=s.context)


def vllm_memory(spec: ModelSpec, settings: Settings, opts: Optional[VllmOptions],
                gpu_total_bytes: Optional[int], gpu_free_bytes: Optional[int] = None,
                gpu_name: str = "", non_torch_bytes: Optional[int] = None) -> VllmMemory:
    """What vLLM 0.33.0 sizes on each GPU. `gpu_total_bytes`: one GPU's size as torch sees it
    (None to plan without a device: then only the fixed terms and the need of one request).
    `gpu_free_bytes`: free memory at start (NVML free), for the start-up check.
    `non_torch_bytes`: memory outside torch when measured (a log's "non_torch_memory"), else
    NON_TORCH_BYTES (+ NON_TORCH_TP_BYTES with several GPUs)."""
    o = options_for(settings, opts)
    rl = vllm_releases.rules(spec, settings.runtime_version, o, settings.mla_cache)
    o = vllm_releases.era_options(rl, o)
    tp, pp = o.tp, o.pp
    derived = spec.max_context
    max_len = o.max_model_len if o.max_model_len is not None else derived
    tokens_d, seqs_d = vllm_releases.batch_defaults(rl, max_len, batch_defaults(gpu_total_bytes, gpu_name))
    tokens = o.max_num_batched_tokens or tokens_d
    seqs = min(o.max_num_seqs or seqs_d, tokens)
    precision = weight_precision(settings, o)
    kv_dtype = kv_dtype_name(settings, o)
    bs = o.block_size or (BLOCK_SIZE if rl.decompressed_mla or (spec.is_mla and rl.mla_block_16)
                          else block_size_for(spec, o, settings.gpu_compute_capability))
    fixed = vllm_releases.fixed_kv_bytes_per_token(rl, spec, 1 if kv_dtype == "fp8" else 2, tp, pp)
    per_token = fixed or kv_bytes_per_token(spec, kv_dtype, tp, pp, max_len)
    weights, post = device_weight_bytes(spec, precision, tp, tp, pp)
    weights, post, notes = vllm_releases.mla_post_load(rl, spec, precision, tp, pp, weights, post)
    act_b = 4 if precision == "fp32" else 2
    if spec.family == "deepseek_v4" and precision == "fp8":  # the published checkpoint, as vLLM builds it (vllm_v4.py)
        from deepseek_probe.runtimes import vllm_v4
        if o.speculative_mtp and not o.mtp_layers:
            o = replace(o, mtp_layers=spec.mtp_layers)
        v4_terms = vllm_v4.memory_terms(spec, tp, o.enable_expert_parallel, tokens, max_len, o.mtp_layers > 0)
        weights, fwd = v4_terms.weights_bytes, v4_terms.forward_peak_bytes
    else:
        fwd = forward_peak_bytes(spec, tokens, tp, act_b)
        if o.speculative_mtp:
            notes.append("--speculative-config method mtp: the MTP draft is modelled for DeepSeek-V4 (fp8) only")
    lora = vllm_releases.lora_weight_bytes(spec, o.max_loras, o.max_lora_rank, tp, act_b) if o.enable_lora else 0
    offload = int(o.cpu_offload_gb * GiB)
    weights = max(0, weights + lora - offload)
    smp = sampler_peak_bytes(spec, tokens, seqs, o.flashinfer_sampler, act_b) if o.sampler_in_profile else 0
    if non_torch_bytes is None:
        if rl.v0_engine:
            non_torch_bytes = vllm_releases.V0_NON_TORCH_BYTES
        else:
            non_torch_bytes = NON_TORCH_BYTES + (NON_TORCH_TP_BYTES if tp * pp > 1 else 0)
            non_torch_bytes += CUDA_CONTEXT_BYTES if rl.context_in_non_torch else 0
    non_torch = non_torch_bytes
    graphs = 0 if o.enforce_eager else CUDA_GRAPH_BYTES + (CUDA_GRAPH_TP_BYTES if tp > 1 else 0)
    staged = None  # pipeline stages / --cpu-offload-gb: the stage that binds (runtimes/vllm_stages.py)
    if (pp > 1 or offload) and spec.family != "deepseek_v4":
        room = math.ceil(gpu_total_bytes * o.gpu_memory_utilization) - non_torch - graphs * o.cudagraph_in_budget \
            if gpu_total_bytes else None
        staged = vllm_stages.binding(spec, precision, tp, pp, offload, per_token, fwd, smp, lora, rl.v0_engine,
                                     post * pp / spec.layers, room)
        weights, fixed, fwd, smp = staged.terms
        per_token = fixed
    m = VllmMemory(version=rl.label, tp=tp, pp=pp, max_model_len=max_len, max_num_batched_tokens=tokens,
                   max_num_seqs=seqs, block_size=bs, precision=precision, kv_bytes_per_token=per_token,
                   weights_bytes=weights, activation_bytes=max(fwd, smp), forward_peak_bytes=fwd,
                   sampler_peak_bytes=smp, non_torch_bytes=non_torch, cuda_graph_bytes=graphs,
                   graphs_in_budget=o.cudagraph_in_budget)
    m.notes.extend(rl.notes)
    v4 = _v4_options(o, tokens, bs) if spec.family == "deepseek_v4" else None
    m.kv_needed_bytes = _needed(spec, kv_dtype, tp, pp, max_len, bs, v4, fixed)
    if v4:
        m.kv_bytes_per_token = m.kv_needed_bytes / max_len
    if lora:
        m.notes.append(f"--enable-lora: {lora / GiB:.2f} GiB of LoRA weights ({o.max_loras} x rank {o.max_lora_rank})")
    m.notes += notes
    if post and not rl.mla_absorbed:
        m.notes.append(f"weights include {post / GiB:.2f} GiB of W_UK/W_UV copies (MLA weight absorption)")
    if staged:
        m.notes += vllm_stages.notes(staged, spec, pp, o.cpu_offload_gb, uva=not rl.v0_engine)
    elif offload:
        m.notes.append(f"--cpu-offload-gb {o.cpu_offload_gb:g}: {offload / GiB:.2f} GiB of weights stay in host memory")
    if o.enable_expert_parallel:
        m.notes.append("--enable-expert-parallel: whole experts per GPU; the same bytes as TP-split experts")
    if max_len > derived and not o.allow_long_max_model_len:
        m.starts, m.error = False, "ValueError: " + too_long_text(max_len, derived)
        return m
    if not gpu_total_bytes:
        return m

    m.gpu_total_bytes = gpu_total_bytes
    m.requested_bytes = math.ceil(gpu_total_bytes * o.gpu_memory_utilization)
    if gpu_free_bytes is not None and gpu_free_bytes < m.requested_bytes and o.kv_cache_memory_bytes is None:
        m.starts = False
        m.error = "ValueError: " + free_memory_text(gpu_free_bytes, gpu_total_bytes, o.gpu_memory_utilization,
                                                    m.requested_bytes)
        return m
    if o.kv_cache_memory_bytes is not None:
        avail = o.kv_cache_memory_bytes
    else:
        avail = m.requested_bytes - weights - m.activation_bytes - non_torch
        avail -= graphs if o.cudagraph_in_budget else 0
    m.kv_available_bytes = avail
    if avail <= 0:
        m.starts, m.error = False, "ValueError: " + (vllm_releases.v0_no_blocks_text() if rl.v0_engine
                                                      else no_memory_text())
        return m
    block_bytes = per_token * bs
    if rl.v0_engine:  # worker.py determine_num_available_blocks / raise_if_cache_size_invalid
        m.num_blocks = int(avail // block_bytes)
        m.kv_tokens = m.num_blocks * bs
        m.max_concurrency = m.kv_tokens / max_len
        m.starts = m.num_blocks > 0 and m.kv_tokens >= max_len
        if not m.starts:
            m.error = "ValueError: " + (vllm_releases.v0_refusal_text(max_len, m.kv_tokens) if m.num_blocks
                                        else vllm_releases.v0_no_blocks_text())
        return m
    if o.max_model_len_auto:
        fit = _longest_fitting(spec, kv_dtype, tp, pp, bs, avail, derived, v4, fixed)
        if fit <= 0:
            m.starts, m.error = False, "ValueError: " + auto_fit_failed_text()
            return m
        if fit < derived:
            m.notes.append(f"Auto-fit max_model_len: reduced from {derived} to {fit} to fit in available KV "
                           f"cache memory ({_gib(avail)} GiB GPU)")
        m.max_model_len = max_len = min(fit, derived)
        m.kv_needed_bytes = _needed(spec, kv_dtype, tp, pp, max_len, bs, v4, fixed)
        if v4:
            m.kv_bytes_per_token = m.kv_needed_bytes / max_len
    if v4:  # hybrid groups sharing one block pool (kvcache.vllm_v4_capacity)
        m.num_blocks, m.max_concurrency, m.kv_tokens = kvcache.vllm_v4_capacity(spec, avail, max_len, kv_dtype, **v4)
    else:
        m.num_blocks = int(avail // block_bytes)
        m.max_concurrency = m.num_blocks / math.ceil(max_len / bs)
        m.kv_tokens = m.num_blocks * bs if rl.kv_tokens_from_blocks else int(m.max_concurrency * max_len)
    if m.kv_needed_bytes > avail:
        m.estimated_max_model_len = _longest_fitting(spec, kv_dtype, tp, pp, bs, avail, max_len, v4, fixed)
        m.starts = False
        m.error = "ValueError: " + not_enough_text(max_len, m.kv_needed_bytes, avail, m.estimated_max_model_len)
        return m
    m.starts = True
    return m


def _needed(spec: ModelSpec, kv_dtype: str, tp: int, pp: int, length: int, bs: int,
            v4: Optional[dict] = None, fixed: Optional[float] = None) -> int:
    """Bytes one request of `length` tokens takes: whole blocks (kv_cache_interface.py
    max_memory_usage_bytes = cdiv(length, block_size) x page bytes, per layer). DeepSeek-V4:
    its groups' pages incl. the sliding-window and compressor-state reserve (kvcache.vllm_v4_need)."""
    if v4 is not None:
        return sum(kvcache.vllm_v4_need(spec, length, kv_dtype, **v4)[0].values())
    padded = math.ceil(length / bs) * bs
    return int((fixed or kv_bytes_per_token(spec, kv_dtype, tp, pp, padded)) * padded)


def _longest_fitting(spec: ModelSpec, kv_dtype: str, tp: int, pp: int, bs: int, avail: int, top: int,
                     v4: Optional[dict] = None, fixed: Optional[float] = None) -> int:
    """estimate_max_model_len: binary search for the longest length whose need fits; 0 if none."""
    if _needed(spec, kv_dtype, tp, pp, 1, bs, v4, fixed) > avail:
        return 0
    lo, hi = 1, top
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _needed(spec, kv_dtype, tp, pp, mid, bs, v4, fixed) <= avail:
            lo = mid
        else:
            hi = mid - 1
    return lo


# -- the runtime registry interface (base.RuntimeModel) --------------------------------------
def account(spec: ModelSpec, s: Settings, est: Estimate, device_total_bytes: Optional[int]) -> None:
    """Fill est with vLLM's terms. Per GPU = what vLLM's budget (util x total) must hold; the
    CUDA context comes on top (est.notes). With a device size and a pool that holds the request,
    vLLM fills the whole budget with KV blocks; without, the least one needs for
    settings.context x settings.concurrency tokens."""
    opts = s.runtime_options if isinstance(s.runtime_options, VllmOptions) else None
    m = vllm_memory(spec, s, opts, device_total_bytes)
    d = est.per_device
    d.weights_bytes = m.weights_bytes
    d.activation_bytes = m.activation_bytes
    d.runtime_overhead_bytes = m.non_torch_bytes + m.cuda_graph_bytes
    want = int(m.kv_bytes_per_token * s.context * s.concurrency)
    if spec.family == "deepseek_v4" and m.max_model_len == s.context:  # V4 per token = total / max_len: the total
        want = m.kv_needed_bytes * s.concurrency
    d.kv_cache_bytes = want
    min_need = m.weights_bytes + m.activation_bytes + d.runtime_overhead_bytes + want
    d.total_bytes = min_need
    if m.starts and m.kv_available_bytes is not None and (m.kv_tokens or 0) >= s.context * s.concurrency:
        d.kv_cache_bytes = m.kv_available_bytes
        d.total_bytes = (m.requested_bytes or min_need) + (0 if m.graphs_in_budget else m.cuda_graph_bytes)
    est.notes["vllm"] = {
        "version": m.version, "max_model_len": m.max_model_len, "max_num_batched_tokens": m.max_num_batched_tokens,
        "max_num_seqs": m.max_num_seqs, "block_size": m.block_size,
        "kv_bytes_per_token": round(m.kv_bytes_per_token, 1), "requested_bytes": m.requested_bytes,
        "kv_available_bytes": m.kv_available_bytes, "kv_tokens": m.kv_tokens,
        "max_concurrency": None if m.max_concurrency is None else round(m.max_concurrency, 2),
        "kv_needed_bytes": m.kv_needed_bytes, "estimated_max_model_len": m.estimated_max_model_len,
        "cuda_context_bytes": CUDA_CONTEXT_BYTES, "starts": m.starts, "error": m.error, "notes": list(m.notes),
    }
    est.notes["gpu_memory_utilization"] = (opts or options_for(s, None)).gpu_memory_utilization
    est.notes["min_need_bytes"] = min_need
    est.sources.update({
        "weights_bytes": "TP-sharded linears, replicated MLA down-projections and router, vocab-parallel "
                         "embedding, rope cache, MLA W_UK/W_UV copies (runtimes/sharded.py; vllm 0.33 "
                         "models/deepseek_v2.py, layers/linear.py); minus --cpu-offload-gb",
        "activation_bytes": "profile run (gpu_model_runner.py profile_run): max(eager forward of "
                            "max_num_batched_tokens, sampler over max_num_seqs x vocab: FlashInfer 8 B, "
                            "native 36 B measured per logit)",
        "runtime_overhead_bytes": "non-torch 0.13 GiB (+0.42 GiB with TP) and CUDA graphs 0.5 GiB (+0.15 with TP), "
                                  "from public vLLM logs (benchmarks/runtime_logs/vllm)",
        "kv_cache_bytes": "kv_cache_planning.py: ceil(util x total) - weights - activation - non-torch - "
                          "CUDA graphs, in blocks of block_size x page bytes (kv_cache_interface.py)",
        "total_bytes": "util x total when the pool holds the request (vLLM fills its budget with KV blocks), "
                       "else the minimum need; the CUDA context comes on top",
    })
    if spec.family == "deepseek_v4" and m.precision == "fp8":
        est.sources["weights_bytes"] = ("DeepSeek-V4 as vLLM builds it: replicated fused_wqa_wkv / indexer / "
                                        "compressors, TP-split wq_b / wo_a / wo_b / shared expert, MXFP4 experts "
                                        "split over TP or EP ranks, buffers, the MTP draft (runtimes/vllm_v4.py)")


def host_ram_bytes(spec: ModelSpec, s: Settings, est: Estimate) -> int:
    """One worker per GPU streaming safetensors shards, plus --cpu-offload-gb of weights."""
    opts = s.runtime_options if isinstance(s.runtime_options, VllmOptions) else None
    offload = int((opts.cpu_offload_gb if opts else 0) * GiB)
    return memory.python_runtime_host_bytes(spec, s, workers=s.tensor_parallel) + offload * s.tensor_parallel


def start_finding(spec: ModelSpec, settings: Settings, device: StartDevice) -> Finding:
    """vllm.start: whether `vllm serve` starts on this GPU, in vLLM's words (vllm_memory)."""
    opts = settings.runtime_options if isinstance(settings.runtime_options, VllmOptions) else None
    total, free = device.cuda_total_bytes, device.free_bytes
    m = vllm_memory(spec, settings, opts, total, free, gpu_name=device.name)
    if m.error:
        fix = "lower --max-model-len" if "max seq len" in m.error or "max_model_len" in m.error else \
            "raise --gpu-memory-utilization, add GPUs (--tensor-parallel-size) or use a smaller precision"
        if m.estimated_max_model_len:
            fix = (f"--max-model-len {m.estimated_max_model_len} (the longest that fits), or raise "
                   "--gpu-memory-utilization")
        if "Free memory on device" in m.error:
            fix = f"--gpu-memory-utilization {int(free / total * 100) / 100:.2f} or free the GPU"
        return Finding("vllm.start", "fail", f"vLLM {m.version} would refuse to start: {m.error}",
                       measured=m.kv_tokens or 0, required=m.max_model_len, suggestion=fix)
    return Finding("vllm.start", "pass",
                   f"vLLM {m.version} starts: --max-model-len {count(m.max_model_len)}; KV cache "
                   f"{gib(m.kv_available_bytes or 0)} = {count(m.kv_tokens or 0)} tokens; maximum concurrency "
                   f"{m.max_concurrency:.2f}x for {count(m.max_model_len)} tokens per request",
                   measured=m.kv_tokens, required=m.max_model_len)
