"""CPU and memory probes on recorded /proc and /sys trees (fixtures/fs)."""

from __future__ import annotations

import os

import pytest

from conftest import FS_FIXTURES
from deepseek_probe.probes.cpu import count_cpu_list, probe_cpu
from deepseek_probe.probes.memory import probe_memory


def tree(name: str) -> str:
    return os.path.join(FS_FIXTURES, name)


def test_dev_machine_cpu_is_a_2_core_xeon_with_avx512_bf16_but_no_amx():
    cpu = probe_cpu(tree("dev-cgroup-v1"))
    assert cpu.model == "Intel(R) Xeon(R) Processor" and cpu.vendor == "GenuineIntel"
    assert cpu.arch == "x86_64"
    assert (cpu.logical_cores, cpu.physical_cores, cpu.usable_cores) == (2, 2, 2.0)
    assert {"avx2", "avx512f", "avx512_bf16", "avx512_vnni", "fma", "f16c"} <= set(cpu.flags)
    assert not any(f.startswith("amx") for f in cpu.flags)
    assert cpu.numa_nodes == 1
    assert cpu.unavailable == {}


@pytest.mark.parametrize("name, usable", [
    ("derived-cgroup-v2-docker", 4.0),  # cpu.max 400000 100000, affinity 0-31
    ("derived-cgroup-v2-k8s-nested", 2.5),  # leaf "max", pod slice 250000 100000
    ("derived-cgroup-v1-limited", 1.5),  # cfs_quota_us 150000 / cfs_period_us 100000
    ("dev-cgroup-v1", 2.0),  # quota -1: only affinity (0-1) limits
])
def test_usable_cores_is_the_tightest_of_affinity_and_cgroup_quota(name, usable):
    assert probe_cpu(tree(name)).usable_cores == usable


def test_arm_server_cpu_reports_neon_sve_and_two_numa_nodes():
    cpu = probe_cpu(tree("derived-arm64-grace"))
    assert cpu.arch == "aarch64"
    assert cpu.vendor == "ARM" and cpu.model == "Neoverse-V2"
    assert {"asimd", "sve2", "i8mm", "bf16"} <= set(cpu.flags)
    assert cpu.logical_cores == 4 and cpu.numa_nodes == 2


def test_missing_proc_cpuinfo_in_a_recorded_tree_gives_reasons_not_errors(tmp_path):
    cpu = probe_cpu(str(tmp_path))
    assert cpu.model is None and cpu.unavailable["model"] == "not_found"
    assert cpu.unavailable["usable_cores"] == "not_found"


@pytest.mark.parametrize("spec, count", [("0-1", 2), ("0-3,8,10-11", 7), ("5", 1), ("", None),
                                         ("x-y", None)])
def test_kernel_cpu_lists_are_counted(spec, count):
    assert count_cpu_list(spec) == count


def test_dev_machine_memory_from_recorded_proc_meminfo():
    mem = probe_memory(tree("dev-cgroup-v1"))
    text = open(os.path.join(tree("dev-cgroup-v1"), "proc/meminfo")).read()
    total_kib = int(text.split("MemTotal:")[1].split()[0])
    assert mem.total_bytes == total_kib * 1024
    assert 0 < mem.available_bytes <= mem.total_bytes
    assert mem.swap_total_bytes == 0
    assert mem.cgroup_version == 1
    assert mem.cgroup_limit_bytes is None  # v1 "unlimited" = 9223372036854771712
    assert "cgroup_limit_bytes" not in mem.unavailable
    assert mem.memlock_limit_bytes == 8 * 1024 * 1024  # /proc/self/limits: 8388608 bytes
    assert mem.shm_total_bytes == 24684092 * 1024  # mountinfo tmpfs size=24684092k


def test_cgroup_v1_memory_limit_on_the_process_cgroup():
    mem = probe_memory(tree("derived-cgroup-v1-limited"))
    assert mem.cgroup_version == 1 and mem.cgroup_limit_bytes == 8 * 2 ** 30


def test_docker_cgroup_v2_limits_shm_and_memlock():
    mem = probe_memory(tree("derived-cgroup-v2-docker"))
    assert mem.cgroup_version == 2
    assert mem.cgroup_limit_bytes == 16 * 2 ** 30
    assert mem.shm_total_bytes == 64 * 2 ** 20  # Docker's default --shm-size
    assert mem.memlock_limit_bytes == 65536


def test_kubernetes_pod_limit_applies_even_when_the_container_says_max():
    mem = probe_memory(tree("derived-cgroup-v2-k8s-nested"))
    assert mem.cgroup_version == 2 and mem.cgroup_limit_bytes == 32 * 2 ** 30


def test_live_memory_probe_reads_this_machine():
    mem = probe_memory("/")
    assert mem.total_bytes and mem.total_bytes > 0
    assert mem.available_bytes is not None


def test_numa_nodes_are_the_node_n_folders_as_re_would_match_them(tmp_path):
    import re

    from deepseek_probe.probes.cpu import numa_node_count

    names = ["node0", "node17", "node", "nodeX", "node1a", "node\u0663", "node²", "has_cpu", "online", "power"]
    for n in names:
        (tmp_path / "sys" / "devices" / "system" / "node" / n).mkdir(parents=True)
    assert numa_node_count(str(tmp_path)) == sum(1 for n in names if re.fullmatch(r"node\d+", n)) == 3
