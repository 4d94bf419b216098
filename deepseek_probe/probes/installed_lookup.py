"""Which release of a runtime is installed where a question would run it (issue 23), from what
probes/installed.py recorded; and the opt-in `X --version` (--probe-versions).

The CLI hands `InstalledLookup(...)` to question.build: for a runtime and the launch command's
program word it answers (version or None, where in words). Replaying a snapshot (`live=False`)
answers from the snapshot's record only, never from the box it runs on.
"""

from __future__ import annotations

import os
import re
from typing import List, Mapping, Optional, Tuple

from deepseek_probe.probes._timeout import start_bounded
from deepseek_probe.probes.installed import SCRIPTS, is_python_name, python_env, script_interpreter
from deepseek_probe.snapshot import InstalledInfo, InstalledProgram, PythonEnv

# A runtime (as --runtime or a launch command's parser names it) -> the Python distribution whose
# version is that runtime's release, or the program on PATH whose `--version` is.
RUNTIME_PACKAGES = {"vllm": "vllm", "sglang": "sglang", "transformers": "transformers"}
RUNTIME_PROGRAMS = {"llamacpp": "llama-server", "ollama": "ollama", "lmstudio": "lms"}
# `X --version` answers at once (it prints and exits); a slow one is a hung binary or a network
# filesystem. Ollama's also asks the local server for its version (cmd/cmd.go versionHandler).
VERSION_TIMEOUT_S = 3.0
# Compiled on first use (re's cache): only --probe-versions reads a program's output.
# llama.cpp common/arg.cpp, "--version": fprintf(stderr, "version: %d (%s)\n", LLAMA_BUILD_NUMBER, LLAMA_COMMIT)
_LLAMA_BUILD = r"version:\s*(\d+)\s*\(([0-9a-fA-F]+)\)"
# Ollama cmd/cmd.go versionHandler: "ollama version is <server>", then "Warning: client version is
# <binary>" when the running server differs from this binary.
_OLLAMA_CLIENT = r"client version is\s+v?(\S+)"
_OLLAMA = r"ollama version is\s+v?(\S+)"
_ANY = r"\bv?(\d+\.\d+(?:\.\d+)?[\w.+-]*)"


def parse_version_output(name: str, text: str) -> Optional[str]:
    """The release in a program's `--version` output: llama.cpp "b6123", Ollama "0.12.3"."""
    m = re.search(_LLAMA_BUILD, text)
    if m:
        return f"b{m.group(1)}"
    m = re.search(_OLLAMA_CLIENT, text) or re.search(_OLLAMA, text) or re.search(_ANY, text)
    return m.group(1) if m else None


