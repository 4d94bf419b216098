"""What changed in which vLLM release (0.5 -> 0.33) for the memory `vllm serve` sizes at start-up.

runtimes/vllm.py models 0.33.0 term by term; `rules` below says, for an older release, which of
its terms differ. Each constant names the release that changed the behaviour and where (file /
function, pull request, or a public log line that shows it). Pure; no vLLM import.

- Engine. V0 (worker/worker.py determine_num_available_blocks) until V1 became the default in
  0.8.0 (envs.py VLLM_USE_V1 default "1"; 0.7.x had V1 as an opt-in alpha behind VLLM_USE_V1=1).
  VLLM_USE_V1=0 keeps V0 until the V0 engine was removed in 0.11.0.
- Chunked prefill. V0 has it off unless asked or max_model_len > 32K (arg_utils.py
  create_engine_config `use_long_context`, vllm#6666, first released in 0.5.4); without it the
  profile run is one batch of max(max_model_len, 2048) tokens (config.py SchedulerConfig).
  0.7.1-0.7.x force it off for MLA models, V1 too (config.py VllmConfig.__post_init__: "MLA is
  enabled; forcing chunked prefill and prefix caching to be disabled", printed by 0.7.1 and 0.7.3;
  0.8.4 prints it only "on a non-GPU platform").
- DeepSeek V2/V3 cache. Before MLA landed (vllm#12601, first in 0.7.1) deepseek_v2.py ran MHA over
  decompressed heads: K = qk_nope + qk_rope (192) and V padded to the same width, num_key_value_heads
  / TP heads per layer (config.py get_head_size's deepseek_v2 case), 16-token blocks, and no
  W_UK / W_UV copies. VLLM_MLA_DISABLE=1 (envs.py, with MLA in 0.7.1) asks for that path on later
  releases; `--mla-cache decompressed` means the same.
- DeepSeek V2/V3 MLA cache entries in V0 0.7.2-0.7.x: 256-byte aligned (vllm#12676, first in 0.7.2:
  worker/cache_engine.py _align_cache, envs.py VLLM_CUDA_MEM_ALIGN_KV_CACHE default "1"): a 576-wide
  bf16 entry takes 640 elements (1280 B instead of 1152, "~11% (wasted)"), fp8 768 B. The builds
  after 0.7.3 name it VLLM_MLA_CUDA_MEM_ALIGN_KV_CACHE; vllm#14842 removed it (2025-03-15, before
  0.8.0). Its logs show both: 4 GiB of swap / (64 x 61 x 1280 B) = 859 CPU blocks aligned, 954 not.
- DeepSeek V2/V3 MLA in V0 0.7.1-0.7.3: the absorbed W_Q_UK / W_UV_O matrices are materialized
  beside the weights (VLLM_MLA_PERFORM_MATRIX_ABSORPTION, default 1) until vllm#14770 ("MLA get rid
  of materialization", 2025-03, before 0.8.0): mla_post_load below.
- MLA block size: 16 (Triton MLA) until FlashMLA (vllm#13747, merged after 0.7.3) became the
  default on NVIDIA with 64-token blocks (vllm#14842: "With FlashMLA now being the default on
  Nvidia GPU"; its 0.7.4.dev V0 logs print 64-token blocks, vllm#12676's 0.7.2.dev log 16).
- Sampler in the profile run: V0 samples on the driver rank; V1 0.7.x does not (0.7.3
  gpu_model_runner.py has no _dummy_sampler_run; 0.8.0 has). FlashInfer's top-k/top-p replaces the
  PyTorch sort only where FlashInfer is installed: an optional extra (`vllm[flashinfer]`, wheel
  METADATA of 0.10.1.1 and 0.11.0) before 0.33.0's hard dependency; VLLM_USE_FLASHINFER_SAMPLER=1
  says it is installed.
- Pipeline parallel: V1 0.8.0-0.9.0 fall back to V0 for -pp > 1 unless the command names
  `--distributed-executor-backend ray` (arg_utils.py _is_v1_supported_oracle: "Pipeline Parallelism
  without Ray distributed executor ... Falling back to V0"; vllm#14219 also let an explicit mp
  through, in a release not traced, taken as V0 here; vllm#18915, first in 0.9.1, let the default
  through).
- `--cpu-offload-gb`: V1 0.8.0-0.8.2 fall back to V0 ("--cpu-offload-gb is not supported by the V1
  Engine. Falling back to V0", arg_utils.py in the 0.8.2 log of vllm#15871); V1 offloads from 0.8.3
  (vllm#15354, UVA). What is offloaded, and what each engine then charges: runtimes/vllm_stages.py.
- CUDA graphs: V0 captures them after the KV pool is sized (worker.py); V1 before 0.20 also puts them
  on top of the budget (VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS default 1 from 0.20).
- Memory outside torch: V1 0.7.0-0.9.0 (gpu_worker.py determine_available_memory, the "simple"
  formula from torch.cuda.mem_get_info) also charges the process's CUDA context. V0 measures it
  after the model load (worker.py, vllm#10511 memory_profiling): V0_NON_TORCH_BYTES.
- Memory outside torch across nodes (Ray object store and workers, NCCL over the network at TP or
  PP over two hosts): not modelled. No public log found for it; the three R1 TP8 V0 logs on one
  8 x H200 host leave ~8-13 GiB per GPU unexplained (NVSwitch NCCL/NVLS buffers are a candidate).
- "GPU KV cache size" / "# GPU blocks": V0 and V1 before 0.21 print blocks x block_size tokens;
  from 0.21, int(concurrency x max_model_len) (kv_cache_utils.py _report_kv_cache_config).
- Batch defaults: V0 256 sequences (SchedulerConfig max_num_seqs); chunked prefill's token budget
  512 in 0.5-0.6.4 ("Chunked prefill is enabled with max_num_batched_tokens=512" in 0.6.x logs) and
  2048 from 0.6.5 (0.7.3 logs). V1's token budget follows 0.33's per-GPU tiers (runtimes/vllm.py
  batch_defaults: 2048 on the A10/A100/RTX logs of 0.8-0.10, as those logs print); its
  max_num_seqs is 1024 on every GPU before 0.8.4 (vllm#16158), then 0.33's tiers.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, List, Optional, Protocol, Tuple, TypeVar

from deepseek_probe.runtimes import versions
from deepseek_probe.runtimes.base import GiB
from deepseek_probe.records import record, replace

if TYPE_CHECKING:
    from deepseek_probe.profiles import ModelSpec

Release = Tuple[int, ...]


class LaunchFlags(Protocol):
    """The fields of runtimes/vllm.py VllmOptions the release rules read (a Protocol, so this
    module does not import vllm.py, which imports it)."""

    max_model_len: Optional[int]
    use_v1: Optional[bool]
    mla_disable: bool
    enable_chunked_prefill: Optional[bool]
    enable_lora: bool
    mla_cache_align: Optional[bool]
    flashinfer_sampler: bool
    flashinfer_sampler_env: Optional[bool]
    cpu_offload_gb: float
    pp: int
    distributed_executor_backend: Optional[str]


Opts = TypeVar("Opts", bound=LaunchFlags)

NEWEST: Release = (0, 33, 0)
V1_OPT_IN: Release = (0, 7, 0)
V1_DEFAULT: Release = (0, 8, 0)
V0_REMOVED: Release = (0, 11, 0)
V1_PP_DEFAULT_BACKEND: Release = (0, 9, 1)  # vllm#18915: -pp > 1 without --distributed-executor-backend stays V1
V1_OFFLOAD: Release = (0, 8, 3)  # V1 offloads through UVA (vllm#15354); before, --cpu-offload-gb falls back to V0
LONG_CONTEXT_CHUNKED: Release = (0, 5, 4)
CHUNKED_BUDGET_2048: Release = (0, 6, 5)
MLA_CACHE: Release = (0, 7, 1)
MLA_ALIGNED: Release = (0, 7, 2)  # V0 MLA entries 256-byte aligned (vllm#12676) ...
MLA_ALIGN_REMOVED: Release = (0, 8, 0)  # ... until vllm#14842
FLASHMLA_BLOCKS: Release = (0, 7, 4)  # the builds after 0.7.3 (0.8.0 dev): FlashMLA's 64-token blocks
ALIGN_BYTES = 256  # vllm/utils.py align_to_256bytes
MLA_MATERIALIZED_END: Release = (0, 7, 4)  # vllm#14770 (2025-03, before 0.8.0); builds after 0.7.3 not traced
MLA_CHUNKED_ON_GPU: Release = (0, 8, 0)
V1_SAMPLER_IN_PROFILE: Release = (0, 8, 0)
V1_SIMPLE_FORMULA_END: Release = (0, 9, 1)  # 0.7.0 <= release < 0.9.1
CUDAGRAPHS_IN_BUDGET: Release = (0, 20, 0)
TOKENS_FROM_CONCURRENCY: Release = (0, 21, 0)
FLASHINFER_DEPENDENCY: Release = (0, 33, 0)
LONG_CONTEXT = 32768  # arg_utils.py use_long_context: max_model_len > 32K
V0_MAX_NUM_SEQS = 256
# V1 raised the default max_num_seqs to 1024 on every GPU; vllm#16158 (merged 2025-04-07, first in
# 0.8.4) put it back to 256 except on H100/H200 ("since many people have run into OOM when using
# V1": the profile's dummy sampler runs over max_num_seqs rows, vllm#15357).
V1_MAX_NUM_SEQS = 1024
V1_SEQS_REVERTED: Release = (0, 8, 4)
V0_MIN_BATCHED_TOKENS = 2048  # config.py _DEFAULT_MAX_NUM_BATCHED_TOKENS
# V0's non-torch memory after the model load ("non_torch_memory" of the V0 logs in
# benchmarks/runtime_logs/vllm: 0.35 GiB RTX 3090 TP1, 0.25 GiB RTX 4090 TP2, 0.30 GiB L40S TP2);
# the median, not split by TP (the TP2 logs are not larger). Fitted on those three logs only.
V0_NON_TORCH_BYTES = int(0.30 * GiB)


@record(frozen=True, many=True)
class Rules:
    """How one release sizes memory where it differs from 0.33.0."""

    release: Release
    v0_engine: bool
    chunked_prefill: bool  # False: the profile run is one batch of max(max_model_len, 2048) tokens
    decompressed_mla: bool  # DeepSeek V2/V3: full K/V per head, no latent cache
    kv_tokens_from_blocks: bool  # the printed token count is blocks x block_size
    context_in_non_torch: bool  # the CUDA context is charged to the budget
    mla_aligned: bool = False  # MLA cache entries padded to 256 bytes
    mla_block_16: bool = False  # MLA models get 16-token blocks (before FlashMLA)
    mla_absorbed: bool = False  # V0 MLA keeps the absorbed W_Q_UK / W_UV_O matrices
    notes: Tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return versions.label(self.release)


def release_of(version: Optional[str]) -> Release:
    """The asked release as (major, minor, patch); None or newer than modelled = 0.33.0."""
    if not version:
        return NEWEST
    r = versions.parse(version)
    if r is None:
        return NEWEST
    return min(r, NEWEST)


def rules(spec: "ModelSpec", version: Optional[str], opts: LaunchFlags, mla_cache: str = "latent") -> Rules:
    r = release_of(version)
    notes = []
    if r < V1_OPT_IN:
        v0 = True
    elif r < V1_DEFAULT:
        v0 = opts.use_v1 is not True
    elif r < V0_REMOVED:
        v0 = opts.use_v1 is False
        if not v0 and opts.cpu_offload_gb > 0 and r < V1_OFFLOAD:
            v0 = True
            notes.append(f"vLLM {versions.label(r)}: --cpu-offload-gb is not supported by the V1 engine; V0 is used")
        if not v0 and opts.pp > 1 and opts.distributed_executor_backend != "ray" and r < V1_PP_DEFAULT_BACKEND:
            v0 = True
            notes.append(f"vLLM {versions.label(r)}: pipeline parallelism without --distributed-executor-backend "
                         "ray is not supported by the V1 engine; V0 is used")
    else:
        v0 = False
        if opts.use_v1 is False:
            notes.append(f"VLLM_USE_V1=0 is ignored: vLLM {versions.label(r)} has only the V1 engine (V0 removed in 0.11.0)")
    if v0 and opts.use_v1 is False and r >= V1_DEFAULT:
        notes.append("VLLM_USE_V1=0: the V0 engine")
    decompressed = spec.is_mla and spec.family in ("deepseek_v2", "deepseek_v3") and (
        r < MLA_CACHE or opts.mla_disable or mla_cache == "decompressed")
    if decompressed:
        notes.append("DeepSeek cache decompressed: K and V per head (before vLLM 0.7.1's MLA, or VLLM_MLA_DISABLE=1)")
    max_len_long = (opts.max_model_len or spec.max_context) > LONG_CONTEXT
    if opts.enable_chunked_prefill is not None:
        chunked = opts.enable_chunked_prefill
    elif spec.is_mla and not decompressed and MLA_CACHE <= r < MLA_CHUNKED_ON_GPU:
        chunked = False
        notes.append(f"vLLM {versions.label(r)}: MLA forces chunked prefill off (the profile run takes max_model_len tokens)")
    elif v0:
        chunked = max_len_long and r >= LONG_CONTEXT_CHUNKED and not opts.enable_lora
    else:
        chunked = True
    if spec.is_mla and not decompressed and MLA_CACHE <= r < MLA_CHUNKED_ON_GPU and opts.enable_chunked_prefill:
        chunked = False  # forced off whatever was asked
    aligned = (v0 and spec.is_mla and not decompressed and spec.family in ("deepseek_v2", "deepseek_v3")
               and MLA_ALIGNED <= r < MLA_ALIGN_REMOVED and opts.mla_cache_align is not False)
    if aligned:
        notes.append(f"vLLM {versions.label(r)} V0: MLA cache entries padded to 256 bytes "
                     "(VLLM_CUDA_MEM_ALIGN_KV_CACHE=1, the default until 0.8.0)")
    absorbed = v0 and spec.is_mla and not decompressed and MLA_CACHE <= r < MLA_MATERIALIZED_END
    return Rules(release=r, v0_engine=v0, chunked_prefill=chunked, decompressed_mla=decompressed,
                 kv_tokens_from_blocks=r < TOKENS_FROM_CONCURRENCY,
                 context_in_non_torch=not v0 and V1_OPT_IN <= r < V1_SIMPLE_FORMULA_END,
                 mla_aligned=aligned, mla_block_16=r < FLASHMLA_BLOCKS, mla_absorbed=absorbed, notes=tuple(notes))


def era_options(rl: Rules, opts: Opts) -> Opts:
    """The options with the release's profile-run terms (identity for 0.33.0)."""
    if rl.release >= NEWEST:
        return opts
    flashinfer = opts.flashinfer_sampler and opts.flashinfer_sampler_env is True
    changes = dict(v0_engine=rl.v0_engine, flashinfer_sampler=flashinfer,
                   vllm_release=f"{rl.release[0]}.{rl.release[1]}.0")
    if rl.v0_engine or rl.release < CUDAGRAPHS_IN_BUDGET:
        changes["cudagraph_in_budget"] = False
    if not rl.v0_engine and rl.release < V1_SAMPLER_IN_PROFILE:
        changes["sampler_in_profile"] = False
    return replace(opts, **changes)  # type: ignore[type-var]  (a dataclass: VllmOptions)


