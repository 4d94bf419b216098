"""Redaction: nothing that names a board, a host or a person leaves in a report by default."""

from __future__ import annotations

from pathlib import Path

from deepseek_probe.redact import redact_for, redact_snapshot, redact_text, secrets_of
from deepseek_probe.snapshot import Snapshot

SNAPSHOTS = Path(__file__).resolve().parent.parent / "fixtures" / "snapshots"


def snap(name: str) -> Snapshot:
    return Snapshot.load(str(SNAPSHOTS / f"{name}.json"))


def test_nvidia_gpu_and_mig_uuids_are_removed_from_text():
    text = ("GPU-b86c4a8a-ba6b-4224-0034-830e91b68b81 and "
            "MIG-4f6c0b0e-1a2b-5c3d-9e8f-0123456789ab/1/0, CUDA_VISIBLE_DEVICES=GPU-ccad0442-a234-9a77-b9a9-81dec4c25a12")
    out = redact_text(text)
    assert "b86c4a8a" not in out and "4f6c0b0e" not in out and "ccad0442" not in out
    assert "GPU-<uuid>" in out and "MIG-<uuid>" in out


def test_user_names_in_home_paths_are_removed_and_root_stays():
    out = redact_text("/home/alice/models /Users/bob/Library C:\\Users\\carol\\hf /root/.cache")
    assert "alice" not in out and "bob" not in out and "carol" not in out
    assert "/root/.cache" in out


def test_exact_secrets_are_replaced_as_whole_tokens_only():
    out = redact_text("serial 1752624001834 on host gpu-node-17; context 17526240018345",
                      secrets=["1752624001834", "gpu-node-17"])
    assert "serial <redacted> on host <redacted>;" in out
    assert "17526240018345" in out  # a longer number that merely contains the serial stays


def test_a_two_letter_hostname_does_not_shred_the_report():
    s = snap("nogpu-dev")
    assert s.system.hostname == "vm"  # as recorded on the dev machine
    red = redact_for(s)
    assert red("vm.max_map_count and VMware") == "vm.max_map_count and VMware"
    assert redact_snapshot(s).system.hostname != "vm"


def test_redacted_snapshot_hides_serials_uuids_and_leaves_the_original_alone():
    s = snap("2xh200")
    red = redact_snapshot(s)
    for orig, new in zip(s.gpus, red.gpus):
        assert orig.serial and orig.uuid
        assert new.serial != orig.serial and new.uuid != orig.uuid
        assert new.uuid.startswith("GPU-")
    assert len({g.uuid for g in red.gpus}) == len(red.gpus)  # GPUs stay distinguishable
    assert s.gpus[0].serial == snap("2xh200").gpus[0].serial


def test_a_redacted_snapshot_json_still_loads_and_contains_no_secret():
    s = snap("2xh200")
    text = redact_snapshot(s).to_json()
    for secret in secrets_of(s):
        assert secret not in text
    Snapshot.from_json(text)


def test_home_user_seen_in_a_path_is_removed_from_other_home_paths_too():
    s = snap("h100")
    s.disk.path = "/home/dana/hf"
    red = redact_for(s)
    assert "dana" not in red("model at /home/dana/other and /home/dana")
