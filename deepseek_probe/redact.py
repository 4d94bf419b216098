"""Remove what identifies a machine or a person from anything we render: on by default.

Support tickets are shared widely; a GPU serial or UUID identifies a specific board in a
specific datacentre, a hostname names the host, /home/<user>/ names a person. Two layers:

1. `redact_snapshot()` rewrites the snapshot's own fields before any renderer sees them;
2. `redact_text()` is a final pass over the rendered text: every secret string collected from
   the snapshot (`secrets_of()`), plus pattern matches (NVIDIA GPU-/MIG- UUIDs, any RFC 4122
   UUID, user names in home paths), in case a value slipped into a message.

`--no-redact` (the CLI) skips both.
"""

from __future__ import annotations

import copy
import re
from typing import Iterable, List, Optional

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


def _redact_path(path: Optional[str]) -> Optional[str]:
    if path is None:
        return None
    return _HOME_RE.sub(lambda m: m.group("prefix") + REDACTED_USER, path)


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


def _users_in_paths(snapshot: Snapshot) -> List[str]:
    users = []
    for path in (snapshot.disk.path, snapshot.cuda.libcuda_path, snapshot.cuda.libcudart_path):
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
    if red.system.hostname:
        red.system.hostname = REDACTED_HOST
    red.disk.path = _redact_path(red.disk.path)
    red.cuda.libcuda_path = _redact_path(red.cuda.libcuda_path)
    red.cuda.libcudart_path = _redact_path(red.cuda.libcudart_path)
    if red.cuda.cuda_visible_devices:
        red.cuda.cuda_visible_devices = _NV_UUID_PREFIX_RE.sub(
            lambda m: m.group(1) + "-<uuid>", red.cuda.cuda_visible_devices)
    return red


_JSON_WORDS = {"true", "false", "null", "infinity", "nan"}


def redact_text(text: str, secrets: Iterable[str] = (), users: Iterable[str] = ()) -> str:
    """Final safety pass over rendered output.

    `secrets` are exact strings (serials, UUIDs, hostnames) replaced where they stand as a
    whole token. Very short secrets are skipped (a 2-letter hostname such as "vm" would shred
    the text; the snapshot fields themselves are already redacted): fewer than 6 characters
    for all-digit strings (serials are 13 digits on H100/H200, census-*.json; a 4-digit one
    would hit context sizes), fewer than 5 otherwise.
    `users` are user names replaced only inside home paths (a user called "gpu" must not
    erase the word GPU).
    """
    # Longest first, so a full hostname goes before its short form. A "serial" or "hostname"
    # that is a JSON literal (a machine named "false") would break every JSON report if replaced.
    keep = {s for s in secrets if s and len(s) >= (6 if s.isdigit() else 5) and s.lower() not in _JSON_WORDS}
    for s in sorted(keep, key=len, reverse=True):
        placeholder = "<redacted>"
        if _NV_UUID_RE.fullmatch(s):
            placeholder = s.split("-", 1)[0] + "-<uuid>"
        text = re.sub(r"(?<![\w-])" + re.escape(s) + r"(?![\w-])", placeholder, text)
    text = _NV_UUID_RE.sub(lambda m: m.group(1) + "-<uuid>", text)
    text = _UUID_RE.sub("<uuid>", text)
    text = _HOME_RE.sub(lambda m: m.group("prefix") + REDACTED_USER, text)
    for u in {u for u in users if u}:
        text = re.sub(r"(/home/|/Users/)" + re.escape(u) + r"(?=[/\\\s\"']|$)", r"\1" + REDACTED_USER, text)
    return text


def redact_for(snapshot: Snapshot):
    """A text-redacting function bound to this snapshot's secrets (what renderers call last)."""
    secrets = secrets_of(snapshot)
    users = _users_in_paths(snapshot)
    return lambda text: redact_text(text, secrets, users)
