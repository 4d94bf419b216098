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
vLLM (model_executor/models/deepseek_v2.py Indexer; models/deepseek_v4.py DeepseekV4Attention
  .get_kv_cache_spec and DeepseekV4Indexer): MLA latent (kv_lora_rank + rope) per token, bf16 or
  fp8; V3.2 fp8 is the fp8_ds_mla layout, 656 B/token (512 fp8 + 4 fp32 scales + 64 bf16 rope);
  indexer keys always fp8 + one fp32 scale per 128 values = 132 B/token; V4 compressed entries
  584 B in fp8_ds_mla (448 NoPE fp8 + 128 B RoPE + 8 B scale, the comment in get_kv_cache_spec)
  or head_dim x 2 B in bf16, one per compress_ratio tokens; indexer 132 B per compressed entry
  (68 B with the MXFP4 indexer cache, SM100 only). A single latent / K=V head: every TP rank
  holds the whole cache of its layers.
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

from typing import Dict

from deepseek_probe.errors import InputError
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
                       runtime: str = "transformers", tensor_parallel: int = 1) -> Dict[str, int]:
    """Bytes of KV cache on one device, by layer type, for `concurrency` sequences of `context` tokens."""
    if runtime not in RUNTIMES:
        raise KVCacheInputError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    if context < 1 or concurrency < 1 or tensor_parallel < 1:
        raise KVCacheInputError("context, concurrency and tensor parallel size must be positive")
    e = _elem(kv_dtype)
    if spec.family == "deepseek_v4":
        out = _v4(spec, context, concurrency, e, kv_dtype, runtime)
    elif spec.is_mla:
        out = _mla(spec, context, concurrency, e, kv_dtype, runtime)
    else:
        out = _gqa(spec, context, concurrency, e, runtime, tensor_parallel)
    if runtime == "llamacpp" and tensor_parallel > 1:  # layers split across devices (-sm layer)
        out = {k: _ceil(v, tensor_parallel) for k, v in out.items()}
    return {k: int(v) for k, v in out.items()}


def kv_cache_bytes(spec: ModelSpec, context: int, concurrency: int = 1, kv_dtype: str = "bf16",
                   runtime: str = "transformers", tensor_parallel: int = 1) -> int:
    """Total of kv_cache_breakdown."""
    return sum(kv_cache_breakdown(spec, context, concurrency, kv_dtype, runtime, tensor_parallel).values())


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


def _v4(spec: ModelSpec, t: int, b: int, e: float, kv_dtype: str, runtime: str) -> Dict[str, float]:
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
    # vllm / sglang: fp8 -> fp8_ds_mla entries, else the element dtype
    entry = _VLLM_V4_FP8_ENTRY if kv_dtype == "fp8" else hd * e
    if runtime == "sglang":  # + per-request compressor states (CompressStatePool, fp32 assumed)
        f32 = 4
        return {
            "v4_sliding_window": spec.layers * b * w * entry,
            "v4_csa_compressed": n_csa * b * (_ceil(t, 4) * entry + 8 * (2 * 2 * hd) * f32),
            "v4_csa_indexer": n_csa * b * (_ceil(t, 4) * _indexer_entry(spec) + 8 * (2 * 2 * ihd) * f32),
            "v4_hca_compressed": n_hca * b * (_ceil(t, 128) * entry + 128 * (2 * hd) * f32),
        }
    return {
        "v4_sliding_window": spec.layers * b * min(w, t) * entry,
        "v4_csa_compressed": n_csa * b * _ceil(t, 4) * entry,
        "v4_csa_indexer": n_csa * b * _ceil(t, 4) * _indexer_entry(spec),
        "v4_hca_compressed": n_hca * b * _ceil(t, 128) * entry,
    }


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
