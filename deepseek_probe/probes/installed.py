"""The inference runtimes installed here (issue 23): Python distributions and programs on PATH.

Reads only: the packages are never imported, and nothing is run on the default path (`X --version`
runs only with --probe-versions, probes/installed_lookup.py).

Python distributions. `import importlib.metadata` costs ~38 ms (`python -X importtime`, Python
3.11: it pulls email, zipfile, pathlib...), more than `check`'s start-up can pay, so
`find_distributions` does the lookup its MetadataPathFinder does (CPython
Lib/importlib/metadata/__init__.py, 3.10-3.13: FastPath.children, Lookup, Prepared.normalize,
Distribution.metadata):
- each path entry is listed in order (sys.path for this interpreter); a child whose lower-cased
  name ends in ".dist-info" or ".egg-info" names the distribution before its first "-",
  normalized as Prepared.normalize does (PEP 503: runs of "-_." -> "-", lower case; then
  "-" -> "_"); a "*.egg" entry's own "EGG-INFO" folder counts under the egg's name;
- the first match over the entries wins (Distribution.from_name takes discover()'s first);
- its version is the `Version:` header of METADATA, else PKG-INFO, else the egg-info file itself;
  the folder name's version only when there is no such header. Zip entries (python311.zip) hold
  no distributions of ours and are skipped.
tests/test_installed.py compares the answer with importlib.metadata.version().

Another interpreter (a launch command's `/venv/bin/python -m ...`, the `vllm` script's #! line)
is never run: its site-packages are found the way site.py lays them out for it (pyvenv.cfg, PEP
405; lib/pythonX.Y/site-packages; Debian's dist-packages; the user site before them).
"""

from __future__ import annotations

import os
import re
import stat
import sys
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from deepseek_probe.files import FileKindError, read_regular
from deepseek_probe.snapshot import InstalledInfo, InstalledProgram, PythonEnv

# The distributions whose versions matter to a memory estimate (issue 23), as PyPI names them.
DISTRIBUTIONS = ("vllm", "sglang", "transformers", "torch", "flash-attn", "llama-cpp-python",
                 "bitsandbytes", "peft")
# Runtime programs looked for on PATH.
PROGRAMS = ("llama-server", "ollama", "lms")
# Console scripts of Python runtimes: their #! line names the interpreter (and so the
# site-packages) they run in.
SCRIPTS = ("vllm", "sglang")
# A #! line is short: Linux reads at most 256 bytes of it (BINPRM_BUF_SIZE, include/uapi/linux/binfmts.h).
SHEBANG_BYTES = 256
# METADATA's headers come first (core metadata spec); Version is among the first lines.
_METADATA_BYTES = 64 * 1024
# The regular expressions below are compiled on first use (re's cache): the snapshot's default
# path (this interpreter, the programs on PATH) needs none of them.
_PYTHON_NAME = r"python(\d+(\.\d+)?)?(\.exe)?"  # case-insensitive
_XY = r"python(\d+\.\d+)$"
# pip (distlib ScriptMaker._build_shebang) writes a /bin/sh launcher when the interpreter's path
# is too long for a #! line or has spaces: `#!/bin/sh` then `'''exec' "/path/python" "$0" "$@"`.
_SH_EXEC = rb"'''exec' +\"?([^\"\n]+?)\"? +\"\$0\""


def is_python_name(name: str) -> bool:
    """``python``, ``python3``, ``python3.11``, ``python.exe`` (any case): an interpreter's file name."""
    return re.fullmatch(_PYTHON_NAME, name, re.IGNORECASE) is not None


def normalize(name: str) -> str:
    """importlib.metadata's Prepared.normalize: PEP 503 (runs of "-_." -> "-", lower case), then
    dashes as underscores, i.e. ``re.sub(r"[-_.]+", "-", name).lower().replace("-", "_")`` with
    str methods: it runs on every candidate listed, and the regular expression cost ~1 M
    instructions a snapshot (valgrind, issue 24). Lower-casing first changes nothing: no
    character lower-cases to or from "-", "_" or "."."""
    low = name.lower().replace("-", "_").replace(".", "_")
    while "__" in low:
        low = low.replace("__", "_")
    return low


