"""Model catalog, precisions and runtimes: the facts the memory estimate is computed from.

Architectures are data (models.json, from each model's public config.json); parameter counts are
computed from the architecture, never typed in, so a user's own config.json gets the same
treatment as the built-in catalog.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import Any, ClassVar, Dict, List, Optional, Tuple

from deepseek_probe.errors import InputError
from deepseek_probe.memo import memo
from deepseek_probe.profiles import arch2026
from deepseek_probe.records import record, replace

FAMILIES = ("llama", "qwen2", "deepseek_v2", "deepseek_v3", "deepseek_v32", "deepseek_v4", "qwen3")

# Aliases the CLI evaluates when no --model is given (DESIGN.md: "the four headline profiles").
HEADLINE = ("7b", "33b", "70b", "236b")


class UnknownModelError(InputError):
    """A model name that is neither a catalog id nor an alias."""


class ModelConfigError(InputError):
    """A Hugging Face config.json we cannot read or do not understand."""


@record(frozen=True, many=True)
class ModelSpec:
    """Architecture of one decoder-only model: everything the memory math needs.

    Dense models (llama, qwen2) use MHA/GQA; deepseek_v2/v3 use MLA attention and MoE MLPs
    (all experts resident, `experts_per_token` of them active).
    """

    id: str
    family: str  # llama | qwen2 | deepseek_v2 | deepseek_v3
    hidden: int
    intermediate: int  # dense MLP width (for MoE models: the first_k_dense layers)
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    max_context: int
    aliases: Tuple[str, ...] = ()
    head_dim: int = 0  # 0 -> hidden // heads (dense); MLA: qk_nope + qk_rope
    tie_embeddings: bool = False
    qkv_bias: bool = False
    # MLA (Multi-head Latent Attention); kv_lora_rank None = standard attention
    kv_lora_rank: Optional[int] = None
    q_lora_rank: Optional[int] = None
    qk_nope_head_dim: int = 0
    qk_rope_head_dim: int = 0
    v_head_dim: int = 0
    # MoE; routed_experts 0 = dense
    first_k_dense: int = 0
    moe_intermediate: int = 0
    routed_experts: int = 0
    shared_experts: int = 0
    experts_per_token: int = 0
    mtp_layers: int = 0  # V3 multi-token-prediction module: in the checkpoint, not loaded for inference
    native_precision: str = "bf16"  # bf16 | fp8: the dtype of the published checkpoint
    source: str = "deepseek-models.md"  # docs/reference/deepseek-models.md
    # ((tokens, prefill_extra_bytes, decode_growth_bytes), ...): what transformers reserves above
    # weights and KV cache, from benchmarks/accuracy.py --simulate (see models.json)
    transformers_activation: Tuple[Tuple[int, int, int], ...] = ()
    # -- 2026 architectures (defaults leave every older row and its outputs unchanged) --------
    # DeepSeek Sparse Attention lightning indexer (V3.2, V4 CSA layers): config.json index_*
    index_n_heads: int = 0
    index_head_dim: int = 0
    index_topk: int = 0
    # DeepSeek-V4: compress_ratios per layer (0 window only, 4 CSA, 128 HCA; the entry after the
    # last main layer belongs to the MTP block), sliding_window, hc_mult, num_hash_layers,
    # o_groups / o_lora_rank (grouped output projection)
    compress_ratios: Tuple[int, ...] = ()
    sliding_window: int = 0
    hc_mult: int = 0
    hash_layers: int = 0
    o_groups: int = 0
    o_lora_rank: int = 0
    # expert weight format of the published checkpoint: "" = like the rest, "fp4" = MXFP4 (V4)
    expert_precision: str = ""
    # vision-language models: the tower (a key of arch2026.VISION_TOWERS, its params counted into
    # `params`, kept 16-bit) and the tokens one image takes in the sequence in the default mode
    vision_tower: str = ""
    image_tokens: int = 0
    # "measured": param count checked against a model built by transformers; "derived": from
    # the config.json fields only (see deepseek_probe/profiles/arch2026.py)
    verified: str = ""

    def __post_init__(self) -> None:
        # derived shape facts, plain attributes for speed (not fields: no effect on ==, hash, repr)
        is_mla, is_moe = self.kv_lora_rank is not None, self.routed_experts > 0
        moe_layers = self.layers - self.first_k_dense if is_moe else 0
        self.__dict__.update(is_mla=is_mla, is_moe=is_moe, moe_layers=moe_layers,
                             dense_layers=self.layers - moe_layers)
        if not self.head_dim:
            hd = (self.qk_nope_head_dim + self.qk_rope_head_dim) if self.is_mla else self.hidden // self.heads
            object.__setattr__(self, "head_dim", hd)
        # derived counts, computed once (not a field: no effect on ==, hash or repr)
        self.__dict__["_counts"] = _counts(self)
        # the dataclass hash over every field, computed once: memo.py keys its tables by the spec
        self.__dict__["_hash"] = hash(tuple(getattr(self, f) for f in self.__dataclass_fields__))

    def __hash__(self) -> int:
        return self._hash

    # -- shape facts (is_mla, is_moe, moe_layers, dense_layers) are set in __post_init__ ----
    is_mla: ClassVar[bool]  # kv_lora_rank set: Multi-head Latent Attention
    is_moe: ClassVar[bool]  # routed experts present
    moe_layers: ClassVar[int]  # layers with an MoE MLP
    dense_layers: ClassVar[int]  # layers with a dense MLP

    # -- parameter counts (tested against measured counts in docs/reference/deepseek-models.md) ---------
    @property
    def params(self) -> int:
        """Parameters the runtime loads (the MTP module of V3 excluded)."""
        return self._counts["params"]

    @property
    def active_params(self) -> int:
        """Parameters used per token: all but the routed experts not selected."""
        return self._counts["active"]

    @property
    def vision_params(self) -> int:
        """Image encoder + projector (0 for text-only models); included in `params`."""
        return self._counts.get("vision", 0)

    @property
    def mtp_params(self) -> int:
        return self._counts["mtp"]

    @property
    def checkpoint_params(self) -> int:
        """Parameters in the published checkpoint (V3: main model + MTP module)."""
        return self.params + self.mtp_params

    @property
    def embedding_params(self) -> int:
        """Input embedding + LM head (one matrix when tied): kept 16-bit by int4/fp8 formats."""
        return self.vocab * self.hidden * (1 if self.tie_embeddings else 2)

    @property
    def linear_params(self) -> int:
        """Weights of the decoder's linear layers: what fp8/int8/int4 formats quantize."""
        return self._counts["linear"]

    @property
    def linear_rows(self) -> int:
        """Output rows over all quantized linear matrices (one per-channel scale each)."""
        return self._counts["rows"]

    @property
    def linear_groups_128(self) -> int:
        """Groups of 128 input weights per output row (AWQ/GPTQ group_size 128 scales)."""
        return self._counts["groups128"]

    @property
    def linear_blocks_128x128(self) -> int:
        """128x128 weight blocks (DeepSeek-V3 FP8: one fp32 scale per block)."""
        return self._counts["blocks128"]

    def architecture_key(self) -> Tuple[Any, ...]:
        """Everything that shapes the tensors (not the name): equal keys, equal memory."""
        return tuple(getattr(self, k) for k in _ARCH_FIELDS)

    def to_dict(self) -> Dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "transformers_activation"
             and not (k in _NEW_FIELDS and getattr(self, k) == _NEW_FIELDS[k])}  # older rows: same keys
        if "compress_ratios" in d:
            d["compress_ratios"] = list(self.compress_ratios)
        d["aliases"] = list(self.aliases)
        d["params"] = self.params
        d["active_params"] = self.active_params
        return d


