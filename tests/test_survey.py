"""`deepseek-probe check` with no model: the capability survey (issue 15). Each machine's rows are
checked against arithmetic done here, from the fixture's own numbers, not against the survey's
output copied back."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import SNAPSHOT_FIXTURES
from deepseek_probe import cli, profiles, survey
from deepseek_probe.snapshot import Snapshot

LAPTOP = os.path.join(SNAPSHOT_FIXTURES, "nogpu-dev.json")  # real: 2 vCPU, 15 GiB, no GPU
RTX4090 = os.path.join(SNAPSHOT_FIXTURES, "derived-rtx4090.json")
H100 = os.path.join(SNAPSHOT_FIXTURES, "h100.json")
H200X8 = os.path.join(SNAPSHOT_FIXTURES, "derived-8xh200.json")
GIB = 2**30


def rows(path):
    return {r.models[0]: r for r in survey.survey(Snapshot.load(path)).rows}


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return (exc.value.code or 0), out, err


def test_one_row_per_architecture_and_every_catalog_model_covered():
    r = survey.survey(Snapshot.load(H100))
    covered = [m for row in r.rows for m in row.models]
    assert sorted(covered) == sorted(s.id for s in profiles.all_models())
    keys = [profiles.get_model(row.models[0]).architecture_key() for row in r.rows]
    assert len(keys) == len(set(keys))


def test_laptop_without_gpu_runs_the_small_distills_on_the_cpu_and_says_what_the_rest_needs():
    snap = Snapshot.load(LAPTOP)
    avail = snap.memory.available_bytes
    got = rows(LAPTOP)
    for mid, row in got.items():
        spec = profiles.get_model(mid)
        q4 = profiles.weight_bytes(spec, "q4_k_m")
        if q4 + 2 * GIB < avail * 0.8:  # clearly fits the RAM: must run on the CPU
            assert row.fit == "cpu" and row.runtime == "llamacpp", mid
        if q4 > avail:  # even Q4_K_M weights exceed the RAM: cannot run, and says why
            assert row.fit == "none" and row.to_run, mid
    assert got["deepseek-r1-distill-qwen-1.5b"].fit == "cpu"
    assert got["deepseek-v3"].fit == "none" and "RAM" in got["deepseek-v3"].to_run[0]


@pytest.mark.parametrize("path", [LAPTOP, os.path.join(SNAPSHOT_FIXTURES, "derived-epyc9354p-cpu-only.json"),
                                  RTX4090, H100])
def test_stopping_at_a_settled_candidate_gives_the_rows_trying_them_all_gives(monkeypatch, path):
    # the survey stops trying ways once _settled says none later can change _pick's choice; the
    # rows must be those of trying every way (the stop is a saving, never a different answer)
    fast = [r.to_dict() for r in survey.survey(Snapshot.load(path)).rows]
    monkeypatch.setattr(survey, "_settled", lambda a, have_gpu: False)
    full = [r.to_dict() for r in survey.survey(Snapshot.load(path)).rows]
    assert fast == full


def test_rtx4090_runs_the_7b_on_the_gpu_the_32b_quantized_and_the_70b_partially():
    got = rows(RTX4090)
    usable = 24564 * 2**20 - 390 * 2**20 - GIB  # free minus the 1 GiB margin
    r32 = got["deepseek-r1-distill-qwen-32b"]
    bf16_32b = profiles.weight_bytes(profiles.get_model("deepseek-r1-distill-qwen-32b"), "bf16")
    assert bf16_32b > usable  # so not bf16 on this card ...
    assert r32.fit == "gpu" and r32.precision not in ("bf16", "fp8")  # ... but a quant that fits
    assert r32.per_gpu_bytes <= usable
    r70 = got["deepseek-r1-distill-llama-70b"]
    q4_70b = profiles.weight_bytes(profiles.get_model("deepseek-r1-distill-llama-70b"), "q4_k_m")
    assert q4_70b > usable and r70.fit == "partial" and 0 < r70.gpu_layers < r70.total_layers
    assert got["deepseek-r1-distill-qwen-7b"].fit == "gpu"
    assert got["deepseek-v3"].fit == "none"


def test_h100_runs_v2_lite_at_its_full_context_and_not_v3():
    got = rows(H100)
    lite = got["deepseek-v2-lite"]
    assert lite.fit == "gpu" and lite.max_context == profiles.get_model("deepseek-v2-lite").max_context
    assert got["deepseek-v3"].fit == "none"
    # 70B: bf16 (141 GB) cannot fit 80 GB, so the survey must pick a smaller format
    assert got["deepseek-r1-distill-llama-70b"].precision not in ("bf16",)


def test_8x_h200_runs_v3_on_all_eight_gpus_with_tensor_parallel():
    got = rows(H200X8)
    v3 = got["deepseek-v3"]
    fp8 = profiles.weight_bytes(profiles.get_model("deepseek-v3"), "fp8")
    assert fp8 / 8 < 141e9 * 0.9 < fp8 / 4  # fits 8 GPUs, not 4: so TP must be 8
    assert v3.fit == "gpu" and v3.tensor_parallel == 8 and len(v3.gpus_used) == 8
    assert all(r.fit == "gpu" for r in got.values())


def test_decode_speed_is_bandwidth_over_bytes_read():
    snap = Snapshot.load(H100)
    row = rows(H100)["deepseek-r1-distill-qwen-7b"]
    bw = snap.gpus[0].memory_bandwidth_bytes_per_s
    spec = profiles.get_model("deepseek-r1-distill-qwen-7b")
    read = profiles.weight_bytes(spec, "bf16") * (spec.active_params - spec.vocab * spec.hidden) / spec.params
    # the row is at its longest context: each token also reads that whole KV cache (GQA: 2 x
    # layers x kv_heads x head_dim x 2 bytes per token of context)
    read += row.max_context * 2 * spec.layers * spec.kv_heads * spec.head_dim * 2
    assert row.decode_tokens_per_s["mid"] == pytest.approx(0.55 * bw / read, rel=0.05)


@pytest.mark.parametrize("fixture,code", [(H100, 0), (LAPTOP, 0), (H200X8, 0), (RTX4090, 0),
                                          (os.path.join(SNAPSHOT_FIXTURES, "derived-h100-driver-mismatch.json"), 3),
                                          (os.path.join(SNAPSHOT_FIXTURES, "derived-8gpu-mixed.json"), 1)])
def test_survey_exit_codes(capsys, fixture, code):
    got, out, err = run(capsys, "check", "--snapshot", fixture, "--format", "json")
    assert got == code, err
    assert json.loads(out)["exit_code"] == code


def test_nothing_runs_is_exit_2():
    snap = Snapshot.load(LAPTOP)
    snap.memory.available_bytes = snap.memory.total_bytes = 256 * 2**20
    result = survey.survey(snap)
    assert all(r.fit == "none" for r in result.rows) and result.exit_code == 2


@pytest.mark.parametrize("fixture", [LAPTOP, RTX4090, H100, H200X8])
def test_text_fits_100_columns(capsys, monkeypatch, fixture):
    monkeypatch.setenv("COLUMNS", "100")  # what a pipe or a file gets (report/survey.py WIDTH)
    _, out, _ = run(capsys, "check", "--snapshot", fixture)
    assert max(len(line) for line in out.splitlines()) <= 100


NO_DRIVER = os.path.join(SNAPSHOT_FIXTURES, "derived-h100-no-driver.json")


@pytest.mark.parametrize("columns", [60, 80, 160])
def test_text_wraps_at_the_terminal_width_and_never_cuts_a_fix(capsys, monkeypatch, columns):
    from deepseek_probe.survey import survey as run_survey

    monkeypatch.setenv("COLUMNS", str(columns))
    _, out, _ = run(capsys, "check", "--snapshot", NO_DRIVER)
    assert "…" not in out
    table = {line for line in out.splitlines() if line.startswith(("model ", "deepseek-"))}
    assert all(len(line) <= columns for line in out.splitlines() if line not in table)
    fix = next(f.suggestion for f in run_survey(Snapshot.load(NO_DRIVER)).health if f.suggestion)
    assert fix in " ".join(out.split())  # the whole fix, its words in order across the wrapped lines


def test_json_matches_the_shipped_schema(capsys):
    jsonschema = pytest.importorskip("jsonschema")
    _, schema_text, _ = run(capsys, "schema", "survey")
    schema = json.loads(schema_text)
    for fixture in (LAPTOP, RTX4090, H100, H200X8):
        _, out, _ = run(capsys, "check", "--snapshot", fixture, "--format", "json")
        jsonschema.validate(json.loads(out), schema)
    bad = json.loads(out)
    bad["rows"][0]["fit"] = "maybe"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_markdown_has_a_row_per_architecture(capsys):
    _, out, _ = run(capsys, "check", "--snapshot", H100, "--format", "markdown")
    assert out.count("\n| deepseek-") == len(survey.survey(Snapshot.load(H100)).rows)


def test_check_with_a_model_keeps_its_exact_semantics(capsys):
    code, out, _ = run(capsys, "check", "--snapshot", H100, "--model", "7b", "--format", "json")
    doc = json.loads(out)
    assert "profiles" in doc and "rows" not in doc


def test_verify_needs_a_model(capsys):
    code, out, err = run(capsys, "check", "--verify")
    assert code == 64 and "--model" in err


def test_the_schema_ships_in_the_package():
    out = subprocess.run([sys.executable, "-m", "deepseek_probe", "schema"], capture_output=True, text=True)
    assert out.returncode == 0 and json.loads(out.stdout)["$id"] == "deepseek-probe/survey/1"


def test_survey_lists_the_checkpoints_on_disk_with_their_header_bytes():
    from deepseek_probe.probes.checkpoints import probe_checkpoints

    home = os.path.join(os.path.dirname(SNAPSHOT_FIXTURES), "home", "derived-home")
    snap = Snapshot.load(H100)
    snap.checkpoints = probe_checkpoints(None, {"HOME": home})
    found = {c["name"]: c for c in survey.survey(snap).checkpoints}
    assert set(found) >= {"deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", "deepseek-ai/DeepSeek-V2-Lite"}
    assert found["deepseek-ai/DeepSeek-V2-Lite"]["model"] == "deepseek-v2-lite"
    ollama = [c for c in found.values() if c["source"] == "ollama"]
    assert ollama and ollama[0]["model"] == "deepseek-r1-distill-qwen-1.5b" and ollama[0]["format"] == "gguf"
    # the safetensors headers of the 1.5B hold exactly its parameters in bf16
    raw = {c.name: c for c in snap.checkpoints.found}
    spec = profiles.get_model("deepseek-r1-distill-qwen-1.5b")
    assert raw["deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"].params == spec.params
    assert raw["deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"].bytes_by_dtype == {"BF16": 2 * spec.params}


PLATFORMS = ["derived-rx7900xtx-rocm6", "derived-mi300x-8", "derived-m3max-64gb", "derived-m2ultra-192gb",
             "derived-win-rtx4090", "derived-epyc9354p-cpu-only"]


@pytest.mark.parametrize("name", PLATFORMS)
def test_32b_distill_verdict_on_every_platform_follows_free_memory(capsys, name):
    """Issue 17: `check --model 32b` on each platform: on the GPU when the Q4_K_M need fits the
    free memory (Apple: the Metal working set), partial offload when it does not, CPU otherwise."""
    path = os.path.join(SNAPSHOT_FIXTURES, name + ".json")
    snap = Snapshot.load(path)
    code, out, err = run(capsys, "check", "--snapshot", path, "--model", "deepseek-r1:32b", "--format", "json")
    assert code in (0, 1, 2), err
    prof = json.loads(out)["profiles"][0]
    checks = {f["check"]: f for f in prof["findings"]}
    need = prof["estimate"]["per_device"]["total_bytes"] + 2**30  # + the 1 GiB margin
    free = max((g.memory_free_bytes or 0) for g in snap.visible_gpus) if snap.visible_gpus else 0
    if not snap.visible_gpus:
        assert "llamacpp.offload" in checks and "all 64 layers on the CPU" in checks["llamacpp.offload"]["message"]
    elif free >= need:
        assert checks["gpu.vram"]["level"] == "pass" and "llamacpp.offload" not in checks
    else:
        assert checks["gpu.vram"]["level"] == "warn" and "llamacpp.offload" in checks
    # NVIDIA's driver check never judges an AMD or Apple GPU
    if snap.gpus and all((g.vendor or "nvidia") != "nvidia" for g in snap.gpus):
        assert "driver.present" not in checks


@pytest.mark.parametrize("name", PLATFORMS)
def test_survey_runs_on_every_platform(capsys, name):
    code, out, err = run(capsys, "check", "--snapshot", os.path.join(SNAPSHOT_FIXTURES, name + ".json"),
                         "--format", "json")
    doc = json.loads(out)
    assert code == doc["exit_code"] and code in (0, 1) and any(r["fit"] != "none" for r in doc["rows"])


def test_cpu_only_decode_speed_follows_the_probed_memory_bandwidth():
    epyc = Snapshot.load(os.path.join(SNAPSHOT_FIXTURES, "derived-epyc9354p-cpu-only.json"))
    laptop = Snapshot.load(LAPTOP)
    assert epyc.memory.memory_bandwidth_bytes_per_s > 3 * 102.4e9  # 12 DDR5 channels
    fast = rows_of(epyc)["deepseek-r1-distill-qwen-7b"].decode_tokens_per_s["mid"]
    slow = rows_of(laptop)["deepseek-r1-distill-qwen-7b"].decode_tokens_per_s["mid"]
    assert fast / slow == pytest.approx(epyc.memory.memory_bandwidth_bytes_per_s
                                        / (laptop.memory.memory_bandwidth_bytes_per_s or 102.4e9), rel=0.05)


def rows_of(snap):
    return {r.models[0]: r for r in survey.survey(snap).rows}


@pytest.mark.parametrize("size", [None, (37, 10), (132, 50), (0, 0)])
def test_terminal_width_is_shutils_without_columns(monkeypatch, size):
    import fcntl
    import pty
    import shutil
    import struct
    import termios

    from deepseek_probe.report.survey import WIDTH, terminal_width

    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
    if size is not None:  # a terminal of this size on stdout (TIOCSWINSZ on a pseudo-terminal)
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        monkeypatch.setattr(sys, "__stdout__", os.fdopen(slave, "w"))
    try:
        assert terminal_width() == max(shutil.get_terminal_size((WIDTH, 24)).columns, 40)
    finally:
        if size is not None:
            sys.__stdout__.close()
            os.close(master)
