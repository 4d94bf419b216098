"""The integration examples (examples/): they parse, and they run here wherever they can.

- YAML (Ansible playbook, Kubernetes manifests) is parsed with PyYAML (skipped without it) and
  checked for what the examples promise: fetch per host, nvidia.com/gpu through the device
  plugin, hostPath output, runAsNonRoot, readOnlyRootFilesystem.
- Shell (Slurm batch script, Kubernetes gather script, the scripts inside the manifests) passes
  `bash -n` / `sh -n`.
- The Slurm script and the Kubernetes gather script run for real against this machine, with
  `srun`/`scontrol`/`kubectl` replaced by small stand-ins that act out a 3-node allocation /
  cluster; every `deepseek-probe` call in them is the real CLI.
- The Ansible playbook runs for real against localhost (local connection) when
  ansible-playbook is installed.

Set DEEPSEEK_PROBE_CLI to use another deepseek-probe binary, ANSIBLE_PLAYBOOK for another
ansible-playbook.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(REPO, "examples")
PLAYBOOK = os.path.join(EXAMPLES, "ansible", "fleet-check.yml")
SBATCH = os.path.join(EXAMPLES, "slurm", "fleet-check.sbatch")
GATHER = os.path.join(EXAMPLES, "kubernetes", "gather.sh")
DAEMONSET = os.path.join(EXAMPLES, "kubernetes", "daemonset.yaml")
JOB = os.path.join(EXAMPLES, "kubernetes", "job.yaml")
H200_NODE = os.path.join(REPO, "fixtures", "fleet", "h200x8-ib", "node01.json")


def cli() -> str:
    found = os.environ.get("DEEPSEEK_PROBE_CLI") or os.path.join(os.path.dirname(sys.executable),
                                                                 "deepseek-probe")
    if not os.path.exists(found):
        found = shutil.which("deepseek-probe") or ""
    if not found:
        pytest.skip("deepseek-probe is not installed in this environment")
    return found


def fleet_cli() -> str:
    """The CLI, if it has the `fleet` command (the examples call it)."""
    path = cli()
    if subprocess.run([path, "fleet", "--help"], capture_output=True).returncode != 0:
        pytest.skip("`deepseek-probe fleet` is not wired into the CLI yet")
    return path


def load_yaml_docs(path: str):
    yaml = pytest.importorskip("yaml", reason="PyYAML is needed to parse the YAML examples")
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def write_exe(path, text: str) -> None:
    path.write_text(textwrap.dedent(text).lstrip())
    path.chmod(0o755)


# --- syntax ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("script", [SBATCH, GATHER])
def test_shell_scripts_pass_bash_syntax_check(script):
    run = subprocess.run(["bash", "-n", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("script", [SBATCH, GATHER])
def test_shell_scripts_are_executable(script):
    assert os.access(script, os.X_OK)


def test_sbatch_directives_ask_for_one_task_per_node():
    with open(SBATCH) as f:
        directives = [line.split()[1] for line in f if line.startswith("#SBATCH ")]
    assert "--ntasks-per-node=1" in directives


def test_every_yaml_example_parses():
    for folder in ("ansible", "kubernetes"):
        for name in sorted(os.listdir(os.path.join(EXAMPLES, folder))):
            if name.endswith((".yml", ".yaml")):
                assert load_yaml_docs(os.path.join(EXAMPLES, folder, name)), name


def test_playbook_fetches_one_snapshot_per_host_then_runs_fleet_on_the_controller():
    (gather, evaluate) = load_yaml_docs(PLAYBOOK)[0]
    fetch = [t["ansible.builtin.fetch"] for t in gather["tasks"] if "ansible.builtin.fetch" in t]
    assert fetch and fetch[0]["flat"] is True and "inventory_hostname" in fetch[0]["dest"]
    assert gather.get("ignore_unreachable") is True
    assert evaluate["hosts"] == "localhost" and evaluate["connection"] == "local"
    cmds = [t["ansible.builtin.command"]["cmd"] for t in evaluate["tasks"] if "ansible.builtin.command" in t]
    assert any(" fleet " in c for c in cmds)


def _pod_specs(path: str):
    for doc in load_yaml_docs(path):
        if doc["kind"] in ("DaemonSet", "Job"):
            yield doc["kind"], doc["spec"]["template"]["spec"]


@pytest.mark.parametrize("path", [DAEMONSET, JOB])
def test_manifests_run_as_non_root_with_a_read_only_root_and_a_hostpath_output(path):
    for _kind, pod in _pod_specs(path):
        assert pod["securityContext"]["runAsNonRoot"] is True
        for c in pod["containers"]:
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert any(m["mountPath"] == "/out" for m in c["volumeMounts"])
        out = [v for v in pod["volumes"] if v["name"] == "out"]
        assert out and out[0]["hostPath"]["path"] == "/var/lib/deepseek-probe"
        assert pod["hostNetwork"] is True  # the node's NICs, not the pod's veth


def test_job_gets_its_gpus_through_the_nvidia_device_plugin():
    ((kind, pod),) = list(_pod_specs(JOB))
    limits = pod["containers"][0]["resources"]["limits"]
    assert int(limits["nvidia.com/gpu"]) >= 1


def test_daemonset_holds_no_gpu_so_serving_pods_can_be_scheduled():
    ((kind, pod),) = list(_pod_specs(DAEMONSET))
    for c in pod["containers"]:
        assert "nvidia.com/gpu" not in c.get("resources", {}).get("limits", {})


@pytest.mark.parametrize("path", [DAEMONSET, JOB])
def test_scripts_inside_the_manifests_pass_sh_syntax_check(path):
    for _kind, pod in _pod_specs(path):
        for c in pod.get("initContainers", []) + pod["containers"]:
            cmd = c.get("command") or []
            if cmd[:2] == ["/bin/sh", "-c"]:
                run = subprocess.run(["sh", "-n", "-c", cmd[2]], capture_output=True, text=True)
                assert run.returncode == 0, (c["name"], run.stderr)


# --- Slurm, for real on this machine with stand-ins for srun and scontrol --------------------------


def _fake_slurm(tmp_path, fail_node: str = ""):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    # srun runs the task once per node of the allocation, with that node's SLURMD_NODENAME.
    write_exe(bindir / "srun", f"""
        #!/usr/bin/env bash
        while [[ "$1" == -* ]]; do shift; done
        rc=0
        for node in $FAKE_NODES; do
          if [ "$node" = "{fail_node}" ]; then rc=1; continue; fi
          SLURMD_NODENAME=$node "$@" || rc=$?
        done
        exit $rc
    """)
    write_exe(bindir / "scontrol", """
        #!/usr/bin/env bash
        [ "$1 $2" = "show hostnames" ] || exit 2
        for node in $FAKE_NODES; do echo "$node"; done
    """)
    return bindir


def test_slurm_script_writes_one_snapshot_per_node_and_names_the_node_that_failed(tmp_path):
    exe = fleet_cli()
    bindir = _fake_slurm(tmp_path, fail_node="gpu03")
    snapdir = tmp_path / "shared"
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "DEEPSEEK_PROBE": exe,
           "FAKE_NODES": "gpu01 gpu02 gpu03", "SLURM_JOB_NODELIST": "gpu[01-03]", "SLURM_JOB_ID": "4242",
           "SNAPSHOT_DIR": str(snapdir), "FLEET_MODEL": "7b", "FLEET_FORMAT": "json"}
    run = subprocess.run(["bash", SBATCH], capture_output=True, text=True, env=env, timeout=120)
    assert sorted(os.listdir(snapdir)) == ["fleet-report.json", "gpu01.json", "gpu02.json"]
    report = json.loads((snapdir / "fleet-report.json").read_text())
    status = {n["node"]: n["status"] for n in report["nodes"]}
    assert status == {"gpu01": "ok", "gpu02": "ok", "gpu03": "unreadable"}
    assert run.returncode == report["exit_code"]  # the job's exit code is fleet's


def test_slurm_script_outside_an_allocation_exits_64(tmp_path):
    bindir = _fake_slurm(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update({"PATH": f"{bindir}:{os.environ['PATH']}", "DEEPSEEK_PROBE": "true", "FAKE_NODES": "",
                "SNAPSHOT_DIR": str(tmp_path / "s")})
    run = subprocess.run(["bash", SBATCH], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 64


# --- Kubernetes gather script, with a stand-in kubectl over recorded snapshots -----------------------


def test_gather_collects_each_nodes_snapshot_and_names_nodes_without_one(tmp_path):
    exe = fleet_cli()
    store = tmp_path / "hostpaths"
    store.mkdir()
    shutil.copy(H200_NODE, store / "gpu-a.json")
    shutil.copy(H200_NODE, store / "gpu-b.json")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    # Three GPU nodes; gpu-a and gpu-b run a probe pod, gpu-c has none (e.g. a taint not tolerated).
    write_exe(bindir / "kubectl", f"""
        #!/usr/bin/env bash
        args="$*"
        case "$args" in
          "get nodes -l nvidia.com/gpu.present=true "*) printf 'gpu-a\\ngpu-b\\ngpu-c\\n' ;;
          *" get pods "*) printf 'gpu-a deepseek-probe-x1\\ngpu-b deepseek-probe-x2\\n' ;;
          *" exec "*" -- cat /out/"*) cat "{store}/$(basename "${{@: -1}}")" ;;
          *) echo "unexpected kubectl $args" >&2; exit 2 ;;
        esac
    """)
    out = tmp_path / "snapshots"
    env = {**os.environ, "KUBECTL": str(bindir / "kubectl"), "DEEPSEEK_PROBE": exe}
    run = subprocess.run([GATHER, str(out), "--model", "671b", "--runtime", "vllm", "--precision", "bf16",
                          "--format", "json"], capture_output=True, text=True, env=env, timeout=120)
    report = json.loads(run.stdout)
    status = {n["node"]: n["status"] for n in report["nodes"]}
    assert status == {"gpu-a": "ok", "gpu-b": "ok", "gpu-c": "unreadable"}
    assert "gpu-c" in run.stderr  # "no running deepseek-probe pod on gpu-c"
    assert report["profiles"][0]["plan"]["pipeline_parallel"] == 2
    assert run.returncode == report["exit_code"] == 1  # ready, with a warning about gpu-c


# --- Ansible, for real against localhost ----------------------------------------------------------


def _ansible_playbook() -> str:
    beside_python = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    path = (os.environ.get("ANSIBLE_PLAYBOOK") or shutil.which("ansible-playbook")
            or (beside_python if os.path.exists(beside_python) else None))
    if not path:
        pytest.skip("ansible-playbook not installed (pip install ansible-core)")
    return path


def test_ansible_playbook_gathers_snapshots_and_runs_fleet_against_localhost(tmp_path):
    playbook = _ansible_playbook()
    exe = fleet_cli()
    # Two inventory hosts on a local connection: "localhost" probes this machine for real;
    # "ghost" has a probe command that fails, so its snapshot is never fetched and fleet must
    # name it.
    (tmp_path / "inventory.ini").write_text(textwrap.dedent(f"""
        [gpu_nodes]
        localhost ansible_connection=local ansible_python_interpreter={sys.executable} deepseek_probe_cmd={exe}
        ghost ansible_connection=local ansible_python_interpreter={sys.executable} deepseek_probe_cmd=false
    """))
    snapdir = tmp_path / "snapshots"
    extra = {"controller_snapshot_dir": str(snapdir), "remote_snapshot_dir": str(tmp_path / "remote"),
             "controller_deepseek_probe_cmd": exe, "fleet_model": "7b", "fleet_format": "json",
             "fleet_report": str(tmp_path / "report.json"), "fleet_allowed_exit_codes": [0, 1, 2, 3]}
    env = {**os.environ, "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ans-local"),
           "ANSIBLE_REMOTE_TEMP": str(tmp_path / "ans-remote"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_RETRY_FILES_ENABLED": "False"}
    start = time.perf_counter()
    run = subprocess.run([playbook, "-i", str(tmp_path / "inventory.ini"), PLAYBOOK,
                          "-e", json.dumps(extra)],
                         capture_output=True, text=True, env=env, timeout=300)
    took = time.perf_counter() - start
    assert (snapdir / "localhost.json").exists(), run.stdout[-3000:]
    assert not (snapdir / "ghost.json").exists()
    report = json.loads((tmp_path / "report.json").read_text())
    status = {n["node"]: n["status"] for n in report["nodes"]}
    assert status == {"localhost": "ok", "ghost": "unreadable"}
    # The controller play passed its gate; only ghost's probe task failed.
    assert "Gate on the fleet verdict" in run.stdout and "ghost" in run.stdout
    print(f"ansible-playbook run took {took:.1f} s")
