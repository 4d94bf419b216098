"""Print how long reading one model header takes (a figure, not a pass/fail test).

    .venv/bin/python benchmarks/header_parse.py [--repeat 50] [--out FILE]

Target (issue 15): under 5 ms per file. Rows: the fixtures of fixtures/home/derived-home (real
tensor lists: R1-Distill-Qwen-1.5B, the four V2-Lite shards, the Ollama Q4_K_M GGUF), synthetic
headers with thousands of tensors, a GGUF carrying a full-size tokenizer (151 936 tokens and as
many merges, the size of Qwen2's) -- the one part of a real GGUF header the fixtures leave out --
and the whole checkpoint scan of the fixture home. Median / min / max over --repeat runs, files
warm in the page cache (the first read of a cold disk adds the disk's latency).
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import statistics
import sys
import tempfile
import time
from typing import Callable, List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from deepseek_probe.formats import gguf, safetensors  # noqa: E402
from deepseek_probe.probes.checkpoints import find_checkpoints  # noqa: E402
from tests.header_writers import gguf_bytes, safetensors_bytes  # noqa: E402

HOME = os.path.join(ROOT, "fixtures", "home", "derived-home")


def timed(fn: Callable[[], object], repeat: int) -> Tuple[float, float, float]:
    fn()  # warm-up
    ts: List[float] = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1e3)
    return statistics.median(ts), min(ts), max(ts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--out")
    args = ap.parse_args()
    rows: List[Tuple[str, int, Callable[[], object]]] = []
    hub = os.path.join(HOME, ".cache", "huggingface", "hub")
    for p in sorted(glob.glob(os.path.join(hub, "*", "snapshots", "*", "*.safetensors"))):
        name = p.split("models--")[1].split("/")[0].split("--")[-1] + "/" + os.path.basename(p)
        rows.append((f"safetensors {name}", os.path.getsize(p), lambda p=p: safetensors.read_file(p)))
    for p in sorted(glob.glob(os.path.join(hub, "*", "snapshots", "*"))):
        name = p.split("models--")[1].split("/")[0].split("--")[-1]
        rows.append((f"safetensors model {name} (all shards)", 0, lambda p=p: safetensors.read_model(p)))
    blob = max(glob.glob(os.path.join(HOME, ".ollama", "models", "blobs", "*")), key=os.path.getsize)
    rows.append(("gguf ollama deepseek-r1:1.5b (no vocab)", os.path.getsize(blob), lambda: gguf.read_file(blob)))

    tmp = tempfile.mkdtemp()
    big_st = os.path.join(tmp, "big.safetensors")
    with open(big_st, "wb") as f:  # 5000 tensors: a V3 shard holds ~1200-5000
        f.write(safetensors_bytes([(f"model.layers.{i // 10}.mlp.experts.{i % 10}.w", "F8_E4M3", [2048, 7168])
                                   for i in range(5000)], {"format": "pt"}))
    rows.append(("safetensors synthetic 5000 tensors", os.path.getsize(big_st), lambda: safetensors.read_file(big_st)))
    big_g = os.path.join(tmp, "big.gguf")
    with open(big_g, "wb") as f:  # 1200 tensors, about a 61-layer deepseek2 GGUF
        f.write(gguf_bytes([("general.architecture", "deepseek2")],
                           [(f"blk.{i // 20}.t{i % 20}.weight", "Q4_K", [2048, 7168]) for i in range(1200)]))
    rows.append(("gguf synthetic 1200 tensors (no vocab)", os.path.getsize(big_g), lambda: gguf.read_file(big_g)))
    vocab_g = os.path.join(tmp, "vocab.gguf")
    toks = [f"tok{i:06d}" for i in range(151936)]
    merges = [f"t{i} o{i}" for i in range(151387)]
    with open(vocab_g, "wb") as f:
        f.write(gguf_bytes([("general.architecture", "qwen2"), ("tokenizer.ggml.tokens", ("array:str", toks)),
                            ("tokenizer.ggml.merges", ("array:str", merges)),
                            ("tokenizer.ggml.token_type", ("array:i32", [1] * 151936))],
                           [(f"blk.{i // 12}.t{i % 12}.weight", "Q4_K", [1536, 1536]) for i in range(339)]))
    rows.append(("gguf 339 tensors + full tokenizer", os.path.getsize(vocab_g), lambda: gguf.read_file(vocab_g)))
    env = {"HOME": HOME}
    rows.append(("find_checkpoints(fixture home, 3 models)", 0, lambda: find_checkpoints(environ=env)))

    lines = [f"# {platform.python_implementation()} {platform.python_version()} on {platform.machine()}, "
             f"{os.cpu_count()} CPUs, repeat {args.repeat}",
             f"{'row':62} {'bytes':>10} {'median ms':>10} {'min':>7} {'max':>7}"]
    for name, size, fn in rows:
        med, lo, hi = timed(fn, args.repeat)
        lines.append(f"{name[:62]:62} {size:>10} {med:>10.3f} {lo:>7.3f} {hi:>7.3f}")
    print("\n".join(lines))
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
