"""The transformers "launch command": one `python -c` line that loads the model the way
runtimes/transformers.py assesses it (AutoModelForCausalLM.from_pretrained, `dtype=` as
transformers 5 names it, device_map="auto").

Emitted, not parsed back: `check -- python -c ...` is not a launch command we read, so the round
trip (tests/test_launch_roundtrip.py) covers llama.cpp, Ollama, vLLM and SGLang.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional

from deepseek_probe.runtimes.model_refs import EmitError, hf_repo

if TYPE_CHECKING:
    from deepseek_probe.profiles import ModelSpec
    from deepseek_probe.runtimes.base import Settings

# precision -> the from_pretrained arguments that give it (transformers: torch dtypes;
# FineGrainedFP8Config for fp8 of a 16-bit checkpoint; bitsandbytes for int8 / int4)
_LOAD = {
    "bf16": ("", "dtype=torch.bfloat16"),
    "fp16": ("", "dtype=torch.float16"),
    "fp32": ("", "dtype=torch.float32"),
    "fp8": ("FineGrainedFP8Config, ", "quantization_config=FineGrainedFP8Config()"),
    "int8": ("BitsAndBytesConfig, ", "quantization_config=BitsAndBytesConfig(load_in_8bit=True)"),
    "int4": ("BitsAndBytesConfig, ", "quantization_config=BitsAndBytesConfig(load_in_4bit=True)"),
}


def launch_command(spec: "ModelSpec", settings: "Settings", model_ref: Optional[str] = None) -> List[str]:
    """`python -c '...from_pretrained("REPO", dtype=..., device_map="auto")'`; a checkpoint already
    in the asked format (V3's fp8, an AWQ repo) loads with dtype="auto". With tensor_parallel
    N > 1, CUDA_VISIBLE_DEVICES names the N GPUs device_map="auto" spreads the layers over."""
    p = settings.precision
    if p not in _LOAD:
        raise EmitError(f"transformers: {p} is not a precision it loads")
    repo = hf_repo(spec, model_ref, "transformers")
    own_format = p == spec.native_precision and p not in ("bf16", "fp16", "fp32")
    imports, arg = ("", 'dtype="auto"') if own_format else _LOAD[p]
    code = (f"import torch; from transformers import {imports}AutoModelForCausalLM; "
            f"model = AutoModelForCausalLM.from_pretrained(\"{repo}\", {arg}, device_map=\"auto\")")
    env = ([f"CUDA_VISIBLE_DEVICES={','.join(str(i) for i in range(settings.tensor_parallel))}"]
           if settings.tensor_parallel > 1 else [])
    return env + ["python", "-c", code]