def program_version(path: str, timeout_s: float = VERSION_TIMEOUT_S) -> Tuple[Optional[str], Optional[str]]:
    """(release, None) or (None, why): runs `path --version` with no input and a time limit."""
    import subprocess

    try:
        done = subprocess.run([path, "--version"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return None, "timeout"
    except (OSError, ValueError) as e:
        return None, f"error: {getattr(e, 'strerror', None) or e}"[:120]
    text = (done.stdout[:4096] + b"\n" + done.stderr[:4096]).decode("utf-8", "replace")
    version = parse_version_output(os.path.basename(path), text)
    return (version, None) if version else (None, f"no version in its output (exit {done.returncode})")


def probe_versions(programs: List[InstalledProgram], timeout_s: float = VERSION_TIMEOUT_S) -> None:
    """--probe-versions: `X --version` for each runtime program found (not the Python scripts:
    their distribution's version is read from its files), all at once, each bounded."""
    runs = [(p, start_bounded(lambda p=p: program_version(p.path, timeout_s), f"version-{p.name}"))
            for p in programs if p.name not in SCRIPTS]
    for program, pending in runs:
        outcome = pending.wait(timeout_s + 1.0)
        if outcome.status != "ok":
            program.unavailable["version"] = "timeout" if outcome.status == "timeout" else "error"
            continue
        program.version, why = outcome.value
        if why:
            program.unavailable["version"] = why


def read_installed(env: Mapping[str, str], probe: bool = False) -> InstalledInfo:
    """What probes/installed.py finds on this machine; with `probe` (--probe-versions) also the
    programs' `X --version`."""
    from deepseek_probe.probes.installed import probe_installed

    info = probe_installed(env)
    if probe:
        probe_versions(info.programs)
        info.versions_probed = True
    return info


class InstalledLookup:
    """(version or None, where in words) for a runtime and the launch command's program word.

    `live`: this machine (a launch command naming another interpreter is read now and added to
    `info`); else a recorded snapshot (`info` None: it recorded nothing)."""

    def __init__(self, info: Optional[InstalledInfo], env: Mapping[str, str], live: bool,
                 probe: bool = False) -> None:
        self.info = info
        self.env = env
        self.live = live
        self.probe = probe

    def __call__(self, runtime: str, word: Optional[str]) -> Tuple[Optional[str], str]:
        if self.info is None:
            return None, "the snapshot records no installed runtimes"
        dist = RUNTIME_PACKAGES.get(runtime)
        if dist is not None:
            return self._package(dist, word)
        name = RUNTIME_PROGRAMS.get(runtime)
        if name is not None:
            return self._program(name, word)
        return None, "none installed"

    # -- Python runtimes: the distribution in the interpreter the command runs -------------------
    def _package(self, dist: str, word: Optional[str]) -> Tuple[Optional[str], str]:
        kind = _kind(word)
        if kind is None:  # flag question: this interpreter, then the scripts' and python3's
            for env in self.info.pythons:
                if dist in env.packages:
                    return env.packages[dist], f"installed in {env.prefix or env.interpreter}"
            return None, "none installed"
        env, why = self._env_of(str(word), kind)
        if env is None:
            return None, why
        if env.prefix is None:
            return None, f"{word}: {env.unavailable.get('packages', 'not read')}"
        if dist in env.packages:
            return env.packages[dist], f"installed in {env.prefix}"
        return None, f"{dist} is not installed in {env.prefix}"

    def _env_of(self, word: str, kind: str) -> Tuple[Optional[PythonEnv], str]:
        """The environment a launch command's interpreter word or script word runs in."""
        assert self.info is not None
        base = _base(word)
        bare = os.sep not in word and not (os.altsep and os.altsep in word)
        if kind == "python":
            for env in self.info.pythons:
                if env.interpreter == word or (bare and env.found_by == f"{base} on PATH"):
                    return env, ""
            if not self.live:
                return None, f"the snapshot records no {word}"
            env = python_env(word, "launch command", self.env)
        else:  # a console script: its #! line names the interpreter
            if bare:
                env = next((e for e in self.info.pythons if e.found_by == f"{base} on PATH"), None)
                if env is not None:
                    return env, ""
                program = next((p for p in self.info.programs if p.name == base), None)
                if program is None:
                    return None, f"{base} is not on PATH" if self.live else f"the snapshot records no {base} on PATH"
                return None, f"{program.path}: {program.unavailable.get('interpreter', 'its Python is not named')}"
            on_path = any(p.path == word for p in self.info.programs)  # the script PATH found
            env = next((e for e in self.info.pythons if e.found_by in (f"{word}'s #! line",) +
                        ((f"{base} on PATH",) if on_path else ())), None)
            if env is not None:
                return env, ""
            if not self.live:
                return None, f"the snapshot records no {word}"
            interpreter, why = script_interpreter(word, self.env.get("PATH"))
            if interpreter is None:
                return None, f"{word}: {why}"
            env = python_env(interpreter, f"{word}'s #! line", self.env)
        self.info.pythons.append(env)  # the report shows what was read
        return env, ""

    # -- programs: llama-server, ollama, lms -----------------------------------------------------
    def _program(self, name: str, word: Optional[str]) -> Tuple[Optional[str], str]:
        assert self.info is not None
        path_given = word is not None and (os.sep in word or bool(os.altsep and os.altsep in word))
        program = next((p for p in self.info.programs if (p.path == word if path_given else p.name == name)), None)
        if program is None and path_given and self.live:
            program = InstalledProgram(name=_base(str(word)), path=str(word))
            if self.probe:
                probe_versions([program])
            self.info.programs.append(program)
        if program is None:
            return None, (f"{name} is not on PATH" if self.live else f"the snapshot records no {word or name}")
        if program.version:
            return program.version, f"installed at {program.path}"
        why = program.unavailable.get("version")
        return None, (f"{program.path}, its version not read ({why})" if why else
                      f"{program.path}, its version not read (--probe-versions reads it)")


class LiveLookup:
    """InstalledLookup on this machine, read on first use: `estimate` for a runtime modelled at
    one release never reads anything."""

    def __init__(self, env: Mapping[str, str], probe: bool = False) -> None:
        self.env = env
        self.probe = probe
        self._lookup: Optional[InstalledLookup] = None

    def __call__(self, runtime: str, word: Optional[str]) -> Tuple[Optional[str], str]:
        if self._lookup is None:
            self._lookup = InstalledLookup(read_installed(self.env, self.probe), self.env, live=True,
                                           probe=self.probe)
        return self._lookup(runtime, word)


def _base(word: str) -> str:
    base = os.path.basename(word).lower()
    return base[:-4] if base.endswith(".exe") else base


def _kind(word: Optional[str]) -> Optional[str]:
    """"python" for an interpreter word, "script" for a runtime's console script, else None."""
    if word is None:
        return None
    base = _base(word)
    if is_python_name(base):
        return "python"
    return "script" if base in SCRIPTS else None
