"""CUDA toolkit and libraries without spawning processes or loading libraries.

``nvcc`` is found on PATH and its version read from the toolkit's version.json/version.txt
(``nvcc --version`` costs ~40 ms, census-h100.json cmd timings; it runs only when neither file
exists). libcuda/libcudart are found by walking the dynamic loader's search path
(ld.so(8): LD_LIBRARY_PATH, /etc/ld.so.conf(.d), the default dirs), not ``ldconfig -p``.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from typing import Dict, List, Mapping, Optional

from deepseek_probe.probes import _read
from deepseek_probe.snapshot import CudaInfo

# Default library dirs of glibc's loader on x86_64/aarch64 (Debian multiarch and RHEL lib64),
# WSL2's driver dir (/usr/lib/wsl/lib, Microsoft's CUDA on WSL guide) and the CUDA toolkit's
# install dirs (NVIDIA CUDA installation guide for Linux, "Environment Setup").
_STANDARD_LIB_DIRS = (
    "/lib64", "/usr/lib64", "/lib", "/usr/lib",
    "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
    "/usr/lib/wsl/lib", "/usr/local/nvidia/lib64", "/usr/local/nvidia/lib",
)
_CUDA_LIB_GLOBS = ("/usr/local/cuda*/lib64", "/usr/local/cuda*/targets/*-linux/lib")

# Seconds to wait for ``nvcc --version`` when the toolkit has no version file; it printed in
# 40-70 ms on the census hosts, so 5 s means the binary is broken or hung.
_NVCC_TIMEOUT_S = 5.0


def probe_toolkit(root: str = "/", environ: Optional[Mapping[str, str]] = None,
                  info: Optional[CudaInfo] = None) -> CudaInfo:
    """Fill the toolkit part of ``info``: nvcc, libcuda, libcudart, CUDA_VISIBLE_DEVICES."""
    env = os.environ if environ is None else environ
    info = info if info is not None else CudaInfo()
    info.cuda_visible_devices = env.get("CUDA_VISIBLE_DEVICES")

    nvcc = find_on_path("nvcc", env.get("PATH", os.defpath), root)
    if nvcc is None:
        info.unavailable["nvcc_version"] = "not_found"
    else:
        version = toolkit_version(nvcc)
        if version is None and root in ("", "/"):
            version = nvcc_version_by_running(nvcc)
        info.nvcc_version = version
        if version is None:
            info.unavailable["nvcc_version"] = "error: nvcc found but its version is unreadable"

    dirs = loader_search_dirs(root, env)
    listings: Dict[object, List[str]] = {}
    info.libcuda_path = find_library(root, dirs, ("libcuda.so.1", "libcuda.so"), listings)
    if info.libcuda_path is None:
        info.unavailable["libcuda_path"] = "not_found"
    info.libcudart_path = find_library(root, dirs, ("libcudart.so*",), listings)
    if info.libcudart_path is None:
        info.unavailable["libcudart_path"] = "not_found"
    return info


def find_on_path(name: str, path_var: str, root: str = "/") -> Optional[str]:
    for d in path_var.split(os.pathsep):
        if not d:
            continue
        candidate = os.path.join(d, name)
        real = _read.at(root, candidate)
        # access() first: a folder without nvcc answers False without the exception a failed
        # stat() (isfile) raises and catches
        try:
            runnable = os.access(real, os.X_OK)
        except ValueError:  # a NUL byte in PATH
            continue
        if runnable and os.path.isfile(real):
            return real
    return None


def toolkit_version(nvcc_path: str) -> Optional[str]:
    """``13.0`` from the toolkit's files, never by running nvcc.

    In order: <toolkit>/version.json (CUDA >= 11.1), version.txt (older), the
    nvidia_cuda_nvcc-X.Y.Z.dist-info folder of wheel-built toolkits (which ship no version
    file), and ``#define CUDART_VERSION 13000`` in include/cuda_runtime_api.h.
    """
    toolkit = os.path.dirname(os.path.dirname(_unwrap_script(os.path.realpath(nvcc_path))))
    try:
        with open(os.path.join(toolkit, "version.json"), encoding="utf-8") as f:
            doc = json.load(f)
        version = doc.get("cuda_nvcc", {}).get("version") or doc.get("cuda", {}).get("version")
        if version:
            return _major_minor(version)
    except (OSError, ValueError, AttributeError):
        pass
    # Each regular expression is compiled only when its file is there (re caches it then).
    text = _read.read_text("/", os.path.join(toolkit, "version.txt"))
    match = re.search(r"CUDA Version\s+(\d+\.\d+)", text) if text is not None else None
    if match:
        return match.group(1)
    for name in _read.list_dir("/", os.path.join(toolkit, "dist-info")) or []:
        if not name.startswith("nvidia_cuda_nvcc"):
            continue  # the toolkit's other wheels (cccl, crt, cupti, nvvm...)
        match = re.fullmatch(r"nvidia_cuda_nvcc(?:_cu\d+)?-(\d+\.\d+)[.\d]*\.dist-info", name)
        if match:
            return match.group(1)
    try:
        with open(os.path.join(toolkit, "include", "cuda_runtime_api.h"), "rb") as f:
            head = f.read(64 * 1024).decode("latin-1")  # the define sits ~5 KiB in (CUDA 13.0)
        match = re.search(r"#define\s+CUDART_VERSION\s+(\d+)", head)
        if match:
            return _cuda_int_version(int(match.group(1)))
    except OSError:
        pass
    return None


def _unwrap_script(path: str) -> str:
    """A tiny ``exec /usr/local/cuda-13.0/bin/nvcc "$@"`` wrapper -> the real nvcc."""
    try:
        if os.path.getsize(path) > 4096:
            return path
        with open(path, "rb") as f:
            text = f.read(4096).decode("utf-8", "replace")
    except OSError:
        return path
    if not text.startswith("#!"):
        return path
    match = re.search(r"(/[^\s\"']+/bin/nvcc)\b", text)
    return os.path.realpath(match.group(1)) if match and os.path.isfile(match.group(1)) else path


def _cuda_int_version(value: int) -> str:
    """CUDA encodes versions as 1000*major + 10*minor (cuda.h CUDA_VERSION): 13000 -> "13.0"."""
    return f"{value // 1000}.{(value % 1000) // 10}"


def nvcc_version_by_running(nvcc_path: str) -> Optional[str]:
    """Last resort (pip-installed nvcc has no version file): parse ``release 13.0``."""
    import subprocess  # only here: its import (~2 ms) is not worth paying on every run

    try:
        out = subprocess.run([nvcc_path, "--version"], capture_output=True, text=True,
                             timeout=_NVCC_TIMEOUT_S).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"release (\d+\.\d+)", out)
    return match.group(1) if match else None


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def loader_search_dirs(root: str, env: Mapping[str, str]) -> List[str]:
    """Directories in the order ld.so searches them (ld.so(8)), then CUDA's install dirs."""
    import glob  # here: importing it compiles a pattern, and no probe module compiles one at import

    dirs: List[str] = [d for d in env.get("LD_LIBRARY_PATH", "").split(":") if d]
    dirs += _ld_so_conf_dirs(root, "/etc/ld.so.conf", depth=0)
    dirs += list(_STANDARD_LIB_DIRS)
    for pattern in _CUDA_LIB_GLOBS:
        dirs += [p[len(root.rstrip("/")):] if root not in ("", "/") else p
                 for p in sorted(glob.glob(_read.at(root, pattern)))]
    seen, out = set(), []
    for d in dirs:
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out


