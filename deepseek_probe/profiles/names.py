"""Every name a user types for a model -> one catalog model, a precision, and where that came from.

Accepted, in this order:
1. a path: a .gguf file (the first shard of a split too), or a folder with config.json and
   safetensors (or with one GGUF model) -- read from the headers by the probe
   (probes/model_path.py) and passed in as `local`: this module reads no files;
2. an Ollama name when it has a tag (`deepseek-r1:32b`), or any Ollama name with runtime="ollama";
3. a catalog id or alias (`deepseek-v3`, `70b`; `deepseek-ai/` prefix allowed);
4. a bare Ollama library name that is no catalog name (`deepseek-coder`, `deepseek-v3.1`);
5. a Hugging Face repo id, quantized repos included (`casperhansen/deepseek-r1-distill-qwen-32b-awq`,
   `unsloth/DeepSeek-R1-Distill-Qwen-32B-GGUF`): the base model from the name; the quantization
   from the repo's config.json when it is in the local checkpoints passed in, else from the name.

Bare names that mean different models in the catalog and in Ollama (`deepseek-r1` is the 671B
model on Hugging Face but `deepseek-r1:latest` in Ollama) follow the catalog unless runtime is
"ollama"; the Resolved notes say so. An unknown name raises UnknownNameError whose one line
suggests the three nearest known names.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

from deepseek_probe.errors import InputError
from deepseek_probe.profiles import PRECISIONS, ModelSpec, UnknownModelError, all_models, get_model
from deepseek_probe.profiles import ollama_tags
from deepseek_probe.records import field, record

if TYPE_CHECKING:  # the probe module does I/O; imported lazily where a path is read
    from deepseek_probe.checkpoint import Checkpoint


class UnknownNameError(InputError):
    """A model name that is no path, catalog name, Ollama tag or known Hugging Face id."""


@record
class Resolved:
    query: str
    model_id: Optional[str]  # catalog id; None when the model is not in the catalog
    spec: Optional[ModelSpec]  # catalog spec, or one built from the local config / GGUF header
    precision: Optional[str]  # a profiles.PRECISIONS name, None when unknown or not modelled
    quant: Optional[str]  # the format as its source names it: "Q4_K_M", "awq 4-bit g128", "fp8 128x128"
    source: str  # catalog | ollama tag default quant | ollama tag | HF id | HF id + local config | GGUF header | config.json
    runtime: Optional[str] = None  # runtime the name implies (llamacpp for GGUF / Ollama)
    hf_id: Optional[str] = None
    ollama_tag: Optional[str] = None
    checkpoint: Optional["Checkpoint"] = None
    weight_bytes: Optional[int] = None  # exact tensor bytes from the headers, when read
    unresolved: Optional[str] = None  # why model_id is None
    notes: List[str] = field(default_factory=list)


def _gguf_precision(quant: str) -> Optional[str]:
    p = {"F16": "fp16", "BF16": "bf16", "F32": "fp32"}.get(quant.upper(), quant.lower())
    return p if p in PRECISIONS else None


def _catalog(targets: Sequence[str]) -> Tuple[Optional[ModelSpec], Optional[str]]:
    """First target that the catalog knows, and the note when it was not the first."""
    for i, t in enumerate(targets):
        try:
            spec = get_model(t)
        except UnknownModelError:
            continue
        note = f"{targets[0]} is not in the catalog; using {spec.id} (same architecture)" if i else None
        return spec, note
    return None, None


# -- Ollama ------------------------------------------------------------------------------------
def _from_ollama(name: str, m: ollama_tags.TagMatch, local: Optional["Checkpoint"]) -> Resolved:
    spec, note = _catalog(m.size.targets)
    r = Resolved(name, spec.id if spec else None, spec, _gguf_precision(m.quant), m.quant,
                 "ollama tag default quant" if m.quant_is_default else "ollama tag", "llamacpp",
                 hf_id=m.size.hf_id, ollama_tag=f"{m.model.name}:{m.tag}")
    if note:
        r.notes.append(note)
    if ":" not in name.rpartition("/")[2]:  # no tag: Ollama pulls :latest
        r.notes.append(f"{name} has no tag: Ollama pulls {m.model.name}:latest, the {m.model.latest} tag")
    if spec is None:
        r.unresolved = f"{m.size.targets[0]} ({m.size.hf_id}) is not in the catalog"
    if m.size.note:
        r.notes.append(f"{m.model.name}:{m.size.size}: {m.size.note}")
    if m.quant_is_default:
        r.notes.append(f"Ollama's {m.model.name} tags without a quant are {m.quant} (ollama_tags.py)")
    if r.precision is None:
        r.notes.append(f"{m.quant} is not a modelled precision; pass --precision to pick the nearest")
    if local is not None:
        _attach(r, local)
    return r


# -- Hugging Face ids --------------------------------------------------------------------------
# Repo-name suffixes of quantized uploads -> (precision, label). Longest first.
_HF_SUFFIXES: Tuple[Tuple[str, Optional[str], str], ...] = (
    ("-gptq-int4", "int4", "gptq 4-bit"), ("-gptq-int8", "int8", "gptq 8-bit"), ("-awq-int4", "int4", "awq 4-bit"),
    ("-fp8-dynamic", "fp8", "fp8"), ("-bnb-4bit", "int4", "bitsandbytes 4-bit"), ("-unsloth-bnb-4bit", "int4",
    "bitsandbytes 4-bit"), ("-w4a16", "int4", "int4 w4a16"), ("-w8a8", "int8", "int8 w8a8"),
    ("-gguf", None, "gguf"), ("-awq", "int4", "awq 4-bit"), ("-gptq", "int4", "gptq 4-bit"),
    ("-fp8", "fp8", "fp8"), ("-int4", "int4", "int4"), ("-int8", "int8", "int8"), ("-4bit", "int4", "4-bit"),
    ("-8bit", "int8", "8-bit"), ("-bf16", "bf16", "bf16"),
)
_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _split_hf_name(repo: str) -> Tuple[str, Optional[str], Optional[str]]:
    """(base repo name, precision, quant label) from a quantized repo's name."""
    base, prec, label = repo.lower(), None, None
    changed = True
    while changed:
        changed = False
        for suf, p, lab in sorted(_HF_SUFFIXES, key=lambda s: -len(s[0])):
            if base.endswith(suf):
                base = base[:-len(suf)]
                if label is None:
                    prec, label = p, lab
                changed = True
                break
    return base, prec, label