_ARCH_FIELDS = ("family", "hidden", "intermediate", "layers", "heads", "kv_heads", "vocab", "head_dim",
                "tie_embeddings", "qkv_bias", "kv_lora_rank", "q_lora_rank", "qk_nope_head_dim",
                "qk_rope_head_dim", "v_head_dim", "first_k_dense", "moe_intermediate", "routed_experts",
                "shared_experts", "experts_per_token", "index_n_heads", "index_head_dim", "index_topk",
                "compress_ratios", "sliding_window", "hc_mult", "hash_layers", "o_groups", "o_lora_rank",
                "vision_tower")


# fields added for the 2026 models, with their defaults: to_dict omits them when unset so the
# JSON of every older model stays byte-identical (tests/test_golden.py)
_NEW_FIELDS: Dict[str, Any] = {"index_n_heads": 0, "index_head_dim": 0, "index_topk": 0, "compress_ratios": (),
                               "sliding_window": 0, "hc_mult": 0, "hash_layers": 0, "o_groups": 0,
                               "o_lora_rank": 0, "expert_precision": "", "verified": "",
                               "vision_tower": "", "image_tokens": 0}


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _layer_linears(s: ModelSpec, moe: bool) -> List[Tuple[int, int, int]]:
    """(out_features, in_features, count) of the quantizable linear weights of one decoder layer."""
    h = s.hidden
    mats: List[Tuple[int, int, int]] = []
    if s.is_mla:
        qk = s.qk_nope_head_dim + s.qk_rope_head_dim
        if s.q_lora_rank:
            mats += [(s.q_lora_rank, h, 1), (s.heads * qk, s.q_lora_rank, 1)]
        else:
            mats += [(s.heads * qk, h, 1)]
        mats += [(s.kv_lora_rank + s.qk_rope_head_dim, h, 1),
                 (s.heads * (s.qk_nope_head_dim + s.v_head_dim), s.kv_lora_rank, 1),
                 (h, s.heads * s.v_head_dim, 1)]
    else:
        q, kv = s.heads * s.head_dim, s.kv_heads * s.head_dim
        mats += [(q, h, 1), (kv, h, 2), (h, q, 1)]
    if moe:
        mi = s.moe_intermediate
        mats += [(mi, h, 2 * s.routed_experts), (h, mi, s.routed_experts)]
        if s.shared_experts:
            si = mi * s.shared_experts
            mats += [(si, h, 2), (h, si, 1)]
    else:
        mats += [(s.intermediate, h, 2), (h, s.intermediate, 1)]
    if s.family == "deepseek_v32":
        mats += arch2026.v32_indexer_linears(s)
    return mats


