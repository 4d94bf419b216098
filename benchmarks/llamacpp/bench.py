#!/usr/bin/env python3
"""Run llama-server once per case and record what the GPU holds and what llama.cpp logged.

For each case: GPU memory used (nvidia-smi) before the server starts, after /health answers 200
(model loaded, KV and compute buffers allocated, warm-up done) and after one /completion; the
server's own buffer lines (model / KV / compute / output buffer size per backend buffer), n_ctx,
n_ctx_seq, n_seq_max, flash_attn, offloaded layers, --fit lines, and any error line. One JSON
object per line goes to --out; the full server log of each case to --logdir/<id>.log.

usage: bench.py --server BIN --cases cases.json --out results.jsonl --logdir logs [--port 8089]
cases.json: [{"id": "...", "model": "<catalog id>", "ftype": "Q4_K_M", "gguf": "path",
              "args": ["-c", "4096", ...]}, ...]   (args exclude -m, --host, --port)
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

BUF = re.compile(r"^(\w+): +(\S+) +(model|KV|compute|output|RS) buffer size = +([\d.]+) MiB")
KEYS = {
    "n_ctx": re.compile(r"llama_context: n_ctx += (\d+)"),
    "n_ctx_seq": re.compile(r"llama_context: n_ctx_seq += (\d+)"),
    "n_seq_max": re.compile(r"llama_context: n_seq_max += (\d+)"),
    "n_batch": re.compile(r"llama_context: n_batch += (\d+)"),
    "n_ubatch": re.compile(r"llama_context: n_ubatch += (\d+)"),
    "flash_attn": re.compile(r"llama_context: flash_attn += (\S+)"),
    "kv_unified": re.compile(r"llama_context: kv_unified += (\S+)"),
    "offloaded": re.compile(r"offloaded (\d+)/(\d+) layers to GPU"),
    "kv_cells": re.compile(r"llama_kv_cache: size = +([\d.]+) MiB \( *(\d+) cells, +(\d+) layers, +(\d+)/(\d+) seqs\)"),
}


def gpu_used_mib() -> list:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used,memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []  # no GPU (a CPU smoke test)
    return [[int(x) for x in line.split(",")] for line in out.strip().splitlines()]


def proc_used_mib(pid: int) -> int:
    try:
        out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return -1
    tot = 0
    for line in out.strip().splitlines():
        p, m = [x.strip() for x in line.split(",")]
        if p.isdigit() and int(p) == pid:
            tot += int(m)
    return tot


def http(url: str, body: dict = None, timeout: float = 5.0):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def parse_log(text: str) -> dict:
    bufs = []
    out: dict = {"buffers": bufs, "fit_lines": [], "errors": []}
    for line in text.splitlines():
        m = BUF.match(line.strip())
        if m:
            bufs.append({"func": m.group(1), "buffer": m.group(2), "kind": m.group(3), "mib": float(m.group(4))})
            continue
        for k, rx in KEYS.items():
            mm = rx.search(line)
            if mm:
                out[k] = [int(g) if g.isdigit() else g for g in mm.groups()] if len(mm.groups()) > 1 else (
                    int(mm.group(1)) if mm.group(1).isdigit() else mm.group(1))
        low = line.lower()
        if "fit" in low and ("llama_params_fit" in line or "fit_params" in line or "common_fit" in line
                             or "projected" in low):
            out["fit_lines"].append(line.strip())
        if ("error" in low or "failed" in low or "unable" in low) and len(out["errors"]) < 20:
            out["errors"].append(line.strip())
    return out


def run_case(c: dict, server: str, port: int, logdir: str, timeout: float) -> dict:
    rec = {k: c[k] for k in ("id", "model", "ftype", "args")}
    rec["gguf_bytes"] = os.path.getsize(c["gguf"])
    time.sleep(1.0)
    rec["used_before_mib"] = gpu_used_mib()
    log_path = os.path.join(logdir, c["id"] + ".log")
    # -v: llama-server 2026-10 prints the "CUDA0 ... buffer size" lines only at this verbosity
    cmd = [server, "-m", c["gguf"], "--host", "127.0.0.1", "--port", str(port), "-v"] + c["args"]
    rec["cmd"] = " ".join(cmd)
    t0 = time.time()
    with open(log_path, "w") as log:
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    ok = False
    while time.time() - t0 < timeout:
        if p.poll() is not None:
            break
        try:
            st, _ = http(f"http://127.0.0.1:{port}/health", timeout=2)
            if st == 200:
                ok = True
                break
        except Exception:
            pass
        time.sleep(0.5)
    rec["load_s"] = round(time.time() - t0, 1)
    rec["loaded"] = ok
    if ok:
        rec["used_loaded_mib"] = gpu_used_mib()
        rec["proc_loaded_mib"] = proc_used_mib(p.pid)
        try:
            st, body = http(f"http://127.0.0.1:{port}/completion",
                            {"prompt": "Hello, my name is", "n_predict": 8}, timeout=120)
            rec["completion_status"] = st
        except Exception as e:  # noqa: BLE001 - record, do not stop the sweep
            rec["completion_status"] = f"{type(e).__name__}: {e}"
        rec["used_after_completion_mib"] = gpu_used_mib()
        rec["proc_after_completion_mib"] = proc_used_mib(p.pid)
    rec["exit_code"] = p.poll()
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    with open(log_path, errors="replace") as f:
        text = f.read()
    rec.update(parse_log(text))
    if not ok:
        rec["log_tail"] = text.splitlines()[-15:]
    return rec


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--cases", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--logdir", required=True)
    ap.add_argument("--port", type=int, default=8089)
    ap.add_argument("--timeout", type=float, default=240)
    ap.add_argument("--only", default="", help="comma-separated case ids (default: all)")
    a = ap.parse_args()
    os.makedirs(a.logdir, exist_ok=True)
    cases = json.load(open(a.cases))
    only = set(filter(None, a.only.split(",")))
    done = set()
    if os.path.exists(a.out):
        done = {json.loads(l)["id"] for l in open(a.out) if l.strip()}
    for c in cases:
        if (only and c["id"] not in only) or c["id"] in done or not os.path.exists(c["gguf"]):
            continue
        rec = run_case(c, a.server, a.port, a.logdir, a.timeout)
        with open(a.out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        print(c["id"], rec.get("loaded"), rec.get("used_loaded_mib"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