def _children(entry: str) -> List[str]:
    # os.listdir, not scandir: the same names in the same (readdir) order, without a DirEntry
    # each (half the instructions over this interpreter's ~500 sys.path entries, valgrind)
    try:
        return os.listdir(entry or ".")
    except (OSError, ValueError):  # missing, not a folder (a zip), unreadable, a NUL byte
        return []


def find_distributions(entries: Sequence[str], names: Sequence[str] = DISTRIBUTIONS) -> Dict[str, str]:
    """name -> version of each of `names` installed on the path `entries`, as
    importlib.metadata.version(name) would answer on that path (see the module doc)."""
    wanted = {normalize(n): n for n in names}
    legacy = {n.lower().replace("-", "_"): n for n in names}  # Prepared.legacy_normalize
    # Normalizing keeps a name's first letter (lower-cased), so a listing of hundreds of
    # distributions is filtered on it before the regular expression runs.
    initials = tuple({k[0] for k in wanted} | {k[0] for k in legacy})
    found: Dict[str, str] = {}
    for entry in entries:
        if len(found) == len(wanted):
            break
        base = os.path.basename(entry).lower()
        egg = base.endswith(".egg")
        hits: Dict[str, List[str]] = {}
        for child in _children(entry):
            low = child.lower()
            if not egg and not low.startswith(initials):
                continue
            if low.endswith((".dist-info", ".egg-info")):
                name = wanted.get(normalize(low.rpartition(".")[0].partition("-")[0]))
            elif egg and low == "egg-info":
                name = legacy.get(base.rpartition(".")[0].partition("-")[0].replace("-", "_"))
            else:
                continue
            if name is not None and name not in found:
                hits.setdefault(name, []).append(child)
        for name, children in hits.items():
            for child in children:  # the first with a readable version (listing order)
                version = _version(os.path.join(entry or ".", child), child)
                if version:
                    found[name] = version
                    break
    return {n: found[n] for n in names if n in found}


def _version(path: str, child: str) -> Optional[str]:
    """METADATA's (or PKG-INFO's, or an egg-info file's) Version header; else the folder name's."""
    for candidate in (os.path.join(path, "METADATA"), os.path.join(path, "PKG-INFO"), path):
        try:
            head = read_regular(candidate, _METADATA_BYTES)
        except (FileKindError, OSError):
            continue
        for line in head.decode("utf-8", "replace").splitlines():
            if not line.strip():
                break  # the end of the headers
            key, _, value = line.partition(":")
            if key.strip().lower() == "version" and value.strip():
                return value.strip()
    # "vllm-0.8.4.dist-info", "foo-1.0-py3.11.egg-info"
    return child.rpartition(".")[0].partition("-")[2].partition("-")[0] or None


# -- programs on PATH ------------------------------------------------------------------------
def which(name: str, path_env: Optional[str]) -> Optional[str]:
    """The first regular, executable file `name` on PATH (shutil.which without its imports; empty
    PATH entries, which would mean the current folder, are skipped). A FIFO or device is never
    taken, so nothing later opens one."""
    suffixes = ("", ".exe") if os.name == "nt" else ("",)
    for folder in (path_env or "").split(os.pathsep):
        if not folder:
            continue
        for suffix in suffixes:
            candidate = os.path.join(folder, name + suffix)
            if _executable(candidate):
                return candidate
    return None


def _executable(path: str) -> bool:
    # access() first: most PATH folders lack the name, and its False costs no exception where a
    # failed stat() raises one (~0.5 M instructions over the snapshot's ~80 lookups, valgrind)
    try:
        if not os.access(path, os.X_OK):
            return False
        st = os.stat(path)
    except (OSError, ValueError):
        return False
    return stat.S_ISREG(st.st_mode)


