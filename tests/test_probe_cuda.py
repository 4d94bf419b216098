"""Toolkit and library discovery without subprocesses (fixtures/fs trees + tmp toolkits)."""

from __future__ import annotations

import json
import os
import stat

import pytest

from conftest import FS_FIXTURES
from deepseek_probe.probes import cuda


def make_nvcc(toolkit) -> str:
    bin_dir = toolkit / "bin"
    bin_dir.mkdir(parents=True)
    nvcc = bin_dir / "nvcc"
    nvcc.write_text("#!/bin/sh\nexit 1\n")
    nvcc.chmod(nvcc.stat().st_mode | stat.S_IXUSR)
    return str(nvcc)


def test_driver_version_is_read_from_the_kernel_module_file():
    assert cuda.driver_version_from_proc(os.path.join(FS_FIXTURES, "census-h100")) == "580.159.04"


def test_older_driver_version_line_format():
    text = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n"
    assert cuda.driver_version_in(text) == "535.104.05"


def test_toolkit_version_json(tmp_path):
    nvcc = make_nvcc(tmp_path / "cuda-12.4")
    (tmp_path / "cuda-12.4" / "version.json").write_text(json.dumps(
        {"cuda": {"name": "CUDA SDK", "version": "12.4.1"}, "cuda_nvcc": {"version": "12.4.131"}}))
    assert cuda.toolkit_version(nvcc) == "12.4"


def test_toolkit_version_txt_of_cuda_11_0(tmp_path):
    nvcc = make_nvcc(tmp_path / "cuda-11.0")
    (tmp_path / "cuda-11.0" / "version.txt").write_text("CUDA Version 11.0.228\n")
    assert cuda.toolkit_version(nvcc) == "11.0"


def test_wheel_built_toolkit_is_read_from_its_dist_info(tmp_path):
    nvcc = make_nvcc(tmp_path / "cuda-13.0")
    (tmp_path / "cuda-13.0" / "dist-info" / "nvidia_cuda_nvcc-13.0.88.dist-info").mkdir(parents=True)
    assert cuda.toolkit_version(nvcc) == "13.0"


def test_toolkit_version_from_the_runtime_header(tmp_path):
    nvcc = make_nvcc(tmp_path / "cuda")
    (tmp_path / "cuda" / "include").mkdir()
    (tmp_path / "cuda" / "include" / "cuda_runtime_api.h").write_text(
        "/* header */\n#define CUDART_VERSION  12080\n")
    assert cuda.toolkit_version(nvcc) == "12.8"


def test_a_wrapper_script_on_path_leads_to_the_real_toolkit(tmp_path):
    real = make_nvcc(tmp_path / "cuda-12.6")
    (tmp_path / "cuda-12.6" / "version.json").write_text('{"cuda": {"version": "12.6.3"}}')
    wrapper_dir = tmp_path / "usr-local-bin"
    wrapper_dir.mkdir()
    wrapper = wrapper_dir / "nvcc"
    wrapper.write_text(f'#!/bin/sh\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    assert cuda.toolkit_version(str(wrapper)) == "12.6"


def test_no_nvcc_on_path_is_not_found(tmp_path):
    info = cuda.probe_toolkit(str(tmp_path), environ={"PATH": "/usr/bin:/bin"})
    assert info.nvcc_version is None and info.unavailable["nvcc_version"] == "not_found"
    assert info.unavailable["libcuda_path"] == "not_found"


def test_ld_so_conf_includes_are_followed():
    dirs = cuda.loader_search_dirs(os.path.join(FS_FIXTURES, "dev-cgroup-v1"), {})
    assert "/usr/local/cuda-13.0/lib" in dirs  # from ld.so.conf.d/zz-cuda-13-0.conf
    assert dirs.index("/usr/local/lib") < dirs.index("/lib64")


def test_ld_library_path_is_searched_first(tmp_path):
    lib = tmp_path / "opt" / "lib"
    lib.mkdir(parents=True)
    for name in ("libcudart.so", "libcudart.so.12", "libcudart.so.12.4.127"):
        (lib / name).write_text("")
    dirs = cuda.loader_search_dirs(str(tmp_path), {"LD_LIBRARY_PATH": "/opt/lib"})
    assert dirs[0] == "/opt/lib"
    assert cuda.find_library(str(tmp_path), dirs, ("libcudart.so*",)) == "/opt/lib/libcudart.so.12"


def test_wsl_libcuda_is_found_in_the_wsl_driver_dir():
    root = os.path.join(FS_FIXTURES, "derived-wsl2")
    info = cuda.probe_toolkit(root, environ={"PATH": ""})
    assert info.libcuda_path == "/usr/lib/wsl/lib/libcuda.so.1"


def test_cuda_visible_devices_raw_value_is_kept(tmp_path):
    assert cuda.probe_toolkit(str(tmp_path), environ={"CUDA_VISIBLE_DEVICES": ""}).cuda_visible_devices == ""
    assert cuda.probe_toolkit(str(tmp_path), environ={}).cuda_visible_devices is None


def test_a_folder_reached_by_two_names_is_listed_once_and_found_under_the_first(tmp_path, monkeypatch):
    # merged /usr: /lib -> usr/lib, so /lib/x86_64-linux-gnu and /usr/lib/x86_64-linux-gnu are one folder
    lib = tmp_path / "usr" / "lib" / "x86_64-linux-gnu"
    lib.mkdir(parents=True)
    for name in ("libcudart.so.12", "libcudart.so.12.4.127", "libc.so.6"):
        (lib / name).write_text("")
    (tmp_path / "lib").symlink_to("usr/lib")
    listed = []
    real_list_dir = cuda._read.list_dir
    monkeypatch.setattr(cuda._read, "list_dir", lambda root, path: listed.append(path) or real_list_dir(root, path))
    dirs = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/missing"]
    listings = {}
    assert cuda.find_library(str(tmp_path), dirs, ("libcuda.so.1", "libcuda.so"), listings) is None
    assert cuda.find_library(str(tmp_path), dirs, ("libcudart.so*",), listings) == "/lib/x86_64-linux-gnu/libcudart.so.12"
    assert listed == ["/lib/x86_64-linux-gnu"]


@pytest.mark.parametrize("pattern", ["libcuda.so.1", "libcuda.so", "libcudart.so*", "libcud*", "*", "",
                                     "libcuda.so.?", "libcud[a]*", "libcuda.so.1*x"])
def test_library_name_matching_is_fnmatch_s(pattern):
    import fnmatch

    names = ["libcuda.so", "libcuda.so.1", "libcuda.so.580.95.05", "libcudart.so", "libcudart.so.13",
             "libcudart.so.13.0.96", "libcudadebugger.so.1", "libcuda.so.1x", "LIBCUDA.SO.1"]
    assert cuda._matching(names, pattern) == fnmatch.filter(names, pattern)


def test_nvcc_on_path_is_the_first_executable_regular_file(tmp_path):
    folder_named_nvcc, not_executable, executable = (tmp_path / n for n in ("a", "b", "c"))
    (folder_named_nvcc / "nvcc").mkdir(parents=True)  # a folder: executable, not a file
    not_executable.mkdir()
    (not_executable / "nvcc").write_text("#!/bin/sh\n")
    executable.mkdir()
    make = executable / "nvcc"
    make.write_text("#!/bin/sh\n")
    make.chmod(0o755)
    path = os.pathsep.join(["", str(tmp_path / "missing"), "/x\0y", str(folder_named_nvcc), str(not_executable),
                            str(executable)])
    assert cuda.find_on_path("nvcc", path) == str(make)
