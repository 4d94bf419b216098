"""One module per runtime: its defaults, launch-command parser, memory accounting and verdict words.

Adding a runtime is adding one module (with RUNTIME, account, host_ram_bytes; see
base.RuntimeModel) and one line in _MODULES. Ollama and LM Studio run llama.cpp's allocator and are
thin layers over runtimes/llamacpp.py.
"""

from __future__ import annotations

import importlib
from typing import Dict, Iterator, Mapping, Optional

from deepseek_probe.profiles import ModelSpec
from deepseek_probe.runtimes.base import Estimate, EstimateInputError, Runtime, RuntimeModel, Settings

# name -> module; the order is the order every listing shows
_MODULES = {
    "transformers": "deepseek_probe.runtimes.transformers",
    "vllm": "deepseek_probe.runtimes.vllm",
    "llamacpp": "deepseek_probe.runtimes.llamacpp",
    "sglang": "deepseek_probe.runtimes.sglang",
}


_LOADED: Dict[str, RuntimeModel] = {}


def runtime_model(name: str) -> RuntimeModel:
    """The module that models runtime `name` (imported on first use; the survey asks thousands of
    times, so the module is kept here rather than looked up through importlib each time)."""
    try:
        return _LOADED[name]
    except KeyError:
        pass
    try:
        path = _MODULES[name]
    except KeyError:
        raise EstimateInputError(f"unknown runtime {name!r}; choose one of {', '.join(_MODULES)}") from None
    module = _LOADED[name] = importlib.import_module(path)  # type: ignore[assignment]
    return module


class _Registry(Mapping[str, Runtime]):
    """name -> Runtime record, importing a runtime's module only when it is first asked for (the
    modules import memory.py and runtimes.base, so nothing here may import them at load time)."""

    def __getitem__(self, name: str) -> Runtime:
        if name not in _MODULES:
            raise KeyError(name)
        return runtime_model(name).RUNTIME

    def __iter__(self) -> Iterator[str]:
        return iter(_MODULES)

    def __len__(self) -> int:
        return len(_MODULES)


RUNTIMES: Mapping[str, Runtime] = _Registry()


def default_precision(spec: ModelSpec, runtime: str) -> str:
    """transformers/vLLM load the published dtype; llama.cpp users mostly pull Q4_K_M (Ollama's default tag)."""
    return RUNTIMES[runtime].default_precision or spec.native_precision


def default_kv_precision(runtime: str) -> str:
    return RUNTIMES[runtime].default_kv_precision  # llama.cpp cache type default f16


def default_context(spec: ModelSpec, runtime: str) -> int:
    r = RUNTIMES[runtime]
    return spec.max_context if r.default_context == 0 else min(r.default_context, spec.max_context)


def default_settings(spec: ModelSpec, runtime: str = "transformers") -> Settings:
    """Settings a user of `runtime` gets without flags."""
    if runtime not in RUNTIMES:
        raise EstimateInputError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    return Settings(precision=default_precision(spec, runtime), kv_precision=default_kv_precision(runtime),
                    context=default_context(spec, runtime), concurrency=1, runtime=runtime, tensor_parallel=1)


def gpu_layers(est: Estimate) -> Optional[int]:
    """The layers the runtime's own allocation put on the GPU, for a runtime that places layers
    (llama.cpp -ngl); None for the others."""
    placed = getattr(runtime_model(est.runtime), "gpu_layers", None)
    return None if placed is None else placed(est)


def cpu_moe_layers(spec: ModelSpec, s: Settings) -> int:
    """MoE layers whose routed experts the runtime keeps in host RAM (llama.cpp --cpu-moe /
    -ncmoe N); 0 for the runtimes that have no such option."""
    kept = getattr(runtime_model(s.runtime), "cpu_moe_layers", None)
    return 0 if kept is None else kept(spec, s)
