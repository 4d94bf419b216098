"""GPU host tests: real NVML, nvidia-smi, libcuda. Skipped where NVML cannot start.

Run on the GPU host with the package importable:  python3 -m pytest -m gpu tests/gpu -q
Measured figures (bandwidth, CUDA totals, check wall time) are printed in a summary section at
the end, and written as JSON to $DEEPSEEK_PROBE_GPU_RESULTS when that is set.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any, Dict, List, Optional

import pytest

MIB = 1 << 20
GIB = 1 << 30

# nvidia-smi --help-query-gpu names these fields; `nounits` gives MiB, W, °C, plain numbers.
SMI_FIELDS = ["name", "uuid", "serial", "pci.bus_id", "memory.total", "memory.used", "memory.free",
              "driver_version", "compute_cap", "pcie.link.gen.max", "pcie.link.width.max",
              "temperature.gpu", "power.limit"]

_MEASURED: List[Dict[str, Any]] = []
_NVML_REASON: Dict[str, Optional[str]] = {}


def _nvml_unusable() -> Optional[str]:
    """Why NVML cannot be used here, or None. Asked once per session."""
    if "reason" not in _NVML_REASON:
        try:
            import pynvml

            pynvml.nvmlInit()
            try:
                count = pynvml.nvmlDeviceGetCount()
            finally:
                pynvml.nvmlShutdown()
            _NVML_REASON["reason"] = None if count > 0 else "NVML sees no GPU"
        except Exception as e:  # noqa: BLE001 - any failure means: not a GPU host
            _NVML_REASON["reason"] = f"no usable NVIDIA GPU/driver ({type(e).__name__}: {e})"
    return _NVML_REASON["reason"]


def pytest_collection_modifyitems(config: Any, items: List[Any]) -> None:
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items:
        return
    reason = _nvml_unusable()
    if reason:
        for item in gpu_items:
            item.add_marker(pytest.mark.skip(reason=reason))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _MEASURED:
        return
    terminalreporter.section("deepseek-probe GPU measurements")
    for row in _MEASURED:
        terminalreporter.write_line(json.dumps(row, sort_keys=True))
    path = os.environ.get("DEEPSEEK_PROBE_GPU_RESULTS")
    if path:
        with open(path, "w") as f:
            json.dump(_MEASURED, f, indent=1)


@pytest.fixture
def record():
    """record(what=..., **figures): keep a measured figure for the end-of-run summary."""

    def add(**row: Any) -> None:
        _MEASURED.append(row)

    return add


@pytest.fixture(scope="session")
def nvml():
    import pynvml

    pynvml.nvmlInit()
    yield pynvml
    pynvml.nvmlShutdown()


def _smi_value(text: str) -> Optional[str]:
    text = text.strip()
    return None if text.startswith("[") or text in ("", "N/A") else text  # "[N/A]", "[Not Supported]"


@pytest.fixture(scope="session")
def smi_gpus() -> List[Dict[str, Optional[str]]]:
    """One dict per GPU from nvidia-smi's CSV query, keyed by the field names above."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        pytest.skip("nvidia-smi is not on PATH")
    out = subprocess.run([exe, "--query-gpu=" + ",".join(SMI_FIELDS), "--format=csv,noheader,nounits"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    rows = []
    for line in out.strip().splitlines():
        values = [v.strip() for v in line.split(",")]
        assert len(values) == len(SMI_FIELDS), f"unexpected nvidia-smi line: {line!r}"
        rows.append({k: _smi_value(v) for k, v in zip(SMI_FIELDS, values)})
    return rows


@pytest.fixture(scope="session")
def snapshot():
    """The live machine through the product's own probes."""
    from deepseek_probe.probes import take_snapshot

    return take_snapshot()


@pytest.fixture(scope="session")
def cuda_bus_ids() -> Dict[str, int]:
    """Normalised PCI bus id -> CUDA ordinal for the GPUs this process can use."""
    from deepseek_probe import verify

    return verify.cuda_devices()


@pytest.fixture(scope="session")
def nvml_used(nvml):
    """nvml_used(pci_bus_id) -> bytes NVML counts as used on that GPU now."""

    def used(pci_bus_id: str) -> int:
        handle = nvml.nvmlDeviceGetHandleByPciBusId(pci_bus_id)
        return int(nvml.nvmlDeviceGetMemoryInfo(handle).used)

    return used
