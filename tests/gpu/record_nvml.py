"""Record a real GPU host for the fixtures: NVML calls, a snapshot, and the /proc-/sys files.

Run on the GPU host from the repository root (needs the NVIDIA driver and nvidia-ml-py):

    .venv/bin/python tests/gpu/record_nvml.py --name h100-sxm --out "$OUT"

Writes ``<out>/nvml/<name>.json`` (the fake-NVML recording format of tests/fake_nvml.py:
every NVML call the probe made, its value or NVML error, its latency), ``<out>/snapshots/
<name>.json`` (``take_snapshot()`` of the host, as the tool sees it) and ``<out>/fs/<name>/``
(the host's /proc, /sys, /etc files the probes read). Copy them under fixtures/.

The recorder wraps the real ``pynvml`` module and lets the real probe drive it, so the
recording holds exactly the calls the probe makes; a few extra calls (brand, NUMA node, all
NVLink states, P2P read status) are recorded after it for reference.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import time
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
REPO = os.path.dirname(TESTS)
sys.path.insert(0, REPO)
sys.path.insert(0, TESTS)

import fake_nvml  # noqa: E402  (key naming and the format id)


def to_json(value: Any) -> Any:
    """NVML values (ctypes structs, friendly objects, tuples, bytes) -> plain JSON."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if hasattr(value, "_fields_"):
        return {f[0]: to_json(getattr(value, f[0])) for f in value._fields_}
    if hasattr(value, "__dict__"):
        return {k: to_json(v) for k, v in vars(value).items() if not k.startswith("_")}
    if isinstance(value, ctypes.Array):
        return [to_json(v) for v in value]
    return repr(value)


class RecordingNvml:
    """Passes every call to the real pynvml and records it in the fixture format."""

    def __init__(self, real: Any, source: str) -> None:
        self._real = real
        self._handles: Dict[int, int] = {}  # handle address -> NVML index
        self.recording: Dict[str, Any] = {
            "format": fake_nvml.FORMAT,
            "source": source,
            "host": {"platform": _platform(), "python": sys.version.split()[0],
                     "nvidia_ml_py": _dist_version("nvidia-ml-py")},
            "notes": [],
            "init": {"value": None},
            "system": {},
            "gpus": [],
        }

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._real, name)
        if not name.startswith("nvml") or not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                value = attr(*args, **kwargs)
                entry: Dict[str, Any] = {"value": to_json(value)}
                error: Optional[BaseException] = None
            except self._real.NVMLError as e:
                entry = {"error": type(e).__name__.replace("NVMLError_", "") or str(e.value)}
                value, error = None, e
            entry["ms"] = round((time.perf_counter() - start) * 1e3, 3)
            self._store(name, args, kwargs, entry, value)
            if error is not None:
                raise error
            return value

        return call

    @staticmethod
    def _address(handle: Any) -> Optional[int]:
        if isinstance(handle, fake_nvml.Handle):  # self-test against the fake
            return -1 - handle.index
        if isinstance(handle, (int, float, str, bytes)) or handle is None:
            return None
        try:
            return ctypes.cast(handle, ctypes.c_void_p).value
        except (TypeError, ctypes.ArgumentError):
            return None

    def _index(self, handle: Any) -> Optional[int]:
        address = self._address(handle)
        return None if address is None else self._handles.get(address)

    def _store(self, name: str, args: tuple, kwargs: dict, entry: Dict[str, Any], value: Any) -> None:
        rec = self.recording
        if name in ("nvmlInit", "nvmlInitWithFlags"):
            rec["init"] = entry
            return
        if name == "nvmlShutdown":
            return
        if name == "nvmlDeviceGetHandleByIndex":
            index = int(args[0])
            address = self._address(value) if value is not None else None
            if address is not None:
                self._handles[address] = index
            self._gpu(index)
            return
        if name.startswith("nvmlSystem") or name == "nvmlDeviceGetCount":
            rec["system"][name] = entry
            return
        index = self._index(args[0]) if args else None
        if index is None:
            rec["notes"].append(f"unrecorded call {name}: first argument is not a known handle")
            return
        fake_args = tuple(fake_nvml.Handle(self._index(a)) if self._index(a) is not None else a
                          for a in args[1:])
        key = fake_nvml.device_key(name, fake_args, kwargs)
        self._gpu(index)[key] = entry

    def _gpu(self, index: int) -> Dict[str, Any]:
        gpus: List[Dict[str, Any]] = self.recording["gpus"]
        while len(gpus) <= index:
            gpus.append({})
        return gpus[index]


def record_extras(nvml: RecordingNvml) -> None:
    """Calls the probe does not make, kept for reference (and for future fields)."""
    real = nvml._real
    try:
        nvml.nvmlInit()
    except real.NVMLError:
        return
    try:
        count = nvml.nvmlDeviceGetCount()
        handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        for i, h in enumerate(handles):
            for fn, args in (("nvmlDeviceGetBrand", ()), ("nvmlDeviceGetNumaNodeId", ()),
                             ("nvmlDeviceGetGpuMaxPcieLinkGeneration", ()),
                             ("nvmlDeviceGetEnforcedPowerLimit", ()),
                             ("nvmlDeviceGetGraphicsRunningProcesses", ())):
                try:
                    getattr(nvml, fn)(h, *args)
                except (real.NVMLError, AttributeError):
                    pass
            for j, h2 in enumerate(handles):
                if j != i:
                    try:  # pass 0, not pynvml's NVML_P2P_CAPS_INDEX_READ (a tuple, a typo)
                        nvml.nvmlDeviceGetP2PStatus(h, h2, 0)
                    except real.NVMLError:
                        pass
    finally:
        nvml.nvmlShutdown()


def _platform() -> str:
    import platform

    return platform.platform()


def _dist_version(name: str) -> Optional[str]:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # noqa: BLE001
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description="record a GPU host for fixtures/")
    parser.add_argument("--name", required=True, help="fixture name, e.g. h100-sxm")
    parser.add_argument("--out", default=os.environ.get("OUT", "."), help="output folder")
    parser.add_argument("--model-dir", default=None)
    args = parser.parse_args()

    import pynvml

    from deepseek_probe.probes import take_snapshot
    from make_fixtures import record_fs_tree

    nvml = RecordingNvml(pynvml, f"tests/gpu/record_nvml.py --name {args.name}")
    snap = take_snapshot(model_dir=args.model_dir, nvml=nvml)
    record_extras(nvml)
    for sub in ("nvml", "snapshots", "fs"):
        os.makedirs(os.path.join(args.out, sub), exist_ok=True)
    with open(os.path.join(args.out, "nvml", args.name + ".json"), "w", encoding="utf-8") as f:
        json.dump(nvml.recording, f, indent=1)
    with open(os.path.join(args.out, "snapshots", args.name + ".json"), "w", encoding="utf-8") as f:
        f.write(snap.to_json() + "\n")
    record_fs_tree(os.path.join(args.out, "fs", args.name))

    # Replay check: the fake must give the probe the same answers the driver gave.
    replay = take_snapshot(model_dir=args.model_dir, nvml=fake_nvml.FakeNvml(nvml.recording))
    same = [g.uuid for g in replay.gpus] == [g.uuid for g in snap.gpus]
    print(f"{len(snap.gpus)} GPU(s), nvml_status={snap.cuda.nvml_status}, "
          f"driver={snap.cuda.driver_version}, cuda={snap.cuda.cuda_driver_version}, "
          f"replay matches: {same}, probe_ms={snap.probe_ms}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
