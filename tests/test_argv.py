"""argv.check_options (the `check` lines that run without importing click) against click's own
parse of the same lines (cli.check), and the two paths' output, word for word."""

from __future__ import annotations

import contextlib
import io
import os
import random
import subprocess
import sys

import click
import pytest

from deepseek_probe import argv, cli, commands

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SNAPSHOTS = os.path.join(ROOT, "fixtures", "snapshots")
H100 = os.path.join(SNAPSHOTS, "h100.json")


def _click_params(words):
    """What click passes to `check` for these words, or None where click refuses them."""
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            ctx = cli.check.make_context("check", list(words[1:]))
    except (click.exceptions.ClickException, click.exceptions.Exit):
        return None
    return ctx.params


def test_defaults_and_command_names_are_clicks():
    assert argv.CHECK_DEFAULTS == _click_params(["check"])
    assert set(commands.COMMANDS) == set(cli.cli.commands)


def _random_line(rng, paths):
    values = {
        "--model": ["7b", "deepseek-r1:32b", "671b", "", "x=y", "-7b", "DeepSeek-V3"],
        "--snapshot": paths, "--output": paths, "--model-dir": paths,
        "--format": ["text", "json", "markdown", "prometheus", "JSON", "csv", ""],
        "--precision": ["bf16", "q4_k_m", "Q4_K_M", "fp4", "int4"],
        "--kv-precision": ["fp8", "q8_0", "FP8", "int8"],
        "--runtime": ["vllm", "ollama", "llama.cpp", "hf", "Ollama", "tgi"],
        "--context": ["1", "0", "8192", "-1", "1_000", " 3", "\u0663", "12.5", "x"],
        "--concurrency": ["1", "65536", "65537", "0", "4"],
        "--tensor-parallel": ["1", "8", "1024", "1025", "0"],
        "--mla-cache": ["latent"], "--train": ["lora"], "--batch": ["4"],
    }
    flags = ["--no-redact", "--print-command", "--verify", "--help", "-h", "--bogus", "stray", "--no-redact=1"]
    words = ["check"] if rng.random() < 0.95 else [rng.choice(["plan", "models", "--version", "estimate"])]
    for _ in range(rng.randrange(0, 6)):
        if rng.random() < 0.2:
            words.append(rng.choice(flags))
            continue
        name = rng.choice(sorted(values))
        value = rng.choice(values[name])
        if rng.random() < 0.3:
            words.append(f"{name}={value}")
        else:
            words += [name] + ([value] if rng.random() < 0.97 else [])
    return words


def test_every_line_it_reads_click_reads_the_same(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    paths = [H100, str(folder), str(tmp_path / "absent.json"), "", "-", os.path.join(SNAPSHOTS, "nogpu-dev.json")]
    rng = random.Random(24)
    read = 0
    for _ in range(3000):
        words = _random_line(rng, paths)
        ours = argv.check_options(words)
        if ours is None:
            continue
        read += 1
        assert ours == _click_params(words), words
    assert read > 500  # the lines it reads, not only the ones it leaves to click


def test_lines_left_to_click_include_every_kind_it_does_not_cover(tmp_path):
    for words in (["check", "--help"], ["check", "--format", "JSON"], ["check", "--context", "1_000"],
                  ["check", "--snapshot", str(tmp_path)], ["check", "--model-dir", H100],
                  ["check", "--format", "json", "--format", "text"], ["check", "--model"],
                  ["check", "--verify"], ["check", "--model", "-x"], ["plan", "--model", "7b"]):
        assert argv.check_options(words) is None, words


def _run(words, fast):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        with pytest.raises(SystemExit) as code:
            if fast:
                cli.main(list(words))
            else:  # click's parse of the same line, through the same entry
                commands.main(list(words), lambda w, launch: cli._with_click(w, launch))
    return code.value.code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("words", [
    ["check", "--snapshot", H100],
    ["check", "--snapshot", H100, "--format", "json", "--no-redact"],
    ["check", "--snapshot", os.path.join(SNAPSHOTS, "derived-rtx4090.json"), "--format=markdown"],
    ["check", "--snapshot", H100, "--model", "7b", "--model", "deepseek-r1:32b", "--runtime", "ollama"],
    ["check", "--snapshot", H100, "--model", "671b", "--precision", "q4_k_m", "--context", "8192",
     "--format", "prometheus"],
    ["check", "--snapshot", H100, "--print-command"],
    ["check", "--snapshot", H100, "--model", "no-such-model"],
    ["check", "--snapshot", os.path.join(ROOT, "fixtures", "no-such.json")],
    ["check", "--snapshot", H100, "--", "vllm", "serve", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"],
])
def test_both_paths_print_the_same_and_exit_alike(words, monkeypatch):
    assert argv.check_options([w for w in words[:words.index("--")]] if "--" in words else words) is not None
    fast = _run(words, True)
    monkeypatch.setattr(argv, "check_options", lambda w: None)
    assert _run(words, False) == fast


def test_the_lines_it_reads_never_import_click():
    # run() leaves through os._exit once the atexit handlers have run (__main__._leave)
    code = ("import atexit, sys\nsys.argv = ['deepseek-probe', 'check', '--snapshot', %r, '--format', 'json']\n"
            "atexit.register(lambda: sys.stderr.write('click imported: %%s' %% ('click' in sys.modules)))\n"
            "from deepseek_probe.__main__ import run\nrun()\n") % H100
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode in (0, 1, 2, 3) and proc.stdout.startswith("{")
    assert proc.stderr.endswith("click imported: False")
    proc = subprocess.run([sys.executable, "-c", code.replace("'json'", "'JSON'")], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)  # a line left to click: it is imported, and reads it
    assert proc.stdout.startswith("{") and proc.stderr.endswith("click imported: True")


def test_ctrl_c_reads_the_same_on_both_paths(monkeypatch):
    from deepseek_probe.snapshot import Snapshot

    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(Snapshot, "load", staticmethod(interrupted))
    words = ["check", "--snapshot", H100]
    fast = _run(words, True)
    monkeypatch.setattr(argv, "check_options", lambda w: None)
    assert _run(words, False) == fast == (130, "", "\ndeepseek-probe: aborted\n")
