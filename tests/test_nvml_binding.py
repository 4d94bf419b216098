"""Our ctypes NVML binding (deepseek_probe/probes/_nvml.py) without a GPU.

Three layers: the struct layouts and codes against nvml.h's facts (and pynvml's, the reference);
what happens with no NVML library; and the binding driving a C stub libnvidia-ml
(tests/nvml_stub.c, built here, answering from the real recordings in fixtures/nvml), where it
must give pynvml's answers call by call and the probe the same snapshot as the fake NVML.
"""

from __future__ import annotations

import ctypes
import inspect
import json
import os
import shutil
import subprocess

import pynvml
import pytest

import nvml_calls
from conftest import FS_FIXTURES, NVML_FIXTURES, TESTS_DIR
from fake_nvml import ARG_NAMES, FakeNvml
from deepseek_probe.probes import _nvml, take_snapshot
from deepseek_probe.probes.gpu import nvidia as gpu

DEV_TREE = os.path.join(FS_FIXTURES, "dev-cgroup-v1")
RECORDINGS = sorted(f[:-5] for f in os.listdir(NVML_FIXTURES) if f.endswith(".json"))
GPU_PROBE_SOURCE = gpu.__file__  # probes/gpu/nvidia.py


def offsets(struct: type) -> dict:
    return {name: getattr(struct, name).offset for name, *_ in struct._fields_}


# --- layouts and codes: nvml.h facts --------------------------------------------------------

def test_memory_v2_struct_is_40_bytes_and_its_version_word_says_so():
    # nvml.h: unsigned int version; then four unsigned long long, 8-byte aligned.
    assert ctypes.sizeof(_nvml.c_nvmlMemory_v2_t) == 40
    assert offsets(_nvml.c_nvmlMemory_v2_t) == {"version": 0, "total": 8, "reserved": 16,
                                                "free": 24, "used": 32}
    # NVML_STRUCT_VERSION(Memory, 2) = sizeof(nvmlMemory_v2_t) | 2 << 24
    assert _nvml.nvmlMemory_v2 == ctypes.sizeof(_nvml.c_nvmlMemory_v2_t) | 2 << 24 == 0x02000028


def test_memory_v1_pci_and_process_structs_match_nvml_h():
    assert ctypes.sizeof(_nvml.c_nvmlMemory_t) == 24
    assert offsets(_nvml.c_nvmlMemory_t) == {"total": 0, "free": 8, "used": 16}
    # char busIdLegacy[16]; five unsigned ints; char busId[32]
    assert ctypes.sizeof(_nvml.nvmlPciInfo_t) == 16 + 5 * 4 + 32 == 68
    assert offsets(_nvml.nvmlPciInfo_t)["busId"] == 36
    # nvmlProcessInfo_v2_t: pid, (pad), usedGpuMemory, gpuInstanceId, computeInstanceId
    assert ctypes.sizeof(_nvml.c_nvmlProcessInfo_t) == 24
    assert offsets(_nvml.c_nvmlProcessInfo_t) == {"pid": 0, "usedGpuMemory": 8,
                                                  "gpuInstanceId": 16, "computeInstanceId": 20}


@pytest.mark.parametrize("ours, theirs", [
    (_nvml.c_nvmlMemory_t, pynvml.c_nvmlMemory_t),
    (_nvml.c_nvmlMemory_v2_t, pynvml.c_nvmlMemory_v2_t),
    (_nvml.nvmlPciInfo_t, pynvml.nvmlPciInfo_t),
    (_nvml.c_nvmlProcessInfo_t, pynvml.c_nvmlProcessInfo_v3_t),
])
def test_struct_layouts_are_the_same_as_pynvml(ours, theirs):
    assert ctypes.sizeof(ours) == ctypes.sizeof(theirs)
    assert offsets(ours) == offsets(theirs)


def test_return_codes_buffer_sizes_and_error_classes_are_pynvml_s():
    constants = [n for n in vars(_nvml) if n.startswith(("NVML_ERROR_", "NVML_SUCCESS", "NVML_SYSTEM_",
                                                         "NVML_DEVICE_"))]
    assert len(constants) > 25
    for name in constants:
        assert getattr(_nvml, name) == getattr(pynvml, name), name
    for code in range(1, 19):
        ours, theirs = _nvml.NVMLError(code), pynvml.NVMLError(code)
        assert ours.value == theirs.value == code
        assert type(ours).__name__ == type(theirs).__name__
        assert str(ours) == str(theirs)
        assert isinstance(ours, _nvml.NVMLError)
    assert _nvml.NVMLError_GpuIsLost().value == pynvml.NVMLError_GpuIsLost().value == 15


