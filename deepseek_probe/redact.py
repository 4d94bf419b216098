"""Remove what identifies a machine or a person from anything we render: on by default.

Support tickets are shared widely; a GPU serial or UUID identifies a specific board in a
specific datacentre, a hostname names the host, /home/<user>/ names a person. Two layers:

1. `redact_snapshot()` rewrites the snapshot's own fields before any renderer sees them;
2. `redact_text()` is a final pass over the rendered text: every secret string collected from
   the snapshot (`secrets_of()`), plus pattern matches (NVIDIA GPU-/MIG- UUIDs, any RFC 4122
   UUID, user names in home paths), in case a value slipped into a message.

People are redacted by identity, not by folder (issue 24): the user who ran the probe, their
home, the names in SUDO_USER / LOGNAME / USER (all recorded in `snapshot.system`) and the host
name are replaced wherever they stand as a path component (`/data/<user>/models`,
`/<user>/.cache` for root); a user name also as a whole word in free text when that is safe
(`_word_safe`: long enough and not a word a report uses anyway).

`--no-redact` (the CLI) skips both.
"""

from __future__ import annotations

import copy
import re
from typing import Iterable, List, Optional, Tuple

from deepseek_probe.snapshot import Snapshot

# NVIDIA UUIDs look like GPU-b86c4a8a-ba6b-4224-0034-830e91b68b81 (census-h100.json) or
# MIG-<uuid>; their hex groups are not always RFC 4122 valid, so match the shape only.
_HEX_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_NV_UUID_RE = re.compile(r"\b(GPU|MIG)-" + _HEX_UUID + r"(?:/\d+/\d+)?")
_UUID_RE = re.compile(r"\b" + _HEX_UUID + r"\b")
# CUDA_VISIBLE_DEVICES also takes any unique UUID prefix (`GPU-2678d70c`): still one board.
_NV_UUID_PREFIX_RE = re.compile(r"\b(GPU|MIG)-[0-9a-fA-F][0-9a-fA-F-]*(?:/\d+/\d+)?")
# /home/<user>/..., /Users/<user>/... (macOS), C:\Users\<user>\ ; /root names no person.
_HOME_RE = re.compile(r"(?P<prefix>/home/|/Users/|[A-Za-z]:\\Users\\)(?P<user>[^/\\\s\"'`<>|]+)")

REDACTED_USER = "<user>"
REDACTED_HOST = "<hostname>"


def _serial_placeholder(i: int) -> str:
    return f"<serial-{i}>"


def _uuid_placeholder(i: int, prefix: str = "GPU") -> str:
    return f"{prefix}-<uuid-{i}>"


REDACTED_HOME = "<home>"
# What may follow a path component: a separator, or whatever ends a path in a report.
_COMPONENT_END = r"(?=[/\\\s\"'`<>|,;:)\]}]|$)"
# User names never replaced as free-text words: common words and system accounts a report
# prints for other reasons ("run as root", "Ubuntu", "the NVIDIA driver").
_COMMON_NAMES = frozenset((
    "root", "user", "users", "admin", "administrator", "guest", "test", "ubuntu", "debian", "centos",
    "fedora", "rocky", "nvidia", "cuda", "model", "models", "data", "home", "docker", "runner",
    "ollama", "vllm", "llama", "sglang", "deepseek", "service", "default", "system", "python", "gpu"))


def _word_safe(name: str) -> bool:
    """A user name that can be replaced as a whole word in free text without shredding it."""
    return len(name) >= 5 and not name.isdigit() and name.lower() not in _COMMON_NAMES


def identity_of(snapshot: Snapshot) -> Tuple[List[str], List[str]]:
    """(user names, home folders) the snapshot says belong to whoever ran the probe, plus the
    user names seen in its home paths (/home/<user>, older snapshots)."""
    sysinfo = snapshot.system
    names = [n for n in [sysinfo.user] + list(sysinfo.login_names or []) if n]
    names += [u for u in _users_in_paths(snapshot) if u not in names]
    homes = [sysinfo.home] if sysinfo.home and sysinfo.home.strip("/\\") else []
    return names, homes


