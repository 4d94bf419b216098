"""KV cache bytes per device, by layer type, for each runtime: MHA/GQA, MLA latent, DeepSeek-V3.2
sparse attention (MLA latent + lightning-indexer keys) and DeepSeek-V4 (sliding window,
compressed sparse attention + indexer, heavily compressed attention).

    kv_cache_breakdown(spec, context, concurrency, kv_dtype, runtime, tensor_parallel) -> {layer_type: bytes}

Pure functions: no I/O. Each runtime's layout, with its source:

transformers 5.17 (cache_utils.DynamicLayer / DynamicIndexedLayer / DynamicSlidingWindowLayer,
  modeling_deepseek_v4.DeepseekV4HCACache / DeepseekV4CSACache), state after one prefill of
  `context` tokens, model dtype. MLA models cache the expanded per-head K and V, not the latent
  (modeling_deepseek_v32.DeepseekV32Attention.forward: "Sparse-attention models cache the expanded
  K/V"). V4: the window cache keeps a *view* of the prefill's whole K=V tensor, and the
  compressors keep views of their kv/gate projections as the leftover buffer, so after a prefill
  every one of them holds `context` rows (measured: benchmarks/models2026/measure_transformers.json;
  the first decode step drops them back to the window).
vLLM (model_executor/models/deepseek_v2.py Indexer): MLA latent (kv_lora_rank + rope) per token,
  bf16 or fp8; V3.2 fp8 is the fp8_ds_mla layout, 656 B/token (512 fp8 + 4 fp32 scales + 64 bf16
  rope); indexer keys always fp8 + one fp32 scale per 128 values = 132 B/token. V4 (0.21-0.33,
  models/deepseek_v4/*, v1/core/kv_cache_planning.py): KV cache *groups* sharing a block pool --
  compressed KV (584 B per state in fp8_ds_mla) + indexer keys, two sliding-window groups and the
  C4 / C128 compressor-state groups (fp32); one request needs each group's pages (window and
  state groups: window - 1 + in-flight tokens), each page costing a whole pool block
  (vllm_v4_need; benchmarks/runtime_logs/vllm_v4_kv.md). A single latent / K=V head: every TP
  rank holds the whole cache of its layers.
SGLang (mem_cache/memory_pool.py NSATokenToKVPool): V3.2 as vLLM per token (latent row of the
  kv_cache_dim the model runner passes -- 656 for fp8 assumed from the FlashMLA sparse layout, not
  read in SGLang itself; indexer index_head_dim + index_head_dim // 128 * 4 = 132 B, or 256 B with
  a bf16 index cache), allocated in pages of 64 tokens (the pool asserts page_size == 64 on CUDA). V4 (mem_cache/deepseek_v4_memory_pool.py): DeepSeekV4SingleKVPool 584 B/token (448 fp8 NoPE
  + 64 bf16 RoPE + 8 B scales; pages padded to 576 B multiples, not modelled), DeepSeekV4IndexerPool
  get_dsv4_indexer_bytes_per_token = 132 (fp8) / 68 (fp4), SWA ring of sliding_window tokens
  (get_swa_ring_size), and per request a compressor state (deepseek_v4_compress_state.py
  CompressStatePool: ring 8 rows for ratio 4 / 128 for ratio 128, 2*(1+overlap)*head_dim wide;
  fp32 assumed). The pools are sized for the whole server (swa_full_tokens_ratio); this is what
  one request's tokens occupy.
llama.cpp 2026-10 (src/llama-kv-cache-dsa.cpp, src/llama-kv-cache-dsv4.cpp): MLA stores only the
  576-wide K row (no V cache); V3.2 adds an indexer K cache of indexer_head_size per cell; V4 keeps
  a K-only raw sliding-window cache on every layer (llama_kv_cache_iswa, window + n_ubatch cells
  padded to 256), K-only compressed caches of GGML_PAD(ceil(n_ctx/ratio), 256) cells for CSA,
  HCA and the indexer, and f32 compressor states (llama_dsv4_comp_state: kv + score planes of
  2*ratio x 2*head rows for CSA / the indexer, ratio x head for HCA).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from deepseek_probe.errors import InputError
from deepseek_probe.memo import memo
from deepseek_probe.profiles import KV_PRECISIONS, ModelSpec, arch2026

RUNTIMES = ("transformers", "vllm", "sglang", "llamacpp")

# vLLM fp8_ds_mla bytes per token: V3.2 = 512 fp8 + 16 B scales + 128 B bf16 rope = 656 (vLLM's
# sparse-MLA cache tests: `width = 656 if cache_dtype == "fp8_ds_mla" else 576`, indexer rows of
# 132); V4 = 448 + 128 + 8 = 584 (models/deepseek_v4.py DeepseekV4Attention.get_kv_cache_spec).
# Not rounded up to vLLM's block size / 576 B page alignment.
_VLLM_V32_FP8_MLA = 656
_VLLM_V4_FP8_ENTRY = 584
# indexer key: 128 fp8 values + one fp32 scale per 128 values (DeepseekV32IndexerCache head_dim)
_INDEXER_QUANT_BLOCK = 128
# llama.cpp: cells padded to 256 (llama-kv-cache-dsv4.cpp GGML_PAD(..., 256u)); default n_ubatch
# 512 (common/common.h) added to the window cache (llama-kv-cache-iswa.cpp size_swa)
_LLAMACPP_PAD, _LLAMACPP_UBATCH = 256, 512
# SGLang NSATokenToKVPool: page_size must be 64 on CUDA (mem_cache/memory_pool.py)
_SGLANG_NSA_PAGE = 64
# vLLM 0.33.0 defaults for DeepSeek-V4 (vllm_v4_need): engine/arg_utils.py get_batch_defaults,
# `vllm serve` on a >= 70 GiB GPU that is not an A100 (16384 with LLM(...) or >= 160 GiB);
# config/vllm.py max_concurrent_batches = 2 with async scheduling (the default, PP 1);
# --block-size 256 (DeepseekSparseSWABackend.get_preferred_block_size, and what the compressor
# comments assume: "The KV block shape [256//4, head_dim]")
VLLM_MAX_NUM_BATCHED_TOKENS, VLLM_MAX_CONCURRENT_BATCHES, VLLM_V4_BLOCK_SIZE = 8192, 2, 256
VLLM_RELEASE = "0.33.0"


class KVCacheInputError(InputError):
    """A runtime, dtype or size the cache model does not handle."""


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _pad(a: int, b: int) -> int:
    return _ceil(a, b) * b


def _elem(kv_dtype: str) -> float:
    if kv_dtype == "fp32":
        return 4.0
    if kv_dtype not in KV_PRECISIONS:
        raise KVCacheInputError(f"unknown kv dtype {kv_dtype!r}; choose one of {', '.join(KV_PRECISIONS)}")
    return KV_PRECISIONS[kv_dtype]


def _indexer_entry(spec: ModelSpec) -> int:
    d = spec.index_head_dim
    return d + d // _INDEXER_QUANT_BLOCK * 4


def kv_cache_breakdown(spec: ModelSpec, context: int, concurrency: int = 1, kv_dtype: str = "bf16",
                       runtime: str = "transformers", tensor_parallel: int = 1, *,
                       max_num_batched_tokens: int = VLLM_MAX_NUM_BATCHED_TOKENS,
                       max_concurrent_batches: int = VLLM_MAX_CONCURRENT_BATCHES,
                       block_size: int = VLLM_V4_BLOCK_SIZE, vllm_release: str = VLLM_RELEASE,
                       mtp_layers: int = 0) -> Dict[str, int]:
    """Bytes of KV cache on one device, by layer type, for `concurrency` sequences of `context` tokens.

    The keyword-only options matter for DeepSeek-V4 in vLLM only (see vllm_v4_need): the
    scheduler's max_num_batched_tokens and concurrent batches (sliding-window and compressor-state
    reserve), --block-size, the release whose grouping arithmetic applies, and the MTP draft layers
    loaded for speculative decoding. Their defaults are vLLM 0.33.0's for `vllm serve` on a
    >= 70 GiB GPU with --block-size 256."""
    if runtime not in RUNTIMES:
        raise KVCacheInputError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    if context < 1 or concurrency < 1 or tensor_parallel < 1:
        raise KVCacheInputError("context, concurrency and tensor parallel size must be positive")
    e = _elem(kv_dtype)
    if spec.family == "deepseek_v4":
        vllm = dict(max_num_batched_tokens=max_num_batched_tokens, max_concurrent_batches=max_concurrent_batches,
                    block_size=block_size, vllm_release=vllm_release, mtp_layers=mtp_layers)
        out = _v4(spec, context, concurrency, e, kv_dtype, runtime, vllm)
    elif spec.is_mla:
        out = _mla(spec, context, concurrency, e, kv_dtype, runtime)
    else:
        out = _gqa(spec, context, concurrency, e, runtime, tensor_parallel)
    if runtime == "llamacpp" and tensor_parallel > 1:  # layers split across devices (-sm layer)
        out = {k: _ceil(v, tensor_parallel) for k, v in out.items()}
    return {k: int(v) for k, v in out.items()}


def kv_cache_bytes(spec: ModelSpec, context: int, concurrency: int = 1, kv_dtype: str = "bf16",
                   runtime: str = "transformers", tensor_parallel: int = 1, **vllm_options) -> int:
    """Total of kv_cache_breakdown (vllm_options: its keyword-only V4 options)."""
    return sum(kv_cache_breakdown(spec, context, concurrency, kv_dtype, runtime, tensor_parallel,
                                  **vllm_options).values())


def _gqa(spec: ModelSpec, t: int, b: int, e: float, runtime: str, tp: int) -> Dict[str, float]:
    heads = spec.kv_heads if runtime in ("transformers", "llamacpp") else max(1, spec.kv_heads // tp)
    return {"mha_gqa": 2 * spec.layers * heads * spec.head_dim * t * b * e}


def _mla(spec: ModelSpec, t: int, b: int, e: float, kv_dtype: str, runtime: str) -> Dict[str, float]:
    n, latent = spec.layers, spec.kv_lora_rank + spec.qk_rope_head_dim
    sparse = spec.index_head_dim > 0
    out: Dict[str, float] = {}
    if runtime == "transformers":  # expanded per-head K (nope+rope) and V in the model dtype
        out["mla_expanded_kv"] = n * t * b * spec.heads * (spec.qk_nope_head_dim + spec.qk_rope_head_dim
                                                           + spec.v_head_dim) * e
        if sparse:  # DynamicIndexedLayer.indexer_keys [B, T, index_head_dim]
            out["indexer_keys"] = n * t * b * spec.index_head_dim * e
    elif runtime == "llamacpp":  # K-only latent row; no V cache
        cells = b * _pad(t, _LLAMACPP_PAD)
        out["mla_latent_no_v"] = n * cells * latent * e
        if sparse:
            out["indexer_keys"] = n * cells * spec.index_head_dim * e
    else:  # vllm, sglang
        per_tok = _VLLM_V32_FP8_MLA if (sparse and kv_dtype == "fp8") else latent * e
        tt = _pad(t, _SGLANG_NSA_PAGE) if (runtime == "sglang" and sparse) else t
        out["mla_latent"] = n * tt * b * per_tok
        if sparse:
            out["indexer_keys"] = n * tt * b * _indexer_entry(spec)
    return out


def _v4(spec: ModelSpec, t: int, b: int, e: float, kv_dtype: str, runtime: str,
        vllm: Optional[dict] = None) -> Dict[str, float]:
    kinds = arch2026.v4_layer_kinds(spec)
    n_sw, n_csa, n_hca = kinds[arch2026.V4_SLIDING], kinds[arch2026.V4_CSA], kinds[arch2026.V4_HCA]
    hd, ihd, w = spec.head_dim, spec.index_head_dim, spec.sliding_window
    if runtime == "transformers":
        return _v4_transformers(n_sw, n_csa, n_hca, hd, ihd, t, b, e)
    if runtime == "llamacpp":
        cells_w = _pad(w + _LLAMACPP_UBATCH, _LLAMACPP_PAD)
        c4, c128 = _pad(_ceil(t, 4), _LLAMACPP_PAD), _pad(_ceil(t, 128), _LLAMACPP_PAD)
        f32 = 4
        return {
            "v4_sliding_window": spec.layers * b * cells_w * hd * e,
            "v4_csa_compressed": n_csa * b * (c4 * hd * e + 2 * (2 * 4) * (2 * hd) * f32),
            "v4_csa_indexer": n_csa * b * (c4 * ihd * e + 2 * (2 * 4) * (2 * ihd) * f32),
            "v4_hca_compressed": n_hca * b * (c128 * hd * e + 2 * 128 * hd * f32),
        }
    # sglang: fp8 -> fp8_ds_mla entries, else the element dtype
    entry = _VLLM_V4_FP8_ENTRY if kv_dtype == "fp8" else hd * e
    if runtime == "sglang":  # + per-request compressor states (CompressStatePool, fp32 assumed)
        f32 = 4
        return {
            "v4_sliding_window": spec.layers * b * w * entry,
            "v4_csa_compressed": n_csa * b * (_ceil(t, 4) * entry + 8 * (2 * 2 * hd) * f32),
            "v4_csa_indexer": n_csa * b * (_ceil(t, 4) * _indexer_entry(spec) + 8 * (2 * 2 * ihd) * f32),
            "v4_hca_compressed": n_hca * b * (_ceil(t, 128) * entry + 128 * (2 * hd) * f32),
        }
    need, _ = vllm_v4_need(spec, t, kv_dtype, **(vllm or {}))
    return {k: v * b for k, v in need.items()}


def _v4_transformers(n_sw: int, n_csa: int, n_hca: int, hd: int, ihd: int, t: int, b: int,
                     e: float) -> Dict[str, float]:
    """What DynamicCache holds after one prefill of t tokens (measured, see module docstring)."""
    tensor8 = 8  # DynamicSlidingWindowLayer._sliding_window_tensor: one int64 per window layer
    # window-only layers: separate K and V tensors, each a view over the prefill's t rows
    window = n_sw * (2 * b * t * hd * e + tensor8) + (n_csa + n_hca) * (b * t * hd * e + tensor8)
    # CSA: kv/gate projections (2*head_dim wide) kept as the leftover buffer, t//4 entries,
    # overlap state = last window's first-half slice of kv and gate (4 x head_dim each)
    csa = n_csa * b * (2 * t * 2 * hd * e + (t // 4) * hd * e + 2 * 4 * hd * e)
    idx = n_csa * b * (2 * t * 2 * ihd * e + (t // 4) * ihd * e + 2 * 4 * ihd * e)
    hca = n_hca * b * (2 * t * hd * e + (t // 128) * hd * e)
    return {"v4_sliding_window": window, "v4_csa_compressed": csa, "v4_csa_indexer": idx,
            "v4_hca_compressed": hca}


# -- vLLM: DeepSeek-V4's KV cache groups (benchmarks/runtime_logs/vllm_v4_kv.md) --------------
# One layer spec: (group kind, block_size in tokens, page bytes, sliding window or 0 = full).
_V4Layer = Tuple[str, int, int, int]


def _release(r: str) -> Tuple[int, ...]:
    return tuple(int(x) for x in r.split(".")[:2])


def _v4_vllm_layers(spec: ModelSpec, kv_dtype: str, bs: int, release: Tuple[int, ...],
                    mtp_layers: int) -> List[_V4Layer]:
    """Every KV cache spec a V4 model registers, in module order (models/deepseek_v4/attention.py,
    compressor.py, v1/attention/backends/mla/sparse_swa.py). Page = states per block x bytes per
    state, rounded up to 576 B for fp8_ds_mla (512 B otherwise; 0.21 always 576). Every layer: a
    DeepseekV4SWACache (SlidingWindowMLASpec, 64-token blocks, window = sliding_window); ratio r > 1:
    the compressed KV (MLAAttentionSpec, block_size/r states of 584 B) and the compressor's state
    (SlidingWindowMLASpec, fp32 rows of 2 x coff x head_dim, blocks of 4 (r 4) / 8 (r 128) tokens,
    window coff x r, coff = 2 for r 4); r == 4 adds the indexer keys (MLAAttentionSpec, 132 B per
    state) and the indexer compressor's state (head_dim 128). MTP draft layers: ratio 1."""
    fp8 = kv_dtype == "fp8"
    align = 576 if fp8 or release < (0, 23) else 512
    row = _VLLM_V4_FP8_ENTRY if fp8 else int(spec.head_dim * _elem(kv_dtype))
    out: List[_V4Layer] = []
    for r in list(spec.compress_ratios[:spec.layers]) + [1] * mtp_layers:
        r = max(1, r)
        if bs % r:
            raise KVCacheInputError(f"vLLM DeepSeek-V4: block size {bs} is not a multiple of compress ratio {r}")
        if r == 4:
            out.append(("compressed_kv", bs, _pad(bs // 4 * _indexer_entry(spec), align), 0))
            out.append(("csa_state", 4, _pad(4 * 2 * 2 * spec.index_head_dim * 4, align), 8))
        out.append(("sliding_window", 64, _pad(64 * row, align), spec.sliding_window))
        if r > 1:
            coff, sb = (2, 4) if r == 4 else (1, 8)
            out.append(("compressed_kv", bs, _pad(bs // r * row, align), 0))
            out.append(("csa_state" if r == 4 else "hca_state", sb, _pad(sb * 2 * coff * spec.head_dim * 4, align),
                        coff * r))
    return out


def _approximate_gcd(values: List[int], lower: int) -> int:
    """kv_cache_planning.py _approximate_gcd: the d >= lower with the least round-up padding."""
    best = (None, lower)
    for d in range(lower, max(values) + 1):
        pad = sum((d - x % d) % d for x in values)
        if best[0] is None or pad <= best[0]:
            best = (pad, d)
    return best[1]


def _v4_vllm_groups(layers: List[_V4Layer], release: Tuple[int, ...]) -> Tuple[List[List[_V4Layer]], int, int]:
    """(KV cache groups, bytes one page of the need costs, bytes per pool block).
    Buckets: the full-attention specs (one bucket, same block size) and the sliding-window specs by
    (block size, window). 0.21-0.27 (kv_cache_utils.py group_and_unify_kv_cache_specs,
    _get_kv_cache_groups_uniform_groups): n = _approximate_gcd of each bucket's most common
    page-size count (floor: the full bucket's), window buckets split into ceil(count / n) groups;
    0.21-0.26 pad window pages to the next full page size. The need charges every group page the
    full group's layer tuple, n x sum(distinct full page sizes) (_max_memory_usage_bytes_from_groups);
    the pool block is sum(page x most slots) over page sizes (_get_kv_cache_config_packed).
    0.33 (kv_cache_planning.py _get_packed_kv_cache_groups): the same split, but only balanced
    buckets (equal layers per page size) split, the floor is the largest mixed balanced bucket, no
    padding; need and pool block are both the widest group's page bytes
    (_get_kv_cache_bytes_per_block)."""
    from collections import Counter
    buckets: Dict[Tuple[int, int], List[_V4Layer]] = {}
    for x in layers:
        buckets.setdefault((x[1], x[3]), []).append(x)
    full = [v for k, v in buckets.items() if k[1] == 0]
    if len(full) != 1:
        raise KVCacheInputError("vLLM DeepSeek-V4 grouping needs one full-attention bucket")
    ordered = full + [v for k, v in buckets.items() if k[1] != 0]
    counts = [Counter(x[2] for x in g) for g in ordered]
    most = [c.most_common(1)[0][1] for c in counts]
    old = release < (0, 33)
    if old:
        n = _approximate_gcd(most, most[0])
        split = [1] + [_ceil(m, n) for m in most[1:]]
    else:
        balanced = [len(set(c.values())) == 1 for c in counts]
        floor = max([m for m, c, ok in zip(most, counts, balanced) if ok and len(c) > 1], default=0)
        n = _approximate_gcd([m for m, ok in zip(most, balanced) if ok], floor) if floor else 0
        split = [_ceil(m, n) if ok and n else 1 for m, ok in zip(most, balanced)]
    full_pages = sorted(counts[0])
    groups: List[List[_V4Layer]] = []
    for g, k in zip(ordered, split):
        if old and release < (0, 27) and g is not ordered[0]:  # pad to the next full page size
            g = [(a, b, min(p for p in full_pages if p >= c), w) for a, b, c, w in g]
        by_size: Dict[int, List[_V4Layer]] = {}
        for x in g:
            by_size.setdefault(x[2], []).append(x)
        repeats = list(zip(*by_size.values())) if len({len(v) for v in by_size.values()}) == 1 else [tuple(g)]
        groups += [[x for rep in repeats[i::k] for x in rep] for i in range(k)] if k > 1 else [g]
    if old:
        tuples = max(Counter(x[2] for x in g).most_common(1)[0][1] for g in groups)
        page = tuples * sum(full_pages)
        slots: Dict[int, int] = {}
        for g in groups:
            for size, c in Counter(x[2] for x in g).items():
                slots[size] = max(slots.get(size, 0), c)
        return groups, page, sum(size * c for size, c in slots.items())
    widest = max(sum(x[2] for x in g) for g in groups)
    return groups, widest, widest


def _v4_vllm_layout(spec: ModelSpec, kv_dtype: str, bs: int, release: Tuple[int, ...],
                    mtp_layers: int) -> Tuple[List[List[_V4Layer]], int, int, List[List[Tuple[int, int]]]]:
    """_v4_vllm_groups of _v4_vllm_layers, plus each group's distinct (block size, window) pairs,
    kept in memo.py: none of it depends on the context, and the survey and the planner ask for
    it hundreds of times."""
    def compute() -> Tuple[List[List[_V4Layer]], int, int, List[List[Tuple[int, int]]]]:
        groups, page, block = _v4_vllm_groups(_v4_vllm_layers(spec, kv_dtype, bs, release, mtp_layers), release)
        return groups, page, block, [sorted({(blk, w) for _, blk, _, w in g}) for g in groups]

    return memo("kvcache.v4_vllm_layout", (spec, kv_dtype, bs, release, mtp_layers), compute)


def _v4_group_pages(shapes: List[Tuple[int, int]], t: int, in_flight: int) -> int:
    """UniformTypeKVCacheSpecs.max_memory_usage_pages: the most pages any layer of the group needs
    for one request of t tokens. Full: cdiv(t, block); window (SlidingWindowSpec
    max_admission_blocks_per_request): cdiv(min(window - 1 + in-flight tokens, t), block) + 1.
    `shapes`: the group's distinct (block size, window) pairs."""
    return max(_ceil(t, blk) if w == 0 else _ceil(min(w - 1 + in_flight, t), blk) + 1 for blk, w in shapes)


def vllm_v4_need(spec: ModelSpec, t: int, kv_dtype: str = "fp8", *,
                 max_num_batched_tokens: int = VLLM_MAX_NUM_BATCHED_TOKENS,
                 max_concurrent_batches: int = VLLM_MAX_CONCURRENT_BATCHES, block_size: int = VLLM_V4_BLOCK_SIZE,
                 vllm_release: str = VLLM_RELEASE, mtp_layers: int = 0) -> Tuple[Dict[str, int], dict]:
    """vLLM's KV need for one request of t tokens on each GPU (what `_check_enough_kv_cache_memory`
    compares with the pool and `estimate_max_model_len` searches), by group kind, plus the layout
    (groups, page bytes, pool block bytes, pages per request). In-flight tokens =
    max_num_batched_tokens x max_concurrent_batches from 0.26 (VllmConfig.max_in_flight_tokens),
    max_num_batched_tokens alone before. Window and compressor-state groups hold
    min(window - 1 + in-flight, t) tokens: at 16384 in flight that is most of a 30K request's need."""
    rel = _release(vllm_release)
    in_flight = max_num_batched_tokens * (max_concurrent_batches if rel >= (0, 26) else 1)
    groups, page, block, shapes = _v4_vllm_layout(spec, kv_dtype, block_size, rel, mtp_layers)
    need: Dict[str, int] = {}
    pages = []
    for g, shape in zip(groups, shapes):
        pages.append(_v4_group_pages(shape, t, in_flight))
        key = "v4_" + g[0][0] if g[0][0] != "csa_state" else "v4_csa_compressor_state"
        key = "v4_hca_compressor_state" if g[0][0] == "hca_state" else key
        need[key] = need.get(key, 0) + pages[-1] * page
    return need, {"groups": groups, "page_bytes": page, "block_bytes": block, "pages": pages}


def vllm_v4_capacity(spec: ModelSpec, available_bytes: int, max_model_len: int, kv_dtype: str = "fp8",
                     **options) -> Tuple[int, float, int]:
    """(num_blocks, "Maximum concurrency", "GPU KV cache size" tokens) from a KV pool.
    num_blocks = available // pool block bytes. Concurrency 0.27+ (get_max_concurrency_for_kv_cache_config):
    num_blocks / sum of the groups' pages; 0.21-0.26: num_blocks / cdiv(sum(pages x group page
    bytes), full group page bytes). Tokens (0.21+): int(concurrency x max_model_len)."""
    _, lay = vllm_v4_need(spec, max_model_len, kv_dtype, **options)
    blocks = available_bytes // lay["block_bytes"]
    if _release(options.get("vllm_release", VLLM_RELEASE)) >= (0, 27):
        per_request = sum(lay["pages"])
    else:
        sizes = [sum(x[2] for x in g) for g in lay["groups"]]
        per_request = _ceil(sum(p * s for p, s in zip(lay["pages"], sizes)), sizes[0])
    conc = blocks / per_request
    return blocks, conc, int(conc * max_model_len)


def kv_bytes_per_image(spec: ModelSpec, images: int = 1, kv_dtype: str = "bf16", runtime: str = "transformers",
                       image_tokens: int = 0) -> int:
    """KV cache the image tokens of `images` images take (one sequence): the image's tokens enter
    the decoder's sequence like text tokens, so this is the cache of `image_tokens * images`
    positions (image_tokens 0 = the spec's default mode, e.g. DeepSeek-OCR Base: 273)."""
    per = image_tokens or spec.image_tokens
    if per <= 0:
        raise KVCacheInputError(f"{spec.id} takes no image tokens")
    if images < 1:
        raise KVCacheInputError("images must be positive")
    return kv_cache_bytes(spec, per * images, 1, kv_dtype, runtime)
