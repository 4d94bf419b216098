"""What llama.cpp (2026-10, commit 0c1e570) allocates, device by device: the terms of its own log
lines ("CUDA0 model buffer size", "CUDA0 KV buffer size", "CUDA0 compute buffer size").

Pure. Sources in the llama.cpp tree (github.com/ggml-org/llama.cpp, commit 0c1e570, 2026-10-01):
- weights: runtimes/gguf_recipe.py reproduces llama-quantize's per-tensor types exactly (tested
  on 6 real GGUFs); src/llama-model.cpp load_tensors keeps token_embd in host memory (its rows
  are gathered on the CPU) and counts the output layer as layer n_layer of n_layer + 1:
  i_gpu_start = n_layer + 1 - n_gpu_layers, so -ngl 14 of 28 is 13 repeating layers plus the
  output (the log: "offloading output layer to GPU", "offloading 13 repeating layers").
- the CUDA buffer of a tensor (ggml-cuda.cu ggml_backend_cuda_buffer_type_get_alloc_size /
  get_alignment): a quantized tensor whose rows are not a multiple of MATRIX_ROW_PADDING (512)
  gets one padded row more; every tensor starts 128-byte aligned. Weights and the KV cache.
- context: common/common.h n_ctx 0 = the trained context; src/llama-context.cpp pads n_ctx to
  256 (GGML_PAD) and, without a unified cache, gives each of the n_seq_max streams
  n_ctx / n_seq_max cells (padded to 256); tools/server/server.cpp: -np auto = 4 slots with
  kv_unified = true.
- KV cache: src/llama-kv-cache.cpp: per layer K of n_embd_k_gqa x cells and V of n_embd_v_gqa x
  cells in the cache types; MLA (DeepSeek-V2/V3) caches only the 576-wide latent row as K and
  no V (hparams.is_mla, n_embd_head_v_mla).
- refusals: src/llama-context.cpp llama_init_from_model (messages reproduced below).
- --fit: common/fit.cpp: with n_ctx unset, the context is interpolated down between the trained
  context and --fit-ctx (rounded down to 256) until the projection fits free - --fit-target
  (1024 MiB per device); then layers move to the CPU.

- compute buffers and what NVML shows beyond the buffers: runtimes/llamacpp_graph.py (closed
  forms); with layers in host memory on a dense model, runtimes/llamacpp_replay.py replays the
  graph split and ggml-alloc's best fit, memoised per (model, quant, graph shape); for deepseek2
  with host layers or experts, or a quantized cache, runtimes/llamacpp_replay_mla.py does.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import accumulate
from operator import add
from typing import TYPE_CHECKING, Callable, Dict, FrozenSet, List, NamedTuple, Optional, Sequence, Tuple

from deepseek_probe.formats.ggml_types import GGML_TYPES_BY_NAME
from deepseek_probe import memo
from deepseek_probe.profiles import ModelSpec
from deepseek_probe.runtimes import gguf_recipe, llamacpp_graph
from deepseek_probe.records import field, record

if TYPE_CHECKING:
    from deepseek_probe.runtimes.llamacpp_replay_mla import MlaGraph

MiB = 1 << 20
CTX_PAD = 256  # llama-context.cpp GGML_PAD(n_ctx, 256)
MATRIX_ROW_PADDING = 512  # ggml-cuda/common.cuh
CUDA_ALIGNMENT = 128  # ggml-cuda.cu ggml_backend_cuda_buffer_type_get_alignment
SERVER_AUTO_SLOTS = 4  # tools/server/server.cpp: -np auto -> n_parallel = 4, kv_unified = true
_CACHE_TYPES = {"f32": "F32", "f16": "F16", "bf16": "BF16", "q8_0": "Q8_0", "q4_0": "Q4_0",
                "q4_1": "Q4_1", "q5_0": "Q5_0", "q5_1": "Q5_1", "iq4_nl": "IQ4_NL"}


@record(frozen=True, many=True)
class LlamaCppOptions:
    """llama-server's options that change memory, with its defaults (common/common.h, arg.cpp)."""

    n_ctx: int = 0  # -c; 0 = the model's trained context (common.h n_ctx), shrunk by --fit
    n_gpu_layers: int = -1  # -ngl; -1 auto (all, --fit may lower it), <= -2 all
    flash_attn: str = "auto"  # -fa on|off|auto; auto is on for CUDA (llama-context.cpp auto_fa)
    cache_type_k: str = "f16"  # -ctk
    cache_type_v: str = "f16"  # -ctv
    n_batch: int = 2048  # -b
    n_ubatch: int = 512  # -ub
    n_parallel: int = -1  # -np; -1 auto = 4 slots sharing one unified cache (server.cpp)
    kv_unified: bool = False  # --kv-unified
    split_mode: str = "layer"  # -sm
    tensor_split: Tuple[float, ...] = ()  # -ts
    fit: bool = True  # --fit on|off
    fit_target_mib: int = 1024  # --fit-target, per device
    fit_ctx: int = 4096  # --fit-ctx: the smallest context --fit sets
    cpu_moe: bool = False  # --cpu-moe: every expert tensor in host memory
    n_cpu_moe: int = 0  # -ncmoe N: experts of the first N layers in host memory
    no_mmap: bool = False
    mlock: bool = False
    # the options the launch command set (llamacpp_cli), so that a build's own defaults
    # (llamacpp.at_build) replace only the others, and an explicit -c 0 is told from no -c
    explicit: FrozenSet[str] = frozenset()


