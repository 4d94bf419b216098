"""Parameter counts of the 2026 architectures: DeepSeek-V3.2 (sparse attention with a lightning
indexer), DeepSeek-V4 (compressed sparse / heavily compressed attention, hyper-connections,
grouped output projection, hash-routed MoE layers) and Qwen3 (q/k RMSNorm), for
`profiles._counts`.

Counts follow the modules transformers 5.17 builds (`modeling_deepseek_v32.py`,
`modeling_deepseek_v4.py`, `modeling_qwen3.py`); tests/test_models2026.py checks them against
`sum(p.numel())` of the model built on the meta device and against the published totals.
Buffers are not parameters: V4's `e_score_correction_bias` and hash-layer `tid2eid` tables are
`nn.Buffer`s in transformers (DeepseekV4TopKRouter / DeepseekV4HashRouter).

Pure: no I/O. Every function takes a ModelSpec-like object (duck-typed to avoid an import cycle).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Tuple

from deepseek_probe.memo import memo

# (out_features, in_features, count) of one linear weight group, as profiles._layer_linears
Linears = List[Tuple[int, int, int]]

# Layer kinds of V4, from transformers configuration_deepseek_v4._COMPRESS_RATIO_TO_LAYER_TYPE
V4_SLIDING, V4_CSA, V4_HCA = "sliding_attention", "compressed_sparse_attention", "heavily_compressed_attention"
_RATIO_TO_KIND = {0: V4_SLIDING, 1: V4_SLIDING, 4: V4_CSA, 128: V4_HCA}


def v4_layer_kind(ratio: int) -> str:
    """Attention kind of a V4 layer from its compress_ratios entry (0/1 = window only)."""
    if ratio not in _RATIO_TO_KIND:
        raise ValueError(f"unknown DeepSeek-V4 compress ratio {ratio}")
    return _RATIO_TO_KIND[ratio]


# -- DeepSeek-V3.2: V3 + a lightning indexer per layer ---------------------------------------
def v32_indexer_linears(s) -> Linears:
    """DeepseekV32Indexer: wq_b (q_lora -> n_idx*d_idx), wk (hidden -> d_idx), weights_proj (hidden -> n_idx)."""
    return [(s.index_n_heads * s.index_head_dim, s.q_lora_rank, 1), (s.index_head_dim, s.hidden, 1),
            (s.index_n_heads, s.hidden, 1)]


def v32_indexer_other(s) -> int:
    """k_norm is an nn.LayerNorm (weight + bias) of index_head_dim."""
    return 2 * s.index_head_dim


def v32_mtp_fp8_bytes(s, layer: Dict[str, int]) -> int:
    """The V3.2 checkpoint's MTP block (model.layers.61, DeepSeek-V3.2 safetensors listing): one
    decoder layer in fp8 with fp32 128x128 block scales, while eh_proj, its embed_tokens and
    shared_head.head stay bf16. `layer` is profiles' per-layer count of that decoder layer."""
    h = s.hidden
    return layer["linear"] + 4 * layer["blocks128"] + 2 * layer["other"] + 2 * (2 * s.vocab * h + 2 * h * h + 3 * h)


# -- Qwen3: per-head q_norm and k_norm ----------------------------------------------------------
def qwen3_other(s) -> int:
    """Qwen3Attention q_norm / k_norm: one RMSNorm weight of head_dim each."""
    return 2 * s.head_dim


