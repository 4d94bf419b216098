"""The CLI invocations whose JSON output is pinned by tests/test_golden.py.

Golden files were made from the code before the architecture refactor (issue 13), so the
refactor can prove it changed no behaviour. A deliberate change regenerates them with
`python tests/golden/cases.py --write` and names the change in CHANGELOG.md.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SNAPSHOTS = os.path.join(ROOT, "fixtures", "snapshots")
FLEET = os.path.join(ROOT, "fixtures", "fleet")


def cases() -> List[Tuple[str, List[str]]]:
    """(golden file name, argv) pairs: check on every snapshot fixture and runtime, estimate for
    every catalog model and runtime, plan --all, fleet on every fleet fixture."""
    out: List[Tuple[str, List[str]]] = []
    for snap in sorted(os.listdir(SNAPSHOTS)):
        path = os.path.join(SNAPSHOTS, snap)
        stem = snap[:-5]
        out.append((f"check-{stem}", ["check", "--snapshot", path, "--format", "json"]))
        for rt, model in (("vllm", "70b"), ("llamacpp", "33b"), ("vllm", "236b")):
            out.append((f"check-{stem}-{rt}-{model}",
                        ["check", "--snapshot", path, "--format", "json", "--runtime", rt, "--model", model]))
    for model in ("7b", "16b", "33b", "67b", "70b", "236b", "671b"):
        for rt in ("transformers", "vllm", "llamacpp"):
            out.append((f"estimate-{model}-{rt}",
                        ["estimate", "--model", model, "--runtime", rt, "--format", "json"]))
        out.append((f"estimate-{model}-vllm-80g",
                    ["estimate", "--model", model, "--runtime", "vllm", "--gpu-memory", "80", "--format", "json"]))
    out.append(("plan-all", ["plan", "--all", "--format", "json"]))
    for d in ("h100x8-ib", "h200x8-ib"):
        out.append((f"fleet-{d}", ["fleet", os.path.join(FLEET, d), "--format", "json"]))
    out.append(("fleet-variants", ["fleet", os.path.join(FLEET, "h200x8-ib"), os.path.join(FLEET, "variants"),
                                   "--format", "json", "--model", "671b", "--precision", "fp8"]))
    return out


@contextlib.contextmanager
def _nothing_installed():
    """`estimate` models the runtime release installed on this machine (issue 23): the goldens pin
    the answer where none is, whatever the box that runs them has installed."""
    from deepseek_probe.probes import installed
    from deepseek_probe.snapshot import InstalledInfo

    real = installed.probe_installed
    installed.probe_installed = lambda *a, **k: InstalledInfo()
    try:
        yield
    finally:
        installed.probe_installed = real


def run(argv: List[str]) -> Tuple[int, str]:
    """cli.main in-process; paths under the repository are written relative to it."""
    from deepseek_probe import cli

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()), _nothing_installed():
        try:
            cli.main(list(argv))
            code = 0
        except SystemExit as e:
            code = 0 if e.code is None else int(e.code)
    return code, buf.getvalue().replace(ROOT, "<root>")


def golden_path(name: str) -> str:
    return os.path.join(HERE, "out", name + ".json")


if __name__ == "__main__":
    if "--write" not in sys.argv:
        sys.exit("usage: python tests/golden/cases.py --write")
    sys.path.insert(0, ROOT)
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    for name, argv in cases():
        code, text = run(argv)
        with open(golden_path(name), "w", encoding="utf-8") as f:
            f.write(f"{code}\n{text}")
    print(f"wrote {len(cases())} golden files")
