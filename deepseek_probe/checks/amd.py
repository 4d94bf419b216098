"""AMD checks: is this GPU's LLVM target supported by the installed ROCm and by the runtime,
and can it run the precision asked for. Pure: reads the snapshot, never probes.

Tables (each entry's source in its comment; a gfx target not listed is "not in the table",
which is reported, never guessed):
- ROCM_OFFICIAL: targets AMD lists as supported per ROCm release ("System requirements (Linux)"
  page of rocm.docs.amd.com for that release, GPU table "LLVM target" column).
- What each runtime builds for (its own build files, versions named): its Runtime record's
  rocm_builds (runtimes/<name>.py RUNTIME).
- FP8 / BF16 hardware: which targets have the matrix instructions (LLVM AMDGPUUsage processor
  table; llama.cpp ggml/src/ggml-cuda/common.cuh GGML_CUDA_CC_* comments, 2026-10).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, FrozenSet, List, Optional, Tuple

from deepseek_probe.findings import Finding
from deepseek_probe.runtimes import RUNTIMES
from deepseek_probe.snapshot import Snapshot

if TYPE_CHECKING:  # annotations only
    from deepseek_probe.profiles import ModelSpec
    from deepseek_probe.runtimes.base import RocmBuild, Settings

# (first ROCm release, targets added there). Sources: rocm.docs.amd.com install-on-linux
# reference/system-requirements for docs-6.0.0 (gfx942 MI300X/A, gfx90a MI200, gfx908 MI100,
# gfx906 MI50/60 deprecated, gfx1100 RX 7900 XTX/XT + W7900, gfx1030 W6800/V620), docs-6.1.0
# (gfx1101 W7800 / RX 7800 XT class), docs-6.4.1 (gfx1200/gfx1201 RX 9060/9070, cited by
# ggml-org/llama.cpp PR #15994), docs-7.0.0 (gfx950 MI350X/MI355X).
_ROCM_ADDED: Tuple[Tuple[Tuple[int, int], FrozenSet[str]], ...] = (
    ((6, 0), frozenset({"gfx942", "gfx90a", "gfx908", "gfx906", "gfx1100", "gfx1030"})),
    ((6, 1), frozenset({"gfx1101"})),
    ((6, 4), frozenset({"gfx1200", "gfx1201"})),
    ((7, 0), frozenset({"gfx950"})),
)
INSTINCT = frozenset({"gfx908", "gfx90a", "gfx942", "gfx950"})  # CDNA (datacenter)

# fp8 matrix hardware: CDNA3 (gfx942, FNUZ fp8), CDNA4 (gfx950, OCP fp8), RDNA4 (gfx12 WMMA
# fp8). RDNA3 (gfx11) has none. llama.cpp's CDNA3 fp8 path needs HIP >= 6.2
# (ggml-cuda/common.cuh: `defined(CDNA3) && defined(FP8_AVAILABLE) && HIP_VERSION >= 60200000`).
FP8_TARGETS = frozenset({"gfx942", "gfx950", "gfx1200", "gfx1201"})
FP8_MIN_ROCM = (6, 2)
# bf16 matrix hardware: CDNA1+ (MFMA bf16: gfx908, gfx90a, gfx94x, gfx950) and RDNA3+ (WMMA:
# gfx11, gfx12) per common.cuh GGML_CUDA_CC_CDNA1 "minimum for MFMA" / RDNA3 "minimum for WMMA".
# Older targets (gfx906, gfx1030) compute bf16 without matrix units: works, slowly.
def _has_bf16_matrix(target: str) -> bool:
    return target in INSTINCT or target.startswith(("gfx11", "gfx12"))


def _version(text: Optional[str]) -> Optional[Tuple[int, int]]:
    try:
        major, minor = (text or "").split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        return None


def newest_rocm() -> str:
    """The newest ROCm release the tables above know, "7.0"."""
    v = max(since for since, _ in _ROCM_ADDED)
    return f"{v[0]}.{v[1]}"


def official_targets(rocm: Tuple[int, int]) -> FrozenSet[str]:
    out: set = set()
    for since, targets in _ROCM_ADDED:
        if rocm >= since:
            out |= targets
    return frozenset(out)


def findings(snapshot: Snapshot, spec: Optional[ModelSpec], settings: Settings) -> List[Finding]:
    """Findings for the AMD GPUs of ``snapshot`` (none: []). ``spec`` is unused today (the
    model does not change what the target supports) but kept for the checks/ signature."""
    gpus = [g for g in snapshot.gpus if g.vendor == "amd"]
    if not gpus:
        return []
    out: List[Finding] = []
    rocm_info = snapshot.rocm
    rocm = _version(rocm_info.rocm_version if rocm_info else None)
    visible = [g for g in gpus if g.visible]
    if not visible:
        out.append(Finding("amd.visible", "fail", "HIP_VISIBLE_DEVICES / ROCR_VISIBLE_DEVICES hide every AMD GPU",
                           measured=0, required=1,
                           suggestion="unset HIP_VISIBLE_DEVICES and ROCR_VISIBLE_DEVICES, or list the GPUs to use"))
        return out
    if rocm is None:
        out.append(Finding("amd.rocm", "fail", "no ROCm install found (/opt/rocm/.info/version, libamdhip64.so)",
                           suggestion="install ROCm (or use a ROCm container image such as rocm/dev-ubuntu-24.04)"))
    targets = sorted({g.gfx_target for g in visible if g.gfx_target})
    if not targets:
        out.append(Finding("amd.gfx_target", "unknown", "the GPU's gfx target could not be read (KFD topology)",
                           suggestion="run `rocminfo | grep gfx` (or `amd-smi static --asic`) and attach it"))
        return out
    builds = RUNTIMES[settings.runtime].rocm_builds
    for target in targets:
        out += _target_findings(target, rocm, builds, settings.precision)
    return out


def _target_findings(target: str, rocm: Optional[Tuple[int, int]], builds: Tuple[RocmBuild, ...],
                     precision: str) -> List[Finding]:
    out: List[Finding] = []
    kind = "Instinct" if target in INSTINCT else "Radeon"
    if rocm is not None:
        official = official_targets(rocm)
        rocm_text = f"{rocm[0]}.{rocm[1]}"
        if target in official:
            out.append(Finding("amd.rocm_support", "pass", f"{target} ({kind}) is supported by ROCm {rocm_text}",
                               measured=rocm_text))
        else:
            later = [f"{v[0]}.{v[1]}" for v, t in _ROCM_ADDED if target in t and v > rocm]
            fix = (f"upgrade to ROCm {later[0]} or later" if later else
                   "not an officially supported target: community builds may work with "
                   "HSA_OVERRIDE_GFX_VERSION set to the nearest supported target")
            out.append(Finding("amd.rocm_support", "warn", f"{target} ({kind}) is not on ROCm {rocm_text}'s support list",
                               measured=rocm_text, required=later[0] if later else None, suggestion=fix))
    for b in builds:
        if target in b.targets:
            out.append(Finding(f"amd.runtime.{b.name}", "pass", f"{b.name} builds for {target} ({b.source})"))
        else:
            level = "warn" if b.builds_from_source else "fail"
            out.append(Finding(f"amd.runtime.{b.name}", level, f"{b.name} does not build for {target} ({b.source})",
                               suggestion="build from source for this target" if b.builds_from_source
                               else "use llama.cpp built with -DAMDGPU_TARGETS=" + target))
    if precision == "fp8":
        if target not in FP8_TARGETS:
            out.append(Finding("amd.precision", "fail", f"{target} has no fp8 matrix instructions (fp8 needs "
                               "gfx942/gfx950 Instinct or gfx12 RDNA4)", measured=target,
                               suggestion="use bf16/fp16 or an int4/GGUF quantisation"))
        elif rocm is not None and rocm < FP8_MIN_ROCM:
            out.append(Finding("amd.precision", "fail", f"fp8 on {target} needs ROCm >= 6.2",
                               measured=f"{rocm[0]}.{rocm[1]}", required="6.2", suggestion="upgrade ROCm"))
    elif precision == "bf16" and not _has_bf16_matrix(target):
        out.append(Finding("amd.precision", "warn", f"{target} has no bf16 matrix instructions: bf16 runs, slowly",
                           measured=target, suggestion="fp16 or a quantised model is faster here"))
    return out


