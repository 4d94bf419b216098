"""Disk and system probes: mount lookup, rotational, HF cache dir, container and WSL."""

from __future__ import annotations

import os

import pytest

from conftest import FS_FIXTURES
from deepseek_probe.probes import _read
from deepseek_probe.probes.disk import default_model_dir, mount_for, probe_disk, rotational
from deepseek_probe.probes.system import probe_system


def tree(name: str) -> str:
    return os.path.join(FS_FIXTURES, name)


def mount_of(name: str, path: str):
    return mount_for(_read.read_mountinfo(tree(name)), path)


def test_models_bind_mount_is_found_by_longest_prefix_on_an_nvme_partition():
    m = mount_of("derived-cgroup-v2-docker", "/models/deepseek-v3")
    assert (m.mount_point, m.fstype, m.source) == ("/models", "ext4", "/dev/nvme0n1p1")
    # nvme0n1p1 has no queue of its own: its disk nvme0n1 says 0 (SSD)
    assert rotational(tree("derived-cgroup-v2-docker"), m.major_minor, m.source) is False


def test_a_sibling_path_with_the_same_prefix_is_not_inside_the_mount():
    m = mount_of("derived-cgroup-v2-docker", "/models2/x")
    assert m.mount_point == "/" and m.fstype == "overlay"


def test_overlay_root_has_no_block_device_to_ask():
    m = mount_of("derived-cgroup-v2-docker", "/root/.cache/huggingface/hub")
    assert rotational(tree("derived-cgroup-v2-docker"), m.major_minor, m.source) is None


def test_dev_machine_root_is_ext4_on_virtio_vda():
    m = mount_of("dev-cgroup-v1", "/root")
    assert (m.fstype, m.source, m.major_minor) == ("ext4", "/dev/vda", "254:0")
    assert rotational(tree("dev-cgroup-v1"), m.major_minor, m.source) is True  # recorded "1"


def test_mountinfo_escapes_are_decoded():
    mounts = _read.parse_mountinfo(
        "40 27 8:1 / /mnt/my\\040models rw - ext4 /dev/sda1 rw\n")
    assert mounts[0].mount_point == "/mnt/my models"


@pytest.mark.parametrize("env, expected", [
    ({"HF_HUB_CACHE": "/data/hub"}, "/data/hub"),
    ({"HF_HOME": "/data/hf"}, "/data/hf/hub"),
    ({"XDG_CACHE_HOME": "/xdg"}, "/xdg/huggingface/hub"),
    ({"HF_HUB_CACHE": "/a", "HF_HOME": "/b"}, "/a"),
])
def test_default_model_dir_follows_huggingface_hub(env, expected):
    assert default_model_dir(env) == expected


def test_disk_probe_measures_the_nearest_existing_ancestor_of_a_missing_dir(tmp_path):
    wanted = str(tmp_path / "not" / "yet" / "there")
    disk = probe_disk(wanted)
    assert disk.path == wanted
    st = os.statvfs(str(tmp_path))
    assert disk.total_bytes == st.f_blocks * st.f_frsize
    assert disk.fstype is not None


@pytest.mark.parametrize("name, container, wsl, release", [
    ("census-h100", "docker", False, "Ubuntu 24.04.3 LTS"),
    ("dev-cgroup-v1", "docker", False, "Debian GNU/Linux 12 (bookworm)"),
    ("derived-podman", "podman", False, "Fedora Linux 40 (Container Image)"),
    ("derived-cgroup-v2-k8s-nested", "kubernetes", False, None),
    ("derived-wsl2", None, True, "Ubuntu 22.04.5 LTS"),
])
def test_container_and_wsl_are_recognised_from_recorded_files(name, container, wsl, release):
    info = probe_system(tree(name), environ={})
    assert info.container == container
    assert info.wsl is wsl
    assert info.os_release == release


def test_kubernetes_env_var_marks_a_pod_even_without_files(tmp_path):
    assert probe_system(str(tmp_path), environ={"KUBERNETES_SERVICE_HOST": "10.0.0.1"}).container \
        == "kubernetes"


def test_wsl_distro_env_marks_wsl(tmp_path):
    assert probe_system(str(tmp_path), environ={"WSL_DISTRO_NAME": "Ubuntu"}).wsl is True


def test_recorded_kernel_and_hostname_come_from_proc_sys():
    info = probe_system(tree("derived-wsl2"), environ={})
    assert info.kernel == "5.15.167.4-microsoft-standard-WSL2"
    assert info.hostname == "DESKTOP-7QK2M4L" and info.os_name == "Linux"


def test_bare_tree_is_not_a_container(tmp_path):
    info = probe_system(str(tmp_path), environ={})
    assert info.container is None and info.wsl is False
    assert info.unavailable["os_release"] == "not_found"


def test_a_partition_s_parent_disk_is_worked_out_only_when_the_device_s_own_queue_does_not_answer(tmp_path, monkeypatch):
    from deepseek_probe.probes import disk

    queue = tmp_path / "sys" / "devices" / "virtual" / "block" / "vda" / "queue"
    queue.mkdir(parents=True)
    (queue / "rotational").write_text("1\n")
    (tmp_path / "sys" / "dev" / "block").mkdir(parents=True)
    (tmp_path / "sys" / "dev" / "block" / "254:0").symlink_to(queue.parent)

    def not_needed(name):
        raise AssertionError("the partition's parent was worked out though the device answered")

    monkeypatch.setattr(disk, "_partition_parent", not_needed)
    assert disk.rotational(str(tmp_path), "254:0", "/dev/vda") is True


def test_os_kernel_arch_is_what_platform_says():
    import platform

    from deepseek_probe.probes.system import os_kernel_arch

    assert os_kernel_arch(os.uname()) == (platform.system(), platform.release(), platform.machine())
    assert os_kernel_arch(None) == (platform.system(), platform.release(), platform.machine())