def _redact_identity(text: str, users: Iterable[str], homes: Iterable[str] = (),
                     hosts: Iterable[str] = ()) -> str:
    """Home folders (whose last component is no user name) -> <home>; user and host names as
    path components -> <user> / <hostname>; safe user names as whole words -> <user>."""
    # A name absent from the text cannot match: skipping it skips compiling its pattern (the
    # common case: a report that names no path of its user).
    users = sorted({u for u in users if u and u not in (".", "..") and u in text}, key=len, reverse=True)
    # One alternation per kind, longest first (a fleet report may carry many nodes' names).
    homes = [h for h in sorted({h.rstrip("/\\") for h in homes if h}, key=len, reverse=True)
             if h and h in text and h.replace("\\", "/").split("/")[-1] not in users]
    if homes:
        text = re.sub(_any(homes) + _COMPONENT_END, REDACTED_HOME, text)
    for placeholder, names in ((REDACTED_USER, users), (REDACTED_HOST, [h for h in hosts if h and h in text])):
        if names:
            text = re.sub(r"(?<=[/\\])" + _any(names) + _COMPONENT_END, placeholder, text)
    words = [u for u in users if _word_safe(u)]
    if words:  # not a JSON key ("alice": …): the report's own structure stays
        text = re.sub(r"(?<![\w<-])" + _any(words) + r"(?![\w>-]|\":)", REDACTED_USER, text)
    return text


def _any(names: List[str]) -> str:
    return "(?:" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) + ")"


def _redact_path(path: Optional[str], users: Iterable[str] = (), homes: Iterable[str] = (),
                 hosts: Iterable[str] = ()) -> Optional[str]:
    if path is None:
        return None
    path = _HOME_RE.sub(lambda m: m.group("prefix") + REDACTED_USER, path)
    return _redact_identity(path, users, homes, hosts)


def _host_names(snapshot: Snapshot) -> List[str]:
    host = snapshot.system.hostname
    return [host, host.split(".")[0]] if host else []


def secrets_of(snapshot: Snapshot) -> List[str]:
    """Exact strings from the snapshot that must never appear in a redacted report."""
    found: List[str] = []
    for g in snapshot.gpus:
        for value in (g.serial, g.uuid):
            if value:
                found.append(value)
    for entry in (snapshot.cuda.cuda_visible_devices or "").split(","):
        if _NV_UUID_PREFIX_RE.fullmatch(entry.strip()):
            found.append(entry.strip())
    host = snapshot.system.hostname
    if host:
        found.append(host)
        short = host.split(".")[0]
        if short != host:
            found.append(short)
    return found


def _installed_paths(snapshot: Snapshot) -> List[str]:
    """Every path the installed-runtimes record holds (interpreters, prefixes, programs)."""
    info = snapshot.installed
    if info is None:
        return []
    paths = [p.path for p in info.programs]
    for env in info.pythons:
        paths += [env.interpreter, env.prefix or ""] + list(env.site_packages)
    return paths


def _users_in_paths(snapshot: Snapshot) -> List[str]:
    users = []
    for path in (snapshot.disk.path, snapshot.cuda.libcuda_path, snapshot.cuda.libcudart_path,
                 *_installed_paths(snapshot)):
        for m in _HOME_RE.finditer(path or ""):
            users.append(m.group("user"))
    return users


