"""Windows and WSL2 checks. Pure.

- Native Windows under WDDM (GeForce default): a GPU that drives a display shares its VRAM with
  the desktop compositor (``display_active``, NVML nvmlDeviceGetDisplayActive), so what the model
  gets is the free memory, not the board's total. Windows' "shared GPU memory" (Task Manager) is
  system RAM mapped over PCIe: it is never counted as VRAM here.
- vLLM and SGLang have no native Windows build (vLLM docs, "Installation > GPU": Linux only,
  Windows through WSL); llama.cpp / Ollama / LM Studio and transformers run natively.
- WSL2: the GPU driver is the Windows host's (NVML reports its version; probes/__init__.py
  names the driver package under /usr/lib/wsl/drivers): a driver update happens on Windows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional

from deepseek_probe.findings import Finding
from deepseek_probe.runtimes import RUNTIMES
from deepseek_probe.snapshot import Snapshot

if TYPE_CHECKING:  # annotations only
    from deepseek_probe.profiles import ModelSpec
    from deepseek_probe.runtimes.base import Settings

GIB = 1024 ** 3


def findings(snapshot: Snapshot, spec: Optional[ModelSpec], settings: Settings) -> List[Finding]:
    """``spec`` is unused (a build exists or not, whatever the model); kept for the checks/ signature."""
    out: List[Finding] = []
    runtime = settings.runtime
    native = (snapshot.system.os_name or "").lower() == "windows"
    if native and not RUNTIMES[runtime].native_windows:
        out.append(Finding("windows.runtime", "fail", f"{runtime} has no native Windows build",
                           measured="windows", required="linux or WSL2",
                           suggestion="run it inside WSL2, or use llama.cpp / Ollama / LM Studio natively"))
    for g in snapshot.visible_gpus:
        if g.display_active and g.driver_model == "wddm":
            used = g.memory_used_bytes or 0
            out.append(Finding("windows.display", "warn",
                               f"GPU {g.index} drives a display under WDDM: the desktop holds "
                               f"{used / GIB:.1f} GiB of its VRAM and can take more while the model runs",
                               measured=used,
                               suggestion="connect the monitor to the integrated GPU (or another card)"))
    if snapshot.cuda.host_driver_os == "windows":
        driver = snapshot.cuda.driver_version or "unknown"
        store = snapshot.cuda.wsl_driver_store or "not found"
        out.append(Finding("wsl.driver", "pass",
                           f"WSL2 uses the Windows host's NVIDIA driver {driver} (driver package {store})",
                           measured=driver, suggestion="update the driver on Windows; never install a "
                           "Linux NVIDIA driver inside WSL2"))
    return out
