"""`--runtime-version V` on check and estimate (issue 23), end to end through cli.main: the release
named; else the one installed where the launch command (or, for flags, this machine or the
replayed snapshot) would run it; else the newest modelled. The report says which and why."""

from __future__ import annotations

import json
import os

import pytest

from conftest import SNAPSHOT_FIXTURES
from deepseek_probe import cli
from deepseek_probe.probes import installed
from deepseek_probe.runtimes import RUNTIMES
from deepseek_probe.snapshot import InstalledInfo, InstalledProgram, PythonEnv, Snapshot
from test_installed import _executable, _venv

H100 = os.path.join(SNAPSHOT_FIXTURES, "h100.json")
VLLM = RUNTIMES["vllm"]
OLDEST, NEWEST = VLLM.versions
QWEN = "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return (exc.value.code or 0), out, err


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """This machine as the tests see it: no runtime in this interpreter, PATH = one empty folder."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    monkeypatch.setenv("PATH", str(bin_))
    monkeypatch.setattr(installed, "this_interpreter",
                        lambda *a, **k: PythonEnv(str(tmp_path / "py"), "this interpreter", str(tmp_path)))
    return bin_


def estimate_json(capsys, *argv):
    code, out, err = run(capsys, "estimate", "--gpu-memory", 80, "--format", "json", *argv)
    assert code == 0, err
    return json.loads(out)


# -- named -----------------------------------------------------------------------------------
def test_a_named_release_reaches_the_estimate_and_its_json(capsys, machine):
    doc = estimate_json(capsys, "--runtime-version", "0.8.4", "--", "vllm", "serve", QWEN)
    assert doc["runtime_version"] == {"version": "0.8.4", "source": "named"}
    assert list(doc)[list(doc).index("runtime") + 1] == "runtime_version"


def test_a_release_newer_than_the_newest_is_modelled_as_the_newest_and_says_so(capsys, machine):
    newest = estimate_json(capsys, "--model", "7b", "--runtime", "vllm")
    future = estimate_json(capsys, "--model", "7b", "--runtime", "vllm", "--runtime-version", "99.0")
    assert future["runtime_version"]["version"] == "99.0"
    assert f"modelled as {NEWEST}" in future["runtime_version"]["source"]
    assert future["per_device"] == newest["per_device"] and future["notes"] == newest["notes"]
    assert newest["runtime_version"] == {"version": NEWEST, "source": "newest modelled; none installed"}


@pytest.mark.parametrize("bad", ["banana", "0.4.9", "b6123"])
def test_an_unreadable_or_too_old_release_is_one_line_and_exit_64(capsys, machine, bad):
    for argv in (("estimate", "--model", "7b", "--runtime", "vllm", "--runtime-version", bad),
                 ("check", "--snapshot", H100, "--runtime-version", bad, "--", "vllm", "serve", QWEN)):
        code, out, err = run(capsys, *argv)
        assert (code, out) == (64, "") and len(err.splitlines()) == 1 and "Traceback" not in err, err


def test_a_runtime_modelled_at_one_release_refuses_a_named_one(capsys, machine):
    single = [name for name, rt in RUNTIMES.items() if not rt.versions]
    if not single:
        pytest.skip("every runtime models a range of releases")
    code, out, err = run(capsys, "estimate", "--model", "7b", "--runtime", single[0], "--runtime-version", "1.0")
    assert (code, out) == (64, "") and "one release" in err
    doc = estimate_json(capsys, "--model", "7b", "--runtime", single[0])
    assert "runtime_version" not in doc  # nothing said about versions


def test_check_without_a_model_refuses_runtime_version_and_a_replay_refuses_probe_versions(capsys):
    code, _, err = run(capsys, "check", "--snapshot", H100, "--runtime-version", "0.8.4")
    assert code == 64 and "--model" in err
    code, _, err = run(capsys, "check", "--snapshot", H100, "--model", "7b", "--probe-versions")
    assert code == 64 and "--probe-versions" in err


# -- installed where the command runs --------------------------------------------------------
def test_the_launch_commands_interpreter_decides(capsys, machine, tmp_path):
    venv = _venv(tmp_path / "venv", {"vllm": "0.8.4"})
    doc = estimate_json(capsys, "--", venv / "bin" / "python", "-m", "vllm.entrypoints.openai.api_server",
                        "--model", QWEN)
    assert doc["runtime_version"] == {"version": "0.8.4", "source": f"installed in {venv}"}
    bare = _venv(tmp_path / "bare", {})
    doc = estimate_json(capsys, "--", bare / "bin" / "python", "-m", "vllm.entrypoints.openai.api_server",
                        "--model", QWEN)
    assert doc["runtime_version"] == {"version": NEWEST, "source": f"newest modelled; vllm is not installed in {bare}"}


def test_the_vllm_script_on_path_runs_in_the_venv_its_shebang_names(capsys, machine, tmp_path):
    venv = _venv(tmp_path / "venv", {"vllm": "0.10.1.1"})
    _executable(machine / "vllm", f"#!{venv}/bin/python\n")
    for argv in (("--", "vllm", "serve", QWEN), ("--model", "7b", "--runtime", "vllm")):
        doc = estimate_json(capsys, *argv)
        assert doc["runtime_version"] == {"version": "0.10.1.1", "source": f"installed in {venv}"}
    code, out, _ = run(capsys, "estimate", "--model", "7b", "--runtime", "vllm")
    assert f"vLLM 0.10.1.1 (installed in {venv})" in out


def test_an_installed_release_older_than_modelled_is_modelled_as_the_oldest(capsys, machine, tmp_path):
    venv = _venv(tmp_path / "venv", {"vllm": "0.4.2"})
    doc = estimate_json(capsys, "--", venv / "bin" / "python", "-m", "vllm.entrypoints.openai.api_server",
                        "--model", QWEN)
    assert doc["runtime_version"]["version"] == "0.4.2"
    assert doc["runtime_version"]["source"].endswith(f"older than the oldest modelled, modelled as {OLDEST}")


# -- a replayed snapshot: its record, never this machine --------------------------------------
def _snapshot_with(tmp_path, home_user="alice"):
    snap = Snapshot.load(H100)
    snap.system.user, snap.system.home = home_user, f"/home/{home_user}"
    prefix = f"/home/{home_user}/venv"
    snap.installed = InstalledInfo(
        pythons=[PythonEnv(f"{prefix}/bin/python", "vllm on PATH", prefix, [f"{prefix}/lib/python3.11/site-packages"],
                           {"vllm": "0.8.4", "torch": "2.6.0"})],
        programs=[InstalledProgram("vllm", f"{prefix}/bin/vllm", "0.8.4")])
    path = tmp_path / "recorded.json"
    path.write_text(snap.to_json())
    return path


def test_a_replay_reads_the_recorded_release_not_this_machines(capsys, machine, tmp_path):
    other = _venv(tmp_path / "other", {"vllm": "0.9.2"})  # what this box has: must not count
    _executable(machine / "vllm", f"#!{other}/bin/python\n")
    recorded = _snapshot_with(tmp_path)
    for argv in (("--model", "7b", "--runtime", "vllm"), ("--", "vllm", "serve", QWEN)):
        code, out, err = run(capsys, "check", "--snapshot", recorded, "--format", "json", "--no-redact", *argv)
        assert code in (0, 1, 2), err
        (profile,) = json.loads(out)["profiles"]
        assert profile["runtime_version"] == {"version": "0.8.4", "source": "installed in /home/alice/venv"}
    code, out, _ = run(capsys, "check", "--snapshot", H100, "--model", "7b", "--runtime", "vllm")
    assert f"vLLM {NEWEST} (newest modelled; the snapshot records no installed runtimes)" in out


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_a_venv_under_a_home_folder_is_redacted_in_every_report(capsys, tmp_path, fmt):
    recorded = _snapshot_with(tmp_path, "alice")
    code, out, err = run(capsys, "check", "--snapshot", recorded, "--model", "7b", "--runtime", "vllm",
                         "--format", fmt)
    assert code in (0, 1, 2), err
    assert "alice" not in out and "/home/<user>/venv" in out


def test_the_json_reports_follow_their_schemas(capsys, machine):
    jsonschema = pytest.importorskip("jsonschema")
    recorded = _snapshot_with(machine)
    for name, argv in (("check", ("check", "--snapshot", recorded, "--model", "7b", "--runtime", "vllm",
                                  "--format", "json")),
                       ("estimate", ("estimate", "--model", "7b", "--runtime", "vllm", "--runtime-version",
                                     "0.6.3", "--format", "json"))):
        _, schema, _ = run(capsys, "schema", name)
        _, out, _ = run(capsys, *argv)
        doc = json.loads(out)
        jsonschema.validate(doc, json.loads(schema))
        assert (doc.get("profiles") or [doc])[0]["runtime_version"]["version"] in ("0.8.4", "0.6.3")
