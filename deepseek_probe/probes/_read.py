"""One small reader for /proc, /sys and /etc files, relative to a root.

Every probe reads through here so tests can point ``root`` at a recorded tree under
fixtures/fs/ (psutil's approach: replay recorded real files, not hand-written mocks).
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional

# /proc and /sys files are small; 1 MiB bounds a corrupt or endless file (a recorded
# /proc/cpuinfo of a 256-thread host is ~400 KiB).
_MAX_READ_BYTES = 1024 * 1024


def at(root: str, path: str) -> str:
    """``path`` (absolute, as on a live system) inside ``root``."""
    if root in ("", "/"):
        return path
    return os.path.join(root, path.lstrip("/"))


def read_text(root: str, path: str) -> Optional[str]:
    """File content, or None when it is missing or unreadable (never raises)."""
    try:
        with open(at(root, path), "rb") as f:
            return f.read(_MAX_READ_BYTES).decode("utf-8", "replace")
    except (OSError, ValueError):
        return None


def read_bytes(root: str, path: str, limit: int = _MAX_READ_BYTES) -> Optional[bytes]:
    """Raw content (binary files such as /sys/firmware/dmi/tables/DMI), or None (never raises)."""
    try:
        with open(at(root, path), "rb") as f:
            return f.read(limit)
    except (OSError, ValueError):
        return None


def read_first_line(root: str, path: str) -> Optional[str]:
    text = read_text(root, path)
    if text is None:
        return None
    lines = text.splitlines()
    return lines[0].strip() if lines else ""


def exists(root: str, path: str) -> bool:
    try:
        return os.path.lexists(at(root, path))
    except (OSError, ValueError):
        return False


def list_dir(root: str, path: str) -> Optional[List[str]]:
    try:
        return os.listdir(at(root, path))
    except (OSError, ValueError):
        return None


def parse_key_values(text: str, sep: str = ":") -> Dict[str, str]:
    """``Key: value`` lines (``/proc/meminfo``, ``/proc/self/status``) -> dict; first wins."""
    out: Dict[str, str] = {}
    for line in text.splitlines():
        key, found, value = line.partition(sep)
        if found:
            out.setdefault(key.strip(), value.strip())
    return out


def error_reason(exc: BaseException) -> str:
    """A short reason code for an unexpected exception: ``error: Type: message`` (<=120 chars)."""
    if isinstance(exc, PermissionError):
        return "no_permission"
    if isinstance(exc, FileNotFoundError):
        return "not_found"
    text = f"error: {type(exc).__name__}: {exc}"
    return text[:120]


class Mount:
    """One line of /proc/self/mountinfo (see proc(5))."""

    __slots__ = ("major_minor", "fs_root", "mount_point", "fstype", "source", "super_options")

    def __init__(self, major_minor: str, fs_root: str, mount_point: str, fstype: str,
                 source: str, super_options: str) -> None:
        self.major_minor = major_minor
        self.fs_root = fs_root
        self.mount_point = mount_point
        self.fstype = fstype
        self.source = source
        self.super_options = super_options


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \040 \011 \012 \134 (proc(5)).
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and len(field[i + 1:i + 4]) == 3 and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> List[Mount]:
    """``36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue``."""
    mounts: List[Mount] = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        lf, rf = left.split(), right.split()
        if len(lf) < 5 or len(rf) < 2:
            continue
        mounts.append(Mount(lf[2], _unescape(lf[3]), _unescape(lf[4]), rf[0], _unescape(rf[1]),
                            rf[2] if len(rf) > 2 else ""))
    return mounts


def read_mountinfo(root: str) -> Optional[List[Mount]]:
    text = read_text(root, "/proc/self/mountinfo")
    return None if text is None else parse_mountinfo(text)
