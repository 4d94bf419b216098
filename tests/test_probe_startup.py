"""What the live snapshot imports (issue 24): a parser, the ctypes package or a probe's helpers
are imported on the branch that needs them, so `check` on a machine without models or an
NVIDIA driver (a CPU box, CI) does not pay for them. Each case runs in a fresh interpreter:
the test process itself has imported everything long before."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO_DIR

_PROBE = """
import json, sys
from deepseek_probe.probes import take_snapshot
snap = take_snapshot()
print(json.dumps({"modules": sorted(sys.modules), "nvml_status": snap.cuda.nvml_status,
                  "found": len(snap.checkpoints.found), "roots": snap.checkpoints.roots}))
"""


def live_snapshot_in_a_fresh_interpreter(home: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "OLLAMA_MODELS")}
    env.update(HOME=str(home), PYTHONPATH=REPO_DIR)
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, cwd=str(home), capture_output=True,
                         text=True, timeout=60, check=True).stdout
    return json.loads(out)


def test_a_home_without_model_stores_imports_no_header_parser(tmp_path):
    doc = live_snapshot_in_a_fresh_interpreter(tmp_path)
    assert doc["roots"] == [] and doc["found"] == 0
    loaded = set(doc["modules"])
    for module in ("deepseek_probe.formats.gguf", "deepseek_probe.formats.safetensors",
                   "deepseek_probe.formats.hf_config", "deepseek_probe.checkpoint"):
        assert module not in loaded, module


def test_a_machine_without_the_nvidia_driver_never_imports_ctypes(tmp_path):
    doc = live_snapshot_in_a_fresh_interpreter(tmp_path)
    if doc["nvml_status"] != "library_not_found":  # a GPU host: ctypes is what drives NVML there
        return
    loaded = set(doc["modules"])
    assert "ctypes" not in loaded and "deepseek_probe.probes._nvml_types" not in loaded


_IMPORT_PROBES = """
import json, re, sys
import platform  # the standard library's own patterns (uuid imports it before any probe)
import deepseek_probe.snapshot
compiled = []
real = re._compile
re._compile = lambda pattern, flags: compiled.append(str(pattern)) or real(pattern, flags)
import deepseek_probe.probes.{}
print(json.dumps(compiled))
"""
PROBE_MODULES = ("cpu", "cuda", "disk", "memory", "network", "pci", "system", "membw", "installed",
                 "installed_lookup", "checkpoints", "_nvml", "gpu.nvidia", "gpu._common")


def test_no_probe_module_compiles_a_regular_expression_at_import():
    # each is compiled on the branch that reads what it parses (re caches it there)
    for module in PROBE_MODULES:
        out = subprocess.run([sys.executable, "-c", _IMPORT_PROBES.format(module)], env=dict(os.environ, PYTHONPATH=REPO_DIR),
                             capture_output=True, text=True, timeout=60, check=True).stdout
        assert json.loads(out) == [], module
