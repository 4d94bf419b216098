"""Property-based tests (hypothesis): laws that must hold for every input, not just the examples.

- The estimate never shrinks when the context, the concurrency or the precision's bits grow,
  for every catalog model and every runtime that can run it.
- A snapshot survives its JSON round trip; any well-typed snapshot gets a verdict (never an
  exception, never a non-pass finding without a suggestion).
- Any malformed snapshot document is rejected with SnapshotError (-> exit 64, one line on
  stderr), checked in-process through Snapshot.from_json and cli.main and through the real
  `python -m deepseek_probe check --snapshot FILE`.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import os
import random
import subprocess
import sys
import typing
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SNAPSHOT_FIXTURES
from deepseek_probe import assess  # noqa: E402
from deepseek_probe import runtimes
from deepseek_probe import cli, profiles, report, rules
from deepseek_probe.errors import InputError
from deepseek_probe.estimate import estimate
from deepseek_probe.snapshot import SCHEMA_VERSION, Snapshot, SnapshotError

_BASE = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))


def fast(examples: int) -> settings:
    """No deadline (2 slow cores), no example database left in the repo."""
    return settings(_BASE, max_examples=examples)

# --- the estimate is monotone ---------------------------------------------------------------------

MODELS = profiles.all_models()
COMBOS = [(m, rt, p) for m in MODELS for rt, r in runtimes.RUNTIMES.items() for p in r.precisions]


def total(spec, settings_):
    return estimate(spec, settings_).per_device.total_bytes


def base_settings(spec, runtime, precision):
    return replace(runtimes.default_settings(spec, runtime), precision=precision)


@pytest.mark.parametrize("model", ["deepseek-v4-flash", "deepseek-v3.2"])
def test_sparse_caches_grow_with_the_context_byte_for_byte(model):
    # found by the property below: V4's llama.cpp cache went 58146816 -> 58146815 bytes from 182
    # to 183 tokens (a total divided by the context and multiplied back); every context 1..400
    spec = profiles.get_model(model)
    for runtime, r in runtimes.RUNTIMES.items():
        s = base_settings(spec, runtime, r.precisions[0])
        kv = [estimate(spec, replace(s, context=c)).per_device.kv_cache_bytes for c in range(1, 401)]
        assert all(a <= b for a, b in zip(kv, kv[1:])), runtime


@fast(400)
@given(st.sampled_from(COMBOS), st.data())
def test_more_context_never_needs_less_memory(combo, data):
    spec, runtime, precision = combo
    a, b = sorted(data.draw(st.lists(st.integers(1, spec.max_context), min_size=2, max_size=2)))
    concurrency = data.draw(st.integers(1, 16))
    s = replace(base_settings(spec, runtime, precision), concurrency=concurrency)
    small, large = estimate(spec, replace(s, context=a)), estimate(spec, replace(s, context=b))
    assert small.per_device.kv_cache_bytes <= large.per_device.kv_cache_bytes
    assert small.per_device.total_bytes <= large.per_device.total_bytes
    assert small.host_ram_bytes <= large.host_ram_bytes


def _contexts_to_sweep(spec):
    """1, 2, the model's maximum, and every measured/simulated table point +-1 and between
    neighbours: where a piecewise model can dip."""
    points = {1, 2, spec.max_context}
    rows = [row[0] for row in getattr(spec, "transformers_activation", ())]
    for t in rows + [2**k for k in range(6, 18)]:
        points |= {t - 1, t, t + 1}
    for a, b in zip(rows, rows[1:]):
        points |= {(a + b) // 2, a + (b - a) // 4, b - (b - a) // 4}
    return sorted(p for p in points if 1 <= p <= spec.max_context)


@pytest.mark.parametrize("spec", MODELS, ids=lambda m: m.id)
def test_more_context_never_needs_less_memory_at_any_table_point(spec):
    """The same law, swept deterministically over the points where the transformers activation
    table changes slope (hypothesis can miss a dip a few hundred tokens wide)."""
    contexts = _contexts_to_sweep(spec)
    dips = []
    for runtime, r in runtimes.RUNTIMES.items():
        for precision in r.precisions:
            s = base_settings(spec, runtime, precision)
            totals = [(c, total(spec, replace(s, context=c))) for c in contexts]
            dips += [(runtime, precision, a, b, ta - tb)
                     for (a, ta), (b, tb) in zip(totals, totals[1:]) if tb < ta]
    assert not dips, ("(runtime, precision, context, larger context, bytes less): "
                      f"{dips[:6]}{' …' if len(dips) > 6 else ''}")


@fast(400)
@given(st.sampled_from(COMBOS), st.data())
def test_more_concurrent_sequences_never_need_less_memory(combo, data):
    spec, runtime, precision = combo
    a, b = sorted(data.draw(st.lists(st.integers(1, 512), min_size=2, max_size=2)))
    context = data.draw(st.integers(1, min(spec.max_context, 32768)))
    s = replace(base_settings(spec, runtime, precision), context=context)
    small, large = estimate(spec, replace(s, concurrency=a)), estimate(spec, replace(s, concurrency=b))
    assert small.per_device.kv_cache_bytes <= large.per_device.kv_cache_bytes
    assert small.per_device.total_bytes <= large.per_device.total_bytes


@pytest.mark.parametrize("runtime", sorted(runtimes.RUNTIMES))
@pytest.mark.parametrize("spec", MODELS, ids=lambda m: m.id)
def test_more_bits_per_weight_always_need_more_memory(spec, runtime):
    """Within one runtime: strictly more bits per weight -> strictly more weight bytes (GPU and
    disk) and never a smaller total (e.g. int4 < int8 < bf16 < fp32, q2_k < … < q8_0 < fp16)."""
    precisions = runtimes.RUNTIMES[runtime].precisions
    by_bits = sorted(precisions, key=lambda p: profiles.PRECISIONS[p].bits)
    ests = [(profiles.PRECISIONS[p].bits, p, estimate(spec, base_settings(spec, runtime, p)))
            for p in by_bits]
    for (bits_a, pa, a), (bits_b, pb, b) in zip(ests, ests[1:]):
        if bits_a == bits_b:
            continue  # bf16/fp16, fp8/int8: same bits, different scale layouts
        assert a.per_device.weights_bytes < b.per_device.weights_bytes, (pa, pb)
        assert a.disk_bytes < b.disk_bytes, (pa, pb)
        assert a.per_device.total_bytes <= b.per_device.total_bytes, (pa, pb)


@fast(200)
@given(st.sampled_from(COMBOS), st.integers(1, 8192))
def test_a_smaller_kv_cache_type_never_needs_more_memory(combo, context):
    spec, runtime, precision = combo
    s = replace(base_settings(spec, runtime, precision), context=min(context, spec.max_context))
    kvs = sorted(runtimes.RUNTIMES[runtime].kv_precisions, key=lambda k: profiles.KV_PRECISIONS[k])
    totals = [total(spec, replace(s, kv_precision=k)) for k in kvs]
    assert totals == sorted(totals)


# --- snapshots: generated from the schema itself -----------------------------------------------

# Integer and float fields as the probes fill them (NVML's unsigned 64-bit counters included).
INTS = st.one_of(st.integers(0, 2**20), st.integers(-(2**63), 2**64 - 1))
FLOATS = st.floats(allow_nan=False, allow_infinity=False)


@functools.lru_cache(maxsize=None)
def hints(cls) -> dict:
    return typing.get_type_hints(cls)


def schema_strategy(tp):
    """A strategy for any value of the annotated type `tp` (snapshot.py's dataclasses)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union:
        inner = [a for a in args if a is not type(None)][0]
        return st.none() | schema_strategy(inner)
    if origin is list:
        return st.lists(schema_strategy(args[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(st.text(max_size=10), schema_strategy(args[1]), max_size=3)
    if dataclasses.is_dataclass(tp):
        return st.builds(tp, **{f.name: schema_strategy(hints(tp)[f.name])
                                for f in dataclasses.fields(tp) if f.name != "schema_version"})
    if tp is bool:
        return st.booleans()
    if tp is int:
        return INTS
    if tp is float:
        return FLOATS
    if tp is str:
        return st.text(max_size=16)
    raise AssertionError(f"schema type {tp!r} has no strategy")  # a new field type: add it


SNAPSHOTS = schema_strategy(Snapshot)
FIXTURES = [Snapshot.load(os.path.join(SNAPSHOT_FIXTURES, n))
            for n in sorted(os.listdir(SNAPSHOT_FIXTURES)) if n.endswith(".json")]


def _fields_of(obj, path=()):
    """(path, annotated type) of every dataclass field reachable from `obj`."""
    types_ = hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        yield path + (f.name,), types_[f.name]
        if dataclasses.is_dataclass(value):
            yield from _fields_of(value, path + (f.name,))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if dataclasses.is_dataclass(item):
                    yield from _fields_of(item, path + (f.name, i))


@st.composite
def fixture_variants(draw):
    """A real fixture with a few fields replaced by other well-typed values: reaches the deep
    rule paths that fully random snapshots (no free memory, no GPUs) rarely do."""
    snap = copy.deepcopy(draw(st.sampled_from(FIXTURES)))
    fields = [f for f in _fields_of(snap) if f[0][-1] != "schema_version"]
    for path, tp in draw(st.lists(st.sampled_from(fields), min_size=1, max_size=6)):
        obj = snap
        try:
            for step in path[:-1]:
                obj = obj[step] if isinstance(step, int) else getattr(obj, step)
        except (IndexError, AttributeError, TypeError):  # an earlier replacement shortened that
            continue  # list, or set an optional record or list (Snapshot.rocm, GpuInfo.processes) to None
        if obj is None:  # that optional record is None now: nothing to replace inside it
            continue
        setattr(obj, path[-1], draw(schema_strategy(tp)))
    return snap


@fast(300)
@given(SNAPSHOTS | fixture_variants())
def test_a_snapshot_survives_its_json_round_trip(snap):
    text = snap.to_json()
    try:
        loaded = Snapshot.from_json(text)
    except SnapshotError as e:
        assert _a_value_refusal(e.args[0]), e.args[0]
        return
    assert loaded == snap


def _a_value_refusal(message: str) -> bool:
    """Well typed but impossible (a negative size, free above total, one GPU twice, 5000 GPUs):
    refused by the loader's value checks (issue 24), in one line naming the field."""
    return (message.startswith("snapshot.") and "\n" not in message
            and any(w in message for w in ("negative value", "is more than", "appears twice",
                                           "is not a real machine")))
    assert Snapshot.from_json(Snapshot.from_json(text).to_json(indent=None)) == snap


REQUESTS = [(profiles.get_model(m), rt) for m in ("7b", "70b", "236b", "671b")
            for rt in ("transformers", "vllm", "llamacpp")]


@fast(200)
@given(SNAPSHOTS | fixture_variants(), st.sampled_from(REQUESTS), st.sampled_from([1, 2, 4, 8]))
def test_any_well_typed_snapshot_gets_a_verdict_and_renders(snap, request, tp):
    spec, runtime = request
    s = replace(runtimes.default_settings(spec, runtime), tensor_parallel=tp)
    try:
        result = assess.check(snap, [(spec, s)])
    except InputError:
        return  # the settings themselves are invalid for this model (e.g. tp 8 over 30 layers)
    for profile in result.profiles:
        for f in profile.findings:
            assert f.level == "pass" or f.suggestion, (f.check, f.level, f.message)
    for fmt in report.FORMATS:
        assert report.render(result, fmt).strip()
    assert json.loads(report.render(result, "json"))["exit_code"] == result.exit_code


# --- malformed documents ------------------------------------------------------------------------

_WRONG = {  # values that are never valid for a field of that type
    int: ["1", 1.5, True, [], {}],
    float: ["1.0", True, [], {}],
    str: [1, True, [], {}],
    bool: [0, 1, "true", [], {}],
    list: [{}, "x", 1],
    dict: [[], "x", 1],
    "dataclass": [[], "x", 1, True],
}
_OUT_OF_RANGE = [2**64, -(2**63) - 1, 10**30, -(10**30)]


def _required(cls) -> set:
    """Fields with no default (GpuInfo.index, GpuLink.gpu_a, GpuProcess.pid, …)."""
    return {f.name for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}


def _positions(doc, tp, path=()):
    """(path, type, optional) of every value in a valid snapshot document."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    optional = origin is typing.Union
    if optional:
        tp = [a for a in args if a is not type(None)][0]
        origin, args = typing.get_origin(tp), typing.get_args(tp)
    yield path, tp, optional
    if doc is None:
        return
    if origin is list:
        for i, item in enumerate(doc):
            yield from _positions(item, args[0], path + (i,))
    elif origin is dict:
        for k, v in doc.items():
            yield from _positions(v, args[1], path + (k,))
    elif dataclasses.is_dataclass(tp):
        types_ = hints(tp)
        for f in dataclasses.fields(tp):
            if f.name in doc:
                yield from _positions(doc[f.name], types_[f.name], path + (f.name,))


def _set(doc, path, value):
    for step in path[:-1]:
        doc = doc[step]
    doc[path[-1]] = value


def malformed(doc: dict, rnd: random.Random) -> str:
    """One mutation of a valid snapshot document that makes it invalid, as JSON text."""
    doc = copy.deepcopy(doc)
    kind = rnd.choice(["wrong_type", "unknown_key", "version", "not_object", "bad_json",
                       "out_of_range", "non_finite", "missing_required"])
    positions = [p for p in _positions(doc, Snapshot) if p[0]]
    if kind == "out_of_range":
        ints = [p for p in positions if p[1] in (int, float)]
        if ints:
            _set(doc, rnd.choice(ints)[0], rnd.choice(_OUT_OF_RANGE))
            return json.dumps(doc)
        kind = "wrong_type"
    if kind == "non_finite":
        floats = [p for p in positions if p[1] is float]
        if floats:
            _set(doc, rnd.choice(floats)[0], rnd.choice([float("nan"), float("inf"), -float("inf")]))
            return json.dumps(doc)  # Python writes NaN / Infinity, which json.loads accepts
        kind = "wrong_type"
    if kind == "missing_required":
        holders = [(p[0], _required(p[1]) & set(_get(doc, p[0]))) for p in positions
                   if dataclasses.is_dataclass(p[1]) and isinstance(_get(doc, p[0]), dict)]
        holders = [h for h in holders if h[1]]
        if holders:
            path, names = rnd.choice(holders)
            del _get(doc, path)[rnd.choice(sorted(names))]
            return json.dumps(doc)
        kind = "unknown_key"
    if kind == "wrong_type":
        path, tp, optional = rnd.choice(positions)
        key = "dataclass" if dataclasses.is_dataclass(tp) else (typing.get_origin(tp) or tp)
        choices = list(_WRONG[key]) + ([] if optional else [None])
        _set(doc, path, rnd.choice(choices))
        return json.dumps(doc)
    if kind == "unknown_key":
        objects = [p[0] for p in positions if dataclasses.is_dataclass(p[1])
                   and isinstance(_get(doc, p[0]), dict)] + [()]
        target = _get(doc, rnd.choice(objects))
        target["x_" + "".join(rnd.choice("abcdefgh\n é") for _ in range(rnd.randint(1, 8)))] = 1
        return json.dumps(doc)
    if kind == "version":
        doc["schema_version"] = rnd.choice([0, 2, SCHEMA_VERSION + 1, -1, "1", 1.5, None, [1]])
        return json.dumps(doc)
    if kind == "not_object":
        return json.dumps(rnd.choice([[doc], "snapshot", 1, None, True, []]))
    text = json.dumps(doc, indent=rnd.choice([None, 1]))  # bad_json
    how = rnd.choice(["truncate", "prefix", "bom_garbage"])
    if how == "truncate":
        return text[:rnd.randrange(0, len(text) - 1)]
    if how == "prefix":
        return rnd.choice(["x", "{{", "]", "\x00", "// comment\n"]) + text
    return text[:len(text) // 2] + "\x00\x01}" + text[len(text) // 2:]


def _get(doc, path):
    for step in path:
        doc = doc[step]
    return doc


VALID_DOCS = [s.to_dict() for s in FIXTURES]


@fast(500)
@given(st.sampled_from(VALID_DOCS) | SNAPSHOTS.map(Snapshot.to_dict), st.randoms(use_true_random=False))
def test_the_loader_rejects_every_malformed_document(doc, rnd):
    text = malformed(doc, rnd)
    with pytest.raises(SnapshotError) as exc:
        Snapshot.from_json(text)
    assert isinstance(exc.value, InputError)  # -> exit 64
    assert str(exc.value).strip()


def _cli(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        cli.main(list(argv))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


@fast(120)
@given(st.sampled_from(VALID_DOCS), st.randoms(use_true_random=False))
def test_check_exits_64_with_one_line_for_every_malformed_document(tmp_path_factory, capsys, doc, rnd):
    path = tmp_path_factory.mktemp("bad") / "snapshot.json"
    path.write_text(malformed(doc, rnd), encoding="utf-8")
    code, out, err = _cli(capsys, "check", "--snapshot", str(path), "--model", "7b")
    assert code == 64 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("deepseek-probe: error: ")


@fast(80)
@given(SNAPSHOTS | fixture_variants())
def test_check_accepts_every_well_typed_document(tmp_path_factory, capsys, snap):
    path = tmp_path_factory.mktemp("good") / "snapshot.json"
    path.write_text(snap.to_json(), encoding="utf-8")
    code, out, err = _cli(capsys, "check", "--snapshot", str(path), "--model", "7b", "--format", "json")
    if code == 64:  # well typed, impossible values: one line naming the field
        assert out == "" and _a_value_refusal(err.strip().removeprefix("deepseek-probe: error: ")), err
        return
    assert code in (0, 1, 2, 3), err
    assert err == "" and json.loads(out)["exit_code"] == code


def test_the_real_command_rejects_fifty_malformed_documents_with_one_line(tmp_path):
    """The shipped entry point, as a provisioning script runs it: exit 64, exactly one line on
    stderr, nothing on stdout, no traceback."""
    rnd = random.Random(20261123)
    paths = []
    for i in range(50):
        path = tmp_path / f"bad{i:02d}.json"
        path.write_text(malformed(rnd.choice(VALID_DOCS), rnd), encoding="utf-8")
        paths.append(path)

    def run(path):
        return path, subprocess.run([sys.executable, "-m", "deepseek_probe", "check", "--snapshot",
                                     str(path)], capture_output=True, text=True, timeout=60)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, paths))
    for path, proc in results:
        where = f"{path.name}: {path.read_text()[:200]!r}"
        assert proc.returncode == 64, (where, proc.stderr)
        assert proc.stdout == "", where
        assert "Traceback" not in proc.stderr, where
        assert len(proc.stderr.splitlines()) == 1, (where, proc.stderr)