def batch_defaults(rl: Rules, max_len: int, tiers: Tuple[int, int]) -> Tuple[int, int]:
    """(max_num_batched_tokens, max_num_seqs) when the command sets neither: `tiers` is 0.33's."""
    seqs = V0_MAX_NUM_SEQS if rl.v0_engine else (V1_MAX_NUM_SEQS if rl.release < V1_SEQS_REVERTED else tiers[1])
    if not rl.chunked_prefill:
        return max(max_len, V0_MIN_BATCHED_TOKENS), seqs
    if rl.v0_engine:
        return (2048 if rl.release >= CHUNKED_BUDGET_2048 else 512), seqs
    return tiers[0], seqs


def mla_post_load(rl: Rules, spec: "ModelSpec", precision: str, tp: int, pp: int, weights: int,
                  post: int) -> Tuple[int, int, List[str]]:
    """(weights, MLA tensors made after loading, notes) for the release. No MLA backend (the
    decompressed cache): none. V0 MLA 0.7.1-0.7.3 (attention/backends/mla/utils.py
    process_weights_after_loading, VLLM_MLA_PERFORM_MATRIX_ABSORPTION default 1) materializes, per
    layer, W_Q_UK = q_in x heads/TP x kv_lora_rank (q_in: q_lora_rank, else hidden) and W_UV_O =
    heads/TP x kv_lora_rank x hidden, requantized to fp8 for fp8 checkpoints (scaled_quantize; the
    block scales are left out) and in the activation dtype otherwise, instead of the W_UK/W_UV
    copies; vllm#14770 ("MLA get rid of materialization") removed them before 0.8.0."""
    if rl.decompressed_mla:
        return weights - post, 0, []
    if not rl.mla_absorbed:
        return weights, post, []
    n = (spec.heads // tp) * (spec.kv_lora_rank or 0)
    element = 1 if precision == "fp8" else (4 if precision == "fp32" else 2)
    absorbed = ((spec.q_lora_rank or spec.hidden) * n + n * spec.hidden) * element * math.ceil(spec.layers / pp)
    return weights - post + absorbed, absorbed, [
        f"vLLM {rl.label} V0: MLA keeps the absorbed W_Q_UK and W_UV_O beside the weights "
        f"({absorbed / GiB:.2f} GiB; VLLM_MLA_PERFORM_MATRIX_ABSORPTION=1, removed by vllm#14770)"]


def fixed_kv_bytes_per_token(rl: Rules, spec: "ModelSpec", kv_bytes: int, tp: int, pp: int) -> Optional[float]:
    """Per-token bytes when the cache is not kvcache.py's: the decompressed or the aligned DeepSeek
    cache; None otherwise."""
    if rl.decompressed_mla:
        return decompressed_kv_bytes_per_token(spec, kv_bytes, tp, pp)
    if rl.mla_aligned:
        return aligned_mla_bytes_per_token(spec, kv_bytes, pp)
    return None


def decompressed_kv_bytes_per_token(spec: "ModelSpec", kv_bytes: float, tp: int, pp: int) -> float:
    """Pre-MLA deepseek_v2.py: K and V of qk_nope + qk_rope each (V zero-padded), per KV head on
    this rank (num_key_value_heads / TP, at least 1), every layer of the stage."""
    heads = max(1, spec.kv_heads // tp)
    return 2 * heads * (spec.qk_nope_head_dim + spec.qk_rope_head_dim) * kv_bytes * math.ceil(spec.layers / pp)


def aligned_mla_bytes_per_token(spec: "ModelSpec", kv_bytes: int, pp: int) -> float:
    """V0 0.7.2-0.7.x cache_engine.py: the kv_lora_rank + rope latent of one token, rounded up to
    256 bytes (align_to_256bytes), every layer of the stage; not split by TP."""
    entry = (spec.kv_lora_rank + spec.qk_rope_head_dim) * kv_bytes
    return math.ceil(entry / ALIGN_BYTES) * ALIGN_BYTES * math.ceil(spec.layers / pp)


def lora_weight_bytes(spec: "ModelSpec", max_loras: int, rank: int, tp: int, act_bytes: int) -> int:
    """--enable-lora: lora/layers.py create_lora_weights stacks, per LoRA-able linear and slot,
    A (rank x in) and B (out x rank) in the model dtype, the parallel side split by TP: qkv,
    o_proj, gate_up and down per layer (dense MLP; MoE experts take no LoRA here), plus the LM
    head's A and B. Allocated with the weights ("Model loading took")."""
    h = spec.hidden
    q, kv = spec.heads * spec.head_dim, spec.kv_heads * spec.head_dim
    inter = spec.intermediate
    attn = (h + (q + 2 * kv) // tp) + (h // tp + h)  # qkv (column parallel), o (row parallel)
    mlp = (h + 2 * inter // tp) + (inter // tp + h)  # gate_up (column), down (row)
    head = h + spec.vocab // tp
    return int(max_loras * rank * (attn * spec.layers + mlp * spec.dense_layers + head) * act_bytes)


def v0_refusal_text(max_model_len: int, tokens: int) -> str:
    """worker/worker.py raise_if_cache_size_invalid (V0)."""
    return (f"The model's max seq len ({max_model_len}) is larger than the maximum number of tokens that can "
            f"be stored in KV cache ({tokens}). Try increasing `gpu_memory_utilization` or decreasing "
            "`max_model_len` when initializing the engine.")


def v0_no_blocks_text() -> str:
    """worker/worker.py raise_if_cache_size_invalid, no block fits (V0)."""
    return ("No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when "
            "initializing the engine.")