def test_an_error_class_made_on_first_use_is_the_one_every_later_error_has():
    # probes/_nvml.py makes NVMLError_<suffix> when first raised or named, not at import
    named = _nvml.NVMLError_NoData
    raised = _nvml.NVMLError(pynvml.NVML_ERROR_NO_DATA)
    assert type(raised) is named is _nvml.NVMLError_NoData
    assert named().value == 21 and issubclass(named, _nvml.NVMLError)
    assert type(_nvml.NVMLError(12345)) is _nvml.NVMLError  # no class for an unknown code


def test_the_structures_are_the_binding_s_attributes_and_unknown_names_stay_unknown():
    from deepseek_probe.probes import _nvml_types

    assert _nvml.c_nvmlMemory_v2_t is _nvml_types.c_nvmlMemory_v2_t
    assert _nvml.nvmlPciInfo_t is _nvml_types.nvmlPciInfo_t
    # getattr with a default (the probe's nvmlMemory_v2 lookup) needs AttributeError, not another error
    assert getattr(_nvml, "nvmlNoSuchCall", None) is None
    assert getattr(_nvml, "NVMLError_NoSuchThing", None) is None


def test_every_error_maps_to_the_same_probe_reason_with_either_binding():
    for code in list(range(1, 21)) + [999, 12345]:
        assert gpu.reason_for(_nvml.NVMLError(code), _nvml) == gpu.reason_for(pynvml.NVMLError(code), pynvml)


def test_every_call_the_probe_makes_exists_with_pynvml_s_parameters():
    with open(GPU_PROBE_SOURCE, encoding="utf-8") as f:
        called = nvml_calls.calls_in_probe_source(f.read())
    assert "nvmlDeviceGetMemoryInfo" in called and len(called) >= 30
    planned = {c.name for c in nvml_calls.probe_calls(2)}
    for name in called + ["nvmlInit", "nvmlShutdown"]:
        ours, theirs = getattr(_nvml, name), getattr(pynvml, name)
        assert list(inspect.signature(ours).parameters) == list(inspect.signature(theirs).parameters), name
        if name not in ("nvmlInit", "nvmlShutdown", "nvmlDeviceGetCurrentClocksThrottleReasons"):
            assert name in planned, f"tests/nvml_calls.py does not compare {name}"


# --- no NVML library ----------------------------------------------------------------------------

@pytest.fixture
def fresh_binding(monkeypatch):
    """The binding as if just imported (library not loaded); restored afterwards."""
    monkeypatch.setattr(_nvml, "_lib", None)
    monkeypatch.setattr(_nvml, "_functions", {})
    return monkeypatch


def test_without_the_library_init_raises_library_not_found_with_pynvml_s_code(fresh_binding):
    fresh_binding.setattr(_nvml, "LIBRARY_NAME", "libnvidia-ml-not-installed.so.1")
    with pytest.raises(_nvml.NVMLError_LibraryNotFound) as caught:
        _nvml.nvmlInit()
    assert caught.value.value == pynvml.NVML_ERROR_LIBRARY_NOT_FOUND == 12


def test_calls_before_init_raise_uninitialized_like_pynvml(fresh_binding):
    with pytest.raises(_nvml.NVMLError) as caught:
        _nvml.nvmlDeviceGetCount()
    assert caught.value.value == pynvml.NVML_ERROR_UNINITIALIZED


def test_a_machine_without_the_driver_library_reports_library_not_found(fresh_binding):
    fresh_binding.setattr(_nvml, "LIBRARY_NAME", "libnvidia-ml-not-installed.so.1")
    snap = take_snapshot(root=DEV_TREE, environ={})  # the default binding, loaded by the probe
    assert snap.gpus == [] and snap.links == []
    assert snap.cuda.nvml_status == "library_not_found"
    assert snap.cuda.unavailable["cuda_driver_version"] == "library_not_found"


def test_the_default_binding_is_ours_and_pynvml_is_one_variable_away():
    assert gpu.load_nvml({}) is _nvml
    assert gpu.load_nvml({"DEEPSEEK_PROBE_NVML": "pynvml"}) is pynvml
    assert gpu.load_nvml({"DEEPSEEK_PROBE_NVML": " PyNVML "}) is pynvml
    assert gpu.load_nvml({"DEEPSEEK_PROBE_NVML": "ctypes"}) is _nvml


# --- a C stub libnvidia-ml answering from the real recordings -----------------------------------

