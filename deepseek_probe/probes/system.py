"""OS, kernel, Python, host name, container runtime, WSL2."""

from __future__ import annotations

import os
import sys
from typing import List, Mapping, Optional, Tuple

from deepseek_probe.probes import _read
from deepseek_probe.snapshot import SystemInfo


def probe_system(root: str = "/", environ: Optional[Mapping[str, str]] = None) -> SystemInfo:
    env = os.environ if environ is None else environ
    live = root in ("", "/")
    # sys.version's first word is platform.python_version() for CPython ("3.11.7", "3.13.0rc1"),
    # without platform._sys_version's three regular expressions (~1 ms to compile)
    info = SystemInfo(python_version=sys.version.split()[0])
    if live:
        uname = os.uname() if hasattr(os, "uname") else None
        info.os_name, info.kernel, info.arch = os_kernel_arch(uname)
        try:
            # gethostname(2) is uname's nodename on Linux; no socket import (~2 ms) needed.
            info.hostname = (uname.nodename if uname else _socket_hostname()) or None
        except OSError as e:
            info.unavailable["hostname"] = _read.error_reason(e)
    else:
        # A recorded tree: the kernel's own files say what uname would.
        info.os_name = _read.read_first_line(root, "/proc/sys/kernel/ostype")
        info.kernel = _read.read_first_line(root, "/proc/sys/kernel/osrelease")
        info.hostname = _read.read_first_line(root, "/proc/sys/kernel/hostname")
        info.arch = None
        info.unavailable["arch"] = "not_recorded"

    if live:
        info.user, info.home, info.login_names = identity(env)
    info.os_release = os_release_name(root)
    if info.os_release is None:
        info.unavailable["os_release"] = "not_found"
    info.container = container_kind(root, env)
    info.wsl = is_wsl(root, env, info.kernel)
    for name in ("os_name", "kernel", "hostname"):
        if getattr(info, name) is None:
            info.unavailable.setdefault(name, "not_found")
    return info


def os_kernel_arch(uname: Optional[os.uname_result]) -> Tuple[Optional[str], Optional[str], Optional[str]]:
    """platform.system(), .release() and .machine(). On Linux and macOS these are the fields of
    os.uname() as they are (CPython Lib/platform.py uname(); it renames only Windows, OpenVMS and
    the mobile systems): read there, without importing platform (~8M instructions, valgrind)."""
    if uname is not None and sys.platform in ("linux", "darwin"):
        return uname.sysname or None, uname.release or None, uname.machine or None
    import platform

    return platform.system() or None, (uname.release if uname else platform.release()) or None, \
        platform.machine() or None


def identity(env: Mapping[str, str]) -> Tuple[Optional[str], Optional[str], Optional[List[str]]]:
    """(user name, home folder, other login names) of whoever runs the probe: what redaction
    removes from reports. The name and home come from the password database (pwd), else USER /
    HOME; SUDO_USER, LOGNAME and USER add the names of whoever is behind sudo or su."""
    user = home = None
    try:
        import pwd  # POSIX only

        entry = pwd.getpwuid(os.geteuid())
        user, home = entry.pw_name or None, entry.pw_dir or None
    except (ImportError, KeyError, OSError, AttributeError):
        user = env.get("USER") or env.get("USERNAME") or None
        home = env.get("HOME") or env.get("USERPROFILE") or None  # USERPROFILE: Windows
    others = []
    for var in ("SUDO_USER", "LOGNAME", "USER", "USERNAME"):
        name = env.get(var)
        if name and name != user and name not in others:
            others.append(name)
    return user, home, others or None


def os_release_name(root: str) -> Optional[str]:
    """PRETTY_NAME from /etc/os-release (or /usr/lib/os-release, os-release(5))."""
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        text = _read.read_text(root, path)
        if text is None:
            continue
        fields = {}
        for line in text.splitlines():
            key, found, value = line.partition("=")
            if found:
                fields[key.strip()] = value.strip().strip('"').strip("'")
        name = fields.get("PRETTY_NAME") or " ".join(
            v for v in (fields.get("NAME"), fields.get("VERSION")) if v)
        return name or None
    return None


# Markers each runtime leaves (docker: /.dockerenv; podman: /run/.containerenv, containers-
# common docs; kubernetes: the service-account mount and KUBERNETES_SERVICE_HOST, set in every
# pod; systemd-nspawn/lxc: the "container" environment variable of PID 1, systemd's
# CONTAINER_INTERFACE spec).
_CGROUP_HINTS = (("kubepods", "kubernetes"), ("docker", "docker"), ("libpod", "podman"),
                 ("containerd", "container"), ("lxc", "lxc"), ("crio", "kubernetes"))


def container_kind(root: str, env: Mapping[str, str]) -> Optional[str]:
    if env.get("KUBERNETES_SERVICE_HOST") or _read.exists(root, "/var/run/secrets/kubernetes.io"):
        return "kubernetes"
    if _read.exists(root, "/run/.containerenv"):
        return "podman"
    if _read.exists(root, "/.dockerenv"):
        return "docker"
    for path in ("/proc/1/cgroup", "/proc/self/cgroup"):
        text = _read.read_text(root, path) or ""
        for hint, kind in _CGROUP_HINTS:
            if hint in text:
                return kind
    pid1_env = _read.read_text(root, "/proc/1/environ")
    if pid1_env:
        for item in pid1_env.split("\0"):
            if item.startswith("container="):
                return item.partition("=")[2] or "container"
    if env.get("container"):
        return env["container"]
    return None


def is_wsl(root: str, env: Mapping[str, str], kernel: Optional[str]) -> bool:
    """WSL kernels carry "microsoft" in their release (5.15.167.4-microsoft-standard-WSL2)."""
    if env.get("WSL_DISTRO_NAME") or env.get("WSL_INTEROP"):
        return True
    release = _read.read_first_line(root, "/proc/sys/kernel/osrelease") or kernel or ""
    return "microsoft" in release.lower()


def _socket_hostname() -> str:
    import socket  # platforms without os.uname (Windows)

    return socket.gethostname()