def _layer_other_params(s: ModelSpec, moe: bool) -> int:
    """Non-quantized parameters of one layer: norms, biases, MoE router."""
    n = 2 * s.hidden  # input + post-attention RMSNorm
    if s.is_mla:
        n += s.kv_lora_rank + (s.q_lora_rank or 0)  # kv_a_layernorm, q_a_layernorm
    elif s.qkv_bias:
        n += (s.heads + 2 * s.kv_heads) * s.head_dim
    if moe:
        n += s.routed_experts * s.hidden  # router weight
        if s.family == "deepseek_v3":
            n += s.routed_experts  # e_score_correction_bias (noaux_tc routing)
        # deepseek_v32: transformers 5.17 keeps that bias as a buffer (modeling_deepseek_v32.py
        # DeepseekV32TopkRouter), so the built model's parameter count leaves it out
    if s.family == "deepseek_v32":
        n += arch2026.v32_indexer_other(s)
    elif s.family == "qwen3":
        n += arch2026.qwen3_other(s)
    return n


def _layer_counts(s: ModelSpec, moe: bool) -> Dict[str, int]:
    return _reduce_layer(_layer_linears(s, moe), _layer_other_params(s, moe))


def _reduce_layer(linears: List[Tuple[int, int, int]], other: int) -> Dict[str, int]:
    c = {"linear": 0, "rows": 0, "groups128": 0, "blocks128": 0}
    for out_f, in_f, cnt in linears:
        c["linear"] += out_f * in_f * cnt
        c["rows"] += out_f * cnt
        c["groups128"] += out_f * _ceil_div(in_f, 128) * cnt
        c["blocks128"] += _ceil_div(out_f, 128) * _ceil_div(in_f, 128) * cnt
    c["other"] = other
    return c