def redact_snapshot(snapshot: Snapshot) -> Snapshot:
    """A copy with serials, UUIDs, hostname and home-directory user names replaced."""
    red = copy.deepcopy(snapshot)
    for i, g in enumerate(red.gpus):
        if g.serial:
            g.serial = _serial_placeholder(i)
        if g.uuid:
            prefix = "MIG" if g.uuid.startswith("MIG-") else "GPU"
            g.uuid = _uuid_placeholder(i, prefix)
    users, homes = identity_of(snapshot)
    hosts = _host_names(snapshot)
    if red.system.hostname:
        red.system.hostname = REDACTED_HOST
    if red.system.user:
        red.system.user = REDACTED_USER
    if red.system.home:
        red.system.home = _redact_path(red.system.home, users, homes)
    if red.system.login_names:
        red.system.login_names = [REDACTED_USER for _ in red.system.login_names]
    red.disk.path = _redact_path(red.disk.path, users, homes, hosts)
    red.cuda.libcuda_path = _redact_path(red.cuda.libcuda_path, users, homes, hosts)
    red.cuda.libcudart_path = _redact_path(red.cuda.libcudart_path, users, homes, hosts)
    red.checkpoints.roots = [_redact_path(r, users, homes, hosts) or r for r in red.checkpoints.roots]
    for c in red.checkpoints.found:
        c.path = _redact_path(c.path, users, homes, hosts)
    if red.installed is not None:  # interpreters, venvs and programs may sit under a home folder
        for env in red.installed.pythons:
            env.interpreter = _redact_path(env.interpreter, users, homes, hosts) or env.interpreter
            env.prefix = _redact_path(env.prefix, users, homes, hosts)
            env.site_packages = [_redact_path(p, users, homes, hosts) or p for p in env.site_packages]
        for program in red.installed.programs:
            program.path = _redact_path(program.path, users, homes, hosts) or program.path
    if red.cuda.cuda_visible_devices:
        red.cuda.cuda_visible_devices = _NV_UUID_PREFIX_RE.sub(
            lambda m: m.group(1) + "-<uuid>", red.cuda.cuda_visible_devices)
    return red


_JSON_WORDS = {"true", "false", "null", "infinity", "nan"}


def redact_text(text: str, secrets: Iterable[str] = (), users: Iterable[str] = (),
                homes: Iterable[str] = (), hosts: Iterable[str] = ()) -> str:
    """Final safety pass over rendered output.

    `secrets` are exact strings (serials, UUIDs, hostnames) replaced where they stand as a
    whole token. Very short secrets are skipped (a 2-letter hostname such as "vm" would shred
    the text; the snapshot fields themselves are already redacted): fewer than 6 characters
    for all-digit strings (serials are 13 digits on H100/H200, census-*.json; a 4-digit one
    would hit context sizes), fewer than 5 otherwise.
    `users` are user names replaced inside home paths, as any path component, and as whole
    words when `_word_safe` (a user called "gpu" must not erase the word GPU); `homes` are home
    folders and `hosts` host names replaced where they stand as a path component.
    """
    # Longest first, so a full hostname goes before its short form. A "serial" or "hostname"
    # that is a JSON literal (a machine named "false") would break every JSON report if replaced.
    keep = {s for s in secrets if s and len(s) >= (6 if s.isdigit() else 5) and s.lower() not in _JSON_WORDS}
    for s in sorted(keep, key=len, reverse=True):
        if s not in text:  # cannot match: no pattern to compile
            continue
        placeholder = "<redacted>"
        if _NV_UUID_RE.fullmatch(s):
            placeholder = s.split("-", 1)[0] + "-<uuid>"
        text = re.sub(r"(?<![\w-])" + re.escape(s) + r"(?![\w-])", placeholder, text)
    if "GPU-" in text or "MIG-" in text:  # the literal prefix the pattern needs
        text = _NV_UUID_RE.sub(lambda m: m.group(1) + "-<uuid>", text)
    text = _UUID_RE.sub("<uuid>", text)
    text = _HOME_RE.sub(lambda m: m.group("prefix") + REDACTED_USER, text)
    for u in {u for u in users if u and u in text}:
        text = re.sub(r"(/home/|/Users/)" + re.escape(u) + r"(?=[/\\\s\"']|$)", r"\1" + REDACTED_USER, text)
    return _redact_identity(text, users, homes, hosts)


def redact_for(snapshot: Snapshot):
    """A text-redacting function bound to this snapshot's secrets (what renderers call last)."""
    secrets = secrets_of(snapshot)
    users, homes = identity_of(snapshot)
    hosts = _host_names(snapshot)
    return lambda text: redact_text(text, secrets, users, homes, hosts)
