"""The GGUF a model becomes: tensor names and shapes, and the type llama.cpp quantizes each to.

Pure: built from a `ModelSpec`, no I/O. Sources (llama.cpp 2026-10-01, commit 0c1e570):
- shapes: src/models/llama.cpp, qwen2.cpp, qwen3.cpp, deepseek2.cpp `load_arch_tensors` (ggml
  order: ne[0] is the row length, the input dimension); src/llama-model.cpp `create_tensor_qkv`.
  qwen3 is qwen2 without the q/k/v biases and with `attn_q_norm` / `attn_k_norm` {head_dim} per
  layer (LLM_ARCH_QWEN3 in src/llama-arch.cpp).
- converter facts (which tensors exist, which stay F32): conversion/deepseek.py
  `set_gguf_parameters` / `modify_tensors` (kv_b split into attn_k_b / attn_v_b, experts merged
  into 3-D `ffn_*_exps`, MTP layers skipped).
- types: src/llama-quant.cpp `llama_ftype_get_default_type`, `tensor_allows_quantization`,
  `tensor_get_category`, `llama_tensor_get_type_impl`, `tensor_type_fallback`.
"""

# No `from __future__ import annotations` here: typing.NamedTuple turns a string annotation into
# a ForwardRef, which compiles it (~2.5M instructions a field, on every `check`; valgrind).
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from deepseek_probe.errors import InputError
from deepseek_probe.formats.ggml_types import GGML_TYPES_BY_NAME


class RecipeError(InputError):
    """A model family or file type the GGUF recipe does not know."""


class GgufTensor(NamedTuple):  # a NamedTuple: the survey builds thousands, and it imports faster
    name: str
    shape: Tuple[int, ...]  # ggml order: shape[0] = ne[0] = row length
    type: str  # ggml type name, e.g. "Q4_K"
    nbytes: int
    layer: Optional[int]  # blk.N index; None for token_embd / output / output_norm

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


# llama-quant.cpp llama_ftype_get_default_type: the base type of each file type we model.
FTYPE_DEFAULT: Dict[str, str] = {
    "Q8_0": "Q8_0", "Q6_K": "Q6_K", "Q5_K_M": "Q5_K", "Q4_K_M": "Q4_K", "Q4_0": "Q4_0",
    "Q3_K_M": "Q3_K", "Q2_K": "Q2_K", "F16": "F16", "BF16": "BF16",
}
FTYPES = tuple(FTYPE_DEFAULT)

GGUF_ARCH = {"llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3", "deepseek_v2": "deepseek2",
             "deepseek_v3": "deepseek2"}


def is_lite(spec) -> bool:
    """deepseek2.cpp load_arch_hparams: 27 or 26 layers (or 48 with a 128256 vocab) is 'lite',
    which reads no q_lora_rank and so builds attn_q instead of attn_q_a/attn_q_b."""
    return spec.layers in (26, 27) or (spec.layers == 48 and spec.vocab == 128256)


Shape = Tuple[int, ...]