def _counts(s: ModelSpec) -> Dict[str, int]:
    if s.family == "deepseek_v4":
        return arch2026.v4_counts(s, _reduce_layer)
    totals = {"linear": 0, "rows": 0, "groups128": 0, "blocks128": 0, "other": 0}
    for moe, times in ((False, s.dense_layers), (True, s.moe_layers)):
        if times:
            for k, v in _layer_counts(s, moe).items():
                totals[k] += v * times
    totals["params"] = totals["linear"] + totals["other"] + s.embedding_params + s.hidden  # + final norm
    mtp = 0
    if s.mtp_layers:
        # DeepSeek-V3 MTP module, per layer: eh_proj (2h -> h), enorm, hnorm, one MoE decoder
        # layer, shared_head norm + head, and its own embed_tokens copy (V3 checkpoint layer 61).
        layer = _layer_counts(s, s.is_moe)
        mtp = s.mtp_layers * (2 * s.hidden * s.hidden + 3 * s.hidden + 2 * s.vocab * s.hidden
                              + layer["linear"] + layer["other"])
    totals["mtp"] = mtp
    if s.vision_tower:  # the image encoder + projector: loaded with the model, never quantized
        totals["vision"] = arch2026.VISION_TOWERS[s.vision_tower](s.hidden)
        totals["params"] += totals["vision"]
    idle = (s.routed_experts - s.experts_per_token) * 3 * s.hidden * s.moe_intermediate * s.moe_layers
    totals["active"] = totals["params"] - (idle if s.is_moe else 0)
    return totals


# -- catalog -------------------------------------------------------------------------------
_SPEC_FIELDS = None


def _spec_from_row(row: Dict[str, Any]) -> ModelSpec:
    global _SPEC_FIELDS
    if _SPEC_FIELDS is None:
        _SPEC_FIELDS = set(ModelSpec.__dataclass_fields__)
    kw = {k: v for k, v in row.items() if k in _SPEC_FIELDS}
    kw["aliases"] = tuple(row.get("aliases", ()))
    if "compress_ratios" in kw:
        kw["compress_ratios"] = tuple(kw["compress_ratios"])
    table = kw.pop("transformers_activation", None)
    if table:
        kw["transformers_activation"] = _monotone_table(table)
    return ModelSpec(**kw)


def _monotone_table(rows: List[List[int]]) -> Tuple[Tuple[int, int, int], ...]:
    """Simulated rows with the prefill extra raised where it dipped, so that neither it nor
    the total falls as the prompt grows (a running maximum): a fragmentation accident at one
    size (a block that happened to fit) is not a promise that a larger prompt needs less.
    The raise is small (largest: 122 MiB, deepseek-coder-33b at 768 tokens). Decode growth is ~0 for
    GQA/MLA and stays as simulated."""
    out, floor = [], None
    for tokens, extra, growth in sorted(rows):
        if floor is not None and extra < floor:
            extra = floor
        floor = extra
        out.append((int(tokens), int(extra), int(growth)))
    return tuple(out)


@lru_cache(maxsize=1)
def _rows() -> Tuple[List[Dict[str, Any]], int, Dict[str, int]]:
    """models.json's rows (2026 rows last), how many come before the 2026 ones, and row index by
    lower-case id and alias. Specs are built from rows only when asked for (_spec_at): `check
    --model 7b` builds one, not all 21 with their parameter counts."""
    path = os.path.join(os.path.dirname(__file__), "models.json")
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    rows = list(doc["models"]) + list(doc.get("models_2026", ()))
    index: Dict[str, int] = {}
    for i, r in enumerate(rows):
        for name in [r["id"]] + list(r.get("aliases", ())):
            index[name.lower()] = i
    return rows, len(doc["models"]), index


@lru_cache(maxsize=None)
def _spec_at(i: int) -> ModelSpec:
    """The spec of row i, built once (get_model and all_models give the same object)."""
    return _spec_from_row(_rows()[0][i])


def all_models(include_2026: bool = True) -> List[ModelSpec]:
    """Every catalog model, in catalog order (the 2026 rows, V3.1 .. V4, last; include_2026=False
    leaves them out)."""
    rows, classic, _ = _rows()
    return [_spec_at(i) for i in range(len(rows) if include_2026 else classic)]


def _normalise(name: str) -> str:
    n = name.strip().lower()
    if n.startswith("deepseek-ai/"):  # Hugging Face repo ids work too
        n = n[len("deepseek-ai/"):]
    return n


