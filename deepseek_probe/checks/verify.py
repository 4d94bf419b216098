"""`check --verify` findings: what the CUDA driver let us take on each GPU, judged.

Pure. verify.py does the I/O (ctypes to libcuda) and fills `Reservation`s; this module turns them
into findings and says which bytes a checked profile would hold on each GPU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional

from deepseek_probe.findings import Finding
from deepseek_probe.runtimes import RUNTIMES
from deepseek_probe.thresholds import DEVICE_MARGIN_BYTES, VLLM_GPU_MEMORY_UTILIZATION
from deepseek_probe.records import asdict, record

if TYPE_CHECKING:  # annotations only: no import at run time
    from deepseek_probe.assess import Assessment as ProfileResult
    from deepseek_probe.runtimes.base import Estimate
    from deepseek_probe.snapshot import GpuInfo

GIB = 1 << 30
NOT_VISIBLE = "not_visible_to_cuda"  # error value: the GPU is hidden from CUDA (CUDA_VISIBLE_DEVICES)
# cuda.h: failures are named by cuGetErrorName, and this one we act on.
CUDA_ERROR_OUT_OF_MEMORY = "CUDA_ERROR_OUT_OF_MEMORY"


@record
class Reservation:
    """What one GPU let us take. Sizes are bytes; CUDA's free/total exclude its reserved region."""

    pci_bus_id: str  # as requested (NVML form, "00000000:00:06.0")
    cuda_ordinal: Optional[int]  # CUDA device number under this process's CUDA_VISIBLE_DEVICES
    requested_bytes: int  # what the workload holds on this GPU, its own CUDA context included
    reserved_bytes: int = 0  # really allocated with cuMemAlloc_v2 (and held together) before freeing
    ok: bool = False  # held_bytes reached requested_bytes
    error: Optional[str] = None  # CUresult name ("CUDA_ERROR_OUT_OF_MEMORY") or NOT_VISIBLE
    failed_call: Optional[str] = None  # driver function that returned `error`
    cuda_free_before_bytes: Optional[int] = None  # cuMemGetInfo_v2 after our context existed
    cuda_total_bytes: Optional[int] = None
    context_bytes: Optional[int] = None  # NVML used growth from our own CUDA context; None: not measured
    bandwidth_bytes_per_s: Optional[float] = None
    bandwidth_convention: Optional[str] = None  # set with bandwidth_bytes_per_s
    bandwidth_error: Optional[str] = None  # why the bandwidth was not measured, when asked
    release_error: Optional[str] = None  # freeing failed: memory may still be held by this process

    @property
    def held_bytes(self) -> int:
        """Bytes this process held on the GPU: its allocations plus its CUDA context (if measured)."""
        return self.reserved_bytes + (self.context_bytes or 0)

    def to_dict(self) -> Dict[str, Any]:
        return {**asdict(self), "held_bytes": self.held_bytes}


def _gib(nbytes: Optional[float]) -> str:
    return "?" if nbytes is None else f"{nbytes / GIB:.1f} GiB"


def _cuda_view(r: Reservation) -> str:
    if r.cuda_free_before_bytes is None or r.cuda_total_bytes is None:
        return ""
    return f"; CUDA saw {_gib(r.cuda_free_before_bytes)} free of {_gib(r.cuda_total_bytes)}"


def _suggestion(r: Reservation) -> str:
    if r.error == NOT_VISIBLE:
        return ("CUDA cannot see this GPU: check CUDA_VISIBLE_DEVICES, or leave the GPU out of the run")
    if r.failed_call == "cuDevicePrimaryCtxRetain":
        return ("the GPU refuses a new CUDA context: check its compute mode and the processes on it "
                "(nvidia-smi -q -d COMPUTE,PIDS), and dmesg for Xid errors")
    if r.error == CUDA_ERROR_OUT_OF_MEMORY:
        context = r.context_bytes or 0  # counted toward the request: compare like with like
        if r.cuda_total_bytes is not None and r.cuda_total_bytes + context < r.requested_bytes:
            return (f"CUDA can use only {_gib(r.cuda_total_bytes)} of this GPU (a MIG slice or a memory "
                    "limit): use a whole GPU or a larger slice, more GPUs, or a smaller setting "
                    "(shorter context, lower KV or weight precision)")
        if r.cuda_free_before_bytes is not None and r.cuda_free_before_bytes + context < r.requested_bytes:
            short = r.requested_bytes - r.cuda_free_before_bytes - context
            return (f"{_gib(short)} short: other processes hold memory on this GPU; stop them, or use a "
                    "smaller setting (shorter context, lower KV or weight precision) or more GPUs")
        return ("CUDA reported enough free memory but could not hand it out (fragmentation, or another "
                "process allocated meanwhile): retry on an idle GPU or leave a larger margin")
    return "check the GPU's health (nvidia-smi, dmesg for Xid errors) and retry"