def _from_hf(name: str, local: Optional["Checkpoint"]) -> Optional[Resolved]:
    hf = name[len("hf.co/"):] if name.lower().startswith("hf.co/") else name
    hf, _, tag = hf.partition(":")  # Ollama's hf.co/org/repo:Q4_K_M form
    if not _HF_ID.match(hf):
        return None
    repo = hf.split("/", 1)[1]
    base, prec, label = _split_hf_name(repo)
    spec: Optional[ModelSpec] = None
    table_note: Optional[str] = None
    table_target: Optional[str] = None
    try:
        spec = get_model(base)
    except UnknownModelError:
        # an upstream repo the Ollama table knows (DeepSeek-V3.1, R1-0528-Qwen3-8B)
        org = hf.split("/", 1)[0].lower()
        for lib in ollama_tags.LIBRARY.values():
            for sz in lib.sizes:
                if sz.hf_id.lower() == f"{org}/{base}":
                    spec, table_note = _catalog(sz.targets)
                    table_target = sz.targets[0]
    if local is not None and local.format == "safetensors" and local.error is None:
        # a repo the catalog does not know stays unresolved here: the catalog reads no files
        # (`--model <its folder>` has the probe read its config.json)
        r = Resolved(name, spec.id if spec and _in_catalog(spec) else None, spec, local.precision,
                     _quant_label(local), "HF id + local config", hf_id=hf)
        _attach(r, local)
        if spec is None:
            r.unresolved = f"{hf} is not in the catalog; name its folder ({local.path}) to read its config.json"
        return r
    if spec is None:
        if table_target is None:
            return None
        return Resolved(name, None, None, prec, label, "HF id", hf_id=hf,
                        unresolved=f"{table_target} ({hf}) is not in the catalog")
    r = Resolved(name, spec.id, spec, prec, label, "HF id", hf_id=hf)
    if table_note:
        r.notes.append(table_note)
    if label == "gguf":
        r.runtime = "llamacpp"
        if tag:
            r.quant, r.precision = tag.upper(), _gguf_precision(tag)
        else:
            r.notes.append(f"{hf} holds one GGUF file per quant; name the file or pass --precision")
    elif label:
        r.notes.append(f"quantization {label} read from the repo name (not on disk)")
    elif prec is None:
        r.precision = spec.native_precision
    if local is not None:
        _attach(r, local)
    return r


