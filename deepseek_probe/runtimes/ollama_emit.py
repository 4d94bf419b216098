"""The inverse of runtimes/ollama.py's parser: the `ollama run TAG` command, with the OLLAMA_*
words in front that make the assessed setup happen (envconfig/config.go names, v0.33.0-rc2).

Those variables act on the server: they count when `ollama serve` starts with them (the parser
notes it too). Ollama spreads a model over the GPUs itself, so the command names no GPU count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional

from deepseek_probe.profiles import ollama_tags
from deepseek_probe.runtimes.llamacpp_alloc import LlamaCppOptions
from deepseek_probe.runtimes.model_refs import EmitError

if TYPE_CHECKING:
    from deepseek_probe.profiles import ModelSpec
    from deepseek_probe.runtimes.base import Settings

# our precision -> the quant word of Ollama's library tags (ollama_tags.QUANTS spelling)
_TAG_QUANT = {"q8_0": "q8_0", "q6_k": "q6_K", "q5_k_m": "q5_K_M", "q4_k_m": "q4_K_M", "q4_0": "q4_0",
              "q3_k_m": "q3_K_M", "q2_k": "q2_K", "fp16": "fp16", "bf16": "bf16"}
# our KV precision -> OLLAMA_KV_CACHE_TYPE (llama.cpp cache type names)
_KV_TYPE = {"fp16": "f16", "bf16": "bf16", "q8_0": "q8_0", "q4_0": "q4_0"}


def library_tag(spec: "ModelSpec", precision: str) -> str:
    """The library tag that pulls `spec` in `precision`: `deepseek-r1:32b` when the precision is
    the library's default quant, else `deepseek-r1:32b-qwen-distill-q8_0` (size, the size's
    first variant word, quant: the library's own tag scheme)."""
    quant = _TAG_QUANT.get(precision)
    if quant is None:
        raise EmitError(f"ollama: no library tag holds {precision} weights")
    sizes = [(lib, sz) for lib in ollama_tags.LIBRARY.values() for sz in lib.sizes if sz.targets[0] == spec.id]
    if not sizes:
        raise EmitError(f"ollama: {spec.id} is not in Ollama's library (profiles/ollama_tags.py); "
                        "name a tag or an hf.co/ GGUF repo")
    lib, sz = sizes[0]
    if quant.upper() == lib.default_quant.upper():
        return f"{lib.name}:{sz.size}"
    variant = f"-{sz.variants[0]}" if sz.variants else ""
    return f"{lib.name}:{sz.size}{variant}-{quant}"


def launch_command(spec: "ModelSpec", settings: "Settings", model_ref: Optional[str] = None) -> List[str]:
    """`[OLLAMA_*=...] ollama run TAG`: the context always (Ollama's default follows the VRAM),
    the slots when more than one, the KV cache type when not f16 (with flash attention on,
    which a quantized V cache needs: llama-context.cpp), flash attention when the options fix it."""
    if settings.mla_cache != "latent" and spec.is_mla:
        raise EmitError("ollama: its llama.cpp caches the MLA latent; a decompressed cache is not a setting")
    if settings.context < 4:
        raise EmitError("ollama: a context below 4 tokens is raised to 4 (server/sched.go getRunner)")
    tag = model_ref if model_ref and ollama_tags.lookup(model_ref) else library_tag(spec, settings.precision)
    env = [f"OLLAMA_CONTEXT_LENGTH={settings.context}"]
    if settings.concurrency != 1:
        env.append(f"OLLAMA_NUM_PARALLEL={settings.concurrency}")
    o = settings.runtime_options
    fa = o.flash_attn if isinstance(o, LlamaCppOptions) else "auto"
    if settings.kv_precision != "fp16":
        env.append(f"OLLAMA_KV_CACHE_TYPE={_KV_TYPE[settings.kv_precision]}")
        if settings.kv_precision in ("q8_0", "q4_0") and fa == "auto":
            fa = "on"
    if fa != "auto":
        env.append(f"OLLAMA_FLASH_ATTENTION={1 if fa == 'on' else 0}")
    return env + ["ollama", "run", tag]
