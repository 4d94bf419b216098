"""GPUs of every vendor, as the same :class:`~deepseek_probe.snapshot.GpuInfo` records.

One module per vendor (psutil's one-module-per-platform pattern):

- ``nvidia.py``: NVML (Linux: libnvidia-ml.so.1; Windows: nvml.dll; WSL2: the Windows
  driver's NVML through /usr/lib/wsl/lib).
- ``amd.py``: amdgpu sysfs + KFD topology (Linux), or amdsmi's Python API when importable.
- ``apple.py``: Apple Silicon unified memory and Metal's working-set limit (macOS).

Which vendors are probed on which OS is decided here, by :func:`vendors_for`, from the one
platform test in ``probes/_platform.py``. No vendor module imports anything that exists on one
OS only, so tests run every path on Linux.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple

from deepseek_probe.probes import _platform
from deepseek_probe.records import replace
from deepseek_probe.snapshot import CudaInfo, GpuInfo, GpuLink, RocmInfo

# What each OS can have (a vendor absent here is never imported there).
_VENDORS: Dict[str, Tuple[str, ...]] = {
    _platform.LINUX: ("nvidia", "amd"),
    _platform.WINDOWS: ("nvidia",),  # NVML from nvml.dll; AMD on Windows: not probed (no sysfs)
    _platform.MACOS: ("apple",),  # no NVIDIA or AMD compute on Apple Silicon Macs
    _platform.OTHER: (),
}


def vendors_for(platform: Optional[str] = None) -> Tuple[str, ...]:
    """The vendor probes to run on ``platform`` (default: this machine)."""
    return _VENDORS[_platform.current(platform)]


class GpuReading:
    """What :func:`read_gpus` found: NVML's driver facts, GPUs of every vendor, NVIDIA links,
    and ROCm facts (None unless an AMD GPU was seen). Unpacks as (cuda, gpus, links, rocm).
    A plain class: a NamedTuple costs ~0.5 ms of every ``check`` start-up to define."""

    __slots__ = ("cuda", "gpus", "links", "rocm")

    def __init__(self, cuda: CudaInfo, gpus: List[GpuInfo], links: List[GpuLink],
                 rocm: Optional[RocmInfo]) -> None:
        self.cuda, self.gpus, self.links, self.rocm = cuda, gpus, links, rocm

    def __iter__(self) -> Iterator[object]:
        return iter((self.cuda, self.gpus, self.links, self.rocm))


def after(present: List[GpuInfo], found: List[GpuInfo]) -> List[GpuInfo]:
    """`found` (another vendor's GPUs) numbered after `present` when their indices would collide:
    each vendor numbers its own from 0 (NVML, KFD), and a snapshot names every GPU once."""
    taken = {g.index for g in present}
    if not taken or not any(g.index in taken for g in found):
        return list(found)
    shift = max(taken) + 1
    return [replace(g, index=g.index + shift) for g in found]


def read_gpus(root: str = "/", environ: Optional[Mapping[str, str]] = None,
              platform: Optional[str] = None, nvml: Any = None, amdsmi: Any = None,
              sysctl: Optional[Callable[[str], Optional[str]]] = None,
              metal: Optional[Callable[[], Optional[int]]] = None) -> GpuReading:
    """Every GPU on this machine, synchronously (``take_snapshot`` runs the same vendor probes,
    each under its time limit). Never raises: a vendor that fails adds no GPUs and says why.

    ``nvml``: a pynvml-like module (default: ``nvidia.load_nvml``); ``amdsmi``: the amdsmi module
    or False to force sysfs; ``sysctl``/``metal``: readers for the macOS probe (tests).
    """
    import os

    env: Dict[str, str] = dict(os.environ if environ is None else environ)
    plat = _platform.current(platform)
    cuda, gpus, links, rocm = CudaInfo(nvml_status="not_probed"), [], [], None
    for vendor in _VENDORS[plat]:
        if vendor == "nvidia":
            from deepseek_probe.probes.gpu import nvidia

            try:
                module = nvml if nvml is not None else nvidia.load_nvml(env)
            except Exception as e:  # noqa: BLE001 - ImportError or a broken install
                cuda = CudaInfo(nvml_status=f"error: NVML binding not importable: {type(e).__name__}: {e}"[:120])
                continue
            probe = nvidia.GpuProbe(module, environ=env, platform=plat)
            probe.run()
            cuda, found, links = probe.stop_and_snapshot("error: probe did not finish")
            gpus.extend(found)
        elif vendor == "amd":
            from deepseek_probe.probes.gpu import amd

            rocm_info, found = amd.probe_amd(root, env, amdsmi=amdsmi)
            if found or rocm_info.rocm_version:
                rocm = rocm_info
            gpus.extend(after(gpus, found))
        elif vendor == "apple":
            from deepseek_probe.probes.gpu import apple

            gpus.extend(after(gpus, apple.probe_apple(sysctl=sysctl, metal=metal)))
    return GpuReading(cuda, gpus, links, rocm)