def _ld_so_conf_dirs(root: str, path: str, depth: int) -> List[str]:
    import glob  # as in loader_search_dirs

    if depth > 4:  # include loops
        return []
    text = _read.read_text(root, path)
    if text is None:
        return []
    dirs: List[str] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("include"):
            pattern = line.split(None, 1)[1] if len(line.split(None, 1)) > 1 else ""
            if not pattern.startswith("/"):
                pattern = os.path.join(os.path.dirname(path), pattern)
            for inc in sorted(glob.glob(_read.at(root, pattern))):
                live = inc[len(root.rstrip("/")):] if root not in ("", "/") else inc
                dirs += _ld_so_conf_dirs(root, live, depth + 1)
        elif line.startswith("/"):
            dirs.append(line)
    return dirs


def find_library(root: str, dirs: List[str], patterns,
                 listings: Optional[Dict[object, List[str]]] = None) -> Optional[str]:
    """First match, in search order; the path is as on the live system (not inside root).

    ``listings`` caches one listdir per folder across calls (/usr/lib/x86_64-linux-gnu
    holds thousands of files), keyed by (device, inode); only names starting with "libcud" are kept.
    """
    listings = {} if listings is None else listings
    for d in dirs:
        names = _libcud_names(root, d, listings)
        for pattern in patterns:
            matches = _matching(names, pattern)
            if matches:
                found = _prefer_soname(matches) if "*" in pattern else matches[0]
                return os.path.join(d, found)
    return None