# -- DeepSeek-V4 -------------------------------------------------------------------------------
def _v4_attention(s, kind: str) -> Tuple[Linears, int]:
    h, hd, heads = s.hidden, s.head_dim, s.heads
    lin: Linears = [
        (s.q_lora_rank, h, 1),  # q_a_proj
        (heads * hd, s.q_lora_rank, 1),  # q_b_proj
        (hd, h, 1),  # kv_proj: one shared K=V head
        # grouped output projection: o_a is block-diagonal, o_groups blocks of (heads*hd/g) -> o_lora
        (s.o_groups * s.o_lora_rank, heads * hd // s.o_groups, 1),
        (h, s.o_groups * s.o_lora_rank, 1),  # o_b_proj
    ]
    other = s.q_lora_rank + hd + heads  # q_a_norm, kv_norm, attention sinks (q_b_norm is unweighted)
    if kind == V4_HCA:  # DeepseekV4HCACompressor: kv/gate to head_dim, position bias per slot of the window
        ratio = 128
        lin += [(hd, h, 2)]
        other += ratio * hd + hd
    elif kind == V4_CSA:  # DeepseekV4CSACompressor: two overlapping series (2*head_dim) + the indexer
        ratio, ihd = 4, s.index_head_dim
        lin += [(2 * hd, h, 2)]
        other += ratio * 2 * hd + hd
        lin += [(2 * ihd, h, 2), (s.index_n_heads * ihd, s.q_lora_rank, 1), (s.index_n_heads, h, 1)]
        other += ratio * 2 * ihd + ihd
    return lin, other


def _v4_hyper_connection(s) -> int:
    """DeepseekV4HyperConnection: fn [(2+n)*n, n*hidden], base [(2+n)*n], scale [3]."""
    n = s.hc_mult
    mix = (2 + n) * n
    return mix * n * s.hidden + mix + 3


def v4_layer(s, ratio: int) -> Tuple[Linears, int]:
    """(quantizable linears, other params) of one V4 decoder layer with compress ratio `ratio`."""
    lin, other = _v4_attention(s, v4_layer_kind(ratio))
    mi, e = s.moe_intermediate, s.routed_experts
    lin += [(mi, s.hidden, 2 * e), (s.hidden, mi, e)]  # routed experts (gate+up, down)
    lin += [(mi * s.shared_experts, s.hidden, 2), (s.hidden, mi * s.shared_experts, 1)]  # shared expert
    other += e * s.hidden  # router weight (hash and top-k routers alike)
    other += 2 * s.hidden + 2 * _v4_hyper_connection(s)  # 2 RMSNorms, attn + ffn hyper-connections
    return lin, other


def v4_counts(s, layer_counts) -> Dict[str, int]:
    """Totals for a V4 spec. `layer_counts(linears, other)` is profiles' per-layer reducer."""
    totals = {"linear": 0, "rows": 0, "groups128": 0, "blocks128": 0, "other": 0}
    for ratio in s.compress_ratios[:s.layers]:
        for k, v in layer_counts(*v4_layer(s, ratio)).items():
            totals[k] += v
    n = s.hc_mult
    head = n * n * s.hidden + n + 1  # DeepseekV4HyperHead: hc_fn [n, n*hidden], hc_base [n], hc_scale [1]
    totals["params"] = totals["linear"] + totals["other"] + s.embedding_params + s.hidden + head
    # MTP block (checkpoint `mtp.0.*`, not built by transformers): one more decoder layer of the
    # last ratio, e_proj/h_proj (hidden x hidden each), enorm/hnorm/norm, its own hyper-head.
    mtp = 0
    if s.mtp_layers:
        tail = s.compress_ratios[s.layers] if len(s.compress_ratios) > s.layers else 0
        lc = layer_counts(*v4_layer(s, tail))
        mtp = s.mtp_layers * (lc["linear"] + lc["other"] + 2 * s.hidden * s.hidden + 3 * s.hidden + head)
    totals["mtp"] = mtp
    idle = (s.routed_experts - s.experts_per_token) * 3 * s.hidden * s.moe_intermediate * s.layers
    totals["active"] = totals["params"] - idle
    return totals


def v4_layer_kinds(s) -> Dict[str, int]:
    """How many main layers of each V4 attention kind (memo.py: asked per estimate)."""
    return dict(memo("arch2026.v4_layer_kinds", s, lambda: _count_layer_kinds(s)))


def _count_layer_kinds(s) -> Dict[str, int]:
    kinds = {V4_SLIDING: 0, V4_CSA: 0, V4_HCA: 0}
    for ratio in s.compress_ratios[:s.layers]:
        kinds[v4_layer_kind(ratio)] += 1
    return kinds


# -- vision towers ----------------------------------------------------------------------------
def clip_vit_params(width: int, layers: int, mlp: int, patch: int, image: int, post_norm: bool = False) -> int:
    """CLIP ViT with fused qkv (biases everywhere, no patch bias): class token, patch conv,
    positions ((image/patch)^2 + 1), pre-LayerNorm, `layers` pre-LN blocks, optional post-LN."""
    grid = (image // patch) ** 2
    n = width + width * 3 * patch * patch + (grid + 1) * width + 2 * width
    block = 4 * width + (3 * width * width + 3 * width) + (width * width + width) + (mlp * width + mlp) + (width * mlp + width)
    return n + layers * block + (2 * width if post_norm else 0)


def sam_vit_params(width: int, layers: int, image: int, patch: int, window: int, global_layers: Tuple[int, ...],
                   heads: int, neck: int, downsample: Tuple[int, ...]) -> int:
    """SAM ViT image encoder (segment-anything ImageEncoderViT, relative positions per block:
    2*grid-1 rows on global-attention blocks, 2*window-1 on windowed ones) + conv neck + the
    strided convs DeepSeek-OCR adds (net_2, net_3, 3x3, no bias)."""
    grid, hd = image // patch, width // heads
    n = grid * grid * width + width * 3 * patch * patch + width  # pos_embed, patch conv + bias
    for i in range(layers):
        rows = 2 * grid - 1 if i in global_layers else 2 * window - 1
        n += 4 * width + 2 * rows * hd + (3 * width * width + 3 * width) + (width * width + width)
        n += (4 * width * width + 4 * width) + (width * 4 * width + width)
    n += neck * width + 2 * neck + neck * neck * 9 + 2 * neck  # neck: 1x1 conv, LN, 3x3 conv, LN
    prev = neck
    for ch in downsample:
        n += ch * prev * 9
        prev = ch
    return n


def deepseek_ocr_vision_params(hidden: int) -> int:
    """DeepEncoder of deepseek-ai/DeepSeek-OCR (config.json vision_config: sam_vit_b width 768,
    12 layers, 12 heads, global attention at 2,5,8,11, downsample channels 512,1024;
    clip-l-14-224 width 1024, 24 layers, 16 heads) + linear projector 2048 -> hidden (with bias)
    + image_newline + view_seperator rows."""
    sam = sam_vit_params(768, 12, 1024, 16, 14, (2, 5, 8, 11), 12, 256, (512, 1024))
    clip = clip_vit_params(1024, 24, 4096, 14, 224)
    return sam + clip + (2048 * hidden + hidden) + 2 * hidden


def deepseek_ocr_image_tokens(base_size: int, image_size: int = 640, crops: Tuple[int, int] = (1, 1)) -> int:
    """Tokens one image takes in the sequence (DeepSeek-OCR image processing: a q x q feature grid,
    q = ceil(size / 16 / 4), one newline token per row, one view separator; local crops add
    (q*w + 1) * (q*h) more). Tiny 512 -> 73, Small 640 -> 111, Base 1024 -> 273, Large 1280 -> 421."""
    q = _ceil_div(base_size // 16, 4)
    n = (q + 1) * q + 1
    w, h = crops
    if w > 1 or h > 1:
        ql = _ceil_div(image_size // 16, 4)
        n += (ql * w + 1) * (ql * h)
    return n


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


VISION_TOWERS = {"deepencoder": deepseek_ocr_vision_params}


# -- DeepSeek-V4 checkpoint bytes -------------------------------------------------------------
# Dtypes as the published safetensors store them (DeepSeek-V4-Flash/-Pro tensor listings, see
# fixtures/configs/README.md): attention and shared-expert linears float8_e4m3 with one
# float8_e8m0 scale per 128x128 block; routed experts MXFP4 (two values per int8 byte, one e8m0
# scale per 32 values); compressor / indexer-compressor / weights_proj / router weights, norms,
# embeddings and head bf16; hyper-connection params, attention sinks, compressor position biases
# and router biases fp32; hash layers' tid2eid int64 [vocab, top_k].
def _fp8(out_f: int, in_f: int) -> int:
    return out_f * in_f + _ceil_div(out_f, 128) * _ceil_div(in_f, 128)


def _fp4(out_f: int, in_f: int) -> int:
    return out_f * in_f // 2 + out_f * in_f // 32


def _v4_layer_bytes(s, ratio: int, hash_layer: bool) -> int:
    h, hd, heads, ql = s.hidden, s.head_dim, s.heads, s.q_lora_rank
    kind = v4_layer_kind(ratio)
    b = _fp8(ql, h) + _fp8(heads * hd, ql) + _fp8(hd, h)  # wq_a, wq_b, wkv
    b += _fp8(s.o_groups * s.o_lora_rank, heads * hd // s.o_groups) + _fp8(h, s.o_groups * s.o_lora_rank)
    b += 2 * (ql + hd + 2 * h) + 4 * heads  # q_norm, kv_norm, attn_norm, ffn_norm (bf16); attn_sink fp32
    if kind == V4_HCA:
        b += 2 * (2 * hd * h + hd) + 4 * 128 * hd  # compressor wkv/wgate + norm (bf16), ape fp32
    elif kind == V4_CSA:
        ihd = s.index_head_dim
        b += 2 * (2 * 2 * hd * h + hd) + 4 * 4 * 2 * hd  # compressor (2 series) + norm, ape
        b += 2 * (2 * 2 * ihd * h + ihd) + 4 * 4 * 2 * ihd  # indexer compressor + norm, ape
        b += _fp8(s.index_n_heads * ihd, ql) + 2 * s.index_n_heads * h  # indexer wq_b, weights_proj
    mi, e = s.moe_intermediate, s.routed_experts
    b += e * (2 * _fp4(mi, h) + _fp4(h, mi))  # routed experts w1, w3, w2
    b += 2 * _fp8(mi * s.shared_experts, h) + _fp8(h, mi * s.shared_experts)
    b += 2 * e * h  # router weight bf16
    b += 8 * s.vocab * s.experts_per_token if hash_layer else 4 * e  # tid2eid int64 | gate.bias fp32
    b += 4 * 2 * _v4_hyper_connection(s)  # hc_attn_*, hc_ffn_* fp32
    return b


def v4_checkpoint_bytes(s, include_mtp: bool = True) -> int:
    """Bytes of the published V4 safetensors (main model, plus the MTP block when include_mtp)."""
    n = s.hc_mult
    head = 4 * (n * n * s.hidden + n + 1)  # hc_head fp32
    total = 2 * 2 * s.vocab * s.hidden + 2 * s.hidden + head  # embed, head, norm
    for i, ratio in enumerate(s.compress_ratios[:s.layers]):
        total += _v4_layer_bytes(s, ratio, i < s.hash_layers)
    if include_mtp and s.mtp_layers:
        tail = s.compress_ratios[s.layers] if len(s.compress_ratios) > s.layers else 0
        mtp = _v4_layer_bytes(s, tail, False) + 2 * _fp8(s.hidden, s.hidden) + 3 * 2 * s.hidden + head
        total += s.mtp_layers * mtp
    return total


# -- config.json readers (profiles.spec_from_config; formats/hf_config.spec_from_file reads the file) ----------------------------------------------
def vision_fields(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """vision_tower / image_tokens for the image encoders we can count (DeepSeek-OCR's DeepEncoder:
    vision_config.model_name "deeplip_b_l"); {} for text-only configs and unknown towers."""
    v = cfg.get("vision_config")
    if isinstance(v, dict) and v.get("model_name") == "deeplip_b_l":
        return {"vision_tower": "deepencoder", "image_tokens": deepseek_ocr_image_tokens(1024)}
    return {}


def v4_config_fields(cfg: Dict[str, Any], need: Callable[[str], int], opt: Callable[..., int],
                     error: Callable[[str], Exception]) -> Dict[str, Any]:
    """ModelSpec fields of a deepseek_v4 config.json (field names as DeepSeek-V4-Flash/Pro ship
    them). `need`/`opt` read validated integers; `error(message)` builds the one-line error."""
    layers = need("num_hidden_layers")
    ratios = cfg.get("compress_ratios")
    if ratios is None:  # transformers' default schedule is not what the checkpoints ship: ask for it
        raise error("compress_ratios missing (one entry per layer)")
    if (not isinstance(ratios, list) or len(ratios) < layers
            or any(isinstance(r, bool) or r not in _RATIO_TO_KIND for r in ratios)):
        raise error(f"compress_ratios must list 0, 4 or 128 for each of the {layers} layers")
    kw: Dict[str, Any] = dict(
        head_dim=need("head_dim"), q_lora_rank=need("q_lora_rank"), qk_rope_head_dim=opt("qk_rope_head_dim"),
        moe_intermediate=need("moe_intermediate_size"), routed_experts=need("n_routed_experts"),
        shared_experts=opt("n_shared_experts"), experts_per_token=need("num_experts_per_tok"),
        mtp_layers=opt("num_nextn_predict_layers"), index_n_heads=need("index_n_heads"),
        index_head_dim=need("index_head_dim"), index_topk=need("index_topk"),
        compress_ratios=tuple(int(r) for r in ratios), sliding_window=need("sliding_window"),
        hc_mult=need("hc_mult"), hash_layers=opt("num_hash_layers"), o_groups=need("o_groups"),
        o_lora_rank=need("o_lora_rank"), qkv_bias=False)
    if (heads := need("num_attention_heads")) % kw["o_groups"]:
        raise error(f"num_attention_heads {heads} is not a multiple of o_groups")
    if str(cfg.get("expert_dtype", "fp4")).lower() == "fp4":  # V4 checkpoints: MXFP4 experts
        kw["expert_precision"] = "fp4"
    return kw
