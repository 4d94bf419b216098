"""CPU-only hosts (no visible GPU): what llama.cpp's CPU backend will get from this CPU and its
memory. Pure.

ISA (llama.cpp 2026-10, ggml/src/ggml-cpu):
- AVX2 (+FMA, F16C): the baseline fast x86 path; quantised dot products in arch/x86/quants.c and
  the q4_0/iq4_nl weight repacking in arch/x86/repack.cpp (``__AVX2__``).
- AVX-512 (F, BW, VL): 512-bit versions of those kernels (``__AVX512F__`` branches);
  AVX512_VNNI adds int8 dot products (quants.c ``__AVX512VNNI__``), AVX512_BF16 a bf16 dot
  product (vec.cpp ggml_vec_dot_bf16 ``__AVX512BF16__``).
- AMX (AMX_INT8 with AVX512_VNNI): a separate AMX buffer type (ggml-cpu.cpp, ``__AMX_INT8__ &&
  __AVX512VNNI__``) with tile kernels for Q4_0, Q4_1, Q8_0, Q4_K, Q5_K, Q6_K, IQ4_XS
  (amx/common.h qtype_has_amx_kernels): prompt processing, not decode, is what it speeds up.
Decode is memory-bound: tok/s <= bandwidth / bytes of active weights per token.
"""

from __future__ import annotations

from typing import List, Optional

from deepseek_probe.findings import Finding
from deepseek_probe.snapshot import Snapshot


def findings(snapshot: Snapshot, spec: object, settings: object,
             weights_bytes: Optional[int] = None) -> List[Finding]:
    if snapshot.visible_gpus:
        return []
    out: List[Finding] = []
    flags = set(snapshot.cpu.flags or [])
    if snapshot.cpu.flags is None:
        # informational: the model still runs; only the speed note is missing
        out.append(Finding("cpu.isa", "pass", "CPU flags unknown: llama.cpp picks its kernels at start-up",
                           suggestion="grep -o -w 'avx2\\|avx512f\\|amx_tile' /proc/cpuinfo | sort -u"))
    elif {"amx_int8", "avx512_vnni"} <= flags:
        out.append(Finding("cpu.isa", "pass", "AMX-INT8 + AVX-512: llama.cpp uses AMX tile kernels for Q4_0/Q4_1/"
                           "Q8_0/Q4_K/Q5_K/Q6_K/IQ4_XS (faster prompt processing)", measured="amx"))
    elif "avx512f" in flags:
        out.append(Finding("cpu.isa", "pass", "AVX-512: llama.cpp's 512-bit quantised kernels"
                           + (" with VNNI int8 dot products" if "avx512_vnni" in flags else ""), measured="avx512"))
    elif "avx2" in flags:
        out.append(Finding("cpu.isa", "pass", "AVX2: llama.cpp's baseline fast x86 kernels", measured="avx2"))
    elif flags & {"asimd", "neon"}:
        out.append(Finding("cpu.isa", "pass", "Arm NEON" + (" + i8mm" if "i8mm" in flags else "")
                           + (" + SVE" if "sve" in flags else ""), measured="arm"))
    else:
        out.append(Finding("cpu.isa", "warn", "no AVX2: llama.cpp falls back to slow scalar/SSE kernels",
                           measured="none", required="avx2",
                           suggestion="run on an x86-64 CPU with AVX2 (Haswell / Zen or newer) or on a GPU"))
    mem = snapshot.memory
    high, low = mem.memory_bandwidth_bytes_per_s, mem.memory_bandwidth_low_bytes_per_s
    if weights_bytes is None:
        from deepseek_probe.profiles import weight_bytes

        try:
            weights_bytes = weight_bytes(spec, str(getattr(settings, "precision", "")))  # type: ignore[arg-type]
        except (KeyError, AttributeError, TypeError):
            weights_bytes = None
    active, params = getattr(spec, "active_params", None), getattr(spec, "params", None)
    if high and weights_bytes and active and params:
        per_token = weights_bytes * active / params
        ceiling = high / per_token
        text = f"<= {ceiling:.1f} tok/s" if low is None else f"{low / per_token:.1f}..{ceiling:.1f} tok/s"
        out.append(Finding("cpu.bandwidth", "pass",
                           f"CPU decode is memory-bound: {text} ({mem.memory_bandwidth_source})",
                           measured=round(ceiling, 2)))
    elif not high:
        out.append(Finding("cpu.bandwidth", "pass",
                           "host memory bandwidth unknown: tok/s assumes dual-channel DDR5-6400 (102.4 GB/s)",
                           suggestion="attach `lscpu` and the DIMM list (`sudo dmidecode -t memory`) for a closer figure"))
    return out
