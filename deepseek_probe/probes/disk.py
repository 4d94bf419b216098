"""Disk where the model will live: free/total, filesystem type, device, rotational or not."""

from __future__ import annotations

import os
import posixpath
import re
from typing import Iterator, List, Optional

from deepseek_probe.probes import _read
from deepseek_probe.snapshot import DiskInfo


def default_model_dir(environ: Optional[dict] = None) -> str:
    """Where Hugging Face downloads go (huggingface_hub constants.py: HF_HUB_CACHE, else
    HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub)."""
    env = os.environ if environ is None else environ
    if env.get("HF_HUB_CACHE"):
        return os.path.expanduser(env["HF_HUB_CACHE"])
    if env.get("HF_HOME"):
        return os.path.join(os.path.expanduser(env["HF_HOME"]), "hub")
    cache = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "huggingface", "hub")


def nearest_existing(path: str) -> str:
    """The path itself or its nearest existing ancestor (the cache may not exist yet)."""
    current = os.path.abspath(path)
    while not os.path.exists(current):
        parent = os.path.dirname(current)
        if parent == current:
            return os.getcwd()
        current = parent
    return current


def probe_disk(model_dir: Optional[str] = None, root: str = "/") -> DiskInfo:
    wanted = model_dir if model_dir else default_model_dir()
    try:
        path = nearest_existing(wanted)
    except OSError:
        path = os.getcwd()
    # Report the path asked about (the cache may not exist yet); its nearest existing
    # ancestor sits on the same filesystem the download will land on.
    info = DiskInfo(path=os.path.abspath(wanted))
    try:
        st = os.statvfs(path)
        info.total_bytes = st.f_blocks * st.f_frsize
        info.free_bytes = st.f_bavail * st.f_frsize  # what a non-root user can still write
    except OSError as e:
        info.unavailable["total_bytes"] = info.unavailable["free_bytes"] = _read.error_reason(e)

    mounts = _read.read_mountinfo(root)
    if mounts is None:
        for name in ("fstype", "device", "rotational"):
            info.unavailable[name] = "not_found"
        return info
    mount = mount_for(mounts, os.path.realpath(path))
    if mount is None:
        for name in ("fstype", "device", "rotational"):
            info.unavailable[name] = "not_found"
        return info
    info.fstype = mount.fstype
    info.device = mount.source
    info.rotational = rotational(root, mount.major_minor, mount.source)
    if info.rotational is None:
        info.unavailable["rotational"] = "not_block_device" if mount.major_minor.startswith("0:") \
            else "not_found"
    return info


def mount_for(mounts: List[_read.Mount], path: str) -> Optional[_read.Mount]:
    """The mount holding ``path``: longest mount point prefix; later lines win a tie."""
    best = None
    for m in mounts:
        mp = m.mount_point.rstrip("/") or "/"
        if mp == "/" or path == mp or path.startswith(mp + "/"):
            if best is None or len(mp) >= len(best.mount_point.rstrip("/") or "/"):
                best = m
    return best


def _partition_parent(name: str) -> str:
    """nvme0n1p2 -> nvme0n1, mmcblk0p1 -> mmcblk0, sda3 -> sda, vda1 -> vda."""
    m = re.fullmatch(r"((?:nvme\d+n\d+)|(?:mmcblk\d+)|(?:loop\d+))p\d+", name)
    if m:
        return m.group(1)
    return re.sub(r"\d+$", "", name) or name


def rotational(root: str, major_minor: str, source: str) -> Optional[bool]:
    """/sys/block/<disk>/queue/rotational: 1 = spinning disk, 0 = SSD/NVMe/virtual.

    Major 0 is an anonymous device (overlay, tmpfs, nfs, btrfs subvolume): no block queue.
    Partitions have no queue of their own; their parent disk has it.
    """
    for path in _rotational_files(root, major_minor, source):
        value = _read.read_first_line("/", path)
        if value in ("0", "1"):
            return value == "1"
    return None


def _rotational_files(root: str, major_minor: str, source: str) -> Iterator[str]:
    """The rotational files to try, in order; each made only when the one before gave no answer
    (the partition-name regular expressions are compiled only for that last one)."""
    if major_minor and not major_minor.startswith("0:"):
        dev_dir = os.path.realpath(_read.at(root, f"/sys/dev/block/{major_minor}"))
        yield posixpath.join(dev_dir, "queue/rotational")
        if os.path.exists(posixpath.join(dev_dir, "partition")):
            yield posixpath.join(posixpath.dirname(dev_dir), "queue/rotational")
    if source.startswith("/dev/"):
        name = posixpath.basename(os.path.realpath(source) if root in ("", "/") else source)
        yield _read.at(root, f"/sys/block/{name}/queue/rotational")
        yield _read.at(root, f"/sys/block/{_partition_parent(name)}/queue/rotational")
