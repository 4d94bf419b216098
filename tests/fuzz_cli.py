"""Fuzz the CLI in-process (issue 24, "Must hold"): random inputs through deepseek_probe.cli.main,
failing on any traceback, hang or exit code outside the documented table.

Inputs: corrupt snapshots (a real fixture with values replaced, keys dropped, text cut, bytes
flipped), absurd flags, random launch commands after `--`, and odd files where a file is
expected (a FIFO, a folder, a symlink loop, /dev/null, binary junk, an empty file).

    python tests/fuzz_cli.py -n 1000 --seed 1        # the full run (about 10 minutes on 2 CPUs)

tests/test_fuzz_cli.py runs a bounded slice of it with a fixed seed.
Everything is written under one temporary folder, which is also the working folder while the
CLI runs (`--output` goes there); nothing is probed over the network.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SNAPSHOTS = os.path.join(ROOT, "fixtures", "snapshots")
CONFIGS = os.path.join(ROOT, "fixtures", "configs")
HOME = os.path.join(ROOT, "fixtures", "home", "derived-home")

ALLOWED_EXITS = frozenset((0, 1, 2, 3, 64, 130))
TIME_LIMIT_S = 30.0  # per input; the slowest real command here (plan --all) takes ~3 s on 2 CPUs

# (usual values, odd values): a value is usual 3 times in 4, so inputs also reach past the flag
# checks into the estimate, the placement and the renderers.
MODELS = (["7b", "33b", "67b", "70b", "236b", "671b", "deepseek-v3.2", "v4-flash", "deepseek-ocr", "16b",
           "deepseek-r1:32b", "deepseek-r1", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "1.3b", "qwen-7b"],
          ["bogus", "", " ", "7B", "../", "/", "~", "é", "a" * 300, "x.gguf", "deepseek-r1:999b", "::", "-",
           "hf.co/x/y:Q4_K_M"])
PRECISIONS = (["fp32", "bf16", "fp16", "fp8", "int8", "int4", "q8_0", "q4_k_m", "q2_k"], ["fp4", "BF16", ""])
RUNTIMES = (["transformers", "vllm", "sglang", "llamacpp", "ollama", "lmstudio", "hf"], ["tensorrt", ""])
FORMATS = (["text", "json", "markdown", "prometheus"], ["csv", "yaml", ""])
NUMBERS = (["1", "2", "4", "8", "512", "4096", "16384", "32768", "131072", "0.9", "0.5"],
           ["0", "-1", "7", "1e9", "99999999999999999999", "nan", "inf", "-0", "abc", "", " 3", "0x10",
            "32k", "1_000"])


def _pick(rng: random.Random, items: Tuple[List[str], List[str]]) -> str:
    usual, odd = items
    pool = usual if rng.random() < 0.75 else odd
    return pool[rng.randrange(len(pool))]


# --- odd files ---------------------------------------------------------------------------------
class Files:
    """The odd files of one run, made once under `root`."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.paths: Dict[str, str] = {}
        j = lambda *p: os.path.join(root, *p)  # noqa: E731
        os.makedirs(j("dir"))
        self.paths["dir"] = j("dir")
        if hasattr(os, "mkfifo"):
            os.mkfifo(j("fifo.json"))
            self.paths["fifo"] = j("fifo.json")
            os.mkfifo(j("fifo.gguf"))
            self.paths["fifo_gguf"] = j("fifo.gguf")
        os.symlink(j("loop_b"), j("loop_a"))
        os.symlink(j("loop_a"), j("loop_b"))
        self.paths["loop"] = j("loop_a")
        os.symlink(j("loop_a"), j("loop.gguf"))
        self.paths["loop_gguf"] = j("loop.gguf")
        with open(j("empty.json"), "wb"):
            pass
        self.paths["empty"] = j("empty.json")
        self.paths["devnull"] = os.devnull
        self.paths["missing"] = j("missing.json")
        self.paths["config"] = os.path.join(CONFIGS, "deepseek-v3.2.json")
        self.paths["home_gguf_dir"] = HOME
        self._n = 0

    def junk(self, rng: random.Random, suffix: str) -> str:
        self._n += 1
        path = os.path.join(self.root, f"junk{self._n}{suffix}")
        head = rng.choice([b"", b"GGUF", b"GGUF\x03\x00\x00\x00", b"{", b"\x08\x00\x00\x00\x00\x00\x00\x00{}",
                           b"\xff\xfe", b"{\"schema_version\": 1"])
        with open(path, "wb") as f:
            f.write(head + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 2048))))
        return path

    def odd(self, rng: random.Random, suffix: str = ".json") -> str:
        if rng.random() < 0.3:
            return self.junk(rng, suffix)
        return self.paths[rng.choice(sorted(self.paths))]


