"""Snapshot values no machine can have are refused at load (issue 24, item 2): exit 64 and one
line naming the field. Each case edits one value of a real recording (fixtures/snapshots/h100.json
or 2xh200.json) and expects that field in the message."""

from __future__ import annotations

import copy
import json
import os

import pytest

from conftest import SNAPSHOT_FIXTURES
from deepseek_probe import cli
from deepseek_probe.snapshot import MAX_CPUS, MAX_GPUS, Snapshot, SnapshotError


def _doc(name):
    with open(os.path.join(SNAPSHOT_FIXTURES, f"{name}.json"), encoding="utf-8") as f:
        return json.load(f)


H100, TWO = _doc("h100"), _doc("2xh200")


def _edited(base, edit):
    doc = copy.deepcopy(base)
    edit(doc)
    return doc


def _set(path, value):
    def edit(doc):
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


def _many_copies_of_gpu0(n):
    def edit(doc):
        doc["gpus"] = [dict(doc["gpus"][0], index=i, uuid=None) for i in range(n)]
    return edit


CASES = [
    ("negative free GPU memory", H100, _set(["gpus", 0, "memory_free_bytes"], -1), "gpus[0].memory_free_bytes: negative"),
    ("negative RAM", H100, _set(["memory", "total_bytes"], -5), "memory.total_bytes: negative"),
    ("negative disk", H100, _set(["disk", "free_bytes"], -1), "disk.free_bytes: negative"),
    ("negative probe time", H100, _set(["probe_ms", "gpu"], -0.5), "probe_ms.gpu: negative"),
    ("free above total", H100, lambda d: d["gpus"][0].update(memory_free_bytes=d["gpus"][0]["memory_total_bytes"] + 1),
     "gpus[0].memory_free_bytes"),
    ("used above total", H100, lambda d: d["gpus"][0].update(memory_used_bytes=d["gpus"][0]["memory_total_bytes"] * 2),
     "gpus[0].memory_used_bytes"),
    ("disk free above total", H100, lambda d: d["disk"].update(free_bytes=d["disk"]["total_bytes"] + 1), "disk.free_bytes"),
    ("swap free above total", H100, lambda d: d["memory"].update(swap_free_bytes=(d["memory"]["swap_total_bytes"] or 0) + 1),
     "memory.swap_free_bytes"),
    ("duplicate index", TWO, _set(["gpus", 1, "index"], 0), "gpus[1].index"),
    ("duplicate uuid", TWO, lambda d: d["gpus"][1].update(uuid=d["gpus"][0]["uuid"]), "gpus[1].uuid"),
    ("5000 GPUs", H100, _many_copies_of_gpu0(5000), "snapshot.gpus: 5000 GPUs"),
    ("absurd CPUs", H100, _set(["cpu", "logical_cores"], MAX_CPUS + 1), "cpu.logical_cores"),
]


@pytest.mark.parametrize("what,base,edit,named", CASES, ids=[c[0] for c in CASES])
def test_an_impossible_value_is_refused_naming_its_field(what, base, edit, named):
    with pytest.raises(SnapshotError) as e:
        Snapshot.from_dict(_edited(base, edit))
    assert named in str(e.value)
    assert "\n" not in str(e.value)


def test_the_largest_allowed_counts_still_load():
    doc = _edited(H100, _many_copies_of_gpu0(MAX_GPUS))
    doc["cpu"]["logical_cores"] = MAX_CPUS
    assert len(Snapshot.from_dict(doc).gpus) == MAX_GPUS


def test_a_gpu_below_zero_degrees_is_not_an_error():
    Snapshot.from_dict(_edited(H100, _set(["gpus", 0, "temperature_c"], -3)))


def test_the_cli_gives_exit_64_and_one_line(tmp_path, capsys):
    path = tmp_path / "neg.json"
    path.write_text(json.dumps(_edited(H100, _set(["gpus", 0, "memory_free_bytes"], -1))))
    with pytest.raises(SystemExit) as e:
        cli.main(["check", "--snapshot", str(path)])
    out, err = capsys.readouterr()
    assert e.value.code == 64 and out == ""
    assert err.count("\n") == 1 and "memory_free_bytes: negative" in err