def script_interpreter(path: str, path_env: Optional[str]) -> Tuple[Optional[str], Optional[str]]:
    """(the interpreter a script's #! line runs, None) or (None, why not). Reads the first
    SHEBANG_BYTES bytes of a regular file only (files.read_regular refuses FIFOs and devices)."""
    try:
        head = read_regular(path, SHEBANG_BYTES)
    except (FileKindError, OSError) as e:
        return None, getattr(e, "reason", None) or str(e)
    if not head.startswith(b"#!"):
        return None, "no #! line (a compiled launcher): its Python is not named"
    words = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").split()
    if not words:
        return None, "an empty #! line"
    if os.path.basename(words[0]) == "env":  # #!/usr/bin/env [-S] python3
        rest = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        if not rest:
            return None, "#!/usr/bin/env names no program"
        found = which(rest[0], path_env) if os.sep not in rest[0] else rest[0]
        if found is None:
            return None, f"#!/usr/bin/env {rest[0]}: {rest[0]} is not on PATH"
        words = [found]
    if os.path.basename(words[0]) in ("sh", "bash"):
        m = re.search(_SH_EXEC, head)
        if m is None:
            return None, "a shell script (a pyenv shim?): its Python is not named"
        return m.group(1).decode("utf-8", "replace"), None
    if not is_python_name(os.path.basename(words[0])):
        return None, f"its #! line runs {os.path.basename(words[0])}, not Python"
    return words[0], None


# -- another interpreter's site-packages, without running it --------------------------------
def _config(path: str) -> Dict[str, str]:
    """pyvenv.cfg as key -> value (PEP 405: `key = value` lines)."""
    try:
        text = read_regular(path, 16 * 1024).decode("utf-8", "replace")
    except (FileKindError, OSError):
        return {}
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip().lower()] = value.strip()
    return out


def _major_minor(interpreter: str, cfg: Mapping[str, str], prefix: str) -> List[str]:
    """The X.Y whose lib/pythonX.Y the interpreter reads: its name, pyvenv.cfg's version, the file
    its symlink names; else every lib/python3.* under the prefix (newest first)."""
    for name in (os.path.basename(interpreter), os.path.basename(os.path.realpath(interpreter))):
        m = re.match(_XY, name)
        if m:
            return [m.group(1)]
    m = re.match(r"(\d+\.\d+)", cfg.get("version_info") or cfg.get("version") or "")
    if m:
        return [m.group(1)]
    found = [n[len("python"):] for n in _children(os.path.join(prefix, "lib")) if re.fullmatch(r"python3\.\d+", n)]
    return sorted(found, key=lambda v: int(v.split(".")[1]), reverse=True)


def _site_dirs(prefix: str, xys: Sequence[str]) -> List[str]:
    """site.getsitepackages(prefixes=[prefix]) for each X.Y, plus Debian's dist-packages and lib64."""
    if os.name == "nt":
        return [prefix, os.path.join(prefix, "Lib", "site-packages")]
    out = []
    for xy in xys:
        out += [os.path.join(prefix, lib, f"python{xy}", "site-packages") for lib in ("lib", "lib64")]
        out += [os.path.join(prefix, "local", "lib", f"python{xy}", "dist-packages"),
                os.path.join(prefix, "lib", f"python{xy}", "dist-packages")]
    out.append(os.path.join(prefix, "lib", "python3", "dist-packages"))
    return out


def locate(interpreter: str, env: Mapping[str, str]) -> Tuple[Optional[str], Optional[str], Dict[str, str], str]:
    """(the interpreter's file, its environment's prefix, its pyvenv.cfg, why not) for a path or a
    name on PATH; prefix None when it is not found or is a script (a pyenv shim)."""
    path = interpreter if (os.sep in interpreter or (os.altsep and os.altsep in interpreter)) \
        else which(interpreter, env.get("PATH"))
    if path is None or not _executable(path):
        return None, None, {}, "not_found"
    try:
        head = read_regular(path, 2)
    except (FileKindError, OSError) as e:
        return path, None, {}, f"error: {getattr(e, 'reason', None) or e}"[:120]
    if head == b"#!":
        return path, None, {}, "a script, not an interpreter (a pyenv shim?): its Python is not named"
    folder = os.path.dirname(os.path.abspath(path))
    # PEP 405: pyvenv.cfg beside the executable or one folder up marks a virtual environment.
    for cfg_path in (os.path.join(folder, "pyvenv.cfg"), os.path.join(os.path.dirname(folder), "pyvenv.cfg")):
        if os.path.isfile(cfg_path):
            cfg = _config(cfg_path)
            cfg["pyvenv.cfg"] = cfg_path
            return path, os.path.dirname(cfg_path), cfg, ""
    return path, folder if os.name == "nt" else os.path.dirname(folder), {}, ""  # <prefix>/bin/python3


