"""The public start-up logs of one runtime: benchmarks/runtime_logs/<runtime>/*.json, sorted."""

import glob
import json
import os
from typing import Dict, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))


def load(runtime: str) -> List[Tuple[str, Dict]]:
    out = []
    for p in sorted(glob.glob(os.path.join(HERE, runtime, "*.json"))):
        with open(p, encoding="utf-8") as f:
            out.append((os.path.basename(p), json.load(f)))
    return out