def verify_findings(reservations: List[Reservation]) -> List[Finding]:
    """One "verify.reserve" finding per GPU (pass/fail); "verify.bandwidth" (pass) when measured."""
    findings: List[Finding] = []
    for r in reservations:
        where = f"GPU {r.pci_bus_id}" + (f" (CUDA device {r.cuda_ordinal})" if r.cuda_ordinal is not None else "")
        context = (f" ({_gib(r.context_bytes)} of it this process's CUDA context)"
                   if r.context_bytes else "")
        if r.ok:
            message = (f"{where}: held {_gib(r.held_bytes)}{context} through the CUDA driver and gave it "
                       f"back{_cuda_view(r)}")
            findings.append(Finding("verify.reserve", "pass", message, r.held_bytes, r.requested_bytes))
        else:
            if r.error == NOT_VISIBLE:
                why = "not visible to CUDA"
            else:
                why = f"{r.failed_call} returned {r.error}" if r.failed_call else str(r.error)
            message = (f"{where}: could hold only {_gib(r.held_bytes)}{context} of {_gib(r.requested_bytes)} "
                       f"({why}){_cuda_view(r)}")
            findings.append(Finding("verify.reserve", "fail", message, r.held_bytes, r.requested_bytes,
                                    _suggestion(r)))
        if r.release_error:
            findings.append(Finding(
                "verify.release", "warn", f"{where}: freeing the test memory failed ({r.release_error})",
                suggestion="the memory returns when this process exits; if nvidia-smi still shows it, "
                           "check the driver"))
        if r.bandwidth_bytes_per_s is not None:
            findings.append(Finding(
                "verify.bandwidth", "pass",
                f"{where}: device-to-device copy at {r.bandwidth_bytes_per_s / 1e12:.2f} TB/s "
                "(bytes read + bytes written, as cuda-samples bandwidthTest counts)",
                measured=r.bandwidth_bytes_per_s))
    return findings



def profile_requests(profile: ProfileResult, gpus_by_index: Dict[int, GpuInfo]) -> Optional[Dict[str, int]]:
    """Bytes per GPU the profile's run would hold, or None when there is nothing to confirm.

    Only profiles the rules placed on GPUs and did not already fail on VRAM are verified (a
    known shortfall needs no allocation to prove it; llama.cpp offload fills whatever is free).
    The request is what the rules compared with free memory: the estimate plus the per-device
    margin; for vLLM, the pool it grabs (utilization x total, or what is free when the rules
    suggested a lower utilization), never less than the estimate.
    """
    vram = [f for f in profile.findings if f.check == "gpu.vram"]
    if not vram or any(f.level == "fail" for f in vram):
        return None
    if any(f.check == "llamacpp.offload" for f in profile.findings):
        return None
    if profile.estimate is None or not profile.gpus_used:
        return None
    gpus = [gpus_by_index.get(i) for i in profile.gpus_used]
    if any(g is None or not g.pci_bus_id for g in gpus):
        return None
    need = int(profile.estimate.per_device.total_bytes)
    # A runtime that reserves a share of total memory (vLLM --gpu-memory-utilization) grabs it.
    utilization = (getattr(profile.estimate, "notes", None) or {}).get(
        "gpu_memory_utilization", VLLM_GPU_MEMORY_UTILIZATION)
    reserves = RUNTIMES[profile.runtime].reserves_fraction_of_total
    requests: Dict[str, int] = {}
    for g in gpus:
        if reserves and g.memory_total_bytes:
            pool = int(utilization * g.memory_total_bytes)
            requests[g.pci_bus_id] = max(need, min(pool, g.memory_free_bytes or pool))
        else:
            requests[g.pci_bus_id] = need + DEVICE_MARGIN_BYTES
    return requests


def decode_text(estimate: Estimate, bandwidth_bytes_per_s: float) -> str:
    try:
        from deepseek_probe import estimate as est_mod

        tps = est_mod.decode_tokens_per_s(estimate, bandwidth_bytes_per_s)
    except (NotImplementedError, ArithmeticError, AttributeError, KeyError, TypeError, ValueError):
        return ""
    if not tps.get("mid"):
        return ""
    return (f"; at this bandwidth decode ≈ {tps['mid']:.0f} tok/s per sequence "
            f"({tps['low']:.0f}–{tps['high']:.0f}, estimate)")
