"""Special files where a file was expected (issue 24, item 1): a FIFO, a device, a socket or a
symlink loop given as a model, a snapshot or a model config is exit 64 and one line naming what
it is; nothing blocks. Ctrl-C is exit 130 and the exit-code table says so."""

from __future__ import annotations

import os
import socket
import sys
import threading

import pytest

from conftest import REPO_DIR, SNAPSHOT_FIXTURES
from deepseek_probe import cli
from deepseek_probe.files import FileKindError, open_regular, stat_kind

H100 = os.path.join(SNAPSHOT_FIXTURES, "h100.json")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and AF_UNIX paths are POSIX")


def run(capsys, *argv):
    """cli.main in-process under a watchdog: a blocking open() fails the test instead of hanging."""
    box = {}

    def target():
        try:
            cli.main([str(a) for a in argv])
        except SystemExit as e:
            box["code"] = 0 if e.code is None else e.code

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(20)
    assert not t.is_alive(), f"hung on {argv}"
    out, err = capsys.readouterr()
    return box.get("code"), out, err


@pytest.fixture()
def odd(tmp_path):
    """A FIFO, a socket, a symlink loop and a folder holding a FIFO config.json."""
    os.mkfifo(tmp_path / "model.gguf")
    os.mkfifo(tmp_path / "snap.json")
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    (tmp_path / "loop.gguf").symlink_to(tmp_path / "a")
    (tmp_path / "cfg").mkdir()
    os.mkfifo(tmp_path / "cfg" / "config.json")
    sock = socket.socket(socket.AF_UNIX)
    sock_path = tmp_path / "s.json"
    try:
        sock.bind(str(sock_path))
    except OSError:  # path too long for sun_path on some systems
        sock_path = None
    yield tmp_path, sock_path
    sock.close()


def _one_line_64(code, out, err, *words):
    assert code == 64, (code, err)
    assert out == "" and "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    for w in words:
        assert w in err, (w, err)


def test_a_fifo_as_model_snapshot_or_config_is_named_and_exits_64(capsys, odd):
    d, _ = odd
    _one_line_64(*run(capsys, "check", "--snapshot", H100, "--model", d / "model.gguf"), "FIFO")
    _one_line_64(*run(capsys, "check", "--snapshot", d / "snap.json"), "FIFO", "snap.json")
    _one_line_64(*run(capsys, "estimate", "--model-config", d / "snap.json"), "FIFO")
    _one_line_64(*run(capsys, "estimate", "--model", d / "cfg"), "FIFO", "config.json")


def test_a_symlink_loop_is_named_as_a_loop_not_as_missing(capsys, odd):
    d, _ = odd
    for argv in (("estimate", "--model", d / "loop.gguf"), ("check", "--snapshot", d / "a"),
                 ("estimate", "--model-config", d / "a")):
        code, out, err = run(capsys, *argv)
        _one_line_64(code, out, err, "symlink loop")
        assert "no such file" not in err


def test_devices_and_sockets_are_refused_by_kind(capsys, odd):
    _, sock = odd
    _one_line_64(*run(capsys, "check", "--snapshot", "/dev/zero"), "character device")
    _one_line_64(*run(capsys, "estimate", "--model-config", "/dev/null"), "character device")
    if sock is not None:
        _one_line_64(*run(capsys, "check", "--snapshot", sock), "socket")


def test_fleet_reports_a_fifo_node_as_unreadable_without_blocking(capsys, odd, tmp_path):
    d, _ = odd
    code, out, err = run(capsys, "fleet", H100, d / "snap.json", "--format", "json")
    assert code in (0, 1, 2, 3), err
    assert "FIFO" in out


def test_open_regular_rechecks_the_descriptor_and_never_blocks_on_a_fifo(odd):
    d, _ = odd
    with pytest.raises(FileKindError) as e:
        open_regular(str(d / "model.gguf"))
    assert e.value.reason == "is a FIFO (named pipe), not a regular file"
    assert stat_kind(str(d / "cfg"), "folder")
    with pytest.raises(FileKindError):
        stat_kind(str(d / "cfg"), "file")
    with open_regular(H100) as f:
        assert f.read(1) == b"{"


def test_ctrl_c_exits_130_and_every_exit_code_table_lists_it(capsys, monkeypatch):
    from deepseek_probe.snapshot import Snapshot

    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(Snapshot, "load", staticmethod(interrupted))
    code, out, err = run(capsys, "check", "--snapshot", H100)
    # click prints a newline first (the terminal's ^C leaves the cursor mid-line), then our one line
    assert code == 130 and out == "" and "Traceback" not in err
    assert [line for line in err.splitlines() if line] == ["deepseek-probe: aborted"]
    assert "  130 interrupted" in cli.EXIT_HELP
    with open(os.path.join(REPO_DIR, "README.md"), encoding="utf-8") as f:
        assert "| 130 | interrupted" in f.read()
