"""Find this process's cgroup directories (v1 and v2) for limit files.

A limit set on any ancestor cgroup applies too, so callers read every directory from the
process's own cgroup up to the hierarchy root and take the smallest limit. Paths follow the
kernel's cgroup docs (Documentation/admin-guide/cgroup-v2.rst, cgroup-v1/): the process's path
comes from /proc/self/cgroup, the mount point and the mount's root from /proc/self/mountinfo.
"""

from __future__ import annotations

import posixpath
from typing import List, Optional, Tuple

from deepseek_probe.probes import _read


def self_cgroup_lines(root: str) -> Optional[List[Tuple[str, List[str], str]]]:
    """``hierarchy-id:controller,list:/path`` lines of /proc/self/cgroup."""
    text = _read.read_text(root, "/proc/self/cgroup")
    if text is None:
        return None
    out = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            controllers = [c for c in parts[1].split(",") if c]
            out.append((parts[0], controllers, parts[2]))
    return out


def version_for(root: str, controller: str) -> Optional[int]:
    """1 if ``controller`` is on a v1 hierarchy, 2 if the process is in a v2 hierarchy, else None."""
    lines = self_cgroup_lines(root)
    if not lines:
        return None
    if any(controller in ctrls for _, ctrls, _ in lines):
        return 1
    if any(hid == "0" and not ctrls for hid, ctrls, _ in lines):
        return 2
    return None


def controller_dirs(root: str, controller: str) -> List[str]:
    """Live paths of the process's cgroup directories for ``controller``, innermost first."""
    version = version_for(root, controller)
    lines = self_cgroup_lines(root) or []
    if version == 1:
        path = next((p for _, ctrls, p in lines if controller in ctrls), "/")
    elif version == 2:
        path = next((p for hid, ctrls, p in lines if hid == "0" and not ctrls), "/")
    else:
        return []
    mount = _find_mount(root, controller, version)
    if mount is None:
        # No mountinfo: fall back to the usual layout (/sys/fs/cgroup[/controller]).
        mount_point = "/sys/fs/cgroup" if version == 2 else f"/sys/fs/cgroup/{controller}"
        fs_root = "/"
    else:
        mount_point, fs_root = mount
    # Inside a container the mount's root is usually the container's own cgroup (or "/" with a
    # cgroup namespace); strip it to map the process path onto the mount.
    rel = path
    if fs_root != "/" and (path == fs_root or path.startswith(fs_root.rstrip("/") + "/")):
        rel = path[len(fs_root.rstrip("/")):] or "/"
    dirs = []
    current = posixpath.normpath(posixpath.join(mount_point, rel.lstrip("/")))
    if not _read.exists(root, current):
        current = mount_point  # path from the host's view, not mounted here: use the mount root
    while True:
        dirs.append(current)
        if current == mount_point or len(current) <= len(mount_point):
            break
        current = posixpath.dirname(current)
    return dirs


def _find_mount(root: str, controller: str, version: int) -> Optional[Tuple[str, str]]:
    mounts = _read.read_mountinfo(root)
    if not mounts:
        return None
    for m in reversed(mounts):  # the last mount on a point wins (over-mounts come later)
        if version == 2 and m.fstype == "cgroup2":
            return m.mount_point, m.fs_root
        if version == 1 and m.fstype == "cgroup" and controller in m.super_options.split(","):
            return m.mount_point, m.fs_root
    return None


def read_limit_files(root: str, controller: str, filename: str) -> List[str]:
    """First line of ``filename`` in every cgroup directory that has it, innermost first."""
    values = []
    for d in controller_dirs(root, controller):
        line = _read.read_first_line(root, posixpath.join(d, filename))
        if line is not None:
            values.append(line)
    return values