STUB_SOURCE = os.path.join(TESTS_DIR, "nvml_stub.c")
_CLOCKS = {name: code for code, name in ARG_NAMES["nvmlDeviceGetMaxClockInfo"].items()}
_SENSORS = {name: code for code, name in ARG_NAMES["nvmlDeviceGetTemperature"].items()}
_P2P = {name: code for code, name in ARG_NAMES["nvmlDeviceGetP2PStatus"].items()}
_ECC_TYPES = {name: code for code, name in ARG_NAMES["nvmlDeviceGetTotalEccErrors"].items()}
_ECC_COUNTERS = {"volatile": 0, "aggregate": 1}  # nvmlEccCounterType_t
_SYMBOLS = {"nvmlDeviceGetCount": "nvmlDeviceGetCount_v2", "nvmlDeviceGetPciInfo": "nvmlDeviceGetPciInfo_v3",
            "nvmlDeviceGetComputeRunningProcesses": "nvmlDeviceGetComputeRunningProcesses_v3"}
_NOT_AVAILABLE = 2**64 - 1


@pytest.fixture(scope="session")
def stub_path(tmp_path_factory) -> str:
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        pytest.skip("no C compiler to build the NVML stub library")
    out = str(tmp_path_factory.mktemp("nvml-stub") / "libnvidia-ml-stub.so")
    build = subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-std=c99", "-Wall", "-o", out,
                            STUB_SOURCE], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    return out


class Stub:
    """The stub library, filled from one recording."""

    def __init__(self, path: str) -> None:
        self.lib = ctypes.CDLL(path)
        self.lib.stub_set.argtypes = [ctypes.c_char_p] + [ctypes.c_int] * 3 + \
            [ctypes.c_ulonglong] * 4 + [ctypes.c_char_p]

    def load(self, rec: dict) -> None:
        init = rec.get("init", {})
        self.lib.stub_reset(_code(init["error"]) if "error" in init else 0)
        for key, entry in rec["system"].items():
            self.put(_SYMBOLS.get(key, key), -1, 0, entry)
        for i, calls in enumerate(rec["gpus"]):
            for key, entry in calls.items():
                name, *args = key.split(":")
                self.put_device_call(i, name, args, entry)

    def put_device_call(self, i: int, name: str, args: list, entry: dict) -> None:
        value = entry.get("value")
        arg = 0
        if name == "nvmlDeviceGetMemoryInfo" and args == ["v2"]:
            name, args = "nvmlDeviceGetMemoryInfo_v2", []
            if value is not None:
                value = [value["total"], value["reserved"], value["free"], value["used"]]
        elif name == "nvmlDeviceGetMemoryInfo" and value is not None:
            value = [value["total"], value["free"], value["used"]]
        elif name == "nvmlDeviceGetPciInfo" and value is not None:
            value = value["busId"]
        elif name == "nvmlDeviceGetComputeRunningProcesses" and value is not None:
            for slot, p in enumerate(value):
                used = p["usedGpuMemory"]
                self.put("process", i, slot, {"value": [p["pid"], _NOT_AVAILABLE if used is None else used,
                                                        0xFFFFFFFF, 0xFFFFFFFF]})
            value = len(value)
        elif name == "nvmlDeviceGetMaxClockInfo":
            arg = _CLOCKS[args[0]]
        elif name == "nvmlDeviceGetTemperature":
            arg = _SENSORS[args[0]]
        elif name == "nvmlDeviceGetTotalEccErrors":
            arg = _ECC_TYPES[args[0]] * 10 + _ECC_COUNTERS[args[1]]
        elif name == "nvmlDeviceGetP2PStatus":
            arg = int(args[0]) * 10 + _P2P[args[1]]
        elif args:  # link number, peer index, CPU-affinity size
            arg = int(args[0])
        entry = dict(entry, value=value)
        self.put(_SYMBOLS.get(name, name), i, arg, entry)

    def put(self, call: str, gpu_index: int, arg: int, entry: dict) -> None:
        value = entry.get("value")
        code = _code(entry["error"]) if "error" in entry else 0
        text = value.encode() if isinstance(value, str) else None
        numbers = value if isinstance(value, list) else [0 if value is None or text else int(value)]
        numbers = [int(n) for n in numbers] + [0] * (4 - len(numbers))
        assert self.lib.stub_set(call.encode(), gpu_index, arg, code, *numbers[:4], text) == 0

    @property
    def initialized(self) -> bool:
        return bool(self.lib.stub_initialized())