def _layer_template(spec, dense: bool) -> Tuple[Tuple[str, Shape, str], ...]:
    """One layer's tensors: (name after "blk.N.", ggml shape, type the converter writes: 'F32' for
    vectors/router else 'W'). Every layer of a kind (dense / MoE) has the same list."""
    fam = spec.family
    E = spec.hidden
    out: List[Tuple[str, Shape, str]] = [("attn_norm.weight", (E,), "F32")]
    if fam in ("llama", "qwen2", "qwen3"):
        hd = spec.head_dim
        q, kv = hd * spec.heads, hd * spec.kv_heads
        out += [("attn_q.weight", (E, q), "W"), ("attn_k.weight", (E, kv), "W"), ("attn_v.weight", (E, kv), "W")]
        if spec.qkv_bias:  # qwen2: optional q/k/v biases, converter keeps 1-D tensors F32
            out += [("attn_q.bias", (q,), "F32"), ("attn_k.bias", (kv,), "F32"), ("attn_v.bias", (kv,), "F32")]
        out.append(("attn_output.weight", (q, E), "W"))
        if fam == "qwen3":  # qwen3.cpp: per-head RMSNorm weights, 1-D, kept F32
            out += [("attn_k_norm.weight", (hd,), "F32"), ("attn_q_norm.weight", (hd,), "F32")]
        out.append(("ffn_norm.weight", (E,), "F32"))
        F = spec.intermediate
        out += [("ffn_gate.weight", (E, F), "W"), ("ffn_down.weight", (F, E), "W"), ("ffn_up.weight", (E, F), "W")]
        return tuple(out)
    # deepseek2 (MLA): shapes from deepseek2.cpp load_arch_tensors, is_mla path
    H, R, rope = spec.heads, spec.kv_lora_rank, spec.qk_rope_head_dim
    nope, vh = spec.qk_nope_head_dim, spec.v_head_dim
    qlora = 0 if is_lite(spec) else (spec.q_lora_rank or 0)
    if qlora:
        out.append(("attn_q_a_norm.weight", (qlora,), "F32"))
    out.append(("attn_kv_a_norm.weight", (R,), "F32"))
    if qlora:
        out += [("attn_q_a.weight", (E, qlora), "W"), ("attn_q_b.weight", (qlora, H * (nope + rope)), "W")]
    else:
        out.append(("attn_q.weight", (E, H * (nope + rope)), "W"))
    out.append(("attn_kv_a_mqa.weight", (E, R + rope), "W"))
    out.append(("attn_k_b.weight", (nope, R, H), "W"))
    out.append(("attn_v_b.weight", (R, vh, H), "W"))
    out.append(("attn_output.weight", (H * vh, E), "W"))
    out.append(("ffn_norm.weight", (E,), "F32"))
    if dense:
        F = spec.intermediate
        out += [("ffn_gate.weight", (E, F), "W"), ("ffn_down.weight", (F, E), "W"), ("ffn_up.weight", (E, F), "W")]
        return tuple(out)
    X, Fx = spec.routed_experts, spec.moe_intermediate
    out.append(("ffn_gate_inp.weight", (E, X), "F32"))  # router: never quantized
    if fam == "deepseek_v3":  # noaux_tc e_score_correction_bias -> exp_probs_b
        out.append(("exp_probs_b.bias", (X,), "F32"))
    out += [("ffn_down_exps.weight", (Fx, E, X), "W"), ("ffn_gate_exps.weight", (E, Fx, X), "W"),
            ("ffn_up_exps.weight", (E, Fx, X), "W")]
    S = Fx * spec.shared_experts
    out += [("ffn_gate_shexp.weight", (E, S), "W"), ("ffn_down_shexp.weight", (S, E), "W"),
            ("ffn_up_shexp.weight", (E, S), "W")]
    return tuple(out)


def _is_dense_layer(spec, i: int) -> bool:
    return spec.family not in ("deepseek_v2", "deepseek_v3") or i < spec.first_k_dense


# --- llama-quant.cpp type selection ----------------------------------------------------------

def _category(name: str) -> str:
    """tensor_get_category: substring tests in this order."""
    if name == "output.weight":
        return "OUTPUT"
    if name == "token_embd.weight":
        return "TOKEN_EMBD"
    for key, cat in (("attn_qkv.weight", "ATTENTION_QKV"), ("attn_kv_b.weight", "ATTENTION_KV_B"),
                     ("attn_v.weight", "ATTENTION_V"), ("attn_k.weight", "ATTENTION_K"),
                     ("attn_q.weight", "ATTENTION_Q"), ("attn_output.weight", "ATTENTION_OUTPUT"),
                     ("ffn_up", "FFN_UP"), ("ffn_gate", "FFN_GATE"), ("ffn_down", "FFN_DOWN")):
        if key in name:
            return cat
    return "OTHER"


def _allows_quantization(name: str, shape: Sequence[int]) -> bool:
    """tensor_allows_quantization, the clauses that can hit our archs."""
    return (len(shape) >= 2 and name.endswith("weight") and "_norm.weight" not in name
            and "ffn_gate_inp.weight" not in name)


def _use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


