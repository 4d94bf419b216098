"""docs/requirements.md and `plan --all`: the docs quote what the code computes, and say so.

- The generated blocks of docs/requirements.md (the requirement tables, the rules-of-thumb
  section) and the chart's data must equal what the code renders now; otherwise the message says
  which command regenerates them.
- Every figure under a rule of thumb is re-computed here, through the library (profiles, estimate,
  plan), from the command the doc cites next to it; the generator ran the same command through
  the CLI. Two paths, one answer.
- The table itself: one row per profile x runtime x precision x context, columns wired to the
  right GPUs, and facts that follow from physics rather than from our code.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import re
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from deepseek_probe.question import Question
from deepseek_probe import runtimes
from deepseek_probe import gpus, plan, profiles
from deepseek_probe.errors import InputError
from deepseek_probe.estimate import estimate
from deepseek_probe.requirements import (CSV_COLUMNS, GPU_CLASSES, render_requirements,
                                         requirement_rows)

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
DOC = DOCS / "requirements.md"
REGENERATE_DOC = ".venv/bin/python docs/make_requirements.py"
REGENERATE_CHART = ".venv/bin/pip install matplotlib && .venv/bin/python docs/make_chart.py"
GIB = 2**30


def _load(name: str):
    """Import a docs/ script by path (docs/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"docs_{name}", DOCS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen():
    return _load("make_requirements")


@pytest.fixture(scope="module")
def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def _block(text: str, begin: str, end: str) -> str:
    i, j = text.find(begin), text.find(end)
    assert i >= 0 and j > i, f"docs/requirements.md lost its markers {begin!r} / {end!r}"
    return text[i + len(begin):j].strip("\n") + "\n"


def _first_difference(doc: str, fresh: str) -> str:
    a, b = doc.splitlines(), fresh.splitlines()
    for n, (x, y) in enumerate(zip(a, b), 1):
        if x != y:
            return f"line {n} of the block:\n  doc:  {x}\n  code: {y}"
    return f"the block has {len(a)} lines, the code renders {len(b)}"


# --- staleness ----------------------------------------------------------------------------------


def test_requirement_tables_in_docs_match_plan_all(gen, doc_text):
    doc = _block(doc_text, gen.TABLE_BEGIN, gen.TABLE_END)
    fresh = render_requirements("markdown")
    assert doc == fresh, (f"docs/requirements.md is stale (tables): run `{REGENERATE_DOC}`; "
                          + _first_difference(doc, fresh))


def test_rules_of_thumb_section_in_docs_matches_the_code(gen, doc_text):
    doc = _block(doc_text, gen.CLAIMS_BEGIN, gen.CLAIMS_END)
    fresh = gen.render_claims()
    assert doc == fresh, (f"docs/requirements.md is stale (rules of thumb): run `{REGENERATE_DOC}`; "
                          + _first_difference(doc, fresh))


def test_fine_tuning_section_in_docs_matches_the_code(gen, doc_text):
    doc = _block(doc_text, gen.TRAINING_BEGIN, gen.TRAINING_END)
    fresh = gen.render_training()
    assert doc == fresh, (f"docs/requirements.md is stale (fine-tuning): run `{REGENERATE_DOC}`; "
                          + _first_difference(doc, fresh))


def test_each_training_claims_command_computes_what_the_doc_says(capsys):
    """The commands beside the guides' training claims run, and print the peak the doc cites."""
    import json
    import shlex

    from deepseek_probe import cli
    from deepseek_probe.training import tables

    for c in tables.guide_claims():
        argv = shlex.split(c.command)[1:] + ["--format", "json"]
        with pytest.raises(SystemExit) as e:
            cli.main(argv)
        out, err = capsys.readouterr()
        assert e.value.code == 0, err
        peak = json.loads(out)["training"]["memory"]["peak_bytes"]
        if "ZeRO-3 over 4" in c.ours:
            assert f"{peak / GIB:.1f} GiB per GPU" in c.ours


def test_chart_data_matches_the_estimator():
    chart = _load("make_chart")
    data = (DOCS / "memory-vs-context.csv").read_text(encoding="utf-8")
    fresh = chart.render_data_csv()
    assert data == fresh, (f"docs/memory-vs-context.png is stale: run `{REGENERATE_CHART}`; "
                           + _first_difference(data, fresh))


def test_chart_is_a_png_embedded_in_the_doc(doc_text):
    png = DOCS / "memory-vs-context.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](memory-vs-context.png)" in doc_text


# --- every figure under a rule of thumb, re-computed through the library ------------------------

FIGURE_LINE = re.compile(r"^- `deepseek-probe (?P<cmd>[^`]+)` → (?P<parts>.+)$")
SETTING_FLAGS = {"--precision": ("precision", str), "--kv-precision": ("kv_precision", str),
                 "--context": ("context", int), "--concurrency": ("concurrency", int),
                 "--tensor-parallel": ("tensor_parallel", int)}


def _bytes_text(n: int) -> str:
    return f"{n / GIB:,.1f} GiB ({n / 1e9:,.1f} GB)".replace(",", " ")


def _tps_text(mid: float) -> str:
    return f"{mid:.0f}" if mid >= 10 else f"{mid:.1f}"


ESTIMATE_VALUES = {
    "params": lambda e: f"{e.params / 1e9:.2f} B",
    "weights": lambda e: _bytes_text(e.per_device.weights_bytes),
    "KV cache": lambda e: _bytes_text(e.per_device.kv_cache_bytes),
    "activations": lambda e: _bytes_text(e.per_device.activation_bytes),
    "runtime overhead": lambda e: _bytes_text(e.per_device.runtime_overhead_bytes),
    "total per GPU": lambda e: _bytes_text(e.per_device.total_bytes),
    "host RAM": lambda e: _bytes_text(e.host_ram_bytes),
    "disk": lambda e: _bytes_text(e.disk_bytes),
}


def _cited_settings(command: str):
    """(kind, model spec, Settings) for a cited `estimate`/`plan` command line, via the library."""
    words = shlex.split(command)
    kind, args = words[0], words[1:]
    assert kind in ("estimate", "plan"), f"cited command {command!r}: only estimate/plan are checked"
    assert len(args) % 2 == 0, f"cited command {command!r}: flags must come as --flag value"
    flags = dict(zip(args[::2], args[1::2]))
    spec = profiles.get_model(flags.pop("--model"))
    settings = runtimes.default_settings(spec, flags.pop("--runtime", "transformers"))
    unknown = set(flags) - set(SETTING_FLAGS)
    assert not unknown, f"cited command {command!r} uses {unknown}: teach this test to reproduce it"
    changes = {SETTING_FLAGS[f][0]: SETTING_FLAGS[f][1](v) for f, v in flags.items()}
    return kind, spec, replace(settings, **changes)


def _figure_lines(gen, doc_text) -> List[Tuple[str, str]]:
    block = _block(doc_text, gen.CLAIMS_BEGIN, gen.CLAIMS_END)
    out = []
    for line in block.splitlines():
        m = FIGURE_LINE.match(line)
        if m:
            out.append((m["cmd"], m["parts"]))
    return out


def _check_estimate_part(part: str, est, command: str) -> None:
    label = next((k for k in ESTIMATE_VALUES if part.startswith(k + " ")), None)
    assert label, f"`{command}`: cannot tell which figure {part!r} is"
    shown = part[len(label) + 1:]
    assert shown == ESTIMATE_VALUES[label](est), (
        f"`deepseek-probe {command}`: the doc says {label} {shown}, the estimator gives "
        f"{ESTIMATE_VALUES[label](est)}; run `{REGENERATE_DOC}`")


def _check_plan_part(part: str, result, command: str) -> None:
    m = re.match(r"^(?P<gpu>.+?): (?:more than 8 GPUs|(?P<n>\d+) GPUs?, ≈ (?P<tps>[\d.]+) tok/s)$", part)
    assert m, f"`{command}`: cannot read {part!r}"
    row = next((r for r in result.rows if r.gpu.name == m["gpu"]), None)
    assert row is not None, f"`{command}`: no GPU called {m['gpu']!r} in the plan"
    if m["n"] is None:
        assert row.count is None, (f"`deepseek-probe {command}`: the doc says more than 8 "
                                   f"{m['gpu']}, plan says {row.count}")
        return
    assert row.count == int(m["n"]), (f"`deepseek-probe {command}`: the doc says {m['n']}x "
                                      f"{m['gpu']}, plan says {row.count}")
    assert _tps_text(row.tokens_per_s["mid"]) == m["tps"], (
        f"`deepseek-probe {command}`: the doc says {m['tps']} tok/s on {m['gpu']}, plan says "
        f"{_tps_text(row.tokens_per_s['mid'])}")


def test_every_figure_under_the_rules_of_thumb_is_what_the_cited_command_computes(gen, doc_text):
    lines = _figure_lines(gen, doc_text)
    assert len(lines) >= 20, "the rules-of-thumb section lost its figures"
    for command, parts in lines:
        kind, spec, settings = _cited_settings(command)
        result = estimate(spec, settings) if kind == "estimate" else plan.hardware_plan(Question.of(spec, settings))
        for part in parts.split(" · "):
            if kind == "estimate":
                _check_estimate_part(part, result, command)
            else:
                _check_plan_part(part, result, command)


def test_estimator_figures_appear_only_on_lines_that_cite_their_command(gen, doc_text):
    """A GiB figure in the prose would have no command to check it against."""
    block = _block(doc_text, gen.CLAIMS_BEGIN, gen.CLAIMS_END)
    loose = [line for line in block.splitlines()
             if re.search(r"\d GiB", line) and not FIGURE_LINE.match(line)]
    assert not loose, f"GiB figures without a cited command: {loose}"


def test_every_rule_of_thumb_in_the_guides_has_a_section(gen, doc_text):
    block = _block(doc_text, gen.CLAIMS_BEGIN, gen.CLAIMS_END)
    numbers = [int(n) for n in re.findall(r"^### (\d+)\. ", block, flags=re.M)]
    # docs/reference/guide-claims.md lists 17 claims
    assert numbers == list(range(1, 18))


def test_the_70b_fp16_rule_is_refuted_by_the_weights_alone(gen, doc_text):
    """Claim 2 ("70B at FP16 takes 56 GB"): 70.55 B params x 2 bytes is > 56 GB before any cache."""
    spec = profiles.get_model("70b")
    est = estimate(spec, replace(runtimes.default_settings(spec, "transformers"), precision="fp16"))
    assert est.per_device.weights_bytes > 2.4 * 56e9
    assert f"weights {_bytes_text(est.per_device.weights_bytes)}" in doc_text


# --- the table ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rows():
    return requirement_rows()


def _infinite(n: Optional[int]) -> float:
    return float("inf") if n is None else n


def test_class_columns_are_the_fewest_gpus_plan_finds_for_that_gpu(rows):
    """A column's count is what `check` answers on a node of that many of the class GPU (it runs
    wholly on the GPUs), and fewer do not (every 7th row: each probe is a full assessment)."""
    from deepseek_probe import assess, machines

    for r in rows[::7]:
        spec = profiles.get_model(r.model)
        settings = replace(runtimes.default_settings(spec, r.runtime), precision=r.precision,
                           context=r.context)
        for fit, (class_gb, key) in zip(r.fits, GPU_CLASSES):
            g = gpus.get_gpu(key)
            assert g.memory_class_gb == class_gb and fit.gpu_key == key

            def runs(n: int) -> bool:
                q = Question.of(spec, replace(settings, tensor_parallel=n))
                try:
                    return assess.assess(q, machines.catalog_node(g, n), verify_fixes=False).fit == "gpu"
                except Exception:  # a split the model cannot take
                    return False

            top = fit.count or plan.MAX_GPUS_PER_NODE + 1
            assert not any(runs(n) for n in range(1, top)), f"{r.model} {r.runtime} {r.precision} {class_gb} GB"
            if fit.count:
                assert runs(fit.count), f"{r.model} {r.runtime} {r.precision} {r.context}: {class_gb} GB column"


def test_a_bigger_gpu_class_never_needs_more_gpus(rows):
    for r in rows:
        counts = [_infinite(f.count) for f in r.fits]
        assert counts == sorted(counts, reverse=True), (
            f"{r.model} {r.runtime} {r.precision} {r.context}: {counts}")


def test_70b_bf16_never_fits_one_80gb_gpu(rows):
    # 70.55 B parameters x 2 bytes = 141 GB of weights: no 80 GB card holds them, at any context.
    seventy = [r for r in rows if r.model == "deepseek-r1-distill-llama-70b" and r.precision == "bf16"]
    assert len(seventy) == 9  # 3 runtimes x 3 contexts
    for r in seventy:
        assert _infinite(r.fits[[c for c, _ in GPU_CLASSES].index(80)].count) >= 2


def test_memory_grows_with_context(rows):
    series: Dict[Tuple[str, str, str], List[Tuple[int, int]]] = {}
    for r in rows:
        series.setdefault((r.model, r.runtime, r.precision), []).append((r.context, r.per_gpu_bytes))
    for key, points in series.items():
        points.sort()
        totals = [b for _, b in points]
        assert totals == sorted(totals) and len(set(totals)) == len(totals), f"{key}: {points}"


def test_contexts_stop_at_each_models_maximum(rows):
    by_model: Dict[str, set] = {}
    for r in rows:
        assert r.context <= r.max_context
        by_model.setdefault(r.model, set()).add(r.context)
    assert by_model["deepseek-llm-7b"] == {4096}  # trained for 4K tokens
    assert by_model["deepseek-coder-33b"] == {4096, 16384}  # 16K maximum gets its own row
    assert by_model["deepseek-v3"] == {4096, 32768, 131072}


def test_each_runtime_lists_only_precisions_it_can_load(rows):
    by_runtime: Dict[str, set] = {}
    for r in rows:
        by_runtime.setdefault(r.runtime, set()).add(r.precision)
    assert by_runtime["transformers"] == {"bf16", "fp8", "int8", "int4"}
    assert by_runtime["vllm"] == {"bf16", "fp8", "int8", "int4"}
    assert by_runtime["llamacpp"] == {"bf16", "q8_0", "q4_k_m"}  # GGUF: no fp8/int8/int4


def test_every_catalog_model_is_in_the_table(rows):
    assert {r.model for r in rows} == {m.id for m in profiles.all_models()}


def test_decode_speed_is_named_on_a_gpu_that_holds_the_row(rows):
    for r in rows:
        if r.decode_tokens_per_s is None:
            assert r.speed_gpu_key is None
            continue
        fit = next(f for f in r.fits if f.gpu_key == r.speed_gpu_key)
        assert fit.count == r.speed_gpu_count
        assert r.decode_tokens_per_s["low"] <= r.decode_tokens_per_s["mid"] <= r.decode_tokens_per_s["high"]


# --- formats ------------------------------------------------------------------------------------


def test_json_has_a_schema_version_and_a_row_per_table_row(rows):
    doc = json.loads(render_requirements("json"))
    assert doc["schema_version"] == 1
    assert len(doc["rows"]) == len(rows)
    first = doc["rows"][0]
    assert set(first["gpus"]) == {str(c) for c, _ in GPU_CLASSES}


def test_csv_has_a_header_and_agrees_with_json():
    table = list(csv.DictReader(io.StringIO(render_requirements("csv"))))
    doc = json.loads(render_requirements("json"))
    assert list(table[0]) == CSV_COLUMNS
    assert len(table) == len(doc["rows"])
    for line, row in zip(table, doc["rows"]):
        assert (line["model"], line["runtime"], line["precision"], int(line["context"])) == \
            (row["model"], row["runtime"], row["precision"], row["context"])
        assert int(line["per_gpu_bytes_tp1"]) == row["per_gpu_bytes"]
        count_80 = row["gpus"]["80"]["count"]
        assert line["gpus_80gb"] == ("" if count_80 is None else str(count_80))


def test_output_is_deterministic_with_no_timestamps():
    for fmt in ("markdown", "json", "csv", "text"):
        first = render_requirements(fmt)
        assert first == render_requirements(fmt)
        assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", first), fmt


def test_unknown_format_is_bad_input_not_a_crash():
    with pytest.raises(InputError, match="unknown format"):
        render_requirements("xml")


def test_cli_plan_all_prints_the_same_table():
    from click.testing import CliRunner

    from deepseek_probe.cli import cli

    result = CliRunner().invoke(cli, ["plan", "--all", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.stdout == render_requirements("csv")