def _code(error_name: str) -> int:
    return getattr(pynvml, "NVMLError_" + error_name)().value


@pytest.fixture
def stub(stub_path, fresh_binding):
    """Our binding and pynvml both loading the stub instead of libnvidia-ml.so.1."""
    fresh_binding.setattr(_nvml, "LIBRARY_NAME", stub_path)
    fresh_binding.setattr(pynvml, "nvmlLib", ctypes.CDLL(stub_path))
    fresh_binding.setattr(pynvml, "_nvmlGetFunctionPointer_cache", {})
    return Stub(stub_path)


def recording(name: str) -> dict:
    with open(os.path.join(NVML_FIXTURES, name + ".json"), encoding="utf-8") as f:
        return json.load(f)


def probed(nvml) -> tuple:
    snap = take_snapshot(nvml=nvml, root=DEV_TREE, environ={})
    return snap.cuda, snap.gpus, snap.links


@pytest.mark.parametrize("name", RECORDINGS)
def test_the_probe_through_our_binding_sees_what_the_fake_nvml_replays(stub, name):
    rec = recording(name)
    stub.load(rec)
    ours = probed(_nvml)
    assert not stub.initialized  # nvmlShutdown ran
    assert ours == probed(FakeNvml(rec))
    cuda, gpus, _ = ours
    if "error" not in rec["init"]:
        assert cuda.nvml_status == "ok" and len(gpus) == len(rec["gpus"])
        assert all(g.memory_total_bytes and g.pci_bus_id for g in gpus)


@pytest.mark.parametrize("name", ["h100", "2xh200", "derived-8gpu-mixed", "derived-h200-tenant-60gb"])
def test_our_binding_answers_every_probe_call_exactly_as_pynvml(stub, name):
    rec = recording(name)
    stub.load(rec)
    _nvml.nvmlInit()
    pynvml.nvmlInit()
    try:
        diffs = nvml_calls.compare(_nvml, pynvml, len(rec["gpus"]))
    finally:
        _nvml.nvmlShutdown()
    assert diffs == {}, json.dumps(diffs, default=repr, indent=1)


def test_processes_without_a_memory_figure_read_as_none_and_a_long_list_is_fetched_whole(stub):
    rec = recording("h100")
    procs = [{"pid": 1000 + k, "usedGpuMemory": None if k == 3 else (k + 1) << 30} for k in range(7)]
    rec["gpus"][0]["nvmlDeviceGetComputeRunningProcesses"] = {"value": procs}
    stub.load(rec)
    _nvml.nvmlInit()
    try:
        got = _nvml.nvmlDeviceGetComputeRunningProcesses(_nvml.nvmlDeviceGetHandleByIndex(0))
    finally:
        _nvml.nvmlShutdown()
    assert [(p.pid, p.usedGpuMemory) for p in got] == [(p["pid"], p["usedGpuMemory"]) for p in procs]
    snap_gpu = probed(_nvml)[1][0]
    assert [(p.pid, p.used_memory_bytes) for p in snap_gpu.processes] == [(p["pid"], p["usedGpuMemory"])
                                                                           for p in procs]


def test_failing_calls_raise_the_error_class_of_their_code(stub):
    rec = recording("h100")
    rec["gpus"][0]["nvmlDeviceGetSerial"] = {"error": "NoPermission"}
    rec["gpus"][0]["nvmlDeviceGetPowerUsage"] = {"error": "GpuIsLost"}
    stub.load(rec)
    _nvml.nvmlInit()
    try:
        h = _nvml.nvmlDeviceGetHandleByIndex(0)
        with pytest.raises(_nvml.NVMLError_NoPermission):
            _nvml.nvmlDeviceGetSerial(h)
        with pytest.raises(_nvml.NVMLError_GpuIsLost):
            _nvml.nvmlDeviceGetPowerUsage(h)
        with pytest.raises(_nvml.NVMLError_InvalidArgument):
            _nvml.nvmlDeviceGetHandleByIndex(5)
        # A symbol the library lacks (the stub has only the post-535 clock-events name).
        with pytest.raises(_nvml.NVMLError_FunctionNotFound):
            _nvml.nvmlDeviceGetCurrentClocksThrottleReasons(h)
    finally:
        _nvml.nvmlShutdown()


def test_an_init_failure_is_reported_and_nothing_else_is_asked(stub):
    stub.load(recording("derived-h100-driver-mismatch"))
    cuda, gpus, links = probed(_nvml)
    assert cuda.nvml_status == "lib_rm_version_mismatch"
    assert gpus == [] and links == []