# tensor_type_fallback: a row not a multiple of the block size demotes to a 32-block type
_FALLBACK = {"Q2_K": "Q4_0", "Q3_K": "Q4_0", "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}


def _fallback(ncols: int, t: str) -> str:
    bw = GGML_TYPES_BY_NAME[t].block_weights
    if ncols % bw == 0:
        return t
    r = _FALLBACK.get(t, t)
    if ncols % GGML_TYPES_BY_NAME[r].block_weights != 0:
        r = "F16"
    return r


def _is_quantized(t: str) -> bool:
    return GGML_TYPES_BY_NAME[t].block_weights > 1


def _n_gqa(spec) -> int:
    if spec.family in ("deepseek_v2", "deepseek_v3"):
        return spec.heads  # converter writes head_count_kv = 1 (MQA over the latent)
    return spec.heads // spec.kv_heads


LayerTensor = Tuple[str, Shape, str, int]  # name after "blk.N.", shape, ggml type, bytes
_WV = ("ATTENTION_V", "ATTENTION_QKV", "ATTENTION_KV_B")


class Recipe(NamedTuple):
    """A GGUF by layer: layers that quantize alike share one tuple (the survey places each model
    at several quants, so a recipe costs a few distinct layers, not every tensor)."""

    head: Tuple[GgufTensor, ...]  # token_embd
    layers: Tuple[Tuple[LayerTensor, ...], ...]  # blk.0 .. blk.N-1
    tail: Tuple[GgufTensor, ...]  # output_norm, output


def layer_recipe(spec, ftype: str, base_type: str = "Q8_0") -> Recipe:
    """`spec`'s GGUF quantized to `ftype` by llama-quantize (no imatrix, no overrides), by layer.
    `base_type` is what the converter wrote the quantizable tensors as; it is what tensors
    llama-quantize does not touch keep (F16/BF16 files keep it for everything).

    llama_tensor_get_type_impl depends on the layer only through two counters (attn_v tensors
    and ffn_down tensors seen so far, or the layer index for MoE ffn_down) and the thresholds it
    compares them with: layers whose comparisons come out the same get the same types."""
    ft = ftype.upper()
    if ft not in FTYPE_DEFAULT:
        raise RecipeError(f"unknown llama.cpp file type {ftype!r}; known: {', '.join(FTYPES)}")
    if spec.family not in GGUF_ARCH:
        raise RecipeError(f"no GGUF recipe for model family {spec.family!r}")
    default = FTYPE_DEFAULT[ft]
    quantize = _is_quantized(default)
    n_layer = spec.layers
    moe = spec.routed_experts > 1
    templates = {d: _layer_template(spec, d) for d in (True, False)}
    cats = {d: tuple(_category(n) for n, _, _ in t) for d, t in templates.items()}
    n_wv = {d: sum(c in _WV for c in cats[d]) for d in templates}
    n_down = {d: sum(c == "FFN_DOWN" for c in cats[d]) for d in templates}
    kinds = [_is_dense_layer(spec, i) for i in range(n_layer)]
    n_attn_v = sum(n_wv[d] for d in kinds)
    tied = spec.tie_embeddings
    E, V = spec.hidden, spec.vocab

    def typed(name: str, shape: Shape, wtype: str, cat: str, layer: Optional[int], i_wv: int,
              i_down: int) -> Tuple[str, int, int]:
        t = "F32" if wtype == "F32" else base_type
        if wtype != "F32" and _allows_quantization(name, shape):
            t = default
            if quantize:
                t, i_wv, i_down = _impl(spec, ft, t, name, shape, cat, layer, tied, n_attn_v,
                                        n_layer, moe, i_wv, i_down)
                t = _fallback(shape[0], t)
        return t, i_wv, i_down

    def one(name: str, shape: Shape, wtype: str, cat: str) -> GgufTensor:
        t = typed(name, shape, wtype, cat, None, 0, 0)[0]
        return GgufTensor(name, shape, t, GGML_TYPES_BY_NAME[t].nbytes(_prod(shape)), None)

    classes: Dict[Tuple[object, ...], Tuple[LayerTensor, ...]] = {}
    layers: List[Tuple[LayerTensor, ...]] = []
    # what _impl compares a counter value k with, for every k a layer can reach (sliced per layer)
    wv_class = [(_use_more_bits(k, n_attn_v), k < 2) for k in range(n_attn_v)]
    n_downs = max(n_layer, sum(n_down[d] for d in kinds))
    down_class = [(_use_more_bits(k, n_layer), k < n_layer // 16) for k in range(n_downs)]
    i_wv = i_down = 0
    for i, dense in enumerate(kinds):
        downs = ((down_class[i],) * n_down[dense] if moe
                 else tuple(down_class[i_down:i_down + n_down[dense]]))
        key = (dense, tuple(wv_class[i_wv:i_wv + n_wv[dense]]), downs)
        layer = classes.get(key)
        if layer is None:
            rows, c_wv, c_down = [], i_wv, i_down
            for (n, shape, wtype), cat in zip(templates[dense], cats[dense]):
                t, c_wv, c_down = typed(n, shape, wtype, cat, i, c_wv, c_down)
                rows.append((n, shape, t, GGML_TYPES_BY_NAME[t].nbytes(_prod(shape))))
            layer = classes[key] = tuple(rows)
        layers.append(layer)
        i_wv += n_wv[dense]
        i_down += n_down[dense]
    tail = [one("output_norm.weight", (E,), "F32", "OTHER")]
    if not tied:
        tail.append(one("output.weight", (E, V), "W", "OUTPUT"))
    return Recipe((one("token_embd.weight", (E, V), "W", "TOKEN_EMBD"),), tuple(layers), tuple(tail))


def gguf_tensors(spec, ftype: str, base_type: str = "Q8_0") -> List[GgufTensor]:
    """Every tensor of `spec`'s GGUF quantized to `ftype`, in file order (layer_recipe)."""
    r = layer_recipe(spec, ftype, base_type)
    out = list(r.head)
    for i, layer in enumerate(r.layers):
        out += [GgufTensor(f"blk.{i}.{n}", shape, t, nbytes, i) for n, shape, t, nbytes in layer]
    return out + list(r.tail)


def _impl(spec, ft: str, t: str, name: str, shape: Sequence[int], cat: str, layer: Optional[int],
          tied: bool, n_attn_v: int, n_layer: int, moe: bool, i_wv: int, i_down: int):
    """llama_tensor_get_type_impl for the non-IQ file types we model; returns (type, counters)."""
    if cat == "OUTPUT" or (tied and cat == "TOKEN_EMBD"):
        if shape[0] % GGML_TYPES_BY_NAME[t].block_weights != 0:
            return "Q8_0", i_wv, i_down
        return (t if t == "Q8_0" else "Q6_K"), i_wv, i_down
    if cat == "TOKEN_EMBD":
        return t, i_wv, i_down
    if cat in ("ATTENTION_V", "ATTENTION_QKV", "ATTENTION_KV_B"):
        if ft == "Q2_K":
            t = "Q4_K" if _n_gqa(spec) >= 4 else "Q3_K"
        elif ft == "Q3_K_M":
            t = "Q5_K" if i_wv < 2 else "Q4_K"
        elif ft in ("Q4_K_M", "Q5_K_M") and _use_more_bits(i_wv, n_attn_v):
            t = "Q6_K"
        # LLM_TYPE_70B bump (llama/qwen2 with 80 layers)
        if spec.layers == 80 and spec.family in ("llama", "qwen2") and t in ("Q3_K", "Q4_K"):
            t = "Q5_K"
        return t, i_wv + 1, i_down
    if cat == "FFN_DOWN":
        # MoE models read the layer from the name; dense ones count ffn_down tensors in order
        i_layer = layer if (moe and layer is not None) else i_down
        if ft == "Q2_K":
            t = "Q3_K"
        elif ft == "Q3_K_M":
            t = "Q5_K" if i_layer < n_layer // 16 else "Q4_K"
        elif ft == "Q4_K_M":
            if _use_more_bits(i_layer, n_layer):
                t = "Q6_K"
        elif ft == "Q5_K_M" and _use_more_bits(i_layer, n_layer):
            t = "Q6_K"
        return t, i_wv, i_down + 1
    if cat == "ATTENTION_OUTPUT":
        if ft == "Q2_K":
            t = "Q3_K"
        elif ft == "Q3_K_M":
            t = "Q4_K"
        return t, i_wv, i_down
    return t, i_wv, i_down


def _prod(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def gguf_hparams(spec) -> Dict[str, object]:
    """The GGUF metadata keys llama.cpp reads for `spec` (key without the 'arch.' prefix -> value),
    as the converters write them (conversion/deepseek.py set_gguf_parameters for deepseek2)."""
    arch = GGUF_ARCH.get(spec.family)
    if arch is None:
        raise RecipeError(f"no GGUF recipe for model family {spec.family!r}")
    kv: Dict[str, object] = {
        "context_length": spec.max_context, "embedding_length": spec.hidden,
        "block_count": spec.layers, "feed_forward_length": spec.intermediate,
        "attention.head_count": spec.heads, "attention.layer_norm_rms_epsilon": 1e-6,
    }
    if arch != "deepseek2":
        kv["attention.head_count_kv"] = spec.kv_heads
        kv["rope.dimension_count"] = spec.head_dim
        if arch == "qwen3":  # conversion/base.py set_gguf_parameters: config head_dim
            kv["attention.key_length"] = kv["attention.value_length"] = spec.head_dim
        return kv
    R, rope = spec.kv_lora_rank, spec.qk_rope_head_dim
    kv.update({
        "attention.head_count_kv": 1, "attention.kv_lora_rank": R,
        "attention.key_length": R + rope, "attention.value_length": R,
        "attention.key_length_mla": spec.qk_nope_head_dim + rope,
        "attention.value_length_mla": spec.v_head_dim,
        "leading_dense_block_count": spec.first_k_dense,
        "expert_feed_forward_length": spec.moe_intermediate, "expert_count": spec.routed_experts,
        "expert_used_count": spec.experts_per_token, "expert_shared_count": spec.shared_experts,
        "expert_weights_scale": 1.0, "rope.dimension_count": rope, "vocab_size": spec.vocab,
    })
    if not is_lite(spec) and spec.q_lora_rank:
        kv["attention.q_lora_rank"] = spec.q_lora_rank
    if spec.family == "deepseek_v3":
        kv["expert_gating_func"] = 2  # sigmoid (LLAMA_EXPERT_GATING_FUNC_TYPE_SIGMOID)
        kv["expert_weights_norm"] = True
    return kv
