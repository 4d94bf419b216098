"""AMD GPUs on Linux: amdgpu sysfs and the KFD topology (no new dependency), or amdsmi.

Sources of the file formats (kernel 6.x, Documentation/gpu/amdgpu/ and the DOC: comments they
render):
- ``/sys/class/drm/cardN/device/``: ``vendor``/``device`` (PCI ids, sysfs-bus-pci ABI),
  ``mem_info_vram_total``/``_used`` and ``mem_info_vis_vram_total``/``_used`` in bytes
  (amdgpu_vram_mgr.c, "DOC: mem_info_vram_total"), ``gpu_busy_percent`` (amdgpu_pm.c "DOC:
  gpu_busy_percent"), ``unique_id`` (amdgpu_pm.c "DOC: unique_id", only on some ASICs),
  ``product_name`` (amdgpu_fru_eeprom.c, boards with a FRU EEPROM: Instinct), ``vbios_version``,
  ``current_link_speed``/``_width`` and ``max_link_*`` (PCI core, "16.0 GT/s PCIe").
- ``hwmon/hwmonN/``: ``temp1_input`` (edge, millidegrees C), ``power1_average`` or
  ``power1_input`` and ``power1_cap`` (microwatts) (Documentation/gpu/amdgpu/thermal.rst).
- ``/sys/class/kfd/kfd/topology/nodes/N/properties``: ``key value`` lines written by
  amdkfd/kfd_topology.c node_show(): ``gfx_target_version`` (major*10000 + minor*100 +
  stepping), ``simd_count``, ``simd_per_cu``, ``domain``, ``location_id`` (PCI bus<<8 | devfn).
  CPU nodes have ``simd_count 0``. HIP numbers GPUs in this node order.

Every file goes through probes/_read.py, so tests replay recorded trees (fixtures/fs/derived-…).
A missing or odd file leaves its field ``None`` with a reason; nothing here raises.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, Optional, Set, Tuple

from deepseek_probe.probes import _read
from deepseek_probe.probes.gpu._common import AMD_PCI_VENDOR, amd_cards, mark_not_probed
from deepseek_probe.snapshot import GpuInfo, RocmInfo

_DRM = "/sys/class/drm"
_KFD_NODES = "/sys/class/kfd/kfd/topology/nodes"

# PCI device id -> name, for cards without a FRU product_name. Ids from pciutils' pci.ids
# (vendor 1002) and the kernel's amdgpu_drv.c pciidlist; one id can cover several SKUs told
# apart by PCI revision, so the names say the family.
PCI_NAMES = {
    "0x744c": "Radeon RX 7900 XTX / XT / GRE (Navi 31)",
    "0x7448": "Radeon PRO W7900 (Navi 31)",
    "0x747e": "Radeon RX 7800 XT / 7700 XT (Navi 32)",
    "0x7480": "Radeon RX 7600 (Navi 33)",
    "0x73bf": "Radeon RX 6800 / 6800 XT / 6900 XT (Navi 21)",
    "0x7550": "Radeon RX 9070 / 9070 XT (Navi 48)",
    "0x74a1": "Instinct MI300X",
    "0x74a0": "Instinct MI300A",
    "0x74a5": "Instinct MI325X",
    "0x740c": "Instinct MI250X / MI250",
    "0x740f": "Instinct MI210",
    "0x738c": "Instinct MI100",
}

# PCIe transfer rate (GT/s) -> generation (PCI-SIG; the kernel prints "16.0 GT/s PCIe").
_PCIE_GEN = {2.5: 1, 5.0: 2, 8.0: 3, 16.0: 4, 32.0: 5, 64.0: 6}


def probe_amd(root: str = "/", environ: Optional[Mapping[str, str]] = None,
              amdsmi: Any = None) -> Tuple[RocmInfo, List[GpuInfo]]:
    """ROCm facts and one GpuInfo per AMD GPU. ``amdsmi``: the module (tests pass a fake),
    None = import it if installed, False = sysfs only. amdsmi is tried only when sysfs shows
    an AMD card, so hosts without one never pay for the import."""
    env = dict(environ or {})
    cards = amd_cards(root)
    if not cards:  # one directory listing: NVIDIA and CPU hosts pay nothing more
        return RocmInfo(), []
    rocm = rocm_info(root, env)
    gpus = _from_sysfs(root, cards)
    smi = _load_amdsmi(amdsmi)
    if smi is not None:
        try:
            _overlay_amdsmi(smi, gpus)
            rocm.source = "amdsmi"
        except Exception as e:  # noqa: BLE001 - a broken amdsmi must not hide sysfs' answer
            rocm.unavailable["source"] = f"amdsmi failed, sysfs used: {_read.error_reason(e)}"[:120]
            rocm.source = "sysfs"
    else:
        rocm.source = "sysfs"
    visible = visible_indices(len(gpus), [g.uuid for g in gpus], env)
    if visible is not None:
        for g in gpus:
            g.visible = g.index in visible
    for g in gpus:
        mark_not_probed(g, "not_supported: no amdgpu sysfs source")
    return rocm, gpus


# --- ROCm install ------------------------------------------------------------------------------

def rocm_info(root: str, env: Mapping[str, str]) -> RocmInfo:
    info = RocmInfo(hip_visible_devices=env.get("HIP_VISIBLE_DEVICES"),
                    rocr_visible_devices=env.get("ROCR_VISIBLE_DEVICES"),
                    cuda_visible_devices=env.get("CUDA_VISIBLE_DEVICES"))
    info.kfd_present = _read.exists(root, _KFD_NODES)
    prefixes = [p for p in (env.get("ROCM_PATH"), "/opt/rocm") if p]
    for prefix in prefixes:
        # /opt/rocm/.info/version: "6.2.4-120" (ROCm's rocm-core package writes it).
        text = _read.read_first_line(root, prefix.rstrip("/") + "/.info/version")
        if text:
            info.rocm_version, info.rocm_path = text.split("-", 1)[0], prefix
            break
    for prefix in prefixes + ["/usr"]:
        for libdir in ("/lib", "/lib64", "/lib/x86_64-linux-gnu"):
            names = _read.list_dir(root, prefix.rstrip("/") + libdir) or []
            hits = sorted(n for n in names if n.startswith("libamdhip64.so"))
            if hits:
                info.hip_runtime_path = f"{prefix.rstrip('/')}{libdir}/{hits[0]}"
                if info.rocm_version is None:  # libamdhip64.so.6.2.60204 -> HIP 6.2
                    m = re.match(r"libamdhip64\.so\.(\d+)\.(\d+)", hits[-1])
                    if m:
                        info.rocm_version = f"{m.group(1)}.{m.group(2)}"
                break
        if info.hip_runtime_path:
            break
    if info.rocm_version is None:
        info.unavailable["rocm_version"] = "not_found"
    if info.hip_runtime_path is None:
        info.unavailable["hip_runtime_path"] = "not_found"
    return info


# --- sysfs -------------------------------------------------------------------------------------

def _kfd_gpu_nodes(root: str) -> List[Dict[str, str]]:
    """KFD GPU nodes in node order (HIP's device order); CPU nodes (simd_count 0) dropped."""
    names = _read.list_dir(root, _KFD_NODES) or []
    nodes = []
    for n in sorted((n for n in names if n.isdigit()), key=int):
        text = _read.read_text(root, f"{_KFD_NODES}/{n}/properties")
        if not text:
            continue
        props = _read.parse_key_values(text, sep=" ")
        if _int(props.get("simd_count")):
            nodes.append(props)
    return nodes


def gfx_name(target_version: int) -> str:
    """KFD gfx_target_version -> LLVM target: 110000 -> gfx1100, 90402 -> gfx942,
    90010 -> gfx90a (minor and stepping are printed in hex by LLVM's naming)."""
    major, minor, step = target_version // 10000, (target_version // 100) % 100, target_version % 100
    return f"gfx{major}{minor:x}{step:x}"


def _pci_address(root: str, card: str) -> Optional[str]:
    uevent = _read.read_text(root, f"{_DRM}/{card}/device/uevent") or ""
    m = re.search(r"^PCI_SLOT_NAME=(\S+)", uevent, re.M)
    return m.group(1).lower() if m else None


def _location(address: str) -> Optional[Tuple[int, int]]:
    """"0000:03:00.0" -> (domain, bus<<8 | device<<3 | function), KFD's location_id."""
    m = re.fullmatch(r"([0-9a-f]{4,8}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])", address)
    if not m:
        return None
    domain, bus, dev = (int(m.group(i), 16) for i in (1, 2, 3))
    fn = int(m.group(4))
    return domain, (bus << 8) | (dev << 3) | fn


def _from_sysfs(root: str, cards: List[str]) -> List[GpuInfo]:
    nodes = _kfd_gpu_nodes(root)
    by_location = {}
    for node in nodes:
        by_location[(_int(node.get("domain")) or 0, _int(node.get("location_id")))] = node
    gpus: List[GpuInfo] = []
    for i, card in enumerate(cards):
        dev = f"{_DRM}/{card}/device"
        g = GpuInfo(index=i, vendor="amd")
        g.pci_bus_id = _pci_address(root, card)
        node = None
        loc = _location(g.pci_bus_id) if g.pci_bus_id else None
        if loc is not None:
            node = by_location.get(loc)
        if node is None and len(nodes) == len(cards):
            node = nodes[i]  # same count, same (PCI) order: KFD enumerates GPUs by PCI bus
        device_id = (_read.read_first_line(root, f"{dev}/device") or "").lower() or None
        g.name = _read.read_first_line(root, f"{dev}/product_name") or PCI_NAMES.get(device_id or "") \
            or (f"AMD GPU {device_id}" if device_id else None)
        g.memory_total_bytes = _int_file(root, f"{dev}/mem_info_vram_total", g, "memory_total_bytes")
        g.memory_used_bytes = _int_file(root, f"{dev}/mem_info_vram_used", g, "memory_used_bytes")
        if g.memory_total_bytes is not None and g.memory_used_bytes is not None:
            g.memory_free_bytes = max(0, g.memory_total_bytes - g.memory_used_bytes)
        else:
            g.unavailable["memory_free_bytes"] = "not_found"
        g.memory_visible_bytes = _int_file(root, f"{dev}/mem_info_vis_vram_total", g, "memory_visible_bytes")
        g.busy_percent = _int_file(root, f"{dev}/gpu_busy_percent", g, "busy_percent")
        unique_id = _read.read_first_line(root, f"{dev}/unique_id") or None
        # Written as ROCm names it ("GPU-<unique_id hex>", what ROCR_VISIBLE_DEVICES accepts).
        g.uuid = f"GPU-{_hex(unique_id)}" if unique_id else None
        if g.uuid is None:
            g.unavailable["uuid"] = "not_supported"  # unique_id exists on some ASICs only
        g.vbios_version = _read.read_first_line(root, f"{dev}/vbios_version") or None
        g.pcie_gen_current = _link_gen(_read.read_first_line(root, f"{dev}/current_link_speed"))
        g.pcie_gen_max = _link_gen(_read.read_first_line(root, f"{dev}/max_link_speed"))
        g.pcie_width_current = _int(_read.read_first_line(root, f"{dev}/current_link_width"))
        g.pcie_width_max = _int(_read.read_first_line(root, f"{dev}/max_link_width"))
        _hwmon(root, dev, g)
        if node is not None:
            target = _int(node.get("gfx_target_version"))
            g.gfx_target = gfx_name(target) if target else None
            simd, per_cu = _int(node.get("simd_count")), _int(node.get("simd_per_cu"))
            g.compute_units = simd // per_cu if simd and per_cu else None
        for name in ("gfx_target", "compute_units"):
            if getattr(g, name) is None:
                g.unavailable[name] = "not_found" if node is None else "error: odd KFD properties"
        gpus.append(g)
    return gpus


def _hwmon(root: str, dev: str, g: GpuInfo) -> None:
    hw = sorted(n for n in (_read.list_dir(root, f"{dev}/hwmon") or []) if n.startswith("hwmon"))
    if not hw:
        for name in ("temperature_c", "power_usage_w", "power_limit_w"):
            g.unavailable[name] = "not_found"
        return
    base = f"{dev}/hwmon/{hw[0]}"
    milli = _int(_read.read_first_line(root, f"{base}/temp1_input"))
    g.temperature_c = milli // 1000 if milli is not None else None
    # power1_average on most ASICs; kernels >= 6.x report power1_input instead on some (RDNA3).
    micro = _int(_read.read_first_line(root, f"{base}/power1_average"))
    if micro is None:
        micro = _int(_read.read_first_line(root, f"{base}/power1_input"))
    g.power_usage_w = round(micro / 1e6, 3) if micro is not None else None
    cap = _int(_read.read_first_line(root, f"{base}/power1_cap"))
    g.power_limit_w = round(cap / 1e6, 3) if cap is not None else None
    for name in ("temperature_c", "power_usage_w", "power_limit_w"):
        if getattr(g, name) is None:
            g.unavailable[name] = "not_found"


def _link_gen(speed: Optional[str]) -> Optional[int]:
    m = re.match(r"\s*([\d.]+)\s*GT/s", speed or "")
    return _PCIE_GEN.get(float(m.group(1))) if m else None


def _int(text: Optional[str]) -> Optional[int]:
    if text is None:
        return None
    try:
        return int(text.strip(), 0) if text.strip().lower().startswith("0x") else int(text.strip())
    except ValueError:
        return None


def _int_file(root: str, path: str, g: GpuInfo, name: str) -> Optional[int]:
    text = _read.read_first_line(root, path)
    value = _int(text)
    if value is None:
        g.unavailable[name] = "not_found" if text is None else f"error: unparsable {text[:40]!r}"
    return value


# --- amdsmi ------------------------------------------------------------------------------------

def _load_amdsmi(amdsmi: Any) -> Any:
    if amdsmi is False:
        return None
    if amdsmi is not None:
        return amdsmi
    try:
        import amdsmi as module  # ROCm's Python API (ships with ROCm >= 6.0)
    except Exception:  # noqa: BLE001 - not installed, or a broken install: sysfs it is
        return None
    return module


def _overlay_amdsmi(smi: Any, gpus: List[GpuInfo]) -> None:
    """Names, VRAM, gfx target and activity as amdsmi reports them (amdsmi Python API:
    amdsmi_get_gpu_asic_info, amdsmi_get_gpu_vram_usage (MB), amdsmi_get_gpu_activity,
    amdsmi_get_gpu_device_bdf). Matched to sysfs cards by PCI address; one failing call leaves
    sysfs' value."""
    smi.amdsmi_init()
    try:
        by_bdf = {g.pci_bus_id: g for g in gpus if g.pci_bus_id}
        for handle in smi.amdsmi_get_processor_handles():
            try:
                bdf = str(smi.amdsmi_get_gpu_device_bdf(handle)).lower()
            except Exception:  # noqa: BLE001
                continue
            g = by_bdf.get(bdf)
            if g is None:
                continue
            _try(lambda: _asic(smi.amdsmi_get_gpu_asic_info(handle), g))
            _try(lambda: _vram(smi.amdsmi_get_gpu_vram_usage(handle), g))
            _try(lambda: setattr(g, "busy_percent", int(smi.amdsmi_get_gpu_activity(handle)["gfx_activity"])))
    finally:
        _try(smi.amdsmi_shut_down)


def _asic(asic: Mapping[str, Any], g: GpuInfo) -> None:
    if asic.get("market_name"):
        g.name = str(asic["market_name"])
    target = asic.get("target_graphics_version")
    if isinstance(target, str) and target.startswith("gfx"):
        g.gfx_target = target
        g.unavailable.pop("gfx_target", None)
    cus = asic.get("num_compute_units")
    if isinstance(cus, int) and cus > 0:
        g.compute_units = cus
        g.unavailable.pop("compute_units", None)


def _vram(usage: Mapping[str, Any], g: GpuInfo) -> None:
    total, used = int(usage["vram_total"]) * 1024 * 1024, int(usage["vram_used"]) * 1024 * 1024
    g.memory_total_bytes, g.memory_used_bytes, g.memory_free_bytes = total, used, max(0, total - used)
    for name in ("memory_total_bytes", "memory_used_bytes", "memory_free_bytes"):
        g.unavailable.pop(name, None)


def _try(fn: Any) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001 - one amdsmi call failing keeps the sysfs value
        pass


# --- visibility --------------------------------------------------------------------------------

def _hex(text: str) -> str:
    t = text.strip().lower()
    return (t[2:] if t.startswith("0x") else t).lstrip("0") or "0"


def visible_indices(count: int, uuids: List[Optional[str]], env: Mapping[str, str]) -> Optional[Set[int]]:
    """GPUs a HIP program sees; None = no variable set (all).

    ROCR_VISIBLE_DEVICES filters first (ROCr runtime: indices or ``GPU-<unique_id>`` UUIDs);
    HIP_VISIBLE_DEVICES (or CUDA_VISIBLE_DEVICES, which HIP also reads) then picks by index
    among what ROCr left (HIP docs, "HIP environment variables"). An invalid entry ends the
    list, as in CUDA.
    """
    rocr, hip = env.get("ROCR_VISIBLE_DEVICES"), env.get("HIP_VISIBLE_DEVICES")
    if hip is None:
        hip = env.get("CUDA_VISIBLE_DEVICES")
    if rocr is None and hip is None:
        return None
    order = list(range(count))
    if rocr is not None:
        order = _pick(rocr, order, uuids)
    if hip is not None:
        order = _pick(hip, order, [uuids[i] for i in order])
    return set(order)


def _pick(spec: str, order: List[int], uuids: List[Optional[str]]) -> List[int]:
    """Entries of ``spec`` resolved against ``order`` (``uuids`` aligned with it)."""
    picked: List[int] = []
    for raw in spec.split(","):
        entry = raw.strip().lower()
        if not entry:
            break
        if entry.isascii() and entry.isdigit():
            pos = int(entry)
            if pos >= len(order):
                break
            index = order[pos]
        elif entry.startswith("gpu-"):
            want = _hex(entry[4:])
            hits = [order[k] for k, u in enumerate(uuids) if u and _hex(u[4:]) == want]
            if len(hits) != 1:
                break
            index = hits[0]
        else:
            break
        if index in picked:
            break
        picked.append(index)
    return picked