@record(many=True)
class LlamaCppMemory:
    """Bytes per GPU and on the host, in llama.cpp's own terms."""

    n_ctx: int  # cells in the cache, after padding and --fit
    n_ctx_seq: int  # context one sequence can use
    n_seq: int  # sequences (slots)
    gpu_layers: int  # repeating layers on the GPUs
    output_on_gpu: bool
    flash_attn: bool
    gpu_model_bytes: List[int] = field(default_factory=list)  # "CUDAn model buffer size"
    gpu_kv_bytes: List[int] = field(default_factory=list)  # "CUDAn KV buffer size"
    gpu_compute_bytes: List[int] = field(default_factory=list)  # "CUDAn compute buffer size"
    gpu_overhead_bytes: List[int] = field(default_factory=list)  # CUDA context, cuBLAS, pool
    host_model_bytes: int = 0  # "CPU_Mapped model buffer size" (mmap: page cache, not RSS)
    host_kv_bytes: int = 0
    host_compute_bytes: int = 0
    error: Optional[str] = None  # what llama.cpp prints when it refuses the context
    notes: List[str] = field(default_factory=list)

    @property
    def gpu_total_bytes(self) -> List[int]:
        return [m + k + c + o for m, k, c, o in zip(self.gpu_model_bytes, self.gpu_kv_bytes,
                                                     self.gpu_compute_bytes, self.gpu_overhead_bytes)]


def _cache_type(name: str) -> str:
    t = _CACHE_TYPES.get(name.lower())
    if t is None:
        raise gguf_recipe.RecipeError(f"cache type {name!r} not modelled; one of {', '.join(_CACHE_TYPES)}")
    return t


def _row_bytes(type_name: str, n: int) -> float:
    t = GGML_TYPES_BY_NAME[type_name]
    return n * t.block_bytes / t.block_weights


def kv_row_bytes(spec: ModelSpec, type_k: str, type_v: str) -> Tuple[float, float]:
    """(K, V) bytes per cell and layer: MLA keeps the latent + rope row as K and no V."""
    if spec.is_mla:
        return _row_bytes(type_k, spec.kv_lora_rank + spec.qk_rope_head_dim), 0.0
    n = spec.kv_heads * spec.head_dim
    return _row_bytes(type_k, n), _row_bytes(type_v, n)


