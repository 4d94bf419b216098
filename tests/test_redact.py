"""Redaction: nothing that names a board, a host or a person leaves in a report by default."""

from __future__ import annotations

from pathlib import Path

from deepseek_probe import assess  # noqa: E402
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


# --- identity, not folder (issue 24, item 4) --------------------------------------------------
import copy  # noqa: E402
import json  # noqa: E402

import pytest  # noqa: E402

from deepseek_probe import profiles, report, rules, runtimes, survey  # noqa: E402
from deepseek_probe.redact import identity_of  # noqa: E402


def _who(user, home, model_dir, login_names=None):
    """h100.json as if `user` (home `home`) had probed it with --model-dir `model_dir`."""
    s = copy.deepcopy(snap("h100"))
    s.system.user, s.system.home, s.system.login_names = user, home, login_names
    s.disk.path = model_dir
    return s


def _every_report(s):
    """Every format of `check --model 7b` and of the survey, redacted as the CLI does by default."""
    spec = profiles.get_model("7b")
    checked = assess.check(s, [(spec, runtimes.default_settings(spec, "llamacpp"))])
    surveyed = survey.survey(s, [spec])
    return {f"{kind}-{fmt}": report.render(result, fmt)
            for kind, result in (("check", checked), ("survey", surveyed)) for fmt in report.FORMATS}


@pytest.mark.parametrize("base", ["/data", "/srv", "/tmp"])
def test_a_user_name_under_any_folder_is_redacted_in_every_format(base):
    s = _who("alice", f"{base}/alice", f"{base}/alice/models")
    reports = _every_report(s)
    for name, text in reports.items():
        assert "alice" not in text, name
    # the folder itself stays where a report shows the path: it tells where the model goes
    assert f"{base}/<user>/models" in reports["check-json"] and f"{base}/<user>" in reports["check-markdown"]


def test_a_home_named_after_nobody_is_redacted_as_a_home():
    s = _who("alice", "/data/u81234", "/data/u81234/hf")
    for name, text in _every_report(s).items():
        assert "u81234" not in text and "alice" not in text, name


def test_root_and_its_home_are_redacted():
    s = _who("root", "/root", "/root/.cache/huggingface")
    for name, text in _every_report(s).items():
        assert "/root" not in text, name


def test_names_from_sudo_user_logname_and_user_are_redacted_too():
    s = _who("root", "/root", "/srv/bob/models", login_names=["bob"])
    for name, text in _every_report(s).items():
        assert "/bob" not in text, name


def test_the_host_name_is_redacted_as_a_path_component_even_when_short():
    s = _who(None, None, "/mnt/vm/models")
    s.system.hostname = "vm"
    for name, text in _every_report(s).items():
        assert "/vm/" not in text, name


def test_a_user_called_gpu_or_root_keeps_the_words_of_the_report():
    out = redact_text("root filesystem; GPU gpu0; /home/gpu/x", users=["gpu", "root"])
    assert out == "root filesystem; GPU gpu0; /home/<user>/x"


def test_a_safe_name_goes_in_free_text_but_a_json_key_stays():
    out = redact_text('{"alice": "run by alice"}', users=["alice"])
    assert out == '{"alice": "run by <user>"}'


def test_the_fleet_report_redacts_whoever_probed_each_node(tmp_path):
    from deepseek_probe import fleet
    from deepseek_probe.report import fleet as fleet_report

    (tmp_path / "node1.json").write_text(_who("carol", "/srv/carol", "/srv/carol/models").to_json())
    (tmp_path / "node2.json").write_text(_who("denise", "/data/u777", "/data/u777/m").to_json())
    spec = profiles.get_model("7b")
    result = fleet.evaluate_fleet([str(tmp_path)], [(spec, runtimes.default_settings(spec, "vllm"))])
    # The fleet formats print no path today; the final pass is what would catch one.
    out = fleet_report._redact(result, "models at /srv/carol/models and /data/u777/m; denise ran node2")
    assert out == "models at /srv/<user>/models and <home>/m; <user> ran node2"
    for fmt in fleet_report.FORMATS:
        text = fleet_report.render_fleet(result, fmt)
        assert "carol" not in text and "denise" not in text and "u777" not in text


def test_a_redacted_snapshot_keeps_no_identity_and_still_loads():
    s = _who("alice", "/data/alice", "/data/alice/models", login_names=["bob"])
    red = redact_snapshot(s)
    text = red.to_json()
    assert "alice" not in text and "bob" not in text
    assert Snapshot.from_json(text).system.user == "<user>"
    assert identity_of(s) == (["alice", "bob"], ["/data/alice"])


def test_the_probe_records_who_ran_it():
    import os
    import pwd

    from deepseek_probe.probes.system import probe_system

    info = probe_system("/", {"SUDO_USER": "bob", "USER": "root"})
    me = pwd.getpwuid(os.geteuid())
    assert (info.user, info.home) == (me.pw_name, me.pw_dir)
    assert "bob" in info.login_names
    assert json.loads(Snapshot(system=info).to_json())["system"]["user"] == me.pw_name
