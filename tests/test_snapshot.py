"""Every snapshot fixture loads strictly and survives a JSON round trip unchanged."""

from __future__ import annotations

import glob
import json
import os

import pytest

from conftest import NVML_FIXTURES, SNAPSHOT_FIXTURES
from fake_nvml import FakeNvml
from deepseek_probe.probes.gpu.nvidia import GpuProbe
from deepseek_probe.snapshot import _OMIT_WHEN_NONE
from deepseek_probe.snapshot import Snapshot

SNAPSHOT_FILES = sorted(glob.glob(os.path.join(SNAPSHOT_FIXTURES, "*.json")))
CENSUS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "census")


def test_the_fixture_set_has_real_gpu_captures_and_this_machine():
    names = {os.path.basename(p) for p in SNAPSHOT_FILES}
    assert {"h100.json", "h200.json", "2xh200.json", "nogpu-dev.json"} <= names


@pytest.mark.parametrize("path", SNAPSHOT_FILES, ids=os.path.basename)
def test_snapshot_fixture_round_trip_is_lossless(path):
    with open(path, encoding="utf-8") as f:
        on_disk = json.load(f)
    snap = Snapshot.load(path)
    assert json.loads(snap.to_json()) == on_disk
    assert Snapshot.from_json(snap.to_json()) == snap


@pytest.mark.parametrize("path", SNAPSHOT_FILES, ids=os.path.basename)
def test_every_missing_field_in_a_fixture_says_why_or_is_not_applicable(path):
    snap = Snapshot.load(path)
    for gpu in snap.gpus:
        for name, value in vars(gpu).items():
            # Fields added for other vendors/OSes (issue 17) are not applicable to NVML captures.
            if value is None and name not in _OMIT_WHEN_NONE:
                assert name in gpu.unavailable, f"{path}: gpu{gpu.index}.{name} is None without reason"


@pytest.mark.parametrize("name", ["h100", "h200", "2xh200", "derived-h100-mig-on",
                                  "derived-h200-tenant-60gb", "derived-h100-hot-throttled",
                                  "derived-8gpu-mixed"])
def test_snapshot_gpus_are_what_the_probe_reads_from_the_recording(name):
    """fixtures/snapshots/<name>.json GPU part == replaying fixtures/nvml/<name>.json now."""
    probe = GpuProbe(FakeNvml.from_file(os.path.join(NVML_FIXTURES, name + ".json")), environ={})
    probe.run()
    cuda, gpus, links = probe.stop_and_snapshot()
    snap = Snapshot.load(os.path.join(SNAPSHOT_FIXTURES, name + ".json"))
    assert snap.gpus == gpus and snap.links == links
    assert snap.cuda.driver_version == cuda.driver_version


@pytest.mark.parametrize("name", ["h100", "h200", "2xh200"])
def test_nvml_recordings_are_the_census_converted(name):
    census_path = os.path.join(CENSUS, f"census-{name}.json")
    import fake_nvml

    with open(census_path, encoding="utf-8") as f:
        converted = fake_nvml.census_to_recording(json.load(f), "")
    with open(os.path.join(NVML_FIXTURES, name + ".json"), encoding="utf-8") as f:
        stored = json.load(f)
    assert converted["gpus"] == stored["gpus"] and converted["system"] == stored["system"]


def test_derived_fixtures_keep_the_captured_serials_of_real_gpus():
    real = Snapshot.load(os.path.join(SNAPSHOT_FIXTURES, "h100.json")).gpus[0]
    for name in ("derived-h100-mig-on", "derived-h100-hot-throttled"):
        gpu = Snapshot.load(os.path.join(SNAPSHOT_FIXTURES, name + ".json")).gpus[0]
        assert (gpu.serial, gpu.uuid) == (real.serial, real.uuid)


def test_the_strict_loader_reads_every_field_type_as_get_type_hints_does():
    # strict_json._hint evaluates each distinct annotation string once instead of calling
    # typing.get_type_hints per record; the types must be the same for every snapshot record
    import dataclasses
    import typing

    from deepseek_probe import snapshot as snapshot_mod, strict_json

    records = [o for o in vars(snapshot_mod).values() if isinstance(o, type) and dataclasses.is_dataclass(o)]
    assert snapshot_mod.Snapshot in records and len(records) > 10
    for cls in records:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            assert strict_json._hint(cls, f) == hints[f.name], (cls.__name__, f.name)