def get_model(name: str) -> ModelSpec:
    """Catalog model by id or alias (case-insensitive; `deepseek-ai/` prefix allowed)."""
    index = _rows()[2]
    key = _normalise(str(name))
    if key in index:
        return _spec_at(index[key])
    import difflib  # lazy: only an unknown name needs it

    close = difflib.get_close_matches(key, list(index), n=4, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else "; run `deepseek-probe models` for the list"
    raise UnknownModelError(f"unknown model {name!r}{hint}")


# -- user models from a Hugging Face config.json ---------------------------------------------
# Largest value accepted for an integer config field: transformers configs hold int32 sizes;
# anything bigger is corrupt and would overflow the float maths of the estimate.
_HF_INT_MAX = 2**31 - 1
_HF_TYPES = {"llama": "llama", "qwen2": "qwen2", "deepseek_v2": "deepseek_v2", "deepseek_v3": "deepseek_v3",
             "deepseek_v32": "deepseek_v32", "deepseek_v4": "deepseek_v4", "qwen3": "qwen3"}


def _name_from_path(p: str) -> Optional[str]:
    """A checkpoint's config.json is named by its folder (`DeepSeek-V3.2/config.json`); any
    other file by its own name (`deepseek-v3.2.json`), never by the folder it sits in."""
    base = os.path.basename(p)
    if base.lower() == "config.json":
        return os.path.basename(os.path.dirname(os.path.abspath(p))) or None
    stem, ext = os.path.splitext(base)
    return (stem if ext.lower() == ".json" else base) or None


def _name_from_config(cfg: Dict[str, Any]) -> str:
    arch = cfg.get("architectures")
    if isinstance(arch, list) and arch and isinstance(arch[0], str):
        return arch[0]
    return str(cfg.get("model_type") or "custom")


def spec_from_config(cfg: Dict[str, Any], p: str) -> ModelSpec:
    """A ModelSpec from a Llama/Qwen2/Qwen3/DeepSeek-V2/V3-style config.json object (`p`: where it
    was read, for messages). Pure: formats/hf_config.spec_from_file reads the file."""
    if not isinstance(cfg, dict):
        raise ModelConfigError(f"model config {p} is not a JSON object")
    if isinstance(cfg.get("text_config"), dict) and "hidden_size" not in cfg:
        cfg = {**cfg["text_config"], "model_type": cfg["text_config"].get("model_type", cfg.get("model_type"))}
    vision = arch2026.vision_fields(cfg)
    if str(cfg.get("model_type", "")).lower() == "deepseek_vl_v2" and isinstance(cfg.get("language_config"), dict):
        # DeepSeek-VL2 / DeepSeek-OCR: the decoder is a deepseek_v2 (MLA or, for OCR, plain MHA)
        cfg = {"model_type": "deepseek_v2", **cfg["language_config"], "_vl_decoder": True}
    mtype = str(cfg.get("model_type", "")).lower()
    family = _HF_TYPES.get(mtype)
    if family is None:
        raise ModelConfigError(
            f"model config {p}: model_type {mtype or '(missing)'!r} not supported "
            f"(supported: {', '.join(sorted(_HF_TYPES))})")

    def need(key: str) -> int:
        v = cfg.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ModelConfigError(f"model config {p}: {key} missing or not a positive integer")
        if v > _HF_INT_MAX:
            raise ModelConfigError(f"model config {p}: {key} is implausibly large (> {_HF_INT_MAX})")
        return v

    def opt(key: str, default: int = 0) -> int:
        v = cfg.get(key)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ModelConfigError(f"model config {p}: {key} must be a non-negative integer")
        if v > _HF_INT_MAX:
            raise ModelConfigError(f"model config {p}: {key} is implausibly large (> {_HF_INT_MAX})")
        return v

    hidden, heads = need("hidden_size"), need("num_attention_heads")
    if family == "deepseek_v4" and "intermediate_size" not in cfg:
        # V4 ships only moe_intermediate_size; transformers maps intermediate_size to it
        # (configuration_deepseek_v4.DeepseekV4Config.attribute_map)
        cfg = {**cfg, "intermediate_size": cfg.get("moe_intermediate_size")}
    name = cfg.get("_name_or_path") or _name_from_path(p) or _name_from_config(cfg)
    kw: Dict[str, Any] = dict(
        id=os.path.basename(str(name).rstrip("/")).lower() or "custom",
        family=family, hidden=hidden, intermediate=need("intermediate_size"),
        layers=need("num_hidden_layers"), heads=heads,
        kv_heads=opt("num_key_value_heads", heads) or heads, vocab=need("vocab_size"),
        max_context=need("max_position_embeddings"),
        tie_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        qkv_bias=bool(cfg.get("attention_bias", family == "qwen2")),
        source=f"config.json at {p}",
    )
    if family == "qwen3":
        kw["qkv_bias"] = bool(cfg.get("attention_bias", False))
    if family in ("llama", "qwen2", "qwen3"):
        kw["head_dim"] = opt("head_dim", 0)
        if heads % kw["kv_heads"]:
            raise ModelConfigError(f"model config {p}: num_attention_heads {heads} is not a multiple of "
                                   f"num_key_value_heads {kw['kv_heads']}")
    elif family == "deepseek_v4":
        kw.update(arch2026.v4_config_fields(cfg, need, opt, lambda m: ModelConfigError(f"model config {p}: {m}")))
    elif family == "deepseek_v2" and (cfg.get("use_mla") is False
                                      or (cfg.get("_vl_decoder") and cfg.get("kv_lora_rank") is None)):
        # DeepSeek-OCR's decoder: deepseek_v2 MoE with plain multi-head attention (no latent);
        # a text config without kv_lora_rank stays an error below
        kw.update(first_k_dense=opt("first_k_dense_replace"), moe_intermediate=opt("moe_intermediate_size"),
                  routed_experts=opt("n_routed_experts"), shared_experts=opt("n_shared_experts"),
                  experts_per_token=opt("num_experts_per_tok"), qkv_bias=False, **vision)
    else:
        kw.update(kv_lora_rank=need("kv_lora_rank"), q_lora_rank=opt("q_lora_rank") or None,
                  qk_nope_head_dim=need("qk_nope_head_dim"), qk_rope_head_dim=need("qk_rope_head_dim"),
                  v_head_dim=need("v_head_dim"), first_k_dense=opt("first_k_dense_replace"),
                  moe_intermediate=opt("moe_intermediate_size"), routed_experts=opt("n_routed_experts"),
                  shared_experts=opt("n_shared_experts"), experts_per_token=opt("num_experts_per_tok"),
                  mtp_layers=opt("num_nextn_predict_layers"), qkv_bias=False)
        if kw["routed_experts"] and not (kw["moe_intermediate"] and kw["experts_per_token"]):
            raise ModelConfigError(f"model config {p}: n_routed_experts set but moe_intermediate_size or "
                                   "num_experts_per_tok missing")
        if family == "deepseek_v32":
            kw.update(index_n_heads=need("index_n_heads"), index_head_dim=need("index_head_dim"),
                      index_topk=need("index_topk"))
    q = cfg.get("quantization_config")
    if isinstance(q, dict) and str(q.get("quant_method", "")).lower() == "fp8":
        kw["native_precision"] = "fp8"
    spec = ModelSpec(**kw)
    if spec.head_dim <= 0:  # hidden_size < num_attention_heads: a zero-size KV cache per token
        raise ModelConfigError(f"model config {p}: head_dim is 0 (hidden_size {hidden} < "
                               f"num_attention_heads {heads}); set head_dim")
    for known in all_models():  # same architecture as a catalog model: reuse its simulated table
        if known.architecture_key() == spec.architecture_key():
            return replace(spec, transformers_activation=known.transformers_activation)
    return spec


# -- precisions ----------------------------------------------------------------------------
@record(frozen=True)
class Precision:
    """How one weight format stores a model. kind: float | fp8 | int8 | int4 | gguf."""

    name: str
    kind: str
    bits: float  # bits per quantized weight (gguf: whole-file average over all params)
    source: str
    gguf: bool = False


PRECISIONS: Dict[str, Precision] = {p.name: p for p in (
    Precision("fp32", "float", 32, "IEEE float32: 4 bytes/param"),
    Precision("bf16", "float", 16, "bfloat16: 2 bytes/param (safetensors dtype BF16)"),
    Precision("fp16", "float", 16, "float16: 2 bytes/param"),
    Precision("fp8", "fp8", 8, "FP8 e4m3 linear weights + one fp32 scale per 128x128 block "
              "(DeepSeek-V3 config.json quantization_config weight_block_size [128,128]); "
              "embeddings, LM head, norms and router kept bf16"),
    Precision("int8", "int8", 8, "INT8 linear weights + one fp32 scale per output row (bitsandbytes "
              "LLM.int8 SCB / compressed-tensors channel-wise); embeddings and head kept 16-bit"),
    Precision("int4", "int4", 4, "AWQ/GPTQ 4-bit linear weights, group_size 128: fp16 scale + 4-bit "
              "packed zero point per group (qzeros int32 x8); embeddings and head kept 16-bit "
              "(docs/reference/anchors-memory-tools.md §3: 'AWQ/GPTQ 4-bit ≈ 4.25, plus 16-bit embeddings')"),
    # GGUF whole-file averages, docs/reference/anchors-memory-tools.md §1.7 (llama.cpp tools/quantize, Llama-3-8B)
    Precision("q8_0", "gguf", 8.52, "GGUF Q8_0 whole-file average 8.52 bpw (anchors §1.7)", True),
    Precision("q6_k", "gguf", 6.57, "GGUF Q6_K whole-file average 6.57 bpw (anchors §1.7)", True),
    Precision("q5_k_m", "gguf", 5.70, "GGUF Q5_K_M whole-file average 5.70 bpw (anchors §1.7)", True),
    Precision("q4_k_m", "gguf", 4.90, "GGUF Q4_K_M whole-file average 4.90 bpw (anchors §1.7; "
              "llama.cpp loader prints '4.89 BPW')", True),
    Precision("q4_0", "gguf", 4.64, "GGUF Q4_0 whole-file average 4.64 bpw (anchors §1.7)", True),
    Precision("q3_k_m", "gguf", 4.00, "GGUF Q3_K_M whole-file average 4.00 bpw (anchors §1.7)", True),
    Precision("q2_k", "gguf", 3.17, "GGUF Q2_K whole-file average 3.17 bpw (anchors §1.7)", True),
)}

# Bytes per KV element. q8_0: 34 bytes per 32 values, q4_0: 18 per 32 (gguf-py constants.py,
# anchors §3 "Bytes per element").
KV_PRECISIONS: Dict[str, float] = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "q8_0": 34 / 32, "q4_0": 18 / 32}