def _in_catalog(spec: ModelSpec) -> bool:
    return any(m.id == spec.id for m in all_models())


def _quant_label(c: "Checkpoint") -> Optional[str]:
    q = c.quantization or {}
    if q.get("method") == "gguf":
        return str(q.get("file_type"))
    if not q:
        return c.precision
    parts = [str(q.get("method"))]
    if q.get("bits"):
        parts.append(f"{q['bits']}-bit")
    if q.get("group_size"):
        parts.append(f"g{q['group_size']}")
    wbs = q.get("weight_block_size")
    if isinstance(wbs, list):
        parts.append("x".join(str(x) for x in wbs))
    return " ".join(parts)


def _attach(r: Resolved, c: "Checkpoint") -> None:
    r.checkpoint = c
    if c.error:
        r.notes.append(f"local copy unreadable: {c.error}")
        return
    if c.bytes_by_dtype:
        r.weight_bytes = sum(c.bytes_by_dtype.values())
    if c.complete is False:
        r.notes.append(f"local copy at {c.path} is incomplete ({c.bytes_on_disk} of {c.expected_bytes} bytes)")


def _local(checkpoints: Optional[Sequence["Checkpoint"]], source: str, name: str) -> Optional["Checkpoint"]:
    for c in checkpoints or ():
        if c.source == source and c.name.lower() == name.lower():
            return c
    return None


# -- paths -------------------------------------------------------------------------------------
_GGUF_FAMILY = {"llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3"}


def spec_from_gguf(c: "Checkpoint") -> Optional[ModelSpec]:
    """The catalog model with the GGUF's architecture, else a ModelSpec built from its header
    (llama, qwen2, qwen3 and deepseek2 architectures; None for others)."""
    a = c.architecture
    arch = a.get("architecture")
    get = lambda k: a.get(k) if isinstance(a.get(k), int) else 0  # noqa: E731
    hidden, layers, heads = get("embedding_length"), get("block_count"), get("attention.head_count")
    vocab = get("vocab") or get("vocab_size")
    if not (hidden and layers and heads and vocab):
        return None
    kw: Dict[str, object] = dict(id=str(a.get("name") or os.path.basename(c.path)).lower().replace(" ", "-"),
                                 hidden=hidden, layers=layers, heads=heads, vocab=vocab,
                                 intermediate=get("feed_forward_length"),
                                 max_context=get("context_length") or 4096,
                                 kv_heads=get("attention.head_count_kv") or heads,
                                 tie_embeddings=not a.get("has_output", True), source=f"GGUF header of {c.path}")
    if arch in _GGUF_FAMILY:
        kw.update(family=_GGUF_FAMILY[arch], qkv_bias=bool(a.get("qkv_bias")),
                  head_dim=get("attention.key_length") or 0)
    elif arch == "deepseek2":
        rope = get("rope.dimension_count")
        key = get("attention.key_length_mla") or get("attention.key_length")
        val = get("attention.value_length_mla") or get("attention.value_length")
        # llama.cpp src/llama-model.cpp: expert_gating_func 2 = sigmoid (V3/R1), 1 = softmax (V2)
        kw.update(family="deepseek_v3" if get("expert_gating_func") == 2 else "deepseek_v2",
                  kv_heads=heads, kv_lora_rank=get("attention.kv_lora_rank"),
                  q_lora_rank=get("attention.q_lora_rank") or None, qk_rope_head_dim=rope,
                  qk_nope_head_dim=key - rope, v_head_dim=val, first_k_dense=get("leading_dense_block_count"),
                  moe_intermediate=get("expert_feed_forward_length"), routed_experts=get("expert_count"),
                  shared_experts=get("expert_shared_count"), experts_per_token=get("expert_used_count"))
    else:
        return None
    try:
        spec = ModelSpec(**kw)  # type: ignore[arg-type]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    for known in all_models():
        if known.architecture_key() == spec.architecture_key():
            return known
    return spec


def from_folder(name: str, c: "Checkpoint", spec: ModelSpec) -> Resolved:
    """A checkpoint folder read by the probe (probes/model_path.py): its config's model."""
    r = Resolved(name, spec.id if _in_catalog(spec) else _match(spec), spec, c.precision,
                 _quant_label(c), "config.json")
    _attach(r, c)
    if r.model_id is None:
        r.unresolved = "not in the catalog; spec built from config.json"
    return r


