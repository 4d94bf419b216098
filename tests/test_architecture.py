"""The shape of the house (issue 13): no import circles inside deepseek_probe/, no module over
600 lines, and data flowing one way (probes never import the checks, the estimate or the reports).

Imports are read from the source with ast, at module level and inside functions alike: a lazy
import is still a dependency. The runtime registry's import_module paths count as edges too.
"""

from __future__ import annotations

import ast
import os
from typing import Dict, List, Set

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "deepseek_probe")
MAX_LINES = 600


def _modules() -> Dict[str, str]:
    """dotted name -> path for every module of the package."""
    out = {}
    for dirpath, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(dirpath, f), os.path.dirname(ROOT))[:-3]
                name = rel.replace(os.sep, ".")
                out[name[: -len(".__init__")] if name.endswith(".__init__") else name] = os.path.join(dirpath, f)
    return out


def _edges(modules: Dict[str, str]) -> Dict[str, Set[str]]:
    graph: Dict[str, Set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        tree = ast.parse(open(path, encoding="utf-8").read())
        is_pkg = path.endswith("__init__.py")
        for node in ast.walk(tree):
            targets: List[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = mod.split(".")
                    keep = len(parts) - node.level + (1 if is_pkg else 0)
                    base = ".".join(parts[:keep] + ([base] if base else []))
                for a in node.names:  # `from pkg import module` names a module; else the attribute's module
                    targets.append(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in modules \
                    and node.value != mod and node.value.startswith("deepseek_probe."):
                targets = [node.value]  # runtimes registry: importlib.import_module("deepseek_probe.runtimes.x")
            for t in targets:
                if t in modules and t != mod:
                    graph[mod].add(t)
    return graph


def _cycle(graph: Dict[str, Set[str]]) -> List[str]:
    """One import cycle as a path, or []."""
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(n: str) -> List[str]:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return []

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return []


def test_the_cycle_finder_finds_a_planted_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_inside_the_package():
    graph = _edges(_modules())
    assert sum(len(v) for v in graph.values()) > 50  # the walk really found the imports
    cycle = _cycle(graph)
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_no_module_over_600_lines():
    long = {name: n for name, path in _modules().items()
            if (n := sum(1 for _ in open(path, encoding="utf-8"))) > MAX_LINES}
    assert not long, f"split these by concern: {long}"


def test_only_records_imports_dataclasses():
    # records imports it without inspect (records._import_dataclasses); the rest take its
    # functions from records, so that import comes first
    direct = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if (isinstance(node, ast.Import) and any(a.name == "dataclasses" for a in node.names)) or \
                    (isinstance(node, ast.ImportFrom) and node.module == "dataclasses"):
                direct.append(name)
    assert direct == ["deepseek_probe.records"] * len(direct) and direct, direct


def test_probes_never_import_the_layers_above_them():
    graph = _edges(_modules())
    above = ("deepseek_probe.estimate", "deepseek_probe.rules", "deepseek_probe.checks", "deepseek_probe.plan",
             "deepseek_probe.report", "deepseek_probe.runtimes", "deepseek_probe.cli", "deepseek_probe.commands")
    bad = {m: sorted(t for t in ts if t.startswith(above))
           for m, ts in graph.items() if m.startswith("deepseek_probe.probes")}
    assert not any(bad.values()), bad


# The I/O edge: what reads the machine or files (probes, file formats, the snapshot loader, the
# fleet's snapshot files, --verify's CUDA calls), the CLI that wires it (cli, commands, argv) and
# the forked workers it may compute in (parallel). Everything else is pure.
IO_EDGE = ("deepseek_probe.probes", "deepseek_probe.formats", "deepseek_probe.files", "deepseek_probe.cli",
           "deepseek_probe.commands", "deepseek_probe.argv",
           "deepseek_probe.__main__", "deepseek_probe.verify", "deepseek_probe.fleet_nodes",
           "deepseek_probe.snapshot", "deepseek_probe.strict_json", "deepseek_probe.interrupts",
           "deepseek_probe.parallel")


def test_pure_layers_never_import_the_probes():
    graph = _edges(_modules())
    pure = [m for m in graph if m != "deepseek_probe" and not m.startswith(IO_EDGE)]
    assert "deepseek_probe.profiles.names" in pure and "deepseek_probe.assess" in pure
    bad = {m: sorted(t for t in graph[m] if t.startswith("deepseek_probe.probes")) for m in pure}
    assert not any(bad.values()), {m: v for m, v in bad.items() if v}


# -- runtime names (issue 21 item 3): ask the runtime object, never compare its name ----------------
RUNTIME_NAMES = {"transformers", "vllm", "sglang", "llamacpp", "ollama", "lmstudio", "llama.cpp", "hf"}
# Where a runtime's name may be compared: its own modules, and the catalog, probes and file formats.
NAMES_ALLOWED_UNDER = ("runtimes", "profiles", "probes", "formats")


def _is_runtime_name(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value in RUNTIME_NAMES
    return (isinstance(node, (ast.Tuple, ast.List, ast.Set)) and bool(node.elts)
            and all(_is_runtime_name(e) for e in node.elts))


def _runtime_name_comparisons(source: str) -> List[int]:
    """Line numbers of every comparison with a runtime's name (or a tuple of them) in `source`."""
    return [n.lineno for n in ast.walk(ast.parse(source))
            if isinstance(n, ast.Compare) and any(_is_runtime_name(x) for x in [n.left] + n.comparators)]


def test_the_runtime_name_finder_finds_planted_comparisons():
    planted = ('if s.runtime == "vllm":\n    pass\n'
               'ok = runtime in ("vllm", "sglang")\n'
               'fine = s.precision == "fp8" or s.runtime in RUNTIMES\n'
               'key = "llamacpp" in est.notes\n')
    assert sorted(_runtime_name_comparisons(planted)) == [1, 3, 5]


def test_no_runtime_name_is_compared_outside_runtimes():
    hits: Dict[str, List[int]] = {}
    for name, path in _modules().items():
        if name.split(".")[1:2] and name.split(".")[1] in NAMES_ALLOWED_UNDER:
            continue
        lines = _runtime_name_comparisons(open(path, encoding="utf-8").read())
        if lines:
            hits[os.path.relpath(path, os.path.dirname(ROOT))] = lines
    assert not hits, f"ask the runtime (runtimes.RUNTIMES[name].<capability>) instead: {hits}"
