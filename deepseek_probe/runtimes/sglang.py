"""SGLang 0.5.5: how the server sizes its memory at start-up, term by term.

Read from the sglang 0.5.5 wheel (PyPI, python/sglang/version.py "0.5.5"); every constant
names its file and function there. The order at start-up (one process per GPU):

1. server_args.py ServerArgs._handle_gpu_memory_settings: chunked_prefill_size and
   cuda_graph_max_bs by GPU size (nvidia-smi memory.total, MiB), then, when
   --mem-fraction-static is not given, mem_fraction_static = (gpu_mem - reserved_mem) / gpu_mem
   with reserved_mem its own estimate (MiB) of activations and CUDA graphs.
2. model_runner.py ModelRunner.init_torch_distributed: `min_per_gpu_memory` = free memory
   (torch.cuda.mem_get_info, GiB) after CUDA context and NCCL, before the weights.
3. ModelRunner.load_model: weights ("Load weight end. ... mem usage=X GB").
4. ModelRunner.profile_max_num_token: rest = free_now - min_per_gpu_memory x (1 - f);
   max_total_num_tokens = rest x 2^30 // cell_size. So f x (free at start) holds weights + KV
   pool; (1 - f) x (free at start) is left for activations, CUDA graphs, req_to_token.
5. ModelRunner.init_memory_pool: page rounding, "Not enough memory" when <= 0, then the
   req_to_token pool and the KV pool (mem_cache/memory_pool.py) are allocated.
6. tp_worker.py TpModelWorker.__init__: max_running_requests.

Pure: no I/O, no printing. The launch-command parser is in sglang_cli.py.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from deepseek_probe import memory
from deepseek_probe.profiles import PRECISIONS, ModelSpec
from deepseek_probe.findings import Finding
from deepseek_probe.runtimes.base import (CudaBuilds, Estimate, EstimateInputError, GiB, MiB, Runtime, Settings,
                                          StartDevice)
from deepseek_probe.units import count
from deepseek_probe.runtimes.sharded import device_weight_bytes
from deepseek_probe.runtimes import sglang_versions, versions
from deepseek_probe.records import field, record

SGLANG_VERSION = "0.5.5"

RUNTIME = Runtime(
    "sglang", ("bf16", "fp16", "fp8", "int8", "int4"), ("bf16", "fp16", "fp8"), 0,
    "SGLang 0.5.5: --context-length defaults to the model's maximum (model_config.py); "
    "--kv-cache-dtype auto|fp8_e4m3|fp8_e5m2|bf16; static pool = mem_fraction_static x free memory",
    all_reduce_per_layer=True, label="SGLang",
    # docs.sglang.io references/multi_node_deployment: --nnodes / --node-rank / --dist-init-addr;
    # server_args.py --pp-size
    multinode_hint="SGLang: --tp {tp} --pp-size {pp} --nnodes {pp} --node-rank <i> --dist-init-addr host:port",
    # sglang 0.5.5's wheel METADATA pins torch==2.8.0, whose default PyPI wheel is built with
    # CUDA 12.8 (PyTorch 2.8 install matrix; cu126 and cu129 on download.pytorch.org).
    cuda=CudaBuilds(
        "12.8", ("12.9", "12.6"), False,
        "pip install torch==2.8.0 --index-url https://download.pytorch.org/whl/cu{v}",
        "sglang 0.5.5 wheel: torch==2.8.0 (default wheel cu128; cu126/cu129 on download.pytorch.org)"),
    # like vLLM: Linux only (Windows through WSL2), CUDA and ROCm kernels, no Metal backend
    native_windows=False,
    # releases modelled: runtimes/sglang_versions.py (0.4.0 - 0.5.2 defaults), this module (0.5.5)
    versions=(sglang_versions.OLDEST, sglang_versions.NEWEST))

# --quantization value -> the precision our weight math uses (profiles.PRECISIONS).
# awq/gptq (+ marlin repacks, moe_wna16): 4-bit, group 128; fp8 family: 1 byte + scales.
QUANT_TO_PRECISION: Dict[str, str] = {
    "fp8": "fp8", "w8a8_fp8": "fp8", "modelopt_fp8": "fp8", "modelopt": "fp8",
    "awq": "int4", "awq_marlin": "int4", "gptq": "int4", "gptq_marlin": "int4", "marlin": "int4",
    "moe_wna16": "int4", "w8a8_int8": "int8",
}
# ModelRunner.init_memory_pool: --kv-cache-dtype -> bytes per element (None = "auto": the model
# dtype, bf16/fp16 = 2). fp4_e2m1 is modelled only through the MLA formula of
# profile_max_num_token (packed half byte + one scale byte per 16 elements).
KV_DTYPE_BYTES: Dict[str, Optional[float]] = {
    "auto": None, "bf16": 2, "bfloat16": 2, "fp8_e4m3": 1, "fp8_e5m2": 1, "fp4_e2m1": 0.5,
}

# -- server_args.py ServerArgs._handle_gpu_memory_settings (0.5.5), GPU sizes in MiB ---------
# (upper bound MiB, chunked_prefill_size, cuda_graph_max_bs if tp < 4, if tp >= 4); NPU rows
# left out. "< 20 GiB: T4/4080", "< 35: A10/4090/5090", "< 60: A100-40G/L40", "< 90: H100/A100-80",
# "< 160: H20/H200", else B200/MI300.
_GPU_TIERS: Tuple[Tuple[float, int, int, int], ...] = (
    (20 * 1024, 2048, 8, 8),
    (35 * 1024, 2048, 24, 80),
    (60 * 1024, 4096, 32, 160),
    (90 * 1024, 8192, 256, 512),
    (160 * 1024, 8192, 256, 512),
    (float("inf"), 16384, 512, 512),
)
MAX_PREFILL_TOKENS_DEFAULT = 16384  # server_args.py ServerArgs.max_prefill_tokens

# ModelRunner.init_memory_pool: req_to_token rows are context_len + 4 wide (the "FIXME(lsyin)"
# extra_max_context_len), int32; max_num_reqs default min(max(tokens/context*512, 2048), 4096).
REQ_EXTRA_CONTEXT = 4
REQ_POOL_MIN, REQ_POOL_MAX = 2048, 4096

# Free memory before the weights when only the device size is known: the CUDA context
# (621 MiB, measured on H100, benchmarks/groundtruth/groundtruth-h100.json) plus NCCL/custom all-reduce
# buffers with TP > 1: "Init torch distributed ends. mem usage=2.01 GB" at TP8 on H200
# (sgl-project/sglang PR #11716 log). With a probe, pass the measured free memory instead.
CUDA_CONTEXT_BYTES = 621 * MiB
DISTRIBUTED_INIT_BYTES = int(2.01 * GiB)


@record(frozen=True)
class SglangOptions:
    """`python -m sglang.launch_server` flags that shape memory; defaults as server_args.py
    ServerArgs (0.5.5). None = SGLang decides (by GPU size or model)."""

    model_path: Optional[str] = None
    tp: int = 1  # tp_size: int = 1
    dp: int = 1  # dp_size: int = 1
    pp: int = 1  # pp_size: int = 1 (pipeline stages: not modelled beyond a note)
    mem_fraction_static: Optional[float] = None  # None: _handle_gpu_memory_settings
    context_length: Optional[int] = None  # None: the model's max_position_embeddings
    kv_cache_dtype: str = "auto"
    quantization: Optional[str] = None  # None: the checkpoint's own format
    dtype: str = "auto"  # "float32" doubles the KV element and weights of a bf16 checkpoint
    max_running_requests: Optional[int] = None
    max_total_tokens: Optional[int] = None
    chunked_prefill_size: Optional[int] = None  # None: by GPU size
    max_prefill_tokens: int = MAX_PREFILL_TOKENS_DEFAULT
    cuda_graph_max_bs: Optional[int] = None  # None: by GPU size and TP
    disable_cuda_graph: bool = False
    enable_dp_attention: bool = False
    page_size: Optional[int] = None  # None: 1 (_handle_page_size), 64 for DeepSeek NSA
    speculative_algorithm: Optional[str] = None
    allow_longer_context: bool = False  # env SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN=1

    def __post_init__(self) -> None:
        for name in ("tp", "dp", "pp"):
            if getattr(self, name) < 1:
                raise EstimateInputError(f"sglang: --{name}-size must be >= 1, got {getattr(self, name)}")
        f = self.mem_fraction_static
        if f is not None and not 0 < f < 1:
            raise EstimateInputError(f"sglang: --mem-fraction-static must be between 0 and 1, got {f}")
        if self.kv_cache_dtype not in KV_DTYPE_BYTES:
            raise EstimateInputError(f"sglang: --kv-cache-dtype {self.kv_cache_dtype!r} is not one of "
                                     f"{', '.join(KV_DTYPE_BYTES)}")
        if self.enable_dp_attention and self.tp % self.dp:
            raise EstimateInputError(f"sglang: --tp-size {self.tp} is not a multiple of --dp-size {self.dp}")


@record
class SglangMemory:
    """One GPU's memory as SGLang 0.5.5 would size it (bytes unless named otherwise)."""

    version: str
    tp: int
    attn_tp: int  # attention TP size: tp / dp with --enable-dp-attention
    mem_fraction_static: float
    mem_fraction_static_auto: bool
    chunked_prefill_size: int
    cuda_graph_max_bs: int
    page_size: int
    context_len: int
    precision: str
    kv_dtype_bytes: float
    weights_bytes: int
    cell_size_bytes: int  # KV bytes per token, all layers (profile_max_num_token)
    gpu_total_bytes: Optional[int] = None
    free_at_start_bytes: Optional[int] = None
    static_bytes: Optional[int] = None  # f x free at start: weights + KV pool
    kv_budget_bytes: Optional[int] = None  # static - weights
    max_total_num_tokens: Optional[int] = None
    kv_pool_bytes: Optional[int] = None  # as allocated ("KV Cache is allocated" K + V)
    req_pool_reqs: Optional[int] = None
    req_pool_bytes: Optional[int] = None
    max_running_requests: Optional[int] = None
    max_context: Optional[int] = None  # longest request it accepts: min(context_len, tokens) - 1
    headroom_bytes: Optional[int] = None  # (1 - f) x free at start - req_to_token pool
    free_after_pools_bytes: Optional[int] = None  # "Memory pool end. avail mem=": before graphs
    activation_reserve_bytes: int = 0  # SGLang's own estimate for a chunked prefill
    cuda_graph_reserve_bytes: int = 0  # SGLang's own estimate for CUDA graphs
    starts: Optional[bool] = None
    error: Optional[str] = None  # the text SGLang would raise
    warnings: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


