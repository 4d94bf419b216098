"""Ollama library tags of the DeepSeek models: what `ollama run deepseek-r1:32b` pulls.

A name is `[namespace/]model[:tag]`; no tag means `latest` (Ollama's server/internal/names, and
the library's own docs). A library tag is `<size>[-<variant>][-<quant>]`; without a quant the
tag carries the library's default quant for that model.

Sources (checked 2026-11; GB = 10^9 bytes as the library prints them):
- [R] ollama/ollama README.md model table (2025-02, PR #8603): "DeepSeek-R1 | 7B | 4.7GB |
  ollama run deepseek-r1", "DeepSeek-R1 | 671B | 404GB | ollama run deepseek-r1:671b".
- [A] an `ollama` /api/tags reply recorded in a public Q&A (wenku.csdn.net/answer/4fz5j1xej4,
  2025-03): deepseek-r1:14b size 8988112040, qwen2, 14.8B, quantization_level Q4_K_M;
  deepseek-r1:7b size 4683075271, qwen2, 7.6B, Q4_K_M.
- [G] runaihome.com "DeepSeek R1 distilled models for local AI" (2026): "Q4_K_M quantization, which
  is the Ollama default", table of deepseek-r1:1.5b ... :70b tags with sizes.
- [L] ollama.com/library/<model> and /tags pages (sizes, latest, variant tags), as read by the
  author; the page itself is not in the search corpus, so these rows are the ones to re-check.
  deepseek-r1 was upgraded on 2025-05-28: 8b became DeepSeek-R1-0528-Qwen3-8B and the new
  latest, 671b became R1-0528 ([L]; the README row [R] is from before).
- [S] size arithmetic: params (profiles, from the architecture) x bits per weight / 8. Older
  library models (deepseek-coder, -llm, -v2, -v2.5, -coder-v2) default to Q4_0: their listed
  sizes match 4.5-4.6 bits per weight, not Q4_K_M's 4.9 (tests/test_names.py checks every row).
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple
from deepseek_probe.records import record

# GGUF quant names as Ollama writes them in tags (lower-case q, upper-case K/S/M/L).
QUANTS = ("q2_K", "q3_K_S", "q3_K_M", "q3_K_L", "q4_0", "q4_1", "q4_K_S", "q4_K_M", "q5_0", "q5_1",
          "q5_K_S", "q5_K_M", "q6_K", "q8_0", "fp16", "bf16", "f16")
_QUANT_RE = re.compile(r"-(" + "|".join(QUANTS) + r")$", re.IGNORECASE)
_QUANT_CANON = {q.lower(): q for q in QUANTS}


@record(frozen=True)
class TagSize:
    """One size of a library model, e.g. deepseek-r1 32b."""

    size: str  # "32b"
    targets: Tuple[str, ...]  # catalog ids to try in order (first that exists wins)
    hf_id: str  # upstream weights the GGUF was converted from
    size_gb: float  # library listing for the default tag
    variants: Tuple[str, ...] = ()  # accepted variant words after the size ("qwen-distill", ...)
    note: str = ""


@record(frozen=True)
class LibraryModel:
    name: str  # deepseek-r1
    latest: str  # size the bare name / :latest pulls
    default_quant: str  # quant of the tags without one
    sizes: Tuple[TagSize, ...]
    source: str
    aliases: Tuple[Tuple[str, str], ...] = ()  # extra tags meaning a size: (("lite", "16b"),)

    def size(self, size: str) -> Optional[TagSize]:
        for s in self.sizes:
            if s.size == size:
                return s
        return None


LIBRARY: Dict[str, LibraryModel] = {m.name: m for m in (
    LibraryModel("deepseek-r1", "8b", "Q4_K_M", (
        TagSize("1.5b", ("deepseek-r1-distill-qwen-1.5b",), "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", 1.1,
                ("qwen-distill",)),
        TagSize("7b", ("deepseek-r1-distill-qwen-7b",), "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", 4.7,
                ("qwen-distill",)),
        TagSize("8b", ("deepseek-r1-0528-qwen3-8b",), "deepseek-ai/DeepSeek-R1-0528-Qwen3-8B", 5.2,
                ("0528-qwen3",), "since 2025-05-28; the earlier 8b is the tag 8b-llama-distill"),
        TagSize("8b-llama-distill", ("deepseek-r1-distill-llama-8b",), "deepseek-ai/DeepSeek-R1-Distill-Llama-8B",
                4.9),
        TagSize("14b", ("deepseek-r1-distill-qwen-14b",), "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B", 9.0,
                ("qwen-distill",)),
        TagSize("32b", ("deepseek-r1-distill-qwen-32b",), "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", 20.0,
                ("qwen-distill",)),
        TagSize("70b", ("deepseek-r1-distill-llama-70b",), "deepseek-ai/DeepSeek-R1-Distill-Llama-70B", 43.0,
                ("llama-distill",)),
        TagSize("671b", ("deepseek-r1-0528", "deepseek-v3"), "deepseek-ai/DeepSeek-R1-0528", 404.0, ("0528",),
                "R1-0528 since 2025-05-28; same architecture as V3"),
    ), "[R] [A] [G] [L]"),
    LibraryModel("deepseek-v3", "671b", "Q4_K_M", (
        TagSize("671b", ("deepseek-v3",), "deepseek-ai/DeepSeek-V3", 404.0),
    ), "[L] [S]"),
    LibraryModel("deepseek-v3.1", "671b", "Q4_K_M", (
        TagSize("671b", ("deepseek-v3.1", "deepseek-v3"), "deepseek-ai/DeepSeek-V3.1", 404.0, (),
                "V3.1 has V3's architecture (same config.json shapes)"),
    ), "[L] [S]"),
    LibraryModel("deepseek-coder-v2", "16b", "Q4_0", (
        TagSize("16b", ("deepseek-coder-v2-lite-instruct", "deepseek-v2-lite"),
                "deepseek-ai/DeepSeek-Coder-V2-Lite-Instruct", 8.9, ("lite-instruct", "lite-base")),
        TagSize("236b", ("deepseek-coder-v2-instruct", "deepseek-v2"), "deepseek-ai/DeepSeek-Coder-V2-Instruct",
                133.0, ("instruct", "base")),
    ), "[L] [S]", aliases=(("lite", "16b"),)),
    LibraryModel("deepseek-coder", "1.3b", "Q4_0", (
        TagSize("1.3b", ("deepseek-coder-1.3b",), "deepseek-ai/deepseek-coder-1.3b-instruct", 0.776,
                ("instruct", "base")),
        TagSize("6.7b", ("deepseek-coder-6.7b",), "deepseek-ai/deepseek-coder-6.7b-instruct", 3.8,
                ("instruct", "base")),
        TagSize("33b", ("deepseek-coder-33b",), "deepseek-ai/deepseek-coder-33b-instruct", 19.0,
                ("instruct", "base")),
    ), "[L] [S]"),
    LibraryModel("deepseek-llm", "7b", "Q4_0", (
        TagSize("7b", ("deepseek-llm-7b",), "deepseek-ai/deepseek-llm-7b-chat", 4.0, ("chat", "base")),
        TagSize("67b", ("deepseek-llm-67b",), "deepseek-ai/deepseek-llm-67b-chat", 38.0, ("chat", "base")),
    ), "[L] [S]"),
    LibraryModel("deepseek-v2", "16b", "Q4_0", (
        TagSize("16b", ("deepseek-v2-lite",), "deepseek-ai/DeepSeek-V2-Lite-Chat", 8.9, ("lite-chat",)),
        TagSize("236b", ("deepseek-v2",), "deepseek-ai/DeepSeek-V2-Chat", 133.0, ("chat",)),
    ), "[L] [S]", aliases=(("lite", "16b"),)),
    LibraryModel("deepseek-v2.5", "236b", "Q4_0", (
        TagSize("236b", ("deepseek-v2.5", "deepseek-v2"), "deepseek-ai/DeepSeek-V2.5", 133.0),
    ), "[L] [S]"),
)}


@record(frozen=True)
class OllamaName:
    namespace: str  # "library" for the official models
    model: str
    tag: str  # "latest" when none given


def parse_name(name: str) -> OllamaName:
    """`deepseek-r1:32b`, `library/deepseek-r1`, `registry.ollama.ai/library/deepseek-r1:32b`."""
    n = name.strip()
    for host in ("registry.ollama.ai/", "ollama.com/"):
        if n.lower().startswith(host):
            n = n[len(host):]
    path, _, tag = n.partition(":")
    ns, _, model = path.rpartition("/")
    return OllamaName(ns or "library", model.lower(), tag or "latest")


@record(frozen=True)
class TagMatch:
    """A library tag decoded: which size, which quant, and where that came from."""

    model: LibraryModel
    size: TagSize
    quant: str  # as Ollama spells it, e.g. "Q4_K_M"
    quant_is_default: bool
    tag: str


def lookup(name: str) -> Optional[TagMatch]:
    """The library entry for an Ollama name, or None when it is not a DeepSeek library tag."""
    on = parse_name(name)
    if on.namespace != "library" or on.model not in LIBRARY:
        return None
    lib = LIBRARY[on.model]
    tag = on.tag
    quant: Optional[str] = None
    m = _QUANT_RE.search(tag)
    if m:
        quant = _QUANT_CANON[m.group(1).lower()]
        tag = tag[:m.start()]
    rest = tag.lower()
    if rest == "latest":
        rest = lib.latest
    for alias, size in lib.aliases:
        if rest == alias or rest.startswith(alias + "-"):
            rest = size + rest[len(alias):]
    # longest size name first: "8b-llama-distill" before "8b"
    for s in sorted(lib.sizes, key=lambda s: -len(s.size)):
        if rest == s.size:
            variant = ""
        elif rest.startswith(s.size + "-"):
            variant = rest[len(s.size) + 1:]
            if variant not in s.variants:
                continue
        else:
            continue
        q = (quant or lib.default_quant).upper()
        return TagMatch(lib, s, "F16" if q == "FP16" else q, quant is None, on.tag)
    return None


def all_tags() -> List[str]:
    """Every tag this table knows (sizes, size-variant, and the bare model name), for suggestions."""
    out: List[str] = []
    for lib in LIBRARY.values():
        out.append(lib.name)
        for s in lib.sizes:
            out.append(f"{lib.name}:{s.size}")
            out += [f"{lib.name}:{s.size}-{v}" for v in s.variants]
    return out
