"""Our ctypes NVML binding (probes/_nvml.py) against nvidia-ml-py's pynvml on the real GPUs.

Every call probes/gpu.py makes (tests/nvml_calls.py) is asked of both bindings back to back:
same value, or the same NVML error code. Then the whole probe through each binding, and what
each binding costs to import and initialise in a fresh process.

    python3 -m pytest -m gpu tests/gpu/test_gpu_nvml_binding.py -q
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/
import nvml_calls  # noqa: E402

pytestmark = pytest.mark.gpu

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Readings that move between two calls on a live GPU: asked again until both bindings agree.
RETRIES = 5
# Fields of the snapshot that move between two probes (power, temperature, memory in use, …).
MOVING_FIELDS = {"memory_free_bytes", "memory_used_bytes", "memory_reserved_bytes", "temperature_c",
                 "power_usage_w", "throttle_reasons", "processes"}


@pytest.fixture(scope="module")
def ours():
    from deepseek_probe.probes import _nvml

    _nvml.nvmlInit()
    yield _nvml
    _nvml.nvmlShutdown()


def test_every_probe_call_answers_as_pynvml_does_on_this_gpu(ours, nvml, record):
    count = nvml.nvmlDeviceGetCount()
    assert ours.nvmlDeviceGetCount() == count > 0
    diffs = nvml_calls.compare(ours, nvml, count, retries=RETRIES)
    record(what="nvml binding vs pynvml, calls compared",
           calls=len(nvml_calls.probe_calls(count)), differing=sorted(diffs))
    assert diffs == {}, json.dumps(diffs, default=repr, indent=1)


def test_the_probe_reads_the_same_machine_through_either_binding(ours, nvml):
    from deepseek_probe.probes import take_snapshot

    a = take_snapshot(nvml=ours)
    b = take_snapshot(nvml=nvml)
    assert a.cuda.nvml_status == b.cuda.nvml_status == "ok"
    assert a.cuda == b.cuda
    assert a.links == b.links
    assert len(a.gpus) == len(b.gpus)
    for x, y in zip(a.gpus, b.gpus):
        fixed_x = {k: v for k, v in vars(x).items() if k not in MOVING_FIELDS}
        fixed_y = {k: v for k, v in vars(y).items() if k not in MOVING_FIELDS}
        assert fixed_x == fixed_y
        assert x.memory_total_bytes and x.memory_free_bytes is not None
        assert abs(x.memory_free_bytes - y.memory_free_bytes) <= 256 << 20


def test_the_default_probe_uses_our_binding_and_it_costs_less_to_start(record):
    """Import + nvmlInit of each binding in a fresh interpreter (median of 5)."""
    script = ("import sys, time\n"
              "t0 = time.perf_counter()\n"
              "if sys.argv[1] == 'pynvml':\n"
              "    import pynvml as m\n"
              "else:\n"
              "    from deepseek_probe.probes import _nvml as m\n"
              "t1 = time.perf_counter(); m.nvmlInit(); t2 = time.perf_counter(); m.nvmlShutdown()\n"
              "print((t1 - t0) * 1000, (t2 - t1) * 1000)\n")
    figures = {}
    for backend in ("ctypes", "pynvml"):
        runs = []
        for _ in range(5):
            out = subprocess.run([sys.executable, "-c", script, backend], capture_output=True,
                                 text=True, cwd=REPO, check=True).stdout.split()
            runs.append((float(out[0]), float(out[1])))
        runs.sort()
        figures[backend] = {"import_ms": round(runs[2][0], 2),
                            "init_ms": round(sorted(r[1] for r in runs)[2], 2)}
    record(what="nvml binding start-up (median of 5 fresh processes)", **figures)
    assert figures["ctypes"]["import_ms"] < figures["pynvml"]["import_ms"]

    from deepseek_probe.probes import _nvml
    from deepseek_probe.probes.gpu import nvidia as gpu

    assert gpu.load_nvml({}) is _nvml