def _libcud_names(root: str, d: str, listings: Dict[object, List[str]]) -> List[str]:
    """The names starting with "libcud" in ``d``, listed once per folder: keyed by the folder's
    (device, inode), so the two names merged-/usr systems give one folder (/lib is a link to
    usr/lib on Debian 12, Ubuntu 20.04+, Fedora: /lib/x86_64-linux-gnu and
    /usr/lib/x86_64-linux-gnu, ~1000 files) cost one listing (~1 M instructions each, valgrind)."""
    try:
        st = os.stat(_read.at(root, d))
    except (OSError, ValueError):
        return []  # missing or unreachable: listdir would fail the same way
    key = (st.st_dev, st.st_ino)
    if key not in listings:
        listings[key] = [n for n in (_read.list_dir(root, d) or []) if n.startswith("libcud")]
    return listings[key]


def _matching(names: List[str], pattern: str) -> List[str]:
    """fnmatch.filter(names, pattern) without compiling a regular expression for the two shapes
    asked here: a plain name, and a name ending in one ``*`` (POSIX: fnmatch keeps case there)."""
    if os.name == "nt":
        return fnmatch.filter(names, pattern)  # Windows: fnmatch compares case-folded names
    if not any(c in pattern for c in "*?["):
        return [n for n in names if n == pattern]
    if pattern.endswith("*") and not any(c in pattern[:-1] for c in "*?["):
        return [n for n in names if n.startswith(pattern[:-1])]
    return fnmatch.filter(names, pattern)


def _prefer_soname(matches: List[str]) -> str:
    """libcudart.so.13 (the soname the loader opens) over libcudart.so.13.0.96 and the bare
    development symlink libcudart.so."""
    def rank(path: str):
        suffix = os.path.basename(path).split(".so", 1)[1]  # "", ".13", ".13.0.96"
        return (0 if suffix.count(".") == 1 else 1 if suffix else 2, path)
    return sorted(matches, key=rank)[0]


# Compiled on first use (re's cache): only a host with the NVIDIA kernel module has the file.
_DRIVER_RE = r"Kernel Module(?:\s+for\s+\S+)?\s+(\d+\.\d+(?:\.\d+)?)"


def driver_version_from_proc(root: str = "/") -> Optional[str]:
    """``580.159.04`` from /proc/driver/nvidia/version (the kernel module, no NVML needed)."""
    text = _read.read_text(root, "/proc/driver/nvidia/version")
    return None if text is None else driver_version_in(text)


def driver_version_in(text: str) -> Optional[str]:
    """The kernel module's version in the text of /proc/driver/nvidia/version."""
    match = re.search(_DRIVER_RE, text)
    return match.group(1) if match else None
