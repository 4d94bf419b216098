"""The CLI contract (DESIGN.md): every command, every exit code, and every error as one line on
stderr with nothing on stdout. Most cases run `deepseek_probe.cli.main` in-process (fast); a few
run the real `python -m deepseek_probe` to prove the same holds for the shipped entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import FIXTURES_DIR, SNAPSHOT_FIXTURES
from deepseek_probe import assess, cli, rules
from deepseek_probe.findings import EXIT_CODES
from deepseek_probe.snapshot import SCHEMA_VERSION, Snapshot

H100 = os.path.join(SNAPSHOT_FIXTURES, "h100.json")
H200 = os.path.join(SNAPSHOT_FIXTURES, "h200.json")
FLEET_H200 = os.path.join(FIXTURES_DIR, "fleet", "h200x8-ib")


def run(capsys, *argv):
    """cli.main in-process -> (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exc:
        cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    code = exc.value.code
    return (0 if code is None else code), out, err


def assert_one_line_error(code, out, err, expected=64):
    assert code == expected, (code, err)
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, f"stderr has {len(lines)} lines: {err!r}"
    assert lines[0].startswith("deepseek-probe: ")


# --- help, version, every command ---------------------------------------------------------------


def test_every_command_has_help_that_exits_0(capsys):
    for name in sorted(cli.cli.commands):
        code, out, err = run(capsys, name, "--help")
        assert code == 0 and "Usage:" in out and err == "", name


def test_check_help_documents_every_exit_code(capsys):
    code, out, _ = run(capsys, "check", "--help")
    for exit_code in ("0", "1", "2", "3", "64", "70"):
        assert f"  {exit_code} " in out


def test_version(capsys):
    from deepseek_probe import __version__

    code, out, _ = run(capsys, "--version")
    assert code == 0 and __version__ in out


def test_models_lists_every_headline_alias_as_text_and_json(capsys):
    code, out, _ = run(capsys, "models")
    assert code == 0 and all(alias in out for alias in ("7b", "33b", "70b", "236b", "671b"))
    code, out, _ = run(capsys, "models", "--format", "json")
    assert code == 0 and json.loads(out)


def test_estimate_json_follows_the_design_contract(capsys):
    code, out, err = run(capsys, "estimate", "--model", "7b", "--format", "json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    docs = doc if isinstance(doc, list) else [doc]
    for d in docs:
        assert d["schema_version"] == 1 and d["model"] == "deepseek-llm-7b"
        assert set(d["per_device"]) >= {"weights_bytes", "kv_cache_bytes", "activation_bytes",
                                        "runtime_overhead_bytes", "total_bytes"}


def test_plan_text_and_json(capsys):
    code, out, _ = run(capsys, "plan", "--model", "70b")
    assert code == 0 and out.strip()
    code, out, _ = run(capsys, "plan", "--model", "70b", "--format", "json")
    assert code == 0 and json.loads(out)


def test_probe_writes_a_snapshot_that_check_can_replay(capsys, tmp_path):
    snap_file = tmp_path / "me.json"
    code, out, err = run(capsys, "probe", "--output", snap_file)
    assert code == 0 and out == "" and err == ""
    snap = Snapshot.load(str(snap_file))
    assert snap.schema_version == SCHEMA_VERSION
    code, out, _ = run(capsys, "check", "--snapshot", snap_file, "--model", "7b", "--format", "json")
    assert code in (0, 1, 2, 3)
    assert json.loads(out)["exit_code"] == code


def test_probe_text_format(capsys):
    code, out, _ = run(capsys, "probe", "--format", "text")
    assert code == 0 and out.strip()


# --- exit codes 0, 1, 2, 3 ----------------------------------------------------------------------


@pytest.mark.parametrize("snapshot,model,verdict", [
    ("h200", "7b", "pass"),  # 13 GiB of bf16 weights on a 141 GiB GPU
    ("derived-h200-tenant-60gb", "7b", "warn"),  # fits, but another process holds 60 GiB
    ("h100", "671b", "fail"),  # ~640 GiB of FP8 weights on one 80 GiB GPU
    ("derived-h100-mig-on", "7b", "unknown"),  # fits the GPU, but MIG slice size unknown
    ("derived-h100-driver-mismatch", "7b", "unknown"),  # NVML could not list GPUs
])
def test_check_exit_code_is_the_verdict_in_every_format(capsys, snapshot, model, verdict):
    path = os.path.join(SNAPSHOT_FIXTURES, snapshot + ".json")
    for fmt in ("text", "json", "markdown", "prometheus"):
        code, out, err = run(capsys, "check", "--snapshot", path, "--model", model, "--format", fmt)
        assert code == EXIT_CODES[verdict], (fmt, err)
        assert err == "" and out.strip()
        if fmt == "json":
            doc = json.loads(out)
            assert (doc["verdict"], doc["exit_code"]) == (verdict, code)


def test_check_without_model_surveys_every_architecture(capsys):
    code, out, _ = run(capsys, "check", "--snapshot", H200, "--format", "json")
    doc = json.loads(out)
    assert doc["schema"] == "deepseek-probe/survey" and "profiles" not in doc
    assert {m for r in doc["rows"] for m in r["models"]} >= {
        "deepseek-llm-7b", "deepseek-coder-33b", "deepseek-r1-distill-llama-70b", "deepseek-v2"}
    assert code == doc["exit_code"]


def test_check_settings_without_a_model_are_bad_input(capsys):
    code, out, err = run(capsys, "check", "--snapshot", H200, "--context", "8192")
    assert_one_line_error(code, out, err)
    assert "--context needs --model" in err


def test_check_output_file_gets_the_report_and_stdout_stays_empty(capsys, tmp_path):
    target = tmp_path / "report.md"
    code, out, err = run(capsys, "check", "--snapshot", H200, "--model", "7b", "--format",
                         "markdown", "--output", target)
    assert code == 0 and out == "" and err == ""
    assert "deepseek-llm-7b" in target.read_text()


def test_fleet_exit_codes(capsys):
    code, _, err = run(capsys, "fleet", FLEET_H200)
    assert code == 0 and err == ""
    code, _, _ = run(capsys, "fleet", H100, H100)  # 2 x 1 H100 for 671b
    assert code == 2


# --- exit 64: bad input, one line -------------------------------------------------------------


def _write(path, data):
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode) as f:
        f.write(data)
    return str(path)


@pytest.fixture
def bad_files(tmp_path):
    d = tmp_path
    good = json.loads(open(H100).read())
    future = dict(good, schema_version=SCHEMA_VERSION + 1)
    huge = d / "huge.json"
    with open(huge, "wb") as f:  # sparse: 64 MiB of zeros + 1 byte, over the loader's limit
        f.truncate(64 * 1024 * 1024 + 1)
    return {
        "dir": str(d),
        "missing": str(d / "nope.json"),
        "garbage": _write(d / "garbage.json", bytes(range(256)) * 8),
        "empty": _write(d / "empty.json", ""),
        "truncated": _write(d / "truncated.json", open(H100).read()[:500]),
        "list": _write(d / "list.json", "[1, 2, 3]"),
        "wrong_shape": _write(d / "shape.json", json.dumps({"schema_version": 1, "gpus": {"0": {}}})),
        "unknown_field": _write(d / "field.json", json.dumps(dict(good, colour="blue"))),
        "future": _write(d / "future.json", json.dumps(future)),
        "huge": str(huge),
        "config_not_json": _write(d / "config.json", "{model_type: llama"),
        "config_unsupported": _write(d / "gpt2.json", json.dumps({"model_type": "gpt2"})),
        "config_zero_head_dim": _write(d / "tiny.json", json.dumps({
            "model_type": "llama", "hidden_size": 8, "num_attention_heads": 32,
            "intermediate_size": 64, "num_hidden_layers": 2, "vocab_size": 100,
            "max_position_embeddings": 512})),
        "a_file": _write(d / "a_file.txt", "x"),
    }


BAD_ARGS = [
    # absurd numbers
    ["check", "--snapshot", H100, "--context", "0"],
    ["check", "--snapshot", H100, "--context", "-1"],
    ["check", "--snapshot", H100, "--context", str(10**12)],
    ["check", "--snapshot", H100, "--context", "many"],
    ["estimate", "--model", "7b", "--context", str(10**12)],
    ["check", "--snapshot", H100, "--concurrency", "0"],
    ["check", "--snapshot", H100, "--concurrency", str(10**9)],
    ["estimate", "--model", "7b", "--concurrency", "0"],
    ["check", "--snapshot", H100, "--model", "7b", "--tensor-parallel", "3"],  # 32 heads
    ["estimate", "--model", "7b", "--tensor-parallel", "3"],
    ["plan", "--model", "7b", "--tensor-parallel", "3"],
    ["estimate", "--model", "671b", "--tensor-parallel", "0"],
    ["estimate", "--model", "7b", "--gpu-memory", "nan"],
    ["estimate", "--model", "7b", "--gpu-memory", "0"],
    ["estimate", "--model", "7b", "--gpu-memory", "-5"],
    # names
    ["check", "--snapshot", H100, "--model", "deepseek-9000b"],
    ["check", "--snapshot", H100, "--model", ""],
    ["estimate", "--model", "gpt-4"],
    ["check", "--snapshot", H100, "--precision", "fp7"],
    ["check", "--snapshot", H100, "--model", "7b", "--precision", "q4_k_m"],  # GGUF in transformers
    ["estimate", "--model", "7b", "--precision", "fp8", "--runtime", "llamacpp"],
    ["estimate", "--model", "7b", "--kv-precision", "q4_0"],  # transformers has no q4_0 cache
    ["check", "--snapshot", H100, "--runtime", "tensorrt"],
    ["check", "--snapshot", H100, "--format", "yaml"],
    ["estimate", "--model", "7b", "--format", "markdown"],
    # usage
    ["nosuchcommand"],
    ["check", "--bogus"],
    ["check", "--model"],
    ["estimate"],
    ["plan"],
    ["fleet"],
    ["check", "--snapshot", H100, "--verify"],
]


@pytest.mark.parametrize("argv", BAD_ARGS, ids=lambda a: " ".join(a).replace(H100, "H100")[:60])
def test_bad_flags_exit_64_with_one_line(capsys, argv):
    assert_one_line_error(*run(capsys, *argv))


@pytest.mark.parametrize("which", ["dir", "missing", "garbage", "empty", "truncated", "list",
                                   "wrong_shape", "unknown_field", "future", "huge"])
def test_unreadable_snapshots_exit_64_with_one_line(capsys, bad_files, which):
    code, out, err = run(capsys, "check", "--snapshot", bad_files[which])
    assert_one_line_error(code, out, err)
    assert "error" in err


@pytest.mark.parametrize("which", ["missing", "garbage", "future", "dir"])
def test_fleet_with_only_unreadable_snapshots_exits_64(capsys, bad_files, which):
    assert_one_line_error(*run(capsys, "fleet", bad_files[which]))


@pytest.mark.parametrize("which", ["missing", "config_not_json", "config_unsupported",
                                   "config_zero_head_dim", "garbage"])
def test_bad_model_configs_exit_64_with_one_line(capsys, bad_files, which):
    assert_one_line_error(*run(capsys, "estimate", "--model-config", bad_files[which]))


@pytest.mark.parametrize("command", [
    ["check", "--snapshot", H100, "--model", "7b"],
    ["estimate", "--model", "7b"],
    ["plan", "--model", "7b"],
    ["probe"],
    ["fleet", FLEET_H200],
])
def test_output_into_a_missing_directory_exits_64(capsys, tmp_path, command):
    target = tmp_path / "no" / "such" / "dir" / "out.txt"
    assert_one_line_error(*run(capsys, *command, "--output", target))
    assert not (tmp_path / "no").exists()


def test_output_onto_a_directory_exits_64(capsys, tmp_path):
    assert_one_line_error(*run(capsys, "check", "--snapshot", H100, "--output", tmp_path))


def test_model_dir_that_is_a_file_exits_64(capsys, bad_files):
    assert_one_line_error(*run(capsys, "check", "--model-dir", bad_files["a_file"]))


def test_a_nul_byte_in_an_argument_exits_64(capsys):
    assert_one_line_error(*run(capsys, "check", "--snapshot", "a\x00b"))


# --- exit 70: a bug -----------------------------------------------------------------------------


def _explode(*args, **kwargs):
    raise RuntimeError("rules blew up\nwith a second line")


def test_an_internal_error_is_one_line_asking_to_report_it(capsys, monkeypatch):
    monkeypatch.setattr(assess, "check", _explode)
    code, out, err = run(capsys, "check", "--snapshot", H100, "--model", "7b")
    assert_one_line_error(code, out, err, expected=70)
    assert "internal error" in err and "report" in err
    assert "RuntimeError: rules blew up with a second line" in err


@pytest.mark.parametrize("where", ["before", "after", "env"])
def test_debug_shows_the_traceback_of_an_internal_error(capsys, monkeypatch, where):
    monkeypatch.setattr(assess, "check", _explode)
    argv = ["check", "--snapshot", H100, "--model", "7b"]
    if where == "before":
        argv = ["--debug"] + argv
    elif where == "after":
        argv = argv + ["--debug"]
    else:
        monkeypatch.setenv("DEEPSEEK_PROBE_DEBUG", "1")
    code, out, err = run(capsys, *argv)
    assert code == 70 and out == ""
    assert "Traceback (most recent call last)" in err and "_explode" in err
    assert err.splitlines()[-1].startswith("deepseek-probe: internal error: RuntimeError")


def test_a_bug_inside_a_renderer_is_also_exit_70(capsys, monkeypatch):
    from deepseek_probe import report

    monkeypatch.setattr(report, "render", _explode)
    assert_one_line_error(*run(capsys, "check", "--snapshot", H100), expected=70)


def test_bad_input_is_not_mistaken_for_a_bug_even_with_debug(capsys):
    code, out, err = run(capsys, "--debug", "check", "--snapshot", H100, "--model", "nope")
    assert_one_line_error(code, out, err)


# --- the shipped entry point, as a subprocess ------------------------------------------------------


def _subprocess(*argv, cwd=None):
    return subprocess.run([sys.executable, "-m", "deepseek_probe", *argv], capture_output=True,
                          text=True, timeout=60, cwd=cwd)


@pytest.mark.parametrize("argv,code", [
    (["check", "--snapshot", H200, "--model", "7b"], 0),
    (["check", "--snapshot", H100, "--model", "671b", "--format", "json"], 2),
    (["check", "--snapshot", H100, "--context", "0"], 64),
    (["check", "--snapshot", os.path.join(SNAPSHOT_FIXTURES, "missing.json")], 64),
])
def test_the_real_command_keeps_the_contract(argv, code):
    proc = _subprocess(*argv)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    if code == 64:
        assert proc.stdout == "" and len(proc.stderr.splitlines()) == 1
    else:
        assert proc.stderr == "" and proc.stdout.strip()


def test_a_closed_pipe_is_not_an_error():
    """`deepseek-probe plan --all --format json | head -1`: the reader leaves early (the ~400 KB
    document is far more than a 64 KiB pipe buffer, so the writer does hit the closed pipe)."""
    proc = subprocess.Popen([sys.executable, "-m", "deepseek_probe", "plan", "--all", "--format",
                             "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err
    assert proc.returncode == 0


def test_the_script_runs_without_the_cyclic_collector_and_cli_main_keeps_it(monkeypatch):
    # __main__.run (the `deepseek-probe` script, python -m) turns the cyclic collector off before
    # importing anything of ours; cli.main, which tests call in-process, does not touch it
    import gc

    from deepseek_probe import __main__ as entry
    from deepseek_probe import commands

    seen = []
    monkeypatch.setattr(commands, "main", lambda args, with_click: seen.append(gc.isenabled()))
    try:
        entry.run()
    finally:
        gc.enable()
    assert seen == [False]
    monkeypatch.undo()
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert gc.isenabled()


@pytest.mark.parametrize("model, code", [("7b", 0), ("no-such-model", 64)])
def test_the_script_leaves_with_its_code_after_the_atexit_handlers_and_a_flush(model, code):
    """__main__.run skips the interpreter's teardown (os._exit), not what an exit does: the
    atexit handlers run, a buffered stdout is flushed, the exit code is the command's."""
    script = ("import atexit, sys\n"
              f"sys.argv = ['deepseek-probe', 'check', '--snapshot', {H100!r}, '--model', {model!r}]\n"
              "atexit.register(lambda: print('atexit ran'))\n"  # buffered: a pipe is not a terminal
              "from deepseek_probe.__main__ import run\n"
              "run()\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == code
    assert p.stdout.endswith("atexit ran\n")
    assert ("unknown model" in p.stderr) == (code == 64)