# -- defaults ------------------------------------------------------------------------------
def gpu_tier_defaults(gpu_mem_mib: Optional[float], tp: int) -> Tuple[int, int]:
    """(chunked_prefill_size, cuda_graph_max_bs) SGLang picks for a GPU of `gpu_mem_mib`
    (server_args.py _handle_gpu_memory_settings); None = no GPU seen: 4096 and 160."""
    if gpu_mem_mib is None:
        return 4096, 160
    for bound, chunk, bs_small, bs_large in _GPU_TIERS:
        if gpu_mem_mib < bound:
            return chunk, (bs_small if tp < 4 else bs_large)
    raise AssertionError("unreachable: last tier is unbounded")


def auto_mem_fraction_static(gpu_mem_mib: Optional[float], opts: SglangOptions, chunked: int,
                             graph_bs: int) -> float:
    """server_args.py _handle_gpu_memory_settings: reserved_mem (MiB) = 512 constant metadata
    + max(chunked_prefill_size, 2048) x 1.5 for prefill activations (max_prefill_tokens when
    chunking is off) + cuda_graph_max_bs x 2 + tp x pp / 8 x 1024; DP attention adds
    cuda_graph_max_bs x dp x 3 (and x 1.5 more past bs 300); at least 10 GiB on GPUs over 60 GiB;
    EAGLE-style drafts +2 GiB, STANDALONE +6 GiB. f = round((gpu_mem - reserved) / gpu_mem, 3);
    0.88 when the GPU size is unknown."""
    if gpu_mem_mib is None:
        return 0.88
    reserved = 512.0
    reserved += max(chunked if chunked > 0 else opts.max_prefill_tokens, 2048) * 1.5
    reserved += graph_bs * 2
    reserved += opts.tp * opts.pp / 8 * 1024
    if opts.enable_dp_attention:
        reserved += graph_bs * opts.dp * 3
        if graph_bs > 300:
            reserved += graph_bs * opts.dp * 1.5
    if gpu_mem_mib > 60 * 1024:
        reserved = max(reserved, 10 * 1024)
    algo = (opts.speculative_algorithm or "").upper()
    if algo == "STANDALONE":
        reserved += 6 * 1024
    elif algo and algo != "NGRAM":
        reserved += 2 * 1024
    return round((gpu_mem_mib - reserved) / gpu_mem_mib, 3)


