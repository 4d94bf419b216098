"""`--format prometheus`: node_exporter textfile-collector format.

One gauge per profile verdict plus the key capacities (free/total VRAM per GPU, host RAM, disk).
Format: Prometheus text exposition format 0.0.4 (HELP/TYPE lines, label values with backslash,
double quote and newline escaped). No UUIDs or serials as labels (they are redacted anyway).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from deepseek_probe.findings import EXIT_CODES, LEVELS

_PREFIX = "deepseek_probe_"


def escape_label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def _labels(labels: Dict[str, Any]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items()) + "}"


def _num(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


class _Metrics:
    def __init__(self) -> None:
        self.order: List[str] = []
        self.meta: Dict[str, Tuple[str, str]] = {}
        self.samples: Dict[str, List[str]] = {}

    def add(self, name: str, help_text: str, value: Optional[float], labels: Optional[Dict[str, Any]] = None) -> None:
        if value is None:
            return
        full = _PREFIX + name
        if full not in self.meta:
            self.order.append(full)
            self.meta[full] = (help_text, "gauge")
            self.samples[full] = []
        self.samples[full].append(f"{full}{_labels(labels or {})} {_num(value)}")

    def text(self) -> str:
        out: List[str] = []
        for name in self.order:
            help_text, kind = self.meta[name]
            out.append(f"# HELP {name} {help_text.replace(chr(92), chr(92) * 2).replace(chr(10), ' ')}")
            out.append(f"# TYPE {name} {kind}")
            out += self.samples[name]
        return "\n".join(out) + "\n"


def render_check(result: Any) -> str:
    m = _Metrics()
    snap = result.snapshot
    m.add("info", "Tool and driver versions (value is always 1).", 1,
          {"tool_version": result.tool_version, "driver_version": snap.cuda.driver_version or "",
           "cuda_driver_version": snap.cuda.cuda_driver_version or "", "nvml_status": snap.cuda.nvml_status})
    m.add("verdict", "Overall verdict as the exit code: 0 pass, 1 warn, 2 fail, 3 unknown.",
          EXIT_CODES[result.verdict])
    for p in result.profiles:
        labels = {"model": p.model, "precision": p.precision, "kv_precision": p.kv_precision,
                  "context": p.context, "concurrency": p.concurrency, "runtime": p.runtime}
        m.add("profile_verdict", "Verdict per model profile as the exit code: 0 pass, 1 warn, 2 fail, 3 unknown.",
              EXIT_CODES[p.verdict], labels)
        m.add("profile_ready", "1 when the profile can run here (pass or warn), else 0.",
              1 if p.verdict in ("pass", "warn") else 0, labels)
        m.add("profile_tensor_parallel", "GPUs the profile was placed on (tensor-parallel size).",
              p.tensor_parallel, labels)
        if p.estimate is not None:
            m.add("profile_gpu_need_bytes", "Estimated memory per GPU at peak, margin excluded.",
                  int(p.estimate.per_device.total_bytes), labels)
        for level in LEVELS:
            m.add("profile_findings", "Findings per profile and level.",
                  sum(1 for f in p.findings if f.level == level), {**labels, "level": level})
    for g in snap.gpus:
        labels = {"gpu": g.index, "name": g.name or "", "pci_bus_id": g.pci_bus_id or ""}
        m.add("gpu_memory_free_bytes", "Free GPU memory (NVML), other tenants included.", g.memory_free_bytes, labels)
        m.add("gpu_memory_total_bytes", "Total GPU memory (NVML).", g.memory_total_bytes, labels)
        m.add("gpu_temperature_celsius", "GPU temperature.", g.temperature_c, labels)
        m.add("gpu_visible", "1 if CUDA_VISIBLE_DEVICES exposes the GPU.", 1 if g.visible else 0, labels)
        if g.mig_enabled is not None:
            m.add("gpu_mig_enabled", "1 if MIG mode is on.", g.mig_enabled, labels)
        m.add("gpu_ecc_uncorrected_errors", "Volatile uncorrected ECC errors.", g.ecc_uncorrected_volatile, labels)
    mem = snap.memory
    m.add("host_memory_available_bytes", "Host RAM available.", mem.available_bytes)
    m.add("host_memory_total_bytes", "Host RAM total.", mem.total_bytes)
    m.add("host_cgroup_memory_limit_bytes", "cgroup memory limit (absent: no limit).", mem.cgroup_limit_bytes)
    m.add("host_shm_bytes", "Size of /dev/shm.", mem.shm_total_bytes)
    m.add("disk_free_bytes", "Free disk at the model directory.", snap.disk.free_bytes,
          {"path": snap.disk.path or ""})
    return m.text()
