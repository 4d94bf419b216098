"""Run the fine-tuning cases one process each and sample NVML "used" from outside the process.

Usage (on the GPU host, from the repo root):
    python3 benchmarks/training/run_cases.py OUT.jsonl [--only ID,ID] [--from N] [--deadline SECONDS]

Measured per case = the highest NVML `used` (nvmlDeviceGetMemoryInfo) sampled while the case
process ran, minus NVML `used` read just before it started; also the highest during the
training phase only (between the child's train_begin and train_end marks). The sampler is this
parent process (no torch, no CUDA context, no GIL shared with the trainer), polling in a loop
with a 0.5 ms sleep; each record carries its sample count and rate.

The split into calibration ("cal") and validation ("val") cases is fixed here, before any fit:
every third case (index % 3 == 2) is held out for validation.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

Q15, Q7, L8 = "deepseek-r1-distill-qwen-1.5b", "deepseek-r1-distill-qwen-7b", "deepseek-r1-distill-llama-8b"
Q14, Q32, V2L = "deepseek-r1-distill-qwen-14b", "deepseek-r1-distill-qwen-32b", "deepseek-v2-lite"
ALL, QV = "all-linear", "q_proj,v_proj"


def _c(model, method, load, batch, seq, gc, rank=0, targets="", optim="", attn="sdpa"):
    return dict(model=model, method=method, load=load, batch=batch, seq=seq, gc=gc, rank=rank,
                targets=targets, optim=optim, attn=attn)


CASES = [
    _c(Q15, "full", "fp32", 1, 512, False),
    _c(Q15, "full", "fp32", 1, 2048, False),
    _c(Q15, "full", "fp32", 4, 2048, False),
    _c(Q15, "full", "fp32", 4, 2048, True),
    _c(Q15, "full", "bf16", 1, 2048, False),
    _c(Q15, "full", "bf16", 8, 1024, True),
    _c(Q15, "full", "fp32", 2, 4096, True, attn="eager"),
    _c(Q15, "full", "bf16", 1, 1024, False, optim="adafactor"),
    _c(Q15, "full", "bf16", 1, 1024, False, optim="adamw_bnb_8bit"),
    _c(Q15, "lora", "bf16", 1, 2048, False, 16, QV),
    _c(Q15, "lora", "bf16", 4, 2048, False, 64, ALL),
    _c(Q15, "qlora", "bf16", 4, 2048, True, 16, ALL),
    _c(Q15, "full", "fp32", 16, 8192, False),  # expected OOM: fp32 logits alone ~80 GB
    _c(Q15, "full", "bf16", 2, 1024, False, optim="sgd"),
    _c(Q7, "lora", "bf16", 1, 2048, False, 16, QV),
    _c(Q7, "lora", "bf16", 2, 2048, True, 64, ALL),
    _c(Q7, "lora", "bf16", 4, 4096, True, 8, ALL),
    _c(Q7, "qlora", "bf16", 1, 2048, True, 16, ALL),
    _c(Q7, "qlora", "bf16", 4, 4096, True, 64, ALL),
    _c(Q7, "qlora", "bf16", 2, 1024, False, 16, QV),
    _c(Q7, "full", "bf16", 1, 512, True),
    _c(Q7, "full", "fp32", 1, 512, True),  # expected OOM: 16 B/param > 80 GB
    _c(L8, "lora", "bf16", 1, 2048, False, 16, ALL),
    _c(L8, "lora", "bf16", 4, 2048, True, 16, ALL),
    _c(L8, "lora", "bf16", 8, 1024, True, 32, QV, attn="eager"),
    _c(L8, "qlora", "bf16", 2, 4096, True, 16, ALL),
    _c(L8, "lora", "bf16", 8, 8192, False, 16, QV),  # expected OOM: activations
    _c(Q14, "lora", "bf16", 1, 2048, True, 16, ALL),
    _c(Q14, "qlora", "bf16", 4, 2048, True, 16, ALL),
    _c(Q14, "qlora", "bf16", 1, 8192, True, 64, QV),
    _c(Q32, "qlora", "bf16", 1, 2048, True, 16, ALL),
    _c(Q32, "qlora", "bf16", 2, 4096, True, 16, ALL),
    _c(Q32, "lora", "bf16", 1, 1024, True, 16, ALL),
    _c(V2L, "lora", "bf16", 1, 2048, False, 16, ALL),
    _c(V2L, "lora", "bf16", 2, 2048, True, 16, QV),
    _c(V2L, "qlora", "bf16", 1, 2048, True, 16, ALL),
    _c(V2L, "full", "bf16", 1, 512, True),  # expected OOM: 15.7 B params x 8 B
    _c(V2L, "lora", "bf16", 4, 4096, True, 64, ALL),
]
for _i, _case in enumerate(CASES):
    _case["id"] = f"c{_i:02d}"
    _case["split"] = "val" if _i % 3 == 2 else "cal"


class _Mem(ctypes.Structure):
    _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]


class Nvml:
    def __init__(self) -> None:
        self.lib = ctypes.CDLL("libnvidia-ml.so.1")
        assert self.lib.nvmlInit_v2() == 0
        self.h = ctypes.c_void_p()
        assert self.lib.nvmlDeviceGetHandleByIndex_v2(0, ctypes.byref(self.h)) == 0
        self.m = _Mem()
        name = ctypes.create_string_buffer(96)
        self.lib.nvmlDeviceGetName(self.h, name, 96)
        self.name = name.value.decode()

    def used(self) -> int:
        self.lib.nvmlDeviceGetMemoryInfo(self.h, ctypes.byref(self.m))
        return self.m.used

    def total(self) -> int:
        self.lib.nvmlDeviceGetMemoryInfo(self.h, ctypes.byref(self.m))
        return self.m.total


def run_case(nv: Nvml, case: dict, timeout: float) -> dict:
    here = os.path.dirname(os.path.abspath(__file__))
    tmp = tempfile.mkdtemp(prefix=case["id"])
    cpath, rpath, epath = (os.path.join(tmp, n) for n in ("case.json", "result.json", "events"))
    json.dump(case, open(cpath, "w"))
    # wait for the GPU to be back to idle after the previous process
    for _ in range(200):
        base = nv.used()
        time.sleep(0.01)
        if abs(nv.used() - base) < (4 << 20):
            break
    samples: list = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append((time.monotonic(), nv.used()))
            time.sleep(0.0005)

    th = threading.Thread(target=sample, daemon=True)
    t0 = time.monotonic()
    th.start()
    p = subprocess.Popen([sys.executable, os.path.join(here, "measure_trainer.py"), cpath, rpath, epath],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        out += "\nTIMEOUT"
    stop.set()
    th.join()
    t1 = time.monotonic()
    res = dict(case)
    try:
        res.update(json.load(open(rpath)))
    except (OSError, ValueError):
        res["outcome"] = "crash"
        res["log_tail"] = out[-1500:]
    ev = {}
    try:
        for line in open(epath):
            k, v = line.split()
            ev[k] = float(v)
    except OSError:
        pass
    used = [u for _, u in samples]
    res["nvml_baseline"] = base
    res["nvml_peak_used"] = max(used) - base if used else None
    tb, te = ev.get("train_begin"), ev.get("train_end")
    if tb and te:
        tr = [u for t, u in samples if tb <= t <= te]
        res["nvml_peak_train"] = max(tr) - base if tr else None
    if ev.get("ctx") and ev.get("built"):
        cx = [u for t, u in samples if ev["ctx"] <= t <= ev["ctx"] + 0.2]
        res["nvml_ctx"] = min(cx) - base if cx else None
    res["samples"] = len(samples)
    res["sample_hz"] = round(len(samples) / max(t1 - t0, 1e-9), 1)
    res["wall_s"] = round(t1 - t0, 1)
    res["gpu"] = nv.name
    res["gpu_total"] = nv.total()
    if res.get("outcome") != "ok":
        res.setdefault("log_tail", out[-800:])
    return res


def main() -> None:
    out = sys.argv[1]
    only = set()
    start, deadline = 0, 1e9
    a = sys.argv[2:]
    while a:
        k = a.pop(0)
        if k == "--only":
            only = set(a.pop(0).split(","))
        elif k == "--from":
            start = int(a.pop(0))
        elif k == "--deadline":
            deadline = float(a.pop(0))
    nv = Nvml()
    t_end = time.monotonic() + deadline
    done = set()
    if os.path.exists(out):
        done = {json.loads(line)["id"] for line in open(out) if line.strip()}
    for i, case in enumerate(CASES):
        if i < start or (only and case["id"] not in only) or case["id"] in done:
            continue
        left = t_end - time.monotonic()
        if left < 30:
            print("deadline: stopping before", case["id"], flush=True)
            break
        res = run_case(nv, case, timeout=min(240.0, left))
        with open(out, "a") as f:
            f.write(json.dumps(res) + "\n")
        print(case["id"], case["model"], case["method"], case["load"], case["batch"], case["seq"], case["gc"],
              res.get("outcome"), "peak", res.get("nvml_peak_used"), "alloc", res.get("max_allocated"),
              "hz", res.get("sample_hz"), "wall", res.get("wall_s"), res.get("error", "")[:200], flush=True)


if __name__ == "__main__":
    main()