# -- weights -------------------------------------------------------------------------------
def weight_precision(spec: ModelSpec, s: Settings, opts: SglangOptions) -> str:
    """--quantization wins; else the precision asked (the checkpoint's own by default)."""
    if opts.quantization:
        q = QUANT_TO_PRECISION.get(opts.quantization.lower())
        if q is None:
            raise EstimateInputError(f"sglang: --quantization {opts.quantization} is not modelled "
                                     f"(modelled: {', '.join(sorted(QUANT_TO_PRECISION))})")
        return q
    if opts.dtype == "float32" and PRECISIONS[s.precision].kind == "float":
        return "fp32"
    return s.precision


# -- KV cache ------------------------------------------------------------------------------
def _nsa_index_head_dim(spec: ModelSpec) -> int:
    return int(getattr(spec, "index_head_dim", 0) or 0)


def cell_size_bytes(spec: ModelSpec, kv_bytes: float, attn_tp: int) -> int:
    """ModelRunner.profile_max_num_token `cell_size`, bytes per token over all layers.
    MLA: (kv_lora_rank + qk_rope_head_dim) x layers x element size (not split by TP); fp4:
    half of that + (kv_lora_rank + rope) // 16 scale bytes per layer. DeepSeek NSA (V3.2) adds
    the indexer: (index_head_dim + index_head_dim // 128 x 4) x layers x 1 byte (uint8 buffer,
    NSATokenToKVPool.quant_block_size 128). MHA/GQA: max(1, kv_heads // attn_tp) x head_dim x
    layers x 2 x element size (model_config.py get_num_kv_heads)."""
    L = spec.layers
    if spec.is_mla:
        dim = spec.kv_lora_rank + spec.qk_rope_head_dim
        if kv_bytes == 0.5:
            cell = (dim * L * 1) // 2 + (dim // 16) * L * 1
        else:
            cell = int(dim * L * kv_bytes)
        idx = _nsa_index_head_dim(spec)
        if idx:
            cell += (idx + idx // 128 * 4) * L
        return cell
    heads = max(1, spec.kv_heads // attn_tp)
    # torch element size of float4_e2m1fn_x2 is 1 byte: profile counts fp4 MHA as 1 byte
    return int(heads * spec.head_dim * L * 2 * max(kv_bytes, 1))


def kv_pool_bytes(spec: ModelSpec, tokens: int, page: int, kv_bytes: float, attn_tp: int) -> int:
    """Bytes the pool allocates (memory_pool.py): every layer buffer has size + page_size rows
    (the padded slot 0). MHATokenToKVPool: K and V of max(1, kv_heads // attn_tp) x head_dim.
    MLATokenToKVPool: one (kv_lora_rank + rope) row. NSATokenToKVPool with an fp8 cache stores
    kv_lora_rank fp8 + kv_lora_rank // 128 x 4 scale bytes + rope in bf16 (override_kv_cache_dim),
    and an indexer buffer of (size + page + 1) // page pages x page x (index_head_dim +
    index_head_dim // 128 x 4) bytes per layer."""
    rows, L = tokens + page, spec.layers
    if spec.is_mla:
        dim = spec.kv_lora_rank + spec.qk_rope_head_dim
        idx = _nsa_index_head_dim(spec)
        if idx and kv_bytes == 1:
            per_row = spec.kv_lora_rank + spec.kv_lora_rank // 128 * 4 + spec.qk_rope_head_dim * 2
        elif kv_bytes == 0.5:
            per_row = dim // 2 + dim // 16
        else:
            per_row = dim * kv_bytes
        total = int(rows * per_row) * L
        if idx:
            total += ((tokens + page + 1) // page) * page * (idx + idx // 128 * 4) * L
        return total
    heads = max(1, spec.kv_heads // attn_tp)
    return int(2 * rows * heads * spec.head_dim * max(kv_bytes, 1)) * L


def profiled_tokens(free_before_weights_bytes: int, free_after_weights_bytes: int, mem_fraction_static: float,
                    cell_bytes: int) -> int:
    """ModelRunner.profile_max_num_token, in its GiB floats: rest = available_gpu_memory (after
    the weights) - min_per_gpu_memory (before them) x (1 - mem_fraction_static);
    max_num_token = int(rest x 2^30 // cell_size). Negative when the weights overrun the
    static fraction (SGLang then raises "Not enough memory")."""
    rest_gib = free_after_weights_bytes / GiB - free_before_weights_bytes / GiB * (1 - mem_fraction_static)
    return int(rest_gib * (1 << 30) // cell_bytes)


def not_enough_memory_text(mem_fraction_static: float) -> str:
    """model_runner.py ModelRunner.init_memory_pool, verbatim format (an f-string with `=`)."""
    return ("Not enough memory. Please try to increase --mem-fraction-static. "
            f"Current value: self.server_args.mem_fraction_static={mem_fraction_static}")


def context_too_long_text(context_length: int, derived: int) -> str:
    """configs/model_config.py ModelConfig._derive_context_length, verbatim format."""
    return (f"Warning: User-specified context_length ({context_length}) is greater than the derived "
            f"context_length ({derived}). This may lead to incorrect model outputs or CUDA errors. "
            "Note that the derived context_length may differ from max_position_embeddings in the "
            "model's config. To allow overriding this maximum, set the env var "
            "SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN=1")


def free_at_start_bytes(gpu_total_bytes: int, tp: int) -> int:
    """Free memory SGLang measures before loading weights when no probe measured it."""
    return gpu_total_bytes - CUDA_CONTEXT_BYTES - (DISTRIBUTED_INIT_BYTES if tp > 1 else 0)


def options_for(s: Settings, opts: Optional[SglangOptions]) -> SglangOptions:
    """The options to use: the parsed command's, else defaults with the Settings' TP and
    --context-length (as vllm.options_for sets --max-model-len: the command the row prints)."""
    if opts is None:
        return SglangOptions(tp=s.tensor_parallel, context_length=s.context)
    return opts


# -- the accounting ------------------------------------------------------------------------
def sglang_memory(spec: ModelSpec, settings: Settings, opts: Optional[SglangOptions],
                  gpu_total_bytes: Optional[int],
                  gpu_free_bytes: Optional[int] = None) -> SglangMemory:
    """What SGLang 0.5.5 sizes on each GPU. `gpu_total_bytes` is one GPU's size (nvidia-smi
    memory.total), None to plan without a device (then only the per-token and weight terms and
    the defaults for an unknown GPU). `gpu_free_bytes`: free memory before the weights, when a
    probe measured it (NVML free minus the CUDA context); default: total - context - NCCL."""
    o = options_for(settings, opts)
    tp = o.tp
    attn_tp = tp // o.dp if o.enable_dp_attention else tp
    if spec.is_mla is False and spec.heads % attn_tp and attn_tp > 1:
        raise EstimateInputError(f"sglang: {spec.heads} attention heads do not split over TP {attn_tp}")
    gpu_mib = gpu_total_bytes / MiB if gpu_total_bytes else None
    release = versions.resolve(RUNTIME, settings.runtime_version) or (0, 5, 5)
    current = release >= sglang_versions.CHUNK_GRAPH_RESERVE  # 0.5.3+: this module's defaults
    if current:
        chunk_d, bs_d = gpu_tier_defaults(gpu_mib, tp)
        if (release < sglang_versions.SMALL_GPU_GRAPH_BS_24 and gpu_mib is not None
                and 20 * 1024 <= gpu_mib < 35 * 1024 and tp < 4):
            bs_d = 16  # 0.5.3 / 0.5.4 server_args.py _handle_gpu_memory_settings
    else:
        chunk_d, bs_d = sglang_versions.chunk_and_graph_bs(release, gpu_mib, tp)
    chunked = o.chunked_prefill_size if o.chunked_prefill_size is not None else chunk_d
    graph_bs = o.cuda_graph_max_bs if o.cuda_graph_max_bs is not None else bs_d
    f_auto = o.mem_fraction_static is None
    if not f_auto:
        f = o.mem_fraction_static
    elif current:
        f = auto_mem_fraction_static(gpu_mib, o, chunked, graph_bs)
    else:
        f = sglang_versions.mem_fraction_static(release, gpu_mib, o.tp, o.pp, o.speculative_algorithm,
                                                o.enable_dp_attention)
    nsa = _nsa_index_head_dim(spec) > 0
    page = o.page_size if o.page_size is not None else (64 if nsa else 1)  # _handle_page_size / NSA

    derived = spec.max_context
    context_len = o.context_length if o.context_length is not None else derived
    precision = weight_precision(spec, settings, o)
    kvb = KV_DTYPE_BYTES[o.kv_cache_dtype]
    if kvb is None:  # "auto": the model dtype (init_memory_pool); fp32 only with --dtype float32
        kvb = 4 if o.dtype == "float32" else 2
    if kvb == 2 and o.kv_cache_dtype == "auto" and settings.kv_precision == "fp8":
        kvb = 1  # the question asked for an fp8 cache: the user will pass --kv-cache-dtype fp8_e4m3
    w, post = device_weight_bytes(spec, precision, tp, attn_tp)
    cell = cell_size_bytes(spec, kvb, attn_tp)
    label = SGLANG_VERSION if settings.runtime_version is None else versions.label(release)
    m = SglangMemory(version=label, tp=tp, attn_tp=attn_tp, mem_fraction_static=f,
                     mem_fraction_static_auto=f_auto, chunked_prefill_size=chunked,
                     cuda_graph_max_bs=graph_bs, page_size=page, context_len=context_len,
                     precision=precision, kv_dtype_bytes=kvb, weights_bytes=w, cell_size_bytes=cell)
    m.activation_reserve_bytes = int(max(chunked if chunked > 0 else o.max_prefill_tokens, 2048) * 1.5 * MiB)
    m.cuda_graph_reserve_bytes = 0 if o.disable_cuda_graph else int(graph_bs * 2 * MiB)
    if post:
        m.notes.append(f"weights include {post / GiB:.2f} GiB of w_kc/w_vc copies (post_load_weights)")
    if o.pp > 1:
        m.notes.append("pipeline parallelism (--pp-size) not modelled: layers are not split here")
    if o.speculative_algorithm:
        m.notes.append(f"speculative decoding ({o.speculative_algorithm}) not modelled: draft weights "
                       "and draft KV are missing")
    if context_len > derived and not o.allow_longer_context:
        m.starts = False
        m.error = "ValueError: " + context_too_long_text(context_len, derived)
        return m
    if not gpu_total_bytes:
        return m

    free0 = gpu_free_bytes if gpu_free_bytes is not None else free_at_start_bytes(gpu_total_bytes, tp)
    m.gpu_total_bytes, m.free_at_start_bytes = gpu_total_bytes, free0
    m.static_bytes = int(free0 * f)
    m.kv_budget_bytes = int(((free0 - w) / GiB - free0 / GiB * (1 - f)) * GiB)
    tokens = profiled_tokens(free0, free0 - w, f, cell)
    if o.max_total_tokens is not None:  # init_memory_pool: a cap, never a raise
        if o.max_total_tokens > tokens:
            m.warnings.append(f"max_total_tokens={o.max_total_tokens} is larger than the profiled value "
                              f"{tokens}. Use the profiled value instead.")
        tokens = min(tokens, o.max_total_tokens)
    tokens = tokens // page * page
    m.max_total_num_tokens = tokens
    if tokens <= 0:
        m.starts = False
        m.error = "RuntimeError: " + not_enough_memory_text(f)
        return m

    reqs = o.max_running_requests
    if reqs is None:
        reqs = min(max(int(tokens / context_len * 512), REQ_POOL_MIN), REQ_POOL_MAX)
    reqs += sglang_versions.extra_req_slots(release)  # ReqToTokenPool size (+1 before 0.4.7)
    m.req_pool_reqs = reqs
    m.req_pool_bytes = reqs * (context_len + REQ_EXTRA_CONTEXT) * 4
    m.kv_pool_bytes = kv_pool_bytes(spec, tokens, page, kvb, attn_tp)
    per_dp = o.max_running_requests // (o.dp if o.enable_dp_attention else 1) if o.max_running_requests else None
    m.max_running_requests = min(tokens // 2 if per_dp is None else per_dp, reqs)
    m.max_context = min(context_len - 1, tokens - 1)
    m.headroom_bytes = int(free0 * (1 - f)) - m.req_pool_bytes - (m.kv_pool_bytes - tokens * cell)
    m.free_after_pools_bytes = free0 - w - m.kv_pool_bytes - m.req_pool_bytes
    if m.max_running_requests <= 0:  # tp_worker.py: assert self.max_running_requests > 0
        m.starts = False
        m.error = "AssertionError: max_running_request is zero"
        return m
    m.starts = True
    # SGLang sized (1 - f) for its own activation + graph estimate (reserved_mem); below the
    # graph estimate alone, capture is very likely to fail (no measurement of ours: a warning).
    if m.headroom_bytes < m.cuda_graph_reserve_bytes:
        m.warnings.append(
            f"only {m.headroom_bytes / GiB:.2f} GiB left outside the static pool (SGLang budgets "
            f"{(m.activation_reserve_bytes + m.cuda_graph_reserve_bytes) / GiB:.2f} GiB for activations and "
            "CUDA graphs): expect CUDA out of memory at graph capture or the first long prefill "
            "(lower --mem-fraction-static, --cuda-graph-max-bs or --chunked-prefill-size)")
    want = settings.context * settings.concurrency
    if tokens < want:
        m.warnings.append(f"the KV pool holds {tokens} tokens < {settings.context} x {settings.concurrency} "
                          "requested; SGLang starts but queues or rejects requests past it")
    return m


def sglang_min_gpu_bytes(spec: ModelSpec, settings: Settings, opts: Optional[SglangOptions],
                         step_bytes: int = GiB // 4) -> int:
    """Smallest GPU (bytes, on a `step_bytes` grid) on which SGLang starts and its KV pool holds
    settings.context x settings.concurrency tokens, with these options (auto
    mem_fraction_static re-derived for each size, as SGLang does). For planning without a device."""
    o = options_for(settings, opts)
    want = settings.context * settings.concurrency
    first = sglang_memory(spec, settings, o, None)
    if first.error:
        raise EstimateInputError(f"sglang: {first.error}")

    def ok(total: int) -> bool:
        m = sglang_memory(spec, settings, o, total)
        return bool(m.starts) and (m.max_total_num_tokens or 0) >= want

    lo, hi = step_bytes, max(step_bytes, first.weights_bytes * 2 + want * first.cell_size_bytes * 2 + 16 * GiB)
    while not ok(hi):
        hi *= 2
        if hi > 1 << 50:
            raise EstimateInputError("sglang: no GPU size makes this configuration start")
    # the auto fraction steps with GPU tiers, so scan down coarsely then refine by bisection
    lo = step_bytes
    while hi - lo > step_bytes:
        mid = (lo + hi) // 2 // step_bytes * step_bytes
        if mid <= lo:
            break
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi



# -- the runtime registry interface (base.RuntimeModel) --------------------------------------
def account(spec: ModelSpec, s: Settings, est: Estimate, device_total_bytes: Optional[int]) -> None:
    """Fill est with SGLang's terms. With a device size: what the process holds once started
    (context + weights + KV pool + req_to_token pool + SGLang's own graph/activation budget).
    Without: the least it needs for settings.context x settings.concurrency tokens."""
    opts = s.runtime_options if isinstance(s.runtime_options, SglangOptions) else None
    m = sglang_memory(spec, s, opts, device_total_bytes)
    d = est.per_device
    d.weights_bytes = m.weights_bytes
    d.activation_bytes = m.activation_reserve_bytes
    tp = m.tp
    context_bytes = CUDA_CONTEXT_BYTES + (DISTRIBUTED_INIT_BYTES if tp > 1 else 0)
    want = s.context * s.concurrency
    if m.max_total_num_tokens is not None and m.starts:
        d.kv_cache_bytes = m.kv_pool_bytes or 0
        req = m.req_pool_bytes or 0
        context_bytes = (m.gpu_total_bytes or 0) - (m.free_at_start_bytes or 0)
        # SGLang's activation budget is a loose upper bound; what is left outside the pools caps it
        d.activation_bytes = max(0, min(m.activation_reserve_bytes,
                                        (m.headroom_bytes or 0) - m.cuda_graph_reserve_bytes))
    else:
        d.kv_cache_bytes = kv_pool_bytes(spec, want, m.page_size, m.kv_dtype_bytes, m.attn_tp)
        reqs = opts.max_running_requests if opts and opts.max_running_requests else REQ_POOL_MIN
        req = reqs * (m.context_len + REQ_EXTRA_CONTEXT) * 4
    d.runtime_overhead_bytes = context_bytes + req + m.cuda_graph_reserve_bytes
    d.total_bytes = d.weights_bytes + d.kv_cache_bytes + d.activation_bytes + d.runtime_overhead_bytes
    est.notes["sglang"] = {
        "version": m.version, "mem_fraction_static": m.mem_fraction_static,
        "mem_fraction_static_auto": m.mem_fraction_static_auto, "chunked_prefill_size": m.chunked_prefill_size,
        "cuda_graph_max_bs": m.cuda_graph_max_bs, "page_size": m.page_size, "context_len": m.context_len,
        "cell_size_bytes": m.cell_size_bytes, "max_total_num_tokens": m.max_total_num_tokens,
        "max_running_requests": m.max_running_requests, "max_context": m.max_context,
        "starts": m.starts, "error": m.error, "warnings": list(m.warnings), "notes": list(m.notes),
        "min_need_bytes": None if m.error else sglang_min_gpu_bytes(spec, s, opts) if device_total_bytes is None else None,
    }
    est.sources.update({
        "weights_bytes": "linear weights / TP (attention / attention-TP with DP attention), MLA a-projections, "
                         "norms and router replicated, rope cos/sin cache fp32, MLA w_kc/w_vc bf16 copies "
                         "(sglang 0.5.5 models/deepseek_v2.py, layers/rotary_embedding.py)",
        "kv_cache_bytes": "model_runner.py profile_max_num_token: (f x free before weights - weights) // cell; "
                          "memory_pool.py pools allocate size + page_size rows",
        "activation_bytes": "server_args.py _handle_gpu_memory_settings budget: max(chunked_prefill_size, 2048) x 1.5 MiB",
        "runtime_overhead_bytes": "CUDA context (621 MiB measured) + NCCL (2.01 GB at TP8, PR #11716 log) + "
                                  "req_to_token int32 pool + cuda_graph_max_bs x 2 MiB (server_args budget)",
    })


def host_ram_bytes(spec: ModelSpec, s: Settings, est: Estimate) -> int:
    """One scheduler process per GPU, each streaming safetensors shards (as vLLM)."""
    tp = s.runtime_options.tp if isinstance(s.runtime_options, SglangOptions) else s.tensor_parallel
    return memory.python_runtime_host_bytes(spec, s, workers=tp)


def start_finding(spec: ModelSpec, settings: Settings, device: StartDevice) -> Finding:
    """sglang.start: whether SGLang starts on this GPU. Its GPU tiers read nvidia-smi's
    memory.total; its free memory before the weights is the probe's free less its own CUDA
    context and NCCL (free_at_start_bytes)."""
    opts = settings.runtime_options if isinstance(settings.runtime_options, SglangOptions) else None
    tp = opts.tp if opts else settings.tensor_parallel
    m = sglang_memory(spec, settings, opts, device.nvml_total_bytes,
                      max(0, free_at_start_bytes(device.free_bytes, tp)))
    if m.error:
        return Finding("sglang.start", "fail", f"SGLang {m.version} would refuse to start: {m.error}",
                       suggestion="raise --mem-fraction-static, add GPUs (--tp) or lower --context-length")
    text = (f"SGLang {m.version} starts: mem_fraction_static {m.mem_fraction_static:g}; KV pool "
            f"{count(m.max_total_num_tokens or 0)} tokens; context {count(m.context_len)}; "
            f"max_running_requests {count(m.max_running_requests or 0)}")
    status = "warn" if m.warnings else "pass"
    return Finding("sglang.start", status, text + ("; " + "; ".join(m.warnings) if m.warnings else ""),
                   measured=m.max_total_num_tokens, required=settings.context * settings.concurrency)
