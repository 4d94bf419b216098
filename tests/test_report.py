"""Reports: what lands in a terminal, a ticket, a provisioning log and a metrics scraper."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from deepseek_probe.question import Question
from deepseek_probe import assess  # noqa: E402
from deepseek_probe import runtimes
from deepseek_probe import plan, profiles, report, rules
from deepseek_probe.snapshot import Snapshot

SNAPSHOTS = Path(__file__).resolve().parent.parent / "fixtures" / "snapshots"
FIXTURES = sorted(p.stem for p in SNAPSHOTS.glob("*.json"))


def snap(name: str) -> Snapshot:
    return Snapshot.load(str(SNAPSHOTS / f"{name}.json"))


def request(model: str, runtime: str = "transformers", **changes):
    spec = profiles.get_model(model)
    s = runtimes.default_settings(spec, runtime)
    return spec, replace(s, **changes) if changes else s


def headline_check(snapshot: Snapshot, runtime: str = "transformers"):
    return assess.check(snapshot, [request(m, runtime) for m in profiles.HEADLINE])


def identifying_strings(raw: dict) -> list:
    """Every serial, UUID and hostname in the raw snapshot document, read from the JSON itself."""
    found = []
    for g in raw["gpus"]:
        found += [v for v in (g.get("serial"), g.get("uuid")) if v]
    if raw["system"].get("hostname"):
        found.append(raw["system"]["hostname"])
    return found


# --- redaction in every format ----------------------------------------------------------------


@pytest.mark.parametrize("fixture", FIXTURES)
@pytest.mark.parametrize("fmt", ["markdown", "text", "json", "prometheus"])
def test_reports_leak_no_uuid_or_serial_from_the_snapshot(fixture, fmt):
    raw = json.loads((SNAPSHOTS / f"{fixture}.json").read_text())
    secrets = [s for s in identifying_strings(raw) if len(s) > 3]
    out = report.render(headline_check(snap(fixture)), fmt)
    for secret in secrets:
        assert secret not in out, f"{secret} leaked into {fmt}"
    assert not re.search(r"GPU-[0-9a-f]{8}-", out)


def test_the_h100_ticket_report_has_real_identifiers_to_hide():
    """Guard for the test above: the fixture really carries a serial and a UUID."""
    raw = json.loads((SNAPSHOTS / "h100.json").read_text())
    assert any(s.startswith("GPU-") for s in identifying_strings(raw))
    assert any(s.isdigit() for s in identifying_strings(raw))


def test_user_names_in_paths_and_the_hostname_are_redacted_but_root_stays():
    s = snap("h100")
    s.system.hostname = "dgx-prod-0042.corp.example.com"
    s.disk.path = "/home/jdoe/.cache/huggingface/hub"
    s.cuda.libcudart_path = "/root/miniconda3/lib/libcudart.so.13"
    md = report.render(assess.check(s, [request("7b")]), "markdown")
    assert "jdoe" not in md and "/home/<user>/" in md
    assert "dgx-prod-0042" not in md
    assert "/root/miniconda3" in md


def test_no_redact_keeps_the_identifiers_for_internal_use():
    s = snap("h100")
    md = report.render(assess.check(s, [request("7b")]), "markdown", redact=False)
    assert s.gpus[0].serial in md and s.gpus[0].uuid in md


def test_rendering_does_not_change_the_result():
    s = snap("h100")
    result = assess.check(s, [request("7b")])
    report.render(result, "markdown")
    assert result.snapshot.gpus[0].serial == s.gpus[0].serial


# --- markdown: a ticket report ---------------------------------------------------------------


def test_markdown_report_has_machine_gpus_versions_and_every_finding():
    s = snap("2xh200")
    result = headline_check(s)
    md = report.render(result, "markdown")
    assert "## Machine" in md and "## GPUs" in md
    assert s.cuda.driver_version in md and s.cuda.cuda_driver_version in md
    assert result.tool_version in md
    for g in s.gpus:
        assert g.name in md
    for p in result.profiles:
        for f in p.findings:
            assert f"`{f.check}`" in md
    n_rows = sum(len(p.findings) for p in result.profiles)
    assert len(re.findall(r"^\| `[a-z_]+\.[a-z_]+` \|", md, flags=re.M)) == n_rows


def test_markdown_cells_escape_pipes():
    s = snap("h100")
    s.system.os_release = "Weird | Linux"
    md = report.render(assess.check(s, [request("7b")]), "markdown")
    assert "Weird \\| Linux" in md


# --- text -------------------------------------------------------------------------------------


def test_text_has_one_block_per_profile_with_fail_and_suggestion():
    result = assess.check(snap("h100"), [request("7b"), request("671b")])
    out = report.render(result, "text")
    for p in result.profiles:
        assert p.model in out
    vram_fail = [f for f in result.profiles[1].findings if f.check == "gpu.vram"][0]
    assert "FAIL" in out and vram_fail.suggestion.split(";")[0] in out


def test_colour_only_when_asked():
    result = assess.check(snap("h100"), [request("7b"), request("671b")])
    assert "\033[" not in report.render(result, "text", color=False)
    assert "\033[" not in report.render(result, "text")
    assert "\033[31m" in report.render(result, "text", color=True)


# --- json ---------------------------------------------------------------------------------------


def test_json_report_follows_the_check_contract():
    result = assess.check(snap("h100"), [request("7b"), request("671b")])
    doc = json.loads(report.render(result, "json"))
    assert doc["schema_version"] == 1 and doc["exit_code"] == 2 and doc["verdict"] == "fail"
    assert [p["model"] for p in doc["profiles"]] == ["deepseek-llm-7b", "deepseek-v3"]
    assert doc["snapshot"]["gpus"][0]["serial"] != snap("h100").gpus[0].serial
    Snapshot.from_dict(doc["snapshot"])  # the redacted snapshot still loads


# --- prometheus ---------------------------------------------------------------------------------

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)')


def parse_prometheus(text: str) -> list:
    """Strict reader of the text exposition format: HELP/TYPE before samples, labels escaped."""
    samples, typed = [], set()
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            assert len(parts) == 4, line
            if parts[1] == "TYPE":
                assert parts[3] in ("gauge", "counter", "untyped"), line
                typed.add(parts[2])
            continue
        m = _SAMPLE.match(line)
        assert m, f"bad sample line: {line!r}"
        assert m.group(1) in typed, f"sample before its TYPE: {line!r}"
        labels, rest = {}, m.group(3) or ""
        while rest:
            lm = _LABEL.match(rest)
            assert lm, f"bad labels in {line!r}"
            value = lm.group(2).replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
            labels[lm.group(1)] = value
            rest = rest[lm.end():]
        samples.append((m.group(1), labels, float(m.group(4))))
    return samples


@pytest.mark.parametrize("fixture", FIXTURES)
def test_prometheus_output_parses_and_has_a_verdict_per_profile(fixture):
    result = headline_check(snap(fixture))
    samples = parse_prometheus(report.render(result, "prometheus"))
    verdicts = [(l, v) for n, l, v in samples if n == "deepseek_probe_profile_verdict"]
    assert len(verdicts) == len(result.profiles)
    exit_by_model = {p.model: p.exit_code for p in result.profiles}
    for labels, value in verdicts:
        assert exit_by_model[labels["model"]] == value
    free = {l["gpu"]: v for n, l, v in samples if n == "deepseek_probe_gpu_memory_free_bytes"}
    for g in snap(fixture).gpus:
        if g.memory_free_bytes is not None:
            assert free[str(g.index)] == g.memory_free_bytes


def test_prometheus_label_values_are_escaped():
    spec, s = request("7b")
    odd = replace(spec, id='my "odd"\\model\nv2')
    result = assess.check(snap("h100"), [(odd, s)])
    samples = parse_prometheus(report.render(result, "prometheus", redact=False))
    models = {l.get("model") for n, l, v in samples if n == "deepseek_probe_profile_verdict"}
    assert models == {'my "odd"\\model\nv2'}


# --- plan renderers --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "csv"])
def test_plan_renders_every_gpu_row(fmt):
    spec, s = request("70b")
    result = plan.hardware_plan(Question.of(spec, s))
    out = report.render_plans([result], fmt)
    if fmt == "json":
        assert len(json.loads(out)["gpus"]) == len(result.rows)
    elif fmt == "csv":
        assert len(out.strip().splitlines()) == 1 + len(result.rows)
    else:
        for row in result.rows:
            assert row.gpu.name in out


def test_unknown_format_is_bad_input():
    from deepseek_probe.errors import InputError

    with pytest.raises(InputError):
        report.render(assess.check(snap("h100"), [request("7b")]), "yaml")
