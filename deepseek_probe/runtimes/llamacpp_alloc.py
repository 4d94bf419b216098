"""What llama.cpp (2026-10, commit 0c1e570) allocates, device by device: the terms of its own log
lines ("CUDA0 model buffer size", "CUDA0 KV buffer size", "CUDA0 compute buffer size").

Pure. Sources in the llama.cpp tree (github.com/ggml-org/llama.cpp, commit 0c1e570, 2026-10-01):
- weights: runtimes/gguf_recipe.py reproduces llama-quantize's per-tensor types exactly (tested
  on 6 real GGUFs); src/llama-model.cpp keeps token_embd in host memory (its rows are gathered
  on the CPU) and offloads the LAST n_gpu_layers layers, the output layer only when every
  repeating layer is on the GPU (n_gpu_layers > n_layer).
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

Measured (benchmarks/llamacpp/results/, H100, llama-server defaults): the compute buffer with
flash attention is the f32 logits of one micro-batch plus an f16 KQ mask of n_ctx x n_ubatch
(+28 MiB from 4K to 32K, +96 MiB from 32K to 128K, both as predicted); without flash attention
the f32 scores of every head (n_head x n_ctx x n_ubatch) come on top of the logits (+224 MiB
at 4K, as predicted). With layers or experts on the CPU, the weights the GPU borrows (op_offload). What is left over is the
process's CUDA context, cuBLAS and the VMM pool: LLAMACPP_CUDA_OVERHEAD_BYTES.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Dict, List, Optional, Sequence, Tuple

from deepseek_probe.formats.ggml_types import GGML_TYPES_BY_NAME
from deepseek_probe.profiles import ModelSpec
from deepseek_probe.runtimes import gguf_recipe

MiB = 1 << 20
# H100, llama-server 2026-10 (benchmarks/llamacpp/results, q7-c4k): NVML used 5127 MiB = weights
# on the GPU 4168 + KV 224 + logits 297 + mask 4 -> 434 MiB for the CUDA context, cuBLAS handles
# and the CUDA backend's memory pool. A measurement of one build on one GPU: the one constant.
LLAMACPP_CUDA_OVERHEAD_BYTES = 434 * MiB
CTX_PAD = 256  # llama-context.cpp GGML_PAD(n_ctx, 256)
# ggml-backend.cpp / ggml-cuda offload_op: ops on host-resident weights run on the GPU when the
# batch has at least 32 rows (GGML_OP_OFFLOAD_MIN_BATCH default 32), copying the weight over.
# Checked on the team's held-out measurement: R1-Distill-Qwen-32B Q4_K_M -c 16384 -ngl 40 held
# 14.6 GiB on an H100 (issue 14).
OP_OFFLOAD_MIN_BATCH = 32
SERVER_AUTO_SLOTS = 4  # tools/server/server.cpp: -np auto -> n_parallel = 4, kv_unified = true
_CACHE_TYPES = {"f32": "F32", "f16": "F16", "bf16": "BF16", "q8_0": "Q8_0", "q4_0": "Q4_0",
                "q4_1": "Q4_1", "q5_0": "Q5_0", "q5_1": "Q5_1", "iq4_nl": "IQ4_NL"}


@dataclass(frozen=True)
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


@dataclass
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


def compute_bytes(spec: ModelSpec, n_ctx: int, o: LlamaCppOptions, flash_attn: bool, output_on_gpu: bool) -> int:
    """The CUDA compute buffer: the graph's peak for one micro-batch of n_ubatch tokens."""
    ub = max(1, min(o.n_ubatch, o.n_batch))
    logits = spec.vocab * ub * 4 if output_on_gpu else 0  # f32 logits of every token of the ubatch
    if flash_attn:
        attention = n_ctx * ub * 2  # the KQ mask in f16
        return int(logits + attention)
    return int(logits + spec.heads * n_ctx * ub * 4)  # f32 scores of every head, live with the logits