def from_gguf(name: str, c: "Checkpoint") -> Resolved:
    """A GGUF file read by the probe (probes/model_path.py): the model its header describes."""
    spec = spec_from_gguf(c)
    ft = str((c.quantization or {}).get("file_type") or "")
    r = Resolved(name, spec.id if spec and _in_catalog(spec) else None, spec, c.precision, ft or None,
                 "GGUF header", "llamacpp")
    _attach(r, c)
    if r.model_id is None:
        r.unresolved = (f"architecture {c.architecture.get('architecture')!r} not in the catalog"
                        + ("; spec built from the GGUF header" if spec else ""))
    if r.precision is None and ft:
        r.notes.append(f"{ft} is not a modelled precision; the exact bytes from the header are in weight_bytes")
    return r


def _match(spec: ModelSpec) -> Optional[str]:
    for known in all_models():
        if known.architecture_key() == spec.architecture_key():
            return known.id
    return None


def looks_like_path(name: str) -> bool:
    """A name written as a path (no file is looked at: the probe reads it, probes/model_path.py)."""
    return name.endswith(".gguf") or name.startswith(("/", "./", "../", "~")) or name in (".", "..")


# -- entry point -------------------------------------------------------------------------------
def resolve(name: str, checkpoints: Optional[Sequence["Checkpoint"]] = None,
            runtime: Optional[str] = None, local: Optional[Resolved] = None) -> Resolved:
    """Resolve a model name (see the module doc). `checkpoints`: local checkpoints found by
    probes.checkpoints.find_checkpoints (a HF id or Ollama tag found there gets its on-disk
    facts); `runtime`: "ollama" makes bare Ollama names mean their library tag."""
    n = (name or "").strip()
    if not n:
        raise UnknownNameError("empty model name")
    if local is not None:  # a path on this machine, already read by the probe
        return local
    if looks_like_path(n):
        raise UnknownNameError(f"{name}: no such file or folder")
    is_ollama = runtime == "ollama" or (":" in n and not n.lower().startswith("hf.co/"))
    if is_ollama:
        m = ollama_tags.lookup(n)
        if m is not None:
            return _from_ollama(n, m, _local(checkpoints, "ollama", f"{m.model.name}:{m.tag}"))
    if "/" in n:
        hf = n[len("hf.co/"):] if n.lower().startswith("hf.co/") else n
        local = _local(checkpoints, "hf_cache", hf.partition(":")[0]) or _local(checkpoints, "ollama", n)
        r = _from_hf(n, local)
        if r is not None:
            return r
    try:
        spec = get_model(n)
        r = Resolved(n, spec.id, spec, None, None, "catalog")
        m = ollama_tags.lookup(n)
        if m is not None and m.size.targets[0] != spec.id and spec.id not in m.size.targets:
            r.notes.append(f"in Ollama, {n!r} means {m.model.name}:{m.tag} ({m.size.size}); "
                           f"write {m.model.name}:latest or use runtime ollama for that")
        return r
    except UnknownModelError:
        pass
    m = ollama_tags.lookup(n)
    if m is not None:
        return _from_ollama(n, m, _local(checkpoints, "ollama", f"{m.model.name}:{m.tag}"))
    raise UnknownNameError(f"unknown model {name!r}; nearest: {', '.join(nearest(n))}")


def known_names() -> List[str]:
    """Catalog ids and aliases, Ollama tags and Hugging Face ids: what suggestions are drawn from."""
    out: List[str] = []
    for s in all_models():
        out.append(s.id)
        out += list(s.aliases)
    out += ollama_tags.all_tags()
    out += sorted({sz.hf_id for lib in ollama_tags.LIBRARY.values() for sz in lib.sizes})
    return list(dict.fromkeys(out))


def nearest(name: str, n: int = 3) -> List[str]:
    """The n known names closest to `name` (difflib ratio; always n of them)."""
    cands = known_names()
    low = {c.lower(): c for c in cands}
    key = name.strip().lower()
    import difflib  # lazy: only an unknown name needs it

    picks = difflib.get_close_matches(key, list(low), n=n, cutoff=0.0)
    return [low[p] for p in picks]
