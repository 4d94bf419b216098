"""Security and privacy (issue 6): no network, no writes except --output, no root needed, and
ticket reports that name no board, host or person."""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import textwrap

import pytest

from conftest import FS_FIXTURES, NVML_FIXTURES, REPO_DIR, SNAPSHOT_FIXTURES
from fake_nvml import FakeNvml
from deepseek_probe import assess  # noqa: E402
from deepseek_probe import runtimes
from deepseek_probe import cli, profiles, report, rules
from deepseek_probe.probes import take_snapshot
from deepseek_probe.snapshot import Snapshot

H100 = os.path.join(SNAPSHOT_FIXTURES, "h100.json")
FLEET = os.path.join(os.path.dirname(SNAPSHOT_FIXTURES), "fleet", "h200x8-ib")
SNAPSHOT_NAMES = sorted(n[:-5] for n in os.listdir(SNAPSHOT_FIXTURES) if n.endswith(".json"))
REPORT_FORMATS = ("markdown", "text", "json", "prometheus")


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def clean_env(tmp_path, **extra):
    """A child environment with HOME in tmp_path and no cache or model dirs from this user; the
    package under test (this checkout) first on PYTHONPATH, whatever the child's working folder."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HF_", "XDG_", "HUGGINGFACE", "TRANSFORMERS_", "DEEPSEEK_PROBE"))}
    env.update(HOME=str(tmp_path / "home"), **extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (extra.get("PYTHONPATH"), REPO_DIR, os.environ.get("PYTHONPATH"))
                                        if p)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def deepseek_probe(*argv, env, cwd, user_prefix=()):
    return subprocess.run([*user_prefix, sys.executable, "-m", "deepseek_probe", *argv], env=env,
                          cwd=cwd, capture_output=True, text=True, timeout=120)


# --- no network ----------------------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch):
    """Every way to reach another host raises and is recorded."""
    attempts = []

    def forbid(name):
        def blocked(*args, **kwargs):
            attempts.append(name)
            raise OSError(f"network forbidden in this test: {name}")
        return blocked

    for name in ("connect", "connect_ex", "sendto", "sendmsg", "bind", "listen"):
        monkeypatch.setattr(socket.socket, name, forbid(f"socket.{name}"))
    for name in ("create_connection", "getaddrinfo", "gethostbyname", "gethostbyname_ex",
                 "gethostbyaddr", "getfqdn"):
        monkeypatch.setattr(socket, name, forbid(name))
    return attempts


def test_the_network_guard_catches_a_connection(no_network):
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    with pytest.raises(OSError):
        socket.socket().connect(("127.0.0.1", 9))
    assert no_network == ["create_connection", "socket.connect"]


@pytest.mark.parametrize("argv", [
    ["check", "--model", "7b"],  # the live probe of this machine
    ["check", "--format", "json"],
    ["probe"],
    ["probe", "--format", "text", "--redact"],
    ["check", "--snapshot", H100, "--format", "markdown"],
    ["fleet", FLEET],
    ["estimate", "--model", "671b", "--runtime", "vllm"],
    ["plan", "--model", "70b"],
    ["models"],
])
def test_no_command_opens_a_network_connection(capsys, no_network, argv):
    code, out, err = run(capsys, *argv)
    assert no_network == [], f"{argv} tried {no_network}"
    assert code in (0, 1, 2, 3), err


def test_the_real_command_makes_no_network_call_under_a_socket_guard(tmp_path):
    """A sitecustomize that makes every socket call fail loudly on fd 2, loaded into the real
    `python -m deepseek_probe` (probe and check of this machine)."""
    guard = tmp_path / "guard"
    guard.mkdir()
    loaded = tmp_path / "guard-loaded"
    (guard / "sitecustomize.py").write_text(textwrap.dedent(f"""\
        import os, socket

        open({str(loaded)!r}, "w").close()

        def _forbid(name):
            def blocked(*args, **kwargs):
                os.write(2, ("NETWORK-ATTEMPT " + name + "\\n").encode())
                raise OSError("network forbidden")
            return blocked

        for _name in ("connect", "connect_ex", "sendto", "sendmsg", "bind", "listen"):
            setattr(socket.socket, _name, _forbid("socket." + _name))
        for _name in ("create_connection", "getaddrinfo", "gethostbyname", "gethostbyname_ex",
                      "gethostbyaddr", "getfqdn"):
            setattr(socket, _name, _forbid(_name))
        """))
    (tmp_path / "home").mkdir()
    env = clean_env(tmp_path, PYTHONPATH=str(guard))
    control = subprocess.run([sys.executable, "-c", "import socket\ntry:\n"
                              " socket.create_connection(('127.0.0.1', 9), timeout=1)\n"
                              "except OSError:\n pass"],
                             env=env, capture_output=True, text=True, timeout=60)
    assert "NETWORK-ATTEMPT create_connection" in control.stderr  # the guard does see calls
    for argv in (["probe"], ["check", "--model", "7b"], ["check", "--snapshot", H100]):
        proc = deepseek_probe(*argv, env=env, cwd=str(tmp_path))
        assert loaded.exists(), "the socket guard was not loaded"
        assert "NETWORK-ATTEMPT" not in proc.stderr, (argv, proc.stderr)
        assert proc.returncode in (0, 1, 2, 3), (argv, proc.stderr)


# --- writes nothing but --output -------------------------------------------------------------


def tree(root):
    """Every path under root with its type, size and modification time."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            out[os.path.relpath(path, root)] = (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns)
    return out