def python_env(interpreter: str, found_by: str, env: Mapping[str, str],
               located: Optional[Tuple[Optional[str], Optional[str], Dict[str, str], str]] = None) -> PythonEnv:
    """The distributions installed for `interpreter` (a path, or a name looked up on PATH), found
    from its files: never run."""
    record = PythonEnv(interpreter=interpreter, found_by=found_by)
    path, prefix, cfg, why = located or locate(interpreter, env)
    if path is None or prefix is None:
        record.unavailable["packages"] = why
        return record
    record.prefix = prefix
    venv = "pyvenv.cfg" in cfg
    xys = _major_minor(path, cfg, prefix)
    dirs: List[str] = []
    if not venv:  # site.py puts the user site before the prefix's (ENABLE_USER_SITE)
        base = env.get("PYTHONUSERBASE") or (os.path.join(env["HOME"], ".local") if env.get("HOME") else None)
        if base and os.name != "nt":
            dirs += [os.path.join(base, "lib", f"python{xy}", "site-packages") for xy in xys]
    dirs += _site_dirs(prefix, xys)
    if venv and cfg.get("include-system-site-packages", "").lower() == "true" and cfg.get("home"):
        home = cfg["home"]  # the base interpreter's folder
        dirs += _site_dirs(home if os.name == "nt" else os.path.dirname(home), xys)
    record.site_packages = [d for d in dirs if os.path.isdir(d)]
    if not record.site_packages:
        record.unavailable["packages"] = "no site-packages folder found"
    record.packages = find_distributions(record.site_packages)
    return record


def this_interpreter(sys_path: Optional[Sequence[str]] = None, executable: Optional[str] = None,
                     prefix: Optional[str] = None) -> PythonEnv:
    """The interpreter running deepseek-probe: its own sys.path, exactly as importlib reads it."""
    entries = list(sys.path if sys_path is None else sys_path)
    record = PythonEnv(interpreter=executable if executable is not None else (sys.executable or "python"),
                       found_by="this interpreter", prefix=prefix if prefix is not None else sys.prefix)
    record.site_packages = [e for e in entries if os.path.basename(e) in ("site-packages", "dist-packages")]
    record.packages = find_distributions(entries)
    return record


def probe_installed(env: Optional[Mapping[str, str]] = None, sys_path: Optional[Sequence[str]] = None,
                    executable: Optional[str] = None) -> InstalledInfo:
    """This interpreter's distributions, the runtime programs and scripts on PATH, and the
    interpreters those scripts (and python3 on PATH) name. No subprocess: see
    installed_lookup.probe_versions for the opt-in `X --version`."""
    env = os.environ if env is None else env
    info = InstalledInfo()
    here = this_interpreter(sys_path, executable)
    info.pythons.append(here)
    path_env = env.get("PATH")
    for name in PROGRAMS + SCRIPTS:
        found = which(name, path_env)
        if found is not None:
            info.programs.append(InstalledProgram(name=name, path=found))
    seen = {_same(here.prefix): here}
    candidates: List[Tuple[str, str, Optional[InstalledProgram]]] = []
    for program in info.programs:
        if program.name in SCRIPTS:
            interpreter, why = script_interpreter(program.path, path_env)
            if interpreter is None:
                program.unavailable["interpreter"] = why or "unknown"
            else:
                candidates.append((interpreter, f"{program.name} on PATH", program))
    python3 = which("python3", path_env)
    if python3 is not None:
        candidates.append((python3, "python3 on PATH", None))
    for interpreter, found_by, script in candidates:
        located = locate(interpreter, env)
        if script is None and located[1] is None:
            continue  # python3 on PATH is a pyenv shim, or unreadable: nothing to say about it
        record = seen.get(_same(located[1])) if located[1] is not None else None
        if record is None:  # an environment not listed yet
            record = python_env(interpreter, found_by, env, located)
            seen[_same(record.prefix)] = record
            info.pythons.append(record)
        if script is not None:  # the script's release is its distribution's (same name)
            if script.name in record.packages:
                script.version = record.packages[script.name]
            else:
                script.unavailable["version"] = f"no {script.name} distribution where its #! line points"
    return info


def _same(prefix: Optional[str]) -> Optional[str]:
    """A key for 'the same environment': its prefix with symlinks resolved."""
    return os.path.realpath(prefix) if prefix else None
