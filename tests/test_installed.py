"""The installed-runtimes probe (issue 23): Python distributions read the way importlib.metadata
reads them, another interpreter's site-packages found from its files, console scripts' #! lines,
programs on PATH, the opt-in `X --version`, and the snapshot record (round trip, redaction)."""

from __future__ import annotations

import importlib.metadata
import os
import stat
import sys

import pytest

from deepseek_probe.probes import installed, installed_lookup
from deepseek_probe.probes._timeout import start_bounded
from deepseek_probe.snapshot import InstalledInfo, InstalledProgram, PythonEnv, Snapshot, SystemInfo

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")


def _dist(site, folder, metadata=None, file="METADATA"):
    d = site / folder
    d.mkdir(parents=True)
    if metadata is not None:
        (d / file).write_text(metadata)
    return d


def _executable(path, text="\x7fELF not run by any test\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _venv(root, packages, xy="3.11", include_system=False, home="/usr/bin"):
    """A virtual environment as `python -m venv` lays it out; the interpreter is never run."""
    (root / "bin").mkdir(parents=True)
    (root / "pyvenv.cfg").write_text(f"home = {home}\ninclude-system-site-packages = "
                                     f"{'true' if include_system else 'false'}\nversion = {xy}.7\n")
    _executable(root / "bin" / f"python{xy}")
    os.symlink(f"python{xy}", root / "bin" / "python")
    site = root / "lib" / f"python{xy}" / "site-packages"
    site.mkdir(parents=True)
    for name, version in packages.items():
        _dist(site, f"{name}-{version}.dist-info", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nbody\n")
    return root


# -- distributions: the same answer as importlib.metadata -----------------------------------
def test_versions_on_this_interpreters_path_match_importlib_metadata():
    names = ("click", "psutil", "pytest")
    found = installed.find_distributions(sys.path, names)
    assert found == {n: importlib.metadata.version(n) for n in names}


def test_a_tree_of_awkward_names_reads_as_importlib_metadata_reads_it(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    _dist(first, "Flash_Attn-2.7.4.post1.dist-info", "Name: flash_attn\nVersion: 2.7.4.post1\n\n")
    _dist(first, "llama_cpp_python-0.3.16.dist-info", "Name: llama_cpp_python\nVersion: 0.3.16\n\n")
    # METADATA says otherwise than the folder name: importlib reads METADATA
    _dist(first, "peft-0.13.0.dist-info", "Metadata-Version: 2.1\nName: peft\nVersion: 0.13.2\n\n")
    _dist(first, "bitsandbytes-0.45.0-py3.11.egg-info", "Name: bitsandbytes\nVersion: 0.45.0\n\n", file="PKG-INFO")
    _dist(second, "peft-0.1.0.dist-info", "Name: peft\nVersion: 0.1.0\n\n")  # later on the path: not seen
    _dist(second, "vllm-0.8.5.post1.dist-info", "Name: vllm\nVersion: 0.8.5.post1\n\n")
    _dist(second, "torch-2.6.0+cu124.dist-info", "Name: torch\nVersion: 2.6.0+cu124\n\n")
    path = [str(first), str(second)]
    ours = installed.find_distributions(path)
    theirs = {}
    for name in installed.DISTRIBUTIONS:
        dist = next(iter(importlib.metadata.distributions(name=name, path=path)), None)
        if dist is not None:
            theirs[name] = dist.version
    assert ours == theirs
    assert ours["peft"] == "0.13.2" and "sglang" not in ours


@needs_fifo
def test_a_fifo_as_metadata_is_not_opened_and_the_folder_name_answers(tmp_path):
    d = _dist(tmp_path, "vllm-0.9.1.dist-info")
    os.mkfifo(d / "METADATA")
    pending = start_bounded(lambda: installed.find_distributions([str(tmp_path)]), "t")
    outcome = pending.wait(5.0)
    assert outcome.status == "ok" and outcome.value == {"vllm": "0.9.1"}


# -- another interpreter: its files, never run -----------------------------------------------
def test_a_venv_interpreter_is_read_from_its_site_packages(tmp_path):
    venv = _venv(tmp_path / "venv", {"vllm": "0.8.4", "torch": "2.6.0"})
    env = installed.python_env(str(venv / "bin" / "python"), "launch command", {"PATH": ""})
    assert env.prefix == str(venv)
    assert env.packages == {"vllm": "0.8.4", "torch": "2.6.0"}
    assert env.site_packages == [str(venv / "lib" / "python3.11" / "site-packages")]


def test_a_venv_with_system_site_packages_also_reads_the_base_prefix(tmp_path):
    base = tmp_path / "base"
    _executable(base / "bin" / "python3.12")
    _dist(base / "lib" / "python3.12" / "site-packages", "transformers-4.51.0.dist-info",
          "Name: transformers\nVersion: 4.51.0\n\n")
    venv = _venv(tmp_path / "venv", {"sglang": "0.4.6"}, xy="3.12", include_system=True, home=str(base / "bin"))
    env = installed.python_env(str(venv / "bin" / "python"), "launch command", {"PATH": ""})
    assert env.packages == {"sglang": "0.4.6", "transformers": "4.51.0"}


def test_a_pyenv_shim_is_a_script_not_an_interpreter(tmp_path):
    shim = _executable(tmp_path / "bin" / "python3", "#!/usr/bin/env bash\nexec pyenv exec python3 \"$@\"\n")
    env = installed.python_env(str(shim), "launch command", {"PATH": ""})
    assert env.prefix is None and "script" in env.unavailable["packages"]


# -- console scripts' #! lines ------------------------------------------------------------------
def test_a_console_script_names_its_venv_interpreter(tmp_path):
    venv = _venv(tmp_path / "venv", {"vllm": "0.8.4"})
    script = _executable(tmp_path / "bin" / "vllm", f"#!{venv}/bin/python\nimport sys\n")
    assert installed.script_interpreter(str(script), "") == (f"{venv}/bin/python", None)


def test_env_shebangs_and_pips_long_path_launcher_name_the_interpreter(tmp_path):
    venv = _venv(tmp_path / "venv", {})
    env_script = _executable(tmp_path / "a", "#!/usr/bin/env python3.11\n")
    assert installed.script_interpreter(str(env_script), str(venv / "bin"))[0] == str(venv / "bin" / "python3.11")
    # distlib ScriptMaker: a /bin/sh launcher when the interpreter's path is too long for #!
    sh = _executable(tmp_path / "b", f"#!/bin/sh\n'''exec' \"{venv}/bin/python\" \"$0\" \"$@\"\n' '''\n")
    assert installed.script_interpreter(str(sh), "")[0] == f"{venv}/bin/python"
    node = _executable(tmp_path / "c", "#!/usr/bin/node\n")
    assert installed.script_interpreter(str(node), "")[0] is None


@needs_fifo
def test_fifos_on_path_are_passed_over_without_hanging(tmp_path):
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for name in ("vllm", "llama-server", "ollama", "python3"):
        os.mkfifo(bin_ / name)
    pending = start_bounded(lambda: installed.probe_installed({"PATH": str(bin_)}, sys_path=[]), "t")
    outcome = pending.wait(5.0)
    assert outcome.status == "ok", outcome.status
    assert outcome.value.programs == [] and len(outcome.value.pythons) == 1


def test_the_probe_finds_programs_and_the_venv_the_vllm_script_runs_in(tmp_path):
    venv = _venv(tmp_path / "venv", {"vllm": "0.10.1.1"})
    bin_ = tmp_path / "bin"
    _executable(bin_ / "vllm", f"#!{venv}/bin/python\n")
    _executable(bin_ / "llama-server")
    info = installed.probe_installed({"PATH": str(bin_)}, sys_path=[])
    assert [(p.name, p.version) for p in info.programs] == [("llama-server", None), ("vllm", "0.10.1.1")]
    assert [(e.found_by, e.prefix, e.packages) for e in info.pythons[1:]] == [
        ("vllm on PATH", str(venv), {"vllm": "0.10.1.1"})]


# -- `X --version`: opt-in only --------------------------------------------------------------
def test_the_default_probe_runs_no_program(tmp_path, monkeypatch):
    import subprocess

    def refuse(*a, **k):
        raise AssertionError("a subprocess ran on the default path")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    _executable(tmp_path / "llama-server", "#!/bin/sh\necho 'version: 1 (x)' >&2\n")
    info = installed.probe_installed({"PATH": str(tmp_path)}, sys_path=[])
    assert info.programs[0].version is None and not info.versions_probed


@pytest.mark.skipif(os.name == "nt", reason="POSIX shell scripts")
def test_probe_versions_reads_llama_server_and_ollama_and_gives_up_on_a_hung_one(tmp_path):
    llama = _executable(tmp_path / "llama-server", "#!/bin/sh\necho 'version: 6123 (0c1e570)' >&2\n"
                                                   "echo 'built with cc for x86_64-linux-gnu' >&2\n")
    ollama = _executable(tmp_path / "ollama", "#!/bin/sh\necho 'ollama version is 0.12.3'\n"
                                              "echo 'Warning: client version is 0.11.10'\n")
    hung = _executable(tmp_path / "lms", "#!/bin/sh\nexec sleep 30\n")
    programs = [InstalledProgram("llama-server", str(llama)), InstalledProgram("ollama", str(ollama)),
                InstalledProgram("lms", str(hung))]
    installed_lookup.probe_versions(programs, timeout_s=0.5)
    assert [p.version for p in programs] == ["b6123", "0.11.10", None]  # the binary's, not the server's
    assert programs[2].unavailable["version"] == "timeout"


# -- the snapshot record ------------------------------------------------------------------------
def _recorded() -> InstalledInfo:
    return InstalledInfo(
        pythons=[PythonEnv("/home/alice/venv/bin/python", "vllm on PATH", "/home/alice/venv",
                           ["/home/alice/venv/lib/python3.11/site-packages"], {"vllm": "0.8.4"})],
        programs=[InstalledProgram("vllm", "/home/alice/venv/bin/vllm", "0.8.4")])


def test_the_record_round_trips_and_old_snapshots_have_none():
    snap = Snapshot(installed=_recorded())
    assert Snapshot.from_json(snap.to_json()) == snap
    fixture = Snapshot.load(os.path.join(ROOT, "fixtures", "snapshots", "h100.json"))
    assert fixture.installed is None and "installed" not in fixture.to_dict()


def test_paths_under_a_home_folder_are_redacted(tmp_path):
    from deepseek_probe.redact import redact_snapshot

    snap = Snapshot(system=SystemInfo(user="alice", home="/home/alice"), installed=_recorded())
    red = redact_snapshot(snap)
    assert "alice" not in red.to_json()
    assert red.installed.pythons[0].prefix == "/home/<user>/venv"


@pytest.mark.parametrize("name", ["vllm", "Flash_Attn", "flash-attn", "llama.cpp--python", "a-_.b", "A__B..C",
                                  "peft", "bitsandbytes-0.45.0", "x---y", "_lead", "trail.", "", "İstanbul-x"])
def test_normalize_is_importlib_metadata_s_regular_expression(name):
    import re

    # importlib.metadata Prepared.normalize (3.10-3.13), which installed.normalize spells without re
    assert installed.normalize(name) == re.sub(r"[-_.]+", "-", name).lower().replace("-", "_")