def test_the_tool_writes_nothing_except_its_output_file(tmp_path):
    (tmp_path / "home").mkdir()
    (tmp_path / "work").mkdir()
    snapshot = tmp_path / "work" / "h100.json"
    shutil.copy(H100, snapshot)
    env = clean_env(tmp_path)
    cwd = str(tmp_path / "work")
    # The child must run this checkout's package: a child that cannot import it writes nothing
    # either, and would pass the tree comparison below for the wrong reason.
    where = subprocess.run([sys.executable, "-c", "import deepseek_probe; print(deepseek_probe.__file__)"],
                           env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert where.returncode == 0, where.stderr
    assert os.path.realpath(where.stdout.strip()).startswith(os.path.realpath(REPO_DIR) + os.sep)
    before = tree(tmp_path)
    # (argv, exit codes it may give, what its stdout must start with): each command really ran.
    for argv, codes, starts in (
            (["check"], (0, 1, 2, 3), "deepseek-probe "),
            (["check", "--model", "7b", "--format", "json"], (0, 1, 2, 3), "{"),
            (["probe"], (0,), "{"), (["probe", "--format", "text"], (0,), ""),
            (["check", "--snapshot", str(snapshot)], (0, 1, 2, 3), "deepseek-probe "),
            (["estimate", "--model", "7b"], (0,), "deepseek-llm-7b "),
            (["plan", "--model", "33b"], (0,), ""), (["models"], (0,), "model "),
            (["check", "--context", "0"], (64,), None), (["fleet", str(snapshot)], (0, 1, 2, 3), "")):
        proc = deepseek_probe(*argv, env=env, cwd=cwd)
        assert "Traceback" not in proc.stderr, (argv, proc.stderr)
        assert proc.returncode in codes, (argv, proc.returncode, proc.stderr)
        if starts is None:
            assert proc.stdout == "" and proc.stderr.startswith("deepseek-probe: error: "), (argv, proc.stderr)
        else:
            assert proc.stdout.strip() and proc.stdout.startswith(starts), (argv, proc.stdout[:200])
    assert tree(tmp_path) == before, "a command wrote to the working directory or HOME"
    # The default model directory (~/.cache/huggingface/hub) is probed, never created.
    assert not (tmp_path / "home" / ".cache").exists()

    proc = deepseek_probe("check", "--snapshot", str(snapshot), "--format", "markdown",
                          "--output", "report.md", env=env, cwd=cwd)
    assert proc.returncode in (0, 1, 2, 3) and proc.stdout == ""
    after = tree(tmp_path)
    assert set(after) - set(before) == {os.path.join("work", "report.md")}
    changed = {p for p in before if after.get(p) != before[p] and p != "work"}
    assert changed == set(), changed  # only the directory holding report.md changed


# --- no root needed ----------------------------------------------------------------------------


def _as_nobody():
    """A command prefix that runs as `nobody`, or None with the reason it cannot."""
    if os.geteuid() != 0:
        return (), None  # already not root
    for tool, prefix in (("setpriv", ["setpriv", "--reuid=nobody", "--regid=nogroup",
                                      "--clear-groups"]),
                         ("runuser", ["runuser", "-u", "nobody", "--"])):
        if shutil.which(tool):
            probe = subprocess.run([*prefix, sys.executable, "-c", "import deepseek_probe"],
                                   capture_output=True, text=True, timeout=60, cwd="/")
            if probe.returncode == 0:
                return prefix, None
            return None, f"nobody cannot import the package here: {probe.stderr.strip()[-200:]}"
    return None, "running as root and neither setpriv nor runuser is installed"


def test_check_and_probe_work_without_root(tmp_path):
    prefix, why = _as_nobody()
    if prefix is None:
        pytest.skip(why)
    tmp_path.chmod(0o777)
    (tmp_path / "home").mkdir(mode=0o777)
    env = clean_env(tmp_path)
    proc = deepseek_probe("probe", env=env, cwd=str(tmp_path), user_prefix=prefix)
    assert proc.returncode == 0, proc.stderr
    snap = Snapshot.from_json(proc.stdout)
    # The file probes need no privilege: RAM, CPU and disk are all read.
    assert snap.memory.available_bytes is not None, snap.memory.unavailable
    assert snap.cpu.logical_cores is not None, snap.cpu.unavailable
    assert snap.disk.free_bytes is not None, snap.disk.unavailable
    for argv in (["check", "--model", "7b"], ["check", "--snapshot", H100, "--format", "json"]):
        proc = deepseek_probe(*argv, env=env, cwd=str(tmp_path), user_prefix=prefix)
        assert proc.returncode in (0, 1, 2, 3), (argv, proc.stderr)
        assert proc.stderr == "" and proc.stdout.strip()


# --- ticket reports name no board, host or person ---------------------------------------------

HOSTNAME = "gpu-node-17.corp.example.com"
USER = "alice.smith"


def with_secrets(snap: Snapshot) -> Snapshot:
    """The fixture as a user's machine would show it: a real host name, a home directory and
    GPUs chosen by UUID."""
    snap = copy.deepcopy(snap)
    snap.system.hostname = HOSTNAME
    snap.disk.path = f"/home/{USER}/.cache/huggingface/hub"
    snap.cuda.libcudart_path = f"/home/{USER}/miniconda3/lib/libcudart.so.13"
    if snap.gpus and snap.gpus[0].uuid:
        snap.cuda.cuda_visible_devices = ",".join(g.uuid for g in snap.gpus if g.uuid and g.visible)
    return snap


def secrets_in(snap: Snapshot):
    found = {HOSTNAME, HOSTNAME.split(".")[0], USER}
    if snap.system.hostname and len(snap.system.hostname) >= 5:
        found.add(snap.system.hostname)
    for g in snap.gpus:
        if g.serial:
            found.add(g.serial)
        if g.uuid:
            found.add(g.uuid)
            found.add(g.uuid.split("-", 1)[1])  # the hex body, whatever prefix is written
    return found


@pytest.mark.parametrize("name", SNAPSHOT_NAMES)
def test_reports_of_every_fixture_leak_no_serial_uuid_hostname_or_user(capsys, tmp_path, name):
    snap = with_secrets(Snapshot.load(os.path.join(SNAPSHOT_FIXTURES, name + ".json")))
    path = tmp_path / "snapshot.json"
    path.write_text(snap.to_json())
    secrets = secrets_in(snap)
    for fmt in REPORT_FORMATS:
        code, out, err = run(capsys, "check", "--snapshot", path, "--format", fmt,
                             "--model", "7b", "--model", "671b", "--runtime", "vllm")
        assert code in (0, 1, 2, 3), err
        leaked = sorted(s for s in secrets if s in out)
        assert not leaked, f"{fmt} report of {name} leaks {leaked}"
    # Control: without redaction the same report does carry them (the test can fail).
    code, out, _ = run(capsys, "check", "--snapshot", path, "--format", "json", "--no-redact")
    assert HOSTNAME in out and USER in out
    assert all(g.serial in out for g in snap.gpus if g.serial)


@pytest.mark.parametrize("name", SNAPSHOT_NAMES)
def test_probe_redact_leaks_nothing(capsys, tmp_path, monkeypatch, name):
    snap = with_secrets(Snapshot.load(os.path.join(SNAPSHOT_FIXTURES, name + ".json")))
    from deepseek_probe import probes

    monkeypatch.setattr(probes, "take_snapshot", lambda **kwargs: copy.deepcopy(snap))
    for fmt in ("json", "text"):
        code, out, _ = run(capsys, "probe", "--redact", "--format", fmt)
        assert code == 0
        leaked = sorted(s for s in secrets_in(snap) if s in out)
        assert not leaked, f"probe --redact --format {fmt} leaks {leaked}"


def _recording(name):
    with open(os.path.join(NVML_FIXTURES, name + ".json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.mark.parametrize("tree_name", sorted(os.listdir(FS_FIXTURES)))
def test_reports_of_every_recorded_tree_leak_no_host_name_or_gpu_id(tree_name):
    """Probe each recorded /proc-/sys tree (its own host name) with the 8-GPU NVML recording,
    CUDA_VISIBLE_DEVICES naming GPUs by UUID and by UUID prefix, a model dir under /home."""
    rec = _recording("derived-8gpu-mixed")
    uuids = [g["nvmlDeviceGetUUID"]["value"] for g in rec["gpus"]]
    env = {"CUDA_VISIBLE_DEVICES": f"{uuids[0]},{uuids[5]}"}
    snap = take_snapshot(nvml=FakeNvml(rec), root=os.path.join(FS_FIXTURES, tree_name),
                         environ=env)
    snap.disk.path = f"/home/{USER}/models"
    specs = [profiles.get_model(m) for m in ("7b", "236b")]
    result = assess.check(snap, [(s, runtimes.default_settings(s)) for s in specs])
    secrets = secrets_in(snap) - {HOSTNAME, HOSTNAME.split(".")[0]}
    for fmt in REPORT_FORMATS:
        out = report.render(result, fmt)
        leaked = sorted(s for s in secrets if s in out)
        assert not leaked, f"{fmt} report of {tree_name} leaks {leaked}"


def test_a_uuid_prefix_in_cuda_visible_devices_is_redacted(capsys, tmp_path):
    """CUDA accepts a unique UUID prefix (`GPU-2678d70c`); it still names one board."""
    snap = Snapshot.load(os.path.join(SNAPSHOT_FIXTURES, "2xh200.json"))
    prefix = snap.gpus[1].uuid[:len("GPU-") + 8]
    snap.cuda.cuda_visible_devices = prefix
    snap.gpus[0].visible = False
    path = tmp_path / "snapshot.json"
    path.write_text(snap.to_json())
    for fmt in REPORT_FORMATS:
        code, out, _ = run(capsys, "check", "--snapshot", path, "--format", fmt, "--model", "7b")
        assert prefix[len("GPU-"):] not in out, fmt



def test_a_secret_spelled_like_a_json_literal_does_not_break_the_json_report():
    # found by hypothesis: a GPU serial "false" turned `"visible": false` into `<redacted>`
    from deepseek_probe.redact import redact_text

    text = '{"serial": "false", "visible": false, "ecc": null}'
    assert json.loads(redact_text(text, ["false", "null"]))["visible"] is False