def refusal(spec: ModelSpec, o: LlamaCppOptions) -> Optional[str]:
    """The context llama.cpp will not create (llama-context.cpp llama_init_from_model)."""
    tk, tv = _cache_type(o.cache_type_k), _cache_type(o.cache_type_v)
    if spec.is_mla and tk != tv:
        return (f"llama_init_from_model: model does not support different K ({tk.lower()}) and V "
                f"({tv.lower()}) cache types")
    if GGML_TYPES_BY_NAME[tv].block_weights > 1 and o.flash_attn == "off":
        return "llama_init_from_model: quantized V cache requires flash_attn to be enabled"
    return None


def _slots(o: LlamaCppOptions) -> Tuple[int, bool]:
    if o.n_parallel in (-1, 0):
        return SERVER_AUTO_SLOTS, True
    return o.n_parallel, o.kv_unified


def _cells(n_ctx: int, n_seq: int, unified: bool) -> Tuple[int, int]:
    """(cells, context per sequence) as llama-context.cpp sets them."""
    n = -(-n_ctx // CTX_PAD) * CTX_PAD
    if unified or n_seq == 1:
        return n, n
    per = -(-(n // n_seq) // CTX_PAD) * CTX_PAD
    return per * n_seq, per


def _cuda_bytes(type_name: str, ne0: int, nbytes: int) -> int:
    """A tensor's size in a CUDA buffer: one padded row more for a quantized tensor whose rows are
    not a multiple of 512, then 128-byte alignment (ggml-cuda.cu get_alloc_size, get_alignment)."""
    t = GGML_TYPES_BY_NAME[type_name]
    if t.block_weights > 1 and ne0 % MATRIX_ROW_PADDING:
        nbytes += t.nbytes(MATRIX_ROW_PADDING - ne0 % MATRIX_ROW_PADDING)
    return -(-nbytes // CUDA_ALIGNMENT) * CUDA_ALIGNMENT


def _kv_layer_bytes(spec: ModelSpec, tk: str, tv: str, cells: int) -> Tuple[int, int]:
    """(CUDA bytes, host bytes) of one layer's K and V cache tensors of `cells` rows."""
    if spec.is_mla:
        widths = [(tk, spec.kv_lora_rank + spec.qk_rope_head_dim)]
    else:
        widths = [(tk, spec.kv_heads * spec.head_dim), (tv, spec.kv_heads * spec.head_dim)]
    host = sum(GGML_TYPES_BY_NAME[t].nbytes(n * cells) for t, n in widths)
    return sum(_cuda_bytes(t, n, GGML_TYPES_BY_NAME[t].nbytes(n * cells)) for t, n in widths), host


def _f16_copy_bytes(spec: ModelSpec, tk: str, tv: str, cells: int) -> int:
    """f16 copies of one layer's quantized K / V views that flash attention converts
    (ggml-cuda/fattn-common.cuh ggml_cuda_flash_attn_ext_get_f16_extra_data, 128-aligned)."""
    if spec.is_mla:
        widths = [(tk, spec.kv_lora_rank + spec.qk_rope_head_dim)]  # V is a view of K: shared
    else:
        widths = [(tk, spec.kv_heads * spec.head_dim), (tv, spec.kv_heads * spec.head_dim)]
    return sum(-(-n * cells * 2 // CUDA_ALIGNMENT) * CUDA_ALIGNMENT
               for t, n in widths if t not in ("F16",))


@lru_cache(maxsize=1024)
def _layer_ranges(n_layer: int, ngl: int, shares: Tuple[float, ...]) -> Tuple[int, Tuple[Tuple[int, int], ...], Optional[int]]:
    """(first GPU layer, each device's [lo, hi) of repeating layers, the output layer's device or
    None) as llama-model.cpp load_tensors get_layer_buft_list places layers 0..n_layer (n_layer =
    the output layer): i_gpu_start = n_layer + 1 - ngl, then the upper_bound of
    (il - i_gpu_start) / act_gpu_layers over the cumulative split. Cached: --fit and the checks
    place one model many times."""
    i_gpu_start = max(n_layer + 1 - ngl, 0)
    act = min(ngl, n_layer + 1)
    if len(shares) == 1:  # one GPU: every offloaded layer is its (the loop below, in closed form)
        on = act > 0
        mine = (i_gpu_start, n_layer) if on and i_gpu_start < n_layer else (0, 0)
        return min(i_gpu_start, n_layer), (mine,), (0 if on else None)
    total = sum(shares) or 1.0
    cum, acc = [], 0.0
    for s in shares:
        acc += s
        cum.append(acc / total)
    dev: List[Optional[int]] = []
    for il in range(n_layer + 1):
        if il < i_gpu_start or act <= 0:
            dev.append(None)
            continue
        x = (il - i_gpu_start) / act
        dev.append(next((d for d, c in enumerate(cum) if c > x), len(cum) - 1))
    ranges = []
    for d in range(len(shares)):
        mine = [i for i in range(n_layer) if dev[i] == d]
        ranges.append((mine[0], mine[-1] + 1) if mine else (0, 0))
    return min(i_gpu_start, n_layer), tuple(ranges), dev[n_layer]


def llamacpp_memory(spec: ModelSpec, ftype: str, o: LlamaCppOptions,
                    gpu_free_bytes: Sequence[int] = (), closed_form: bool = False) -> LlamaCppMemory:
    """Memory of llama-server with options `o` for `spec` quantized as `ftype` (Q4_K_M, ...).
    `gpu_free_bytes`: free memory per GPU, for --fit and the layer split; empty = assume it all
    fits on one GPU. `closed_form`: skip the replayed allocator (a search's cheap first screen:
    the closed form never exceeds the replay, whose holes can only add)."""
    n_layer = spec.layers
    sums = _tensor_sums(spec, ftype)
    fa = o.flash_attn != "off"  # auto resolves to on with CUDA (llama-context.cpp auto_fa)
    tk, tv = _cache_type(o.cache_type_k), _cache_type(o.cache_type_v)
    if GGML_TYPES_BY_NAME[tv].block_weights > 1 and o.flash_attn == "auto":
        fa = True  # "enabling flash_attn since it is required for quantized V cache"
    n_seq, unified = _slots(o)
    n_dev = max(1, len(gpu_free_bytes))
    margin = o.fit_target_mib * MiB
    shares = list(o.tensor_split) if o.tensor_split and len(o.tensor_split) == n_dev else [1.0] * n_dev
    ub = max(1, min(o.n_ubatch, o.n_batch))
    cublas = llamacpp_graph.uses_cublas(spec, fa, ftype)

    replayable = (fa and tk == tv == "F16" and n_dev == 1 and not spec.is_mla and spec.routed_experts <= 1
                  and gguf_recipe.GGUF_ARCH.get(spec.family) in ("llama", "qwen2"))
    # deepseek2 (MLA, MoE): replayed with a quantized cache, where the closed form misses
    # flash attention's f16 K copy among the allocator's holes (-10 % on v2-c32k-kvq8). Host
    # layers or experts (op_offload copies) stay on the closed form (-1 % on v2-c16k-ngl10):
    # a replay costs ~10 ms and the survey places V2 / V3 a dozen times (one per quantization);
    # llamacpp_replay_mla replays them exactly (tests/test_llamacpp_mla.py), off this path.
    mla_replayable = (fa and tk == tv and n_dev == 1 and spec.is_mla
                      and gguf_recipe.GGUF_ARCH.get(spec.family) == "deepseek2")
    k_quantized = GGML_TYPES_BY_NAME[tk].block_weights > 1

    def place(n_ctx: int, ngl: int) -> _Placement:
        """Which layers go where and what their weights and cache take on each GPU: the cheap
        part of a plan, enough to rule out a layer count before its graph is sized."""
        cells, per_seq = _cells(n_ctx, n_seq, unified)
        first_gpu, ranges, out_dev = _layer_ranges(n_layer, ngl, tuple(shares))
        kv_cuda, kv_host = _kv_layer_bytes(spec, tk, tv, cells)
        # experts in host memory: --cpu-moe all, -ncmoe N the first N layers, and host layers'
        n_moe_host = n_layer if o.cpu_moe else max(min(o.n_cpu_moe, n_layer), first_gpu)
        lc, ex = sums.layer_cuda_prefix, sums.expert_prefix
        model_bytes = []
        for d, (lo, hi) in enumerate(ranges):
            model = lc[hi] - lc[lo]
            cut = min(hi, n_moe_host) if (o.cpu_moe or o.n_cpu_moe) else lo
            if cut > lo:  # --cpu-moe / -ncmoe: those experts stay in host memory
                model -= ex[cut] - ex[lo]
            if out_dev == d:
                model += sums.output_cuda
            model_bytes.append(int(model))
        return _Placement(cells, per_seq, first_gpu, ranges, out_dev, kv_cuda, kv_host, n_moe_host,
                          tuple(model_bytes), tuple((hi - lo) * kv_cuda for lo, hi in ranges))

    def plan(n_ctx: int, ngl: int, exact: bool = True) -> LlamaCppMemory:
        p = place(n_ctx, ngl)
        first_gpu, out_dev, kv_cuda = p.first_gpu, p.out_dev, p.kv_cuda
        m = LlamaCppMemory(n_ctx=p.cells, n_ctx_seq=p.per_seq, n_seq=n_seq, gpu_layers=n_layer - first_gpu,
                           output_on_gpu=out_dev is not None, flash_attn=fa)
        # op_offload: the GPU borrows host weights one at a time, and a host layer's K/V views
        host_weight = sums.dense_max_prefix[first_gpu]
        if out_dev is None:
            host_weight = max(host_weight, sums.output_cuda)
        g = llamacpp_graph.GraphShape(
            n_ubatch=ub, n_kv=p.per_seq, n_streams=1 if unified else n_seq, flash_attn=fa,
            host_layer_kv_bytes=kv_cuda if first_gpu else 0, host_weight_bytes=host_weight,
            host_expert_bytes=sums.expert_max_prefix[p.n_moe_host],
            kv_f16_copy_bytes=_f16_copy_bytes(spec, tk, tv, p.per_seq))
        last_dev = max([d for d, (lo, hi) in enumerate(p.ranges) if hi > lo]
                       + ([out_dev] if out_dev is not None else []), default=None)
        for d in range(len(p.ranges)):
            m.gpu_model_bytes.append(p.model_bytes[d])
            m.gpu_kv_bytes.append(p.kv_bytes[d])
            # the graph runs on the device of the last layer; others hold only their layers'
            # activations, not modelled (no multi-GPU run is committed)
            compute = 0
            if d == last_dev:
                compute = llamacpp_graph.gpu_compute_bytes(spec, g)
                if exact and ub >= llamacpp_graph.OP_OFFLOAD_MIN_BATCH:
                    if replayable and (first_gpu or out_dev is None):
                        compute = _replayed_compute(spec, ftype, ub, n_seq, p.per_seq, 1 if unified else n_seq,
                                                    first_gpu, out_dev is None)
                    elif mla_replayable and k_quantized:
                        compute = _replayed_mla_compute(spec, ftype, tk, ub, n_seq, p.per_seq, 1 if unified else n_seq,
                                                        first_gpu, p.n_moe_host, out_dev is None)
            m.gpu_compute_bytes.append(compute)
            m.gpu_overhead_bytes.append(llamacpp_graph.cuda_overhead_bytes(
                [m.gpu_model_bytes[-1], m.gpu_kv_bytes[-1], m.gpu_compute_bytes[-1]], cublas))
        m.host_model_bytes = int(sums.embd + sums.layer_host_prefix[first_gpu]
                                 + (0 if out_dev is not None else sums.output_host))
        m.host_kv_bytes = first_gpu * p.kv_host
        m.host_compute_bytes = llamacpp_graph.host_compute_bytes(spec, g, first_gpu > 0)
        if (first_gpu or g.host_expert_bytes) and not (exact and (replayable or (mla_replayable and k_quantized))):
            m.notes.append(llamacpp_graph.PARTIAL_OFFLOAD_NOTE)
        return m

    ngl_all = n_layer + 1
    ngl = ngl_all if o.n_gpu_layers < 0 else min(o.n_gpu_layers, ngl_all)
    n_ctx = o.n_ctx or spec.max_context
    m = plan(n_ctx, ngl, exact=not closed_form)
    m.error = refusal(spec, o)
    if not gpu_free_bytes or not o.fit:
        return m

    def fits(x: LlamaCppMemory) -> bool:
        return all(t + margin <= f for t, f in zip(x.gpu_total_bytes, gpu_free_bytes))

    if fits(m):
        return m
    if o.n_ctx == 0 and n_ctx > o.fit_ctx:  # --fit: shrink an unset context first
        lo = plan(o.fit_ctx, ngl)
        used_hi, used_lo = sum(m.gpu_total_bytes), sum(lo.gpu_total_bytes)
        target = sum(f - margin for f in gpu_free_bytes)
        if target >= used_lo and used_hi > used_lo:
            ctx = o.fit_ctx + (n_ctx - o.fit_ctx) * (target - used_lo) // (used_hi - used_lo)
            ctx = max(ctx - ctx % (CTX_PAD * (1 if unified else n_seq)), o.fit_ctx)
            m = plan(ctx, ngl)
            m.notes.append(f"--fit: context {n_ctx} -> {ctx} to fit free memory")
            if fits(m):
                return m
        m = lo
        n_ctx = o.fit_ctx
        m.notes.append(f"--fit: context {spec.max_context} -> {o.fit_ctx} (the --fit-ctx floor)")
    def resident_fits(k: int) -> bool:  # weights and cache alone (the graph only adds)
        pl = place(n_ctx, k)
        return all(mb + kb + margin <= f for mb, kb, f in zip(pl.model_bytes, pl.kv_bytes, gpu_free_bytes))

    if o.n_gpu_layers < 0:  # --fit moves whole layers to the CPU until the rest fits
        top = ngl_all
        if n_dev == 1:  # one GPU: its weights and cache grow with k, so bisect for the largest k that holds them
            lo, hi = 0, ngl_all
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if resident_fits(mid) else (lo, mid - 1)
            top = lo
        for k in range(top, -1, -1):
            # weights and cache alone rule most counts out; then the closed forms; then confirm
            # with the replayed allocator (its holes may cost one layer more)
            if k > 0 and not resident_fits(k):
                continue
            if not fits(plan(n_ctx, k, exact=False)) and k > 0:
                continue
            m2 = plan(n_ctx, k)
            if fits(m2) or k == 0:  # nothing fits: everything on the CPU
                m2.notes = m.notes + [f"--fit: {m2.gpu_layers} of {n_layer} layers and "
                                      f"{'the' if m2.output_on_gpu else 'no'} output layer on the GPU (-ngl {k})"]
                m2.error = m.error
                return m2
    return m


def _replayed_compute(spec: ModelSpec, ftype: str, n_tokens: int, n_outputs: int, n_kv: int,
                      n_streams: int, host_layers: int, output_on_host: bool) -> int:
    """The "CUDA0 compute buffer size" from llamacpp_replay, once per graph shape."""
    def compute() -> int:
        from deepseek_probe.runtimes import llamacpp_replay  # lazy: only partial offload needs it

        sums = _tensor_sums(spec, ftype)
        g = llamacpp_replay.DenseGraph(
            spec.hidden, spec.heads, spec.kv_heads, spec.head_dim, spec.intermediate, spec.vocab,
            spec.layers, bool(spec.qkv_bias), n_tokens, n_outputs, n_kv, n_streams, host_layers,
            output_on_host, tuple(tuple(w.get(k, 0) for k in llamacpp_replay.WEIGHT_NAMES)
                                  for w in sums.layer_weights), sums.output_weights)
        return llamacpp_replay.replay(g).cuda_compute_bytes
    key = (spec, ftype, n_tokens, n_outputs, n_kv, n_streams, host_layers, output_on_host)
    return memo.memo("llamacpp.replay", key, compute)


# Where llamacpp_memory's plan puts the layers for one (context, -ngl): the part of it that needs
# no graph. model_bytes / kv_bytes: per GPU, in the order of ranges. NamedTuple's functional form,
# whose types are objects: a class body's would be strings here (`from __future__ import
# annotations`), each compiled into a ForwardRef (~2.5M instructions a field, every `check`).
_Placement = NamedTuple("_Placement", [
    ("cells", int), ("per_seq", int), ("first_gpu", int), ("ranges", Tuple[Tuple[int, int], ...]),
    ("out_dev", Optional[int]), ("kv_cuda", int), ("kv_host", int), ("n_moe_host", int),
    ("model_bytes", Tuple[int, ...]), ("kv_bytes", Tuple[int, ...])])


def mla_graph(spec: ModelSpec, ftype: str, cache_type: str, n_tokens: int, n_outputs: int, n_kv: int,
              n_streams: int, host_layers: int, host_expert_layers: int, output_on_host: bool) -> "MlaGraph":
    """The llamacpp_replay_mla.MlaGraph of this deepseek2 placement (`cache_type`: "F16", "Q8_0")."""
    from deepseek_probe.runtimes import llamacpp_replay_mla as rm  # lazy: only these cases need it

    sums = _tensor_sums(spec, ftype)
    t = GGML_TYPES_BY_NAME[cache_type]
    width = spec.kv_lora_rank + spec.qk_rope_head_dim
    return rm.MlaGraph(
        spec.hidden, spec.heads, 0 if gguf_recipe.is_lite(spec) else int(spec.q_lora_rank or 0),
        spec.kv_lora_rank, spec.qk_rope_head_dim, spec.qk_nope_head_dim, spec.v_head_dim, spec.intermediate,
        spec.moe_intermediate, spec.routed_experts, spec.experts_per_token, spec.shared_experts,
        spec.first_k_dense, rm.gating(spec.family, spec.routed_experts), spec.vocab, spec.layers, n_tokens,
        n_outputs, n_kv, n_streams, t.nbytes(width), t.nbytes(spec.kv_lora_rank), t.block_weights > 1,
        host_layers, host_expert_layers, output_on_host,
        tuple(tuple(w.get(k, 0) for k in rm.MLA_WEIGHT_NAMES) for w in sums.layer_weights), sums.output_weights)


def _replayed_mla_compute(spec: ModelSpec, ftype: str, cache_type: str, n_tokens: int, n_outputs: int,
                          n_kv: int, n_streams: int, host_layers: int, host_expert_layers: int,
                          output_on_host: bool) -> int:
    """The "CUDA0 compute buffer size" of a deepseek2 graph from llamacpp_replay_mla, once per
    graph shape."""
    def compute() -> int:
        from deepseek_probe.runtimes import llamacpp_replay_mla as rm

        return rm.replay(mla_graph(spec, ftype, cache_type, n_tokens, n_outputs, n_kv, n_streams, host_layers,
                                   host_expert_layers, output_on_host)).cuda_compute_bytes
    key = (spec, ftype, cache_type, n_tokens, n_outputs, n_kv, n_streams, host_layers, host_expert_layers,
           output_on_host)
    return memo.memo("llamacpp.replay_mla", key, compute)


@record(frozen=True)
class _Sums:
    """Prefix sums / maxima over layers [0, i), so that placing a model costs O(devices)."""

    layer_cuda_prefix: Tuple[int, ...]  # CUDA-padded bytes of layers [0, i)
    layer_host_prefix: Tuple[int, ...]
    expert_prefix: Tuple[int, ...]  # ffn_*_exps bytes (CUDA-padded) of layers [0, i)
    dense_max_prefix: Tuple[int, ...]  # the largest non-expert tensor of layers [0, i)
    expert_max_prefix: Tuple[int, ...]  # the largest expert tensor of layers [0, i)
    output_cuda: int  # output.weight + output_norm (the output layer)
    output_host: int
    embd: int  # token_embd, always in host memory
    # CUDA bytes of each layer's weights by GGUF name ("attn_q", "attn_q.bias", ...) and of
    # (output_norm, output): what a borrowed copy of each takes
    layer_weights: Tuple[Dict[str, int], ...] = ()
    output_weights: Tuple[int, int] = (0, 0)


@lru_cache(maxsize=256)
def _tensor_sums(spec: ModelSpec, ftype: str) -> _Sums:
    """Per-layer byte sums of the GGUF, on the GPU and on the host; cached: the checks place one
    model many times. Layers that quantize alike (gguf_recipe.layer_recipe) are summed once."""
    recipe = gguf_recipe.layer_recipe(spec, ftype)
    per_class: Dict[int, Tuple[int, int, int, int, int, Dict[str, int]]] = {}
    for layer in recipe.layers:
        if id(layer) in per_class:
            continue
        cuda = [(_cuda_bytes(t, shape[0], nbytes), nbytes, "_exps" in name) for name, shape, t, nbytes in layer]
        named = {name.replace(".weight", ""): c for (name, _, _, _), (c, _, _) in zip(layer, cuda)}
        per_class[id(layer)] = (sum(c for c, _, _ in cuda), sum(h for _, h, _ in cuda),
                                sum(c for c, _, e in cuda if e), max((c for c, _, e in cuda if not e), default=0),
                                max((c for c, _, e in cuda if e), default=0), named)
    rows = [per_class[id(layer)] for layer in recipe.layers]
    embd = sum(t.nbytes for t in recipe.head)  # token_embd, always in host memory
    outw = {t.name.split(".")[0]: _cuda_bytes(t.type, t.shape[0], t.nbytes) for t in recipe.tail}
    out_host = sum(t.nbytes for t in recipe.tail)
    return _Sums(_prefix([r[0] for r in rows], add), _prefix([r[1] for r in rows], add),
                 _prefix([r[2] for r in rows], add), _prefix([r[3] for r in rows], max),
                 _prefix([r[4] for r in rows], max), sum(outw.values()), out_host, embd,
                 tuple(r[5] for r in rows), (outw.get("output_norm", 0), outw.get("output", 0)))


def _prefix(values: Sequence[int], op: Callable[[int, int], int]) -> Tuple[int, ...]:
    """op (add or max) over [0, i) for every i."""
    return tuple(accumulate(values, op, initial=0))

def terms(m: LlamaCppMemory) -> Dict[str, int]:
    """The largest device's terms (what one GPU must hold)."""
    if not m.gpu_model_bytes:
        return {"model": 0, "kv": 0, "compute": 0, "overhead": 0}
    i = max(range(len(m.gpu_model_bytes)), key=lambda d: m.gpu_total_bytes[d])
    return {"model": m.gpu_model_bytes[i], "kv": m.gpu_kv_bytes[i], "compute": m.gpu_compute_bytes[i],
            "overhead": m.gpu_overhead_bytes[i]}