# --- corrupt snapshots ------------------------------------------------------------------------
_FIXTURES = sorted(n for n in os.listdir(SNAPSHOTS) if n.endswith(".json"))
_ODD_VALUES = [None, -1, -(2 ** 70), 2 ** 70, 0, 1.5, float("nan"), "x", "", [], {}, True, [1, 2], {"a": 1},
               "GPU-00000000-0000-0000-0000-000000000000", 10 ** 15, -0.0, "\x00", "é" * 50]


def _paths(doc, prefix=()) -> List[Tuple]:
    out = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.append(prefix + (k,))
            out += _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.append(prefix + (i,))
            out += _paths(v, prefix + (i,))
    return out


def corrupt_snapshot(rng: random.Random, files: Files) -> str:
    with open(os.path.join(SNAPSHOTS, rng.choice(_FIXTURES)), encoding="utf-8") as f:
        text = f.read()
    doc = json.loads(text)
    kind = rng.randrange(6)
    if kind == 0:  # cut short
        out = text[: rng.randrange(len(text))]
    elif kind == 1:  # flipped bytes
        raw = bytearray(text.encode())
        for _ in range(rng.randrange(1, 20)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        out = raw.decode("utf-8", "replace")
    elif kind == 2 and doc.get("gpus"):  # many copies of one GPU
        doc["gpus"] = [dict(doc["gpus"][0]) for _ in range(rng.choice([2, 50, 1025, 5000]))]
        out = json.dumps(doc)
    else:  # values replaced or dropped
        paths = _paths(doc)
        for _ in range(rng.randrange(1, 8)):
            path = rng.choice(paths)
            node = doc
            try:
                for step in path[:-1]:
                    node = node[step]
                if rng.random() < 0.25 and isinstance(node, dict):
                    node.pop(path[-1], None)
                else:
                    node[path[-1]] = rng.choice(_ODD_VALUES)
            except (KeyError, IndexError, TypeError):
                continue
        out = json.dumps(doc)
    path = os.path.join(files.root, f"snap{rng.randrange(10 ** 9)}.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(out)
    return path


# --- argv ----------------------------------------------------------------------------------------
def _snapshot_arg(rng: random.Random, files: Files) -> str:
    r = rng.random()
    if r < 0.45:
        return os.path.join(SNAPSHOTS, rng.choice(_FIXTURES))
    if r < 0.8:
        return corrupt_snapshot(rng, files)
    return files.odd(rng)


def _flags(rng: random.Random, files: Files) -> List[str]:
    out: List[str] = []
    for _ in range(rng.randrange(0, 5)):
        flag = rng.choice(["--model", "--precision", "--kv-precision", "--context", "--concurrency", "--runtime",
                           "--tensor-parallel", "--mla-cache", "--gpu-memory-utilization", "--model-config",
                           "--format", "--no-redact", "--bogus-flag", "--debug"])
        value = {"--model": lambda: _pick(rng, MODELS) if rng.random() < 0.8 else files.odd(rng, ".gguf"),
                 "--precision": lambda: _pick(rng, PRECISIONS), "--kv-precision": lambda: _pick(rng, PRECISIONS),
                 "--runtime": lambda: _pick(rng, RUNTIMES), "--format": lambda: _pick(rng, FORMATS),
                 "--mla-cache": lambda: rng.choice(["latent", "decompressed", "x"]),
                 "--model-config": lambda: files.odd(rng) if rng.random() < 0.7 else files.paths["config"],
                 }.get(flag, lambda: _pick(rng, NUMBERS))
        out.append(flag)
        if flag not in ("--no-redact", "--debug"):
            out.append(value())
    return out


def _launch(rng: random.Random, files: Files) -> List[str]:
    model = _pick(rng, MODELS) if rng.random() < 0.8 else files.odd(rng, ".gguf")
    n = lambda: _pick(rng, NUMBERS)  # noqa: E731
    templates: List[Callable[[], List[str]]] = [
        lambda: ["llama-server", "-m", model, "-c", n(), "-ngl", n(), "-ub", n(), "-np", n(), "-fa", "on"],
        lambda: ["llama-cli", "-hf", model, "--ctx-size", n(), "--n-cpu-moe", n(), "-ctk", "q8_0"],
        lambda: ["vllm", "serve", model, "--max-model-len", n(), "--tensor-parallel-size", n(),
                 "--gpu-memory-utilization", n(), "--kv-cache-dtype", rng.choice(["fp8", "auto", "x"])],
        lambda: ["python", "-m", "vllm.entrypoints.openai.api_server", "--model", model, "--max-num-seqs", n()],
        lambda: ["python", "-m", "sglang.launch_server", "--model-path", model, "--tp", n(),
                 "--context-length", n(), "--mem-fraction-static", n()],
        lambda: ["ollama", rng.choice(["run", "serve", "pull", "x"]), model],
        lambda: ["lms", "load", model, "--context-length", n(), "--gpu", rng.choice(["max", "off", "0.5", "x"])],
        lambda: ["trl", "sft", "--model_name_or_path", model, "--per_device_train_batch_size", n()],
        lambda: ["llamafactory-cli", "train", files.odd(rng, ".yaml")],
        lambda: [rng.choice(["vllm", "llama-server", "ollama", "sh", "", "-"])] + [
            rng.choice(["--", "-m", "-c", "=", "--max-model-len=", "x", model, n()]) for _ in range(rng.randrange(0, 8))],
    ]
    return rng.choice(templates)()


def random_argv(rng: random.Random, files: Files) -> List[str]:
    kind = rng.randrange(10)
    if kind <= 2:  # a snapshot, maybe corrupt or odd, with random flags
        return ["check", "--snapshot", _snapshot_arg(rng, files)] + _flags(rng, files)
    if kind == 3:  # a launch command
        return ([rng.choice(["check", "estimate"]), "--snapshot", _snapshot_arg(rng, files)][: rng.choice([1, 3])]
                + _flags(rng, files)[:2] + ["--"] + _launch(rng, files))
    if kind == 4:
        return ["estimate"] + _flags(rng, files) + (["--gpu-memory", _pick(rng, NUMBERS)] if rng.random() < 0.3 else [])
    if kind == 5:
        return ["plan"] + _flags(rng, files)
    if kind == 6:
        return ["fleet"] + [_snapshot_arg(rng, files) for _ in range(rng.randrange(0, 4))] + _flags(rng, files)[:2]
    if kind == 7:  # the survey of a snapshot, in some format, written to --output
        argv = ["check", "--snapshot", _snapshot_arg(rng, files), "--format", _pick(rng, FORMATS)]
        return argv + (["--output", rng.choice(["out.txt", "-", files.paths["dir"], "sub/none/out"])]
                       if rng.random() < 0.5 else [])
    if kind == 8:  # odd files wherever a file is taken
        where = rng.choice([["check", "--snapshot"], ["estimate", "--model"], ["estimate", "--model-config"],
                            ["fleet"], ["check", "--snapshot", os.path.join(SNAPSHOTS, "h100.json"), "--model"]])
        return where + [files.odd(rng, rng.choice([".json", ".gguf"]))]
    return [rng.choice(["models", "schema", "probe", "--version", "--help", "nonsense", ""])] + [
        rng.choice(["--format", "json", "text", "--output", "probe.json", "x", "--redact", "-h"])
        for _ in range(rng.randrange(0, 3))]


# --- running -------------------------------------------------------------------------------------
class Outcome:
    __slots__ = ("argv", "code", "stderr", "seconds", "problem")

    def __init__(self, argv: List[str], code: Optional[int], stderr: str, seconds: float,
                 problem: Optional[str]) -> None:
        self.argv, self.code, self.stderr, self.seconds, self.problem = argv, code, stderr, seconds, problem


def run_one(argv: List[str], limit_s: float = TIME_LIMIT_S) -> Outcome:
    """cli.main(argv) in a thread under a time limit; stdout/stderr captured."""
    from deepseek_probe import cli

    box: Dict[str, object] = {}
    out, err = io.StringIO(), io.StringIO()

    def target() -> None:
        try:
            cli.main(list(argv))
            box["code"] = 0
        except SystemExit as e:
            box["code"] = e.code if isinstance(e.code, int) else (0 if e.code is None else "non-int")
        except BaseException as e:  # noqa: BLE001 - main must never let one out
            import traceback

            box["escaped"] = "".join(traceback.format_exception(type(e), e, e.__traceback__))

    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        t = threading.Thread(target=target, daemon=True)
        t.start()
        t.join(limit_s)
    seconds = time.perf_counter() - start
    stderr = err.getvalue()
    if t.is_alive():
        return Outcome(argv, None, stderr, seconds, f"hang: still running after {limit_s:.0f} s")
    if "escaped" in box:
        return Outcome(argv, None, stderr, seconds, f"exception escaped main: {box['escaped']}")
    code = box.get("code")
    if "Traceback" in stderr or "Traceback" in out.getvalue():
        return Outcome(argv, code, stderr, seconds, "traceback printed")  # type: ignore[arg-type]
    if code not in ALLOWED_EXITS:
        return Outcome(argv, code, stderr, seconds, f"exit code {code!r} not in {sorted(ALLOWED_EXITS)}")  # type: ignore[arg-type]
    return Outcome(argv, code, stderr, seconds, None)  # type: ignore[arg-type]


def fuzz(n: int, seed: int, limit_s: float = TIME_LIMIT_S,
         progress: Optional[Callable[[int, Outcome], None]] = None) -> Tuple[List[Outcome], List[Outcome]]:
    """(all outcomes, failures) of `n` random inputs from `seed`. Stops at the first hang (a hung
    thread cannot be stopped and would disturb the inputs after it)."""
    rng = random.Random(seed)
    root = tempfile.mkdtemp(prefix="deepseek-probe-fuzz-")
    cwd = os.getcwd()
    outcomes: List[Outcome] = []
    try:
        files = Files(root)
        os.chdir(root)  # relative --output paths land here
        for i in range(n):
            o = run_one(random_argv(rng, files), limit_s)
            outcomes.append(o)
            if progress:
                progress(i, o)
            if o.problem and o.problem.startswith("hang"):
                break
    finally:
        os.chdir(cwd)
        shutil.rmtree(root, ignore_errors=True)
    return outcomes, [o for o in outcomes if o.problem]


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1000, help="inputs (default 1000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--limit", type=float, default=TIME_LIMIT_S, help="seconds per input")
    args = ap.parse_args(argv)
    sys.path.insert(0, ROOT)

    def progress(i: int, o: Outcome) -> None:
        if o.problem or (i + 1) % 100 == 0:
            print(f"[{i + 1}/{args.n}] {'FAIL ' + o.problem.splitlines()[0] if o.problem else 'ok'}", file=sys.__stderr__)

    t0 = time.perf_counter()
    outcomes, failures = fuzz(args.n, args.seed, args.limit, progress)
    codes: Dict[object, int] = {}
    for o in outcomes:
        codes[o.code] = codes.get(o.code, 0) + 1
    slowest = max(outcomes, key=lambda o: o.seconds)
    print(f"seed {args.seed}: {len(outcomes)} inputs in {time.perf_counter() - t0:.0f} s; exit codes "
          + ", ".join(f"{k}: {v}" for k, v in sorted(codes.items(), key=lambda kv: str(kv[0])))
          + f"; slowest {slowest.seconds:.2f} s ({' '.join(slowest.argv)[:120]})")
    for o in failures:
        print(f"FAIL {o.problem.splitlines()[0]}\n  argv: {o.argv!r}\n  stderr: {o.stderr[-2000:]}")
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