def llamacpp_memory(spec: ModelSpec, ftype: str, o: LlamaCppOptions,
                    gpu_free_bytes: Sequence[int] = ()) -> LlamaCppMemory:
    """Memory of llama-server with options `o` for `spec` quantized as `ftype` (Q4_K_M, ...).
    `gpu_free_bytes`: free memory per GPU, for --fit and the layer split; empty = assume it all
    fits on one GPU."""
    n_layer = spec.layers
    layer_bytes, expert_bytes, largest, output_bytes, other_bytes, embd_bytes = _tensor_sums(spec, ftype)
    fa = o.flash_attn != "off"  # auto resolves to on with CUDA (llama-context.cpp auto_fa)
    tk, tv = _cache_type(o.cache_type_k), _cache_type(o.cache_type_v)
    if GGML_TYPES_BY_NAME[tv].block_weights > 1 and o.flash_attn == "auto":
        fa = True  # "enabling flash_attn since it is required for quantized V cache"
    k_row, v_row = kv_row_bytes(spec, tk, tv)
    n_seq, unified = _slots(o)
    n_dev = max(1, len(gpu_free_bytes))
    margin = o.fit_target_mib * MiB

    def plan(n_ctx: int, ngl: int) -> LlamaCppMemory:
        cells, per_seq = _cells(n_ctx, n_seq, unified)
        ngl_layers = min(ngl, n_layer)
        out_gpu = ngl > n_layer
        first_gpu = n_layer - ngl_layers  # llama.cpp offloads the last layers
        m = LlamaCppMemory(n_ctx=cells, n_ctx_seq=per_seq, n_seq=n_seq, gpu_layers=ngl_layers,
                           output_on_gpu=out_gpu, flash_attn=fa)
        # split the GPU layers over the devices (-sm layer): contiguous, by -ts or evenly
        shares = list(o.tensor_split) if o.tensor_split and len(o.tensor_split) == n_dev else [1.0] * n_dev
        bounds = _split_bounds(ngl_layers, shares)
        for d in range(n_dev):
            lo, hi = first_gpu + bounds[d], first_gpu + bounds[d + 1]
            layers = range(lo, hi)
            model = sum(layer_bytes[i] for i in layers)
            if o.cpu_moe or o.n_cpu_moe:  # --cpu-moe / -ncmoe: those experts stay in host memory
                model -= sum(expert_bytes[i] for i in layers if o.cpu_moe or i < o.n_cpu_moe)
            last = d == n_dev - 1
            if out_gpu and last:
                model += output_bytes + other_bytes
            m.gpu_model_bytes.append(int(model))
            m.gpu_kv_bytes.append(int((hi - lo) * cells * (k_row + v_row)))
            compute = compute_bytes(spec, cells, o, fa, out_gpu and last) if hi > lo or last else 0
            if last and ngl_layers and o.n_ubatch >= OP_OFFLOAD_MIN_BATCH:
                # ggml-backend's scheduler runs big-batch matmuls on host-resident weights on the
                # GPU (op_offload), copying the weight into the compute buffer: output.weight when
                # the output layer stayed on the CPU, else the largest CPU-resident tensor (one at
                # a time); a CPU layer's expert tensors go together (gate, up, down of MUL_MAT_ID).
                cpu_layers = [i for i in range(n_layer) if i < first_gpu]
                moe_cpu = [i for i in range(n_layer) if o.cpu_moe or i < o.n_cpu_moe]
                copies = max([largest[i] for i in cpu_layers] + [expert_bytes[i] for i in moe_cpu] + [0])
                compute += copies + (0 if out_gpu else output_bytes)
            m.gpu_compute_bytes.append(int(compute))
            m.gpu_overhead_bytes.append(LLAMACPP_CUDA_OVERHEAD_BYTES)
        m.host_model_bytes = int(embd_bytes + sum(layer_bytes[:first_gpu])
                                 + (0 if out_gpu else output_bytes + other_bytes))
        m.host_kv_bytes = int(first_gpu * cells * (k_row + v_row))
        m.host_compute_bytes = int(spec.vocab * max(1, o.n_ubatch) * 4 if not out_gpu else 0)
        return m

    ngl_all = n_layer + 1
    ngl = ngl_all if o.n_gpu_layers < 0 else o.n_gpu_layers
    n_ctx = o.n_ctx or spec.max_context
    m = plan(n_ctx, ngl)
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
    if o.n_gpu_layers < 0:  # --fit moves whole layers to the CPU until the rest fits
        for k in range(ngl_all, -1, -1):
            m2 = plan(n_ctx, k)
            if fits(m2) or k == 0:  # nothing fits: everything on the CPU
                m2.notes = m.notes + [f"--fit: {min(k, n_layer)} of {n_layer} layers on the GPU (-ngl {k})"]
                m2.error = m.error
                return m2
    return m


def _split_bounds(n: int, shares: Sequence[float]) -> List[int]:
    total = sum(shares) or 1.0
    out, acc = [0], 0.0
    for s in shares:
        acc += s
        out.append(round(n * acc / total))
    out[-1] = n
    return out


@lru_cache(maxsize=256)
def _tensor_sums(spec: ModelSpec, ftype: str) -> Tuple[Tuple[int, ...], Tuple[int, ...], Tuple[int, ...],
                                                       int, int, int]:
    """(bytes per layer, expert bytes per layer, largest tensor per layer, output, other
    non-layer tensors, token_embd) of the GGUF; cached: the checks place one model many times."""
    layer_bytes, expert_bytes, largest = [0] * spec.layers, [0] * spec.layers, [0] * spec.layers
    output_bytes = other_bytes = embd_bytes = 0
    for t in gguf_recipe.gguf_tensors(spec, ftype):
        if t.layer is not None:
            layer_bytes[t.layer] += t.nbytes
            largest[t.layer] = max(largest[t.layer], t.nbytes)
            if "_exps" in t.name:
                expert_bytes[t.layer] += t.nbytes
        elif t.name == "token_embd.weight":
            embd_bytes += t.nbytes
        elif t.name.startswith("output."):
            output_bytes += t.nbytes
        else:
            other_bytes += t.nbytes
    return tuple(layer_bytes), tuple(expert_bytes), tuple(largest), output_bytes, other_bytes, embd_bytes


def terms(m: LlamaCppMemory) -> Dict[str, int]:
    """The largest device's terms (what one GPU must hold)."""
    if not m.gpu_model_bytes:
        return {"model": 0, "kv": 0, "compute": 0, "overhead": 0}
    i = max(range(len(m.gpu_model_bytes)), key=lambda d: m.gpu_total_bytes[d])
    return {"model": m.gpu_model_bytes[i], "kv": m.gpu_kv_bytes[i], "compute": m.gpu_compute_bytes[i],
            "overhead": m.gpu_overhead_bytes[i]}