def weight_bytes(spec: ModelSpec, precision: str, include_mtp: bool = False) -> int:
    """Bytes of the weights in `precision` (in memory, and on disk for safetensors/GGUF)."""
    return memo("profiles.weight_bytes", (spec, precision, include_mtp),
                lambda: _weight_bytes(spec, PRECISIONS[precision], include_mtp))


def _weight_bytes(spec: ModelSpec, p: "Precision", include_mtp: bool) -> int:
    if spec.family == "deepseek_v4" and p.kind == "fp8" and spec.expert_precision == "fp4":
        # the published V4 format: fp8 attention, MXFP4 experts, e8m0 scales, fp32/int64 extras
        return arch2026.v4_checkpoint_bytes(spec, include_mtp)
    total = spec.checkpoint_params if include_mtp else spec.params
    if p.kind == "float":
        return total * int(p.bits) // 8
    if p.kind == "gguf":
        return int(total * p.bits / 8)
    extra = spec.mtp_params if include_mtp else 0
    # MTP module quantized like a decoder layer: scale by the main model's ratio (it is 2% of V3).
    lin, other = spec.linear_params, spec.params - spec.linear_params
    if p.kind == "fp8":
        q = lin + 4 * spec.linear_blocks_128x128
    elif p.kind == "int8":
        q = lin + 4 * spec.linear_rows
    else:  # int4: 4 bits per weight + (fp16 scale + 4-bit zero) per group of 128
        q = lin // 2 + spec.linear_groups_128 * 5 // 2
    main = q + 2 * other
    if extra and p.kind == "fp8" and spec.family == "deepseek_v32":
        return main + arch2026.v32_mtp_fp8_bytes(spec, _layer_counts(spec, spec.is_moe))
    if extra:
        main += int(extra * main / spec.params)
    return main
