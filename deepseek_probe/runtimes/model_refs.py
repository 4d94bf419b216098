"""The name a launch command gives a catalog model: its Hugging Face repo (vLLM, SGLang,
transformers) and a public GGUF repo for llama.cpp's `-hf`.

Every name here resolves back to the same catalog model through profiles/names.py
(tests/test_launch_roundtrip.py checks each). A model missing from a table has no name we can
vouch for: the emitter then needs the user's own name (a path, a tag, a repo).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from deepseek_probe.errors import InputError
from deepseek_probe.profiles import ModelSpec


class EmitError(InputError):
    """No launch command of this runtime makes the asked setup happen (exit 64 if it reaches
    the CLI); the message says what to name or change."""


# catalog id -> the upstream repo (huggingface.co/<repo>). The chat/instruct repo where the
# catalog row covers base and chat (its aliases), as that is what people serve. Sources: the
# upstream ids of profiles/ollama_tags.py (LIBRARY hf_id) and the deepseek-ai organisation's
# repo names (models.json sources).
HF_REPOS: Dict[str, str] = {
    "deepseek-llm-7b": "deepseek-ai/deepseek-llm-7b-chat",
    "deepseek-llm-67b": "deepseek-ai/deepseek-llm-67b-chat",
    "deepseek-coder-1.3b": "deepseek-ai/deepseek-coder-1.3b-instruct",
    "deepseek-coder-6.7b": "deepseek-ai/deepseek-coder-6.7b-instruct",
    "deepseek-coder-33b": "deepseek-ai/deepseek-coder-33b-instruct",
    "deepseek-r1-distill-qwen-1.5b": "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
    "deepseek-r1-distill-qwen-7b": "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
    "deepseek-r1-distill-llama-8b": "deepseek-ai/DeepSeek-R1-Distill-Llama-8B",
    "deepseek-r1-distill-qwen-14b": "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B",
    "deepseek-r1-distill-qwen-32b": "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
    "deepseek-r1-distill-llama-70b": "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
    "deepseek-r1-0528-qwen3-8b": "deepseek-ai/DeepSeek-R1-0528-Qwen3-8B",
    "deepseek-v2-lite": "deepseek-ai/DeepSeek-V2-Lite-Chat",
    "deepseek-v2": "deepseek-ai/DeepSeek-V2-Chat",
    "deepseek-v3": "deepseek-ai/DeepSeek-V3",
    "deepseek-v3.1": "deepseek-ai/DeepSeek-V3.1",
    "deepseek-v3.2": "deepseek-ai/DeepSeek-V3.2",
    "deepseek-v4-flash": "deepseek-ai/DeepSeek-V4-Flash",
    "deepseek-v4-pro": "deepseek-ai/DeepSeek-V4-Pro",
    "deepseek-ocr": "deepseek-ai/DeepSeek-OCR",
    "deepseek-prover-v2-671b": "deepseek-ai/DeepSeek-Prover-V2-671B",
}

# catalog id -> a public GGUF repo holding llama-quantize's usual ladder (Q2_K ... Q8_0), named
# by the uploaders' own scheme (`<Upstream>-GGUF`). Seen in public code that downloads from them
# (code search, 2026-11/12): unsloth's R1 distills, R1-0528-Qwen3-8B and V3/V3.1/V3.2, TheBloke's
# deepseek-llm / -coder, bartowski's V2-Chat, mradermacher's V2-Lite-Chat. F16/BF16 files are not in all of them: for those, name the file.
GGUF_REPOS: Dict[str, str] = {
    "deepseek-llm-7b": "TheBloke/deepseek-llm-7B-chat-GGUF",
    "deepseek-llm-67b": "TheBloke/deepseek-llm-67b-chat-GGUF",
    "deepseek-coder-1.3b": "TheBloke/deepseek-coder-1.3b-instruct-GGUF",
    "deepseek-coder-6.7b": "TheBloke/deepseek-coder-6.7B-instruct-GGUF",
    "deepseek-coder-33b": "TheBloke/deepseek-coder-33B-instruct-GGUF",
    "deepseek-r1-distill-qwen-1.5b": "unsloth/DeepSeek-R1-Distill-Qwen-1.5B-GGUF",
    "deepseek-r1-distill-qwen-7b": "unsloth/DeepSeek-R1-Distill-Qwen-7B-GGUF",
    "deepseek-r1-distill-llama-8b": "unsloth/DeepSeek-R1-Distill-Llama-8B-GGUF",
    "deepseek-r1-distill-qwen-14b": "unsloth/DeepSeek-R1-Distill-Qwen-14B-GGUF",
    "deepseek-r1-distill-qwen-32b": "unsloth/DeepSeek-R1-Distill-Qwen-32B-GGUF",
    "deepseek-r1-distill-llama-70b": "unsloth/DeepSeek-R1-Distill-Llama-70B-GGUF",
    # public download scripts fetch DeepSeek-R1-0528-Qwen3-8B-Q4_K_M/Q5_K_M/Q6_K...gguf from it
    "deepseek-r1-0528-qwen3-8b": "unsloth/DeepSeek-R1-0528-Qwen3-8B-GGUF",
    "deepseek-v2-lite": "mradermacher/DeepSeek-V2-Lite-Chat-GGUF",
    "deepseek-v2": "bartowski/DeepSeek-V2-Chat-GGUF",
    "deepseek-v3": "unsloth/DeepSeek-V3-GGUF",
    "deepseek-v3.2": "unsloth/DeepSeek-V3.2-GGUF",
    "deepseek-v3.1": "unsloth/DeepSeek-V3.1-GGUF",
}
# quants those repos publish (llama.cpp -hf REPO:QUANT picks the file by this tag)
GGUF_LADDER = ("q2_k", "q3_k_m", "q4_0", "q4_k_m", "q5_k_m", "q6_k", "q8_0")


def hf_repo(spec: ModelSpec, model_ref: Optional[str], runtime: str) -> str:
    """The model word of a vLLM / SGLang / transformers command: the user's own name when it is
    a repo id or a path, else the catalog model's upstream repo."""
    if model_ref and ("/" in model_ref or model_ref.startswith((".", "~"))):
        return model_ref
    repo = HF_REPOS.get(spec.id)
    if repo is None:
        raise EmitError(f"{runtime}: no Hugging Face repo known for {spec.id}; name the checkpoint "
                        "(a repo id or a folder)")
    return repo


