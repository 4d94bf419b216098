#!/usr/bin/env python3
"""Start-up of two source trees of deepseek_probe, interleaved A/B (paired, so load drift on a
shared machine hits both alike). Each tree is compiled first: with PYTHONDONTWRITEBYTECODE set
(as on the dev machine) every run would otherwise re-compile the package and time the compiler.

    git archive main | tar -x -C /tmp/A; git archive HEAD | tar -x -C /tmp/B
    .venv/bin/python benchmarks/startup_ab.py /tmp/A /tmp/B --rounds 80 -- check --model 7b
    .venv/bin/python benchmarks/startup_ab.py /tmp/A /tmp/B --instructions -- check --model 7b

`--instructions`: one run of each tree under valgrind cachegrind instead (instructions executed:
the same however loaded the machine is), with the import floor's for scale.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Dict, List


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tree_a")
    parser.add_argument("tree_b")
    parser.add_argument("--rounds", type=int, default=80)
    parser.add_argument("--instructions", action="store_true", help="count instructions (valgrind) instead of timing")
    cut = argv.index("--") if "--" in argv else len(argv)  # what follows "--" is the command
    own, command = argv[:cut], argv[cut + 1:] or ["check"]
    opts = parser.parse_args(own)
    opts.args = command
    trees = {"A": os.path.abspath(opts.tree_a), "B": os.path.abspath(opts.tree_b)}
    env_compile = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for tree in trees.values():
        subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(tree, "deepseek_probe")],
                       env=env_compile, stdout=subprocess.DEVNULL, check=True)
    for label, tree in trees.items():  # an installed copy (pip install -e) would shadow PYTHONPATH
        where = subprocess.run([sys.executable, "-c", "import deepseek_probe; print(deepseek_probe.__file__)"],
                               env=dict(os.environ, PYTHONPATH=tree), capture_output=True, text=True).stdout
        if not where.startswith(tree):
            print(f"{label}: python imports deepseek_probe from {where.strip()!r}, not {tree}; uninstall it first")
            return 2
    if opts.instructions:
        from startup import instructions  # benchmarks/startup.py

        py = os.path.realpath(sys.executable)  # not a pyenv shim: valgrind would count the shell
        floor = instructions([py, "-c", "import psutil, pynvml, click"])
        if floor is None:
            print("valgrind not found")
            return 2
        # run in the tree: `-m` puts the working folder first on sys.path
        counts = {label: instructions([py, "-m", "deepseek_probe", *opts.args],
                                      env=dict(os.environ, PYTHONPATH=tree), cwd=tree) for label, tree in trees.items()}
        for label, n in counts.items():
            print(f"{label} {trees[label]}: {(n or 0) / 1e6:,.0f}M instructions, {(n or 0) / floor:.2f}x the imports' "
                  f"{floor / 1e6:,.0f}M")
        a, b = counts["A"] or 0, counts["B"] or 0
        print(f"B - A: {(b - a) / 1e6:+,.0f}M ({(b / a - 1) * 100 if a else 0:+.1f}%)")
        return 0
    times: Dict[str, List[float]] = {"A": [], "B": []}
    for r in range(opts.rounds + 1):  # round 0 warms the page cache, not timed
        for label in ("A", "B") if r % 2 else ("B", "A"):
            env = dict(os.environ, PYTHONPATH=trees[label])
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "deepseek_probe", *opts.args], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if r:
                times[label].append(time.perf_counter() - start)
    for label, values in times.items():
        print(f"{label} {trees[label]}: median {statistics.median(values) * 1e3:.1f} ms, "
              f"min {min(values) * 1e3:.1f} ms, n={len(values)}")
    a, b = statistics.median(times["A"]), statistics.median(times["B"])
    print(f"B - A: {(b - a) * 1e3:+.1f} ms median ({(b / a - 1) * 100:+.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
