#!/usr/bin/env python3
"""Would the survey's rows, computed in forked workers, pay on a many-core GPU host? (issue 24)

Each round starts a fresh interpreter per worker count (interleaved), takes the live snapshot,
then computes the survey's rows serially (1) or in N forked children that each compute every
N-th row and send them back pickled. It prints the survey's wall time and a digest of the rows
(the same digest for every count means the same rows).

    python benchmarks/survey_fork.py [--rounds 15] [--workers 1 2 4 8] [--out result.json]

A measurement to make before the tool forks anything: on the 2-core dev box a trial inside the
tool (since removed) with two workers saved ~10 % of `check --snapshot h100.json` at best, in
noisy timings; no many-core GPU host could be reached to measure it, so the tool stays serial.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional

CHILD = r"""
import gc, hashlib, os, pickle, sys, time
gc.disable()
from deepseek_probe import profiles, survey
from deepseek_probe.probes import take_snapshot
snap = take_snapshot(model_dir=None, probe_versions=False)
workers = int(sys.argv[1])
start = time.perf_counter()
groups = survey.architecture_groups(profiles.all_models())
if workers <= 1:
    rows = [survey._row_for(snap, g) for g in groups]
else:
    children = []
    for w in range(workers):
        r, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                part = {i: survey._row_for(snap, g) for i, g in enumerate(groups) if i % workers == w}
                with os.fdopen(wfd, "wb") as f:
                    f.write(pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL))
            finally:
                os._exit(0)
        os.close(wfd)
        children.append((pid, r))
    rows = [None] * len(groups)
    for pid, r in children:
        with os.fdopen(r, "rb") as f:
            for i, row in pickle.loads(f.read()).items():
                rows[i] = row
        os.waitpid(pid, 0)
elapsed = time.perf_counter() - start
print(elapsed, hashlib.sha1(repr([vars(x) for x in rows]).encode()).hexdigest()[:12])
"""


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    times: Dict[int, List[float]] = {w: [] for w in args.workers}
    digests: Dict[int, set] = {w: set() for w in args.workers}
    for _ in range(args.rounds):
        for w in args.workers:
            out = subprocess.run([sys.executable, "-c", CHILD, str(w)], capture_output=True, text=True,
                                 cwd=tempfile.gettempdir(), check=True).stdout.split()
            times[w].append(float(out[0]))
            digests[w].add(out[1])
    for w in args.workers:
        print(f"workers {w}: survey {statistics.median(times[w]) * 1e3:6.1f} ms median, "
              f"min {min(times[w]) * 1e3:6.1f} ms; rows digest {sorted(digests[w])}")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"benchmark": "survey_fork", "rounds": args.rounds,
                       "times_s": {str(k): v for k, v in times.items()},
                       "digests": {str(k): sorted(v) for k, v in digests.items()}}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