# our precision -> the --dtype word vLLM and SGLang both take (their ModelConfig dtype choices)
DTYPE_WORDS = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


def weight_flags(spec: ModelSpec, precision: str, dtype: str, quantization: Optional[str],
                 model_ref: Optional[str], program: str,
                 dtypes: Tuple[str, ...] = ("bf16", "fp16")) -> Tuple[List[str], str]:
    """The weight words of a vLLM / SGLang command, and the --dtype that goes with them: the
    command's own --quantization; online fp8 of a 16-bit checkpoint (`--quantization fp8`); a
    16-bit (or, where `dtypes` allows, fp32) cast with --dtype; else the checkpoint must be named
    (an AWQ / GPTQ repo for int4), unless the user named one already."""
    if quantization:
        return ["--quantization", quantization], dtype
    if dtype != "auto" or precision == spec.native_precision or (model_ref and "/" in model_ref):
        return [], dtype
    if precision == "fp8" and spec.native_precision in ("bf16", "fp16"):
        return ["--quantization", "fp8"], dtype  # online fp8 of a 16-bit checkpoint
    if precision in dtypes and spec.native_precision in ("bf16", "fp16"):
        return [], DTYPE_WORDS[precision]
    raise EmitError(f"{program}: {precision} weights of {spec.id} need a {precision} checkpoint; name it "
                    "(e.g. an AWQ / GPTQ repo for int4)")
