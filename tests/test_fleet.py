"""`fleet`: many node snapshots -> per-node findings, a multi-node plan and a cluster verdict.

Fleets are built from fixtures/fleet (8-GPU nodes derived from the real 2xH200 and H100
recordings, networks from the fixtures/fs/net-*-derived trees; see fixtures/fleet/make_fleet.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import replace

import pytest

from deepseek_probe import runtimes
from deepseek_probe import fleet, profiles
from deepseek_probe.report import fleet as fleet_report
from deepseek_probe.errors import InputError
from deepseek_probe.snapshot import Snapshot

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLEET = os.path.join(REPO, "fixtures", "fleet")
H200 = os.path.join(FLEET, "h200x8-ib")
H100 = os.path.join(FLEET, "h100x8-ib")
VARIANTS = os.path.join(FLEET, "variants")
GIB = 2**30


def h200(*names: str):
    return [os.path.join(H200, f"node{n}.json") for n in names]


def read_json(path: str):
    with open(path) as f:
        return json.load(f)


def variant(name: str) -> str:
    return os.path.join(VARIANTS, name + ".json")


def v3(precision: str = "bf16", runtime: str = "vllm", **changes):
    spec = profiles.get_model("671b")
    return [(spec, replace(runtimes.default_settings(spec, runtime), precision=precision, **changes))]


def node(result, name, profile=0):
    return next(nv for nv in result.profiles[profile].nodes if nv.node == name)


def checks(findings, level=None):
    return {f.check for f in findings if level is None or f.level == level}


# --- unreadable nodes are named, the others still evaluated -----------------------------------------


def test_corrupt_and_missing_snapshots_are_named_and_the_rest_still_evaluated(tmp_path):
    missing = str(tmp_path / "gpu-node-07.json")
    result = fleet.evaluate_fleet([H200, variant("node10-truncated"), missing], v3("fp8"))
    status = {n.node: n.status for n in result.nodes}
    assert status == {"node01": "ok", "node02": "ok", "node03": "ok", "node04": "ok",
                      "node10-truncated": "unreadable", "gpu-node-07": "unreadable"}
    reasons = {n.node: n.reason for n in result.unreadable}
    assert "JSON" in reasons["node10-truncated"]
    assert "No such file" in reasons["gpu-node-07"]
    evaluated = {nv.node for nv in result.profiles[0].nodes if nv.role != "unreadable"}
    assert evaluated == {"node01", "node02", "node03", "node04"}


@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "prometheus"])
def test_every_format_names_the_unreadable_nodes(tmp_path, fmt):
    result = fleet.evaluate_fleet([H200, variant("node10-truncated"), str(tmp_path / "gpu-node-07.json")],
                                  v3("fp8"))
    out = fleet_report.render_fleet(result, fmt)
    assert "node10-truncated" in out and "gpu-node-07" in out


def test_unreadable_nodes_make_the_cluster_warn_even_when_the_plan_fits(tmp_path):
    result = fleet.evaluate_fleet(h200("01", "02") + [str(tmp_path / "gone.json")], v3("bf16"))
    assert result.profiles[0].plan.feasible
    assert "fleet.unreadable" in checks(result.profiles[0].findings, "warn")
    assert result.exit_code == 1


def test_no_readable_snapshot_is_bad_input(tmp_path):
    with pytest.raises(InputError) as e:
        fleet.evaluate_fleet([variant("node10-truncated"), str(tmp_path / "gone.json")], v3())
    assert "node10-truncated" in str(e.value) and "gone" in str(e.value)


def test_no_path_at_all_is_bad_input():
    with pytest.raises(InputError):
        fleet.evaluate_fleet([], v3())


def test_a_directory_without_snapshots_is_reported_not_skipped(tmp_path):
    empty = tmp_path / "rack-b"
    empty.mkdir()
    result = fleet.evaluate_fleet(h200("01") + [str(empty)], v3("fp8"))
    (bad,) = result.unreadable
    assert bad.node == "rack-b" and "no *.json" in bad.reason


def test_nodes_with_the_same_file_name_in_two_directories_keep_distinct_names(tmp_path):
    for rack in ("rack-a", "rack-b"):
        (tmp_path / rack).mkdir()
        shutil.copy(h200("01")[0], tmp_path / rack / "node01.json")
    result = fleet.evaluate_fleet([str(tmp_path / "rack-a"), str(tmp_path / "rack-b")], v3("fp8"))
    names = [n.node for n in result.nodes]
    assert len(set(names)) == 2 and all(n.endswith("node01.json") for n in names)


def test_settings_that_make_no_sense_are_bad_input_before_any_node_is_read():
    with pytest.raises(InputError):
        fleet.evaluate_fleet(h200("01"), v3("bf16", context=10**7))


# --- how many nodes ----------------------------------------------------------------------------------


def test_671b_bf16_needs_two_h200_nodes():
    spec = profiles.get_model("671b")
    h200_total = Snapshot.load(h200("01")[0]).gpus[0].memory_total_bytes
    # bf16 weights alone (2 bytes per parameter) exceed 8 H200s, half of them fit 8 H200s.
    assert spec.params * 2 / 8 > h200_total and spec.params * 2 / 16 < 0.9 * h200_total
    result = fleet.evaluate_fleet([H200], v3("bf16"))
    plan = result.profiles[0].plan
    assert (plan.tensor_parallel, plan.pipeline_parallel) == (8, 2)
    assert plan.layers_per_stage == 31  # ceil(61 / 2)
    assert len(plan.stage_nodes) == 2
    assert result.exit_code == 0


def test_671b_fp8_fits_one_h200_node_but_needs_two_h100_nodes():
    spec = profiles.get_model("671b")
    # fp8 weights: ~1 byte per parameter; / 8 GPUs is above an H100's 80 GB, below an H200's 141 GB.
    assert 80e9 < spec.params / 8 < 141e9
    one = fleet.evaluate_fleet([H200], v3("fp8")).profiles[0].plan
    two = fleet.evaluate_fleet([H100], v3("fp8")).profiles[0].plan
    assert one.pipeline_parallel == 1
    assert two.pipeline_parallel == 2 and two.kind.startswith("8x H100")


def test_mixed_fleet_picks_the_kind_needing_fewest_nodes_and_mentions_the_other():
    result = fleet.evaluate_fleet([H100] + h200("03"), v3("fp8"))
    p = result.profiles[0]
    assert p.plan.kind.startswith("8x H200") and p.plan.stage_nodes == ["node03"]
    assert "fleet.other_kinds" in checks(p.findings)


def test_one_node_for_a_two_node_plan_says_one_more_node_of_that_kind_is_needed():
    result = fleet.evaluate_fleet(h200("01"), v3("bf16"))
    plan = result.profiles[0].plan
    assert not plan.feasible and plan.nodes_needed == 2 and plan.more_nodes_needed == 1
    (f,) = [f for f in result.profiles[0].findings if f.check == "fleet.plan"]
    assert f.level == "fail" and "1 more node" in f.message and "8x H200" in f.message
    assert result.exit_code == 2


def test_a_node_with_a_100_gib_tenant_cannot_hold_a_stage_of_the_two_node_plan():
    result = fleet.evaluate_fleet(h200("01", "02") + [variant("node09-tenant-100gib")], v3("bf16"))
    tenant = node(result, "node09-tenant-100gib")
    assert tenant.role == "unfit"
    assert "fleet.stage_memory" in checks(tenant.findings, "fail")
    assert result.profiles[0].plan.stage_nodes == ["node01", "node02"]


def test_one_clean_node_and_one_with_a_tenant_are_one_node_short_and_say_which_to_fix():
    result = fleet.evaluate_fleet(h200("01") + [variant("node09-tenant-100gib")], v3("bf16"))
    plan = result.profiles[0].plan
    assert not plan.feasible and plan.more_nodes_needed == 1
    (f,) = [f for f in result.profiles[0].findings if f.check == "fleet.plan"]
    assert "node09-tenant-100gib" in f.suggestion


def test_nodes_with_a_tenant_each_can_still_run_the_model_as_a_longer_pipeline(tmp_path):
    for n in range(8):
        shutil.copy(variant("node09-tenant-100gib"), tmp_path / f"busy-{n}.json")
    result = fleet.evaluate_fleet([str(tmp_path)], v3("bf16"))
    plan = result.profiles[0].plan
    tightest = min(g.memory_free_bytes for g in Snapshot.load(variant("node09-tenant-100gib")).gpus)
    spec, settings = v3("bf16")[0]
    from deepseek_probe import estimate

    est = estimate.estimate(spec, replace(settings, tensor_parallel=8))
    assert plan.feasible and plan.pipeline_parallel > 2
    assert plan.per_gpu_need_bytes <= tightest  # vLLM's budget there: the free memory
    assert fleet.stage_need_bytes(spec, est, plan.pipeline_parallel - 1) > tightest  # the fewest stages


def test_stage_memory_shrinks_with_more_stages_and_one_stage_is_the_whole_model():
    spec, settings = v3("bf16")[0]
    from deepseek_probe import estimate

    est = estimate.estimate(spec, replace(settings, tensor_parallel=8))
    needs = [fleet.stage_need_bytes(spec, est, n) for n in range(1, spec.layers + 1)]
    assert needs[0] == est.per_device.total_bytes
    assert all(a >= b for a, b in zip(needs, needs[1:]))
    # Two stages hold about half the weights each, never less than half.
    assert needs[1] >= est.per_device.weights_bytes / 2


# --- node health and interconnect --------------------------------------------------------------------


def test_node_with_infiniband_down_gets_an_interconnect_failure_and_is_left_out():
    result = fleet.evaluate_fleet([H200, variant("node05-ib-down")], v3("bf16"))
    down = node(result, "node05-ib-down")
    assert down.role == "unfit"
    (f,) = [f for f in down.findings if f.check == "fleet.interconnect"]
    assert f.level == "fail" and "DOWN" in f.message
    assert "node05-ib-down" in [f.message for f in result.profiles[0].findings
                                if f.check == "fleet.unfit_nodes"][0]
    assert "node05-ib-down" not in result.profiles[0].plan.stage_nodes


def test_infiniband_down_does_not_matter_when_the_model_fits_one_node():
    result = fleet.evaluate_fleet([variant("node05-ib-down")], v3("fp8"))
    down = node(result, "node05-ib-down")
    assert "fleet.interconnect" not in checks(down.findings)
    assert down.role == "stage" and result.exit_code == 0


def test_cluster_of_only_ib_down_nodes_fails_for_a_two_node_plan(tmp_path):
    for n in ("a", "b"):
        shutil.copy(variant("node05-ib-down"), tmp_path / f"down-{n}.json")
    result = fleet.evaluate_fleet([str(tmp_path)], v3("bf16"))
    assert result.profiles[0].plan.more_nodes_needed == 2
    assert result.exit_code == 2


def test_stage_node_without_gpudirect_rdma_makes_the_cluster_warn():
    result = fleet.evaluate_fleet(h200("01") + [variant("node06-no-peermem")], v3("bf16"))
    p = result.profiles[0]
    assert set(p.plan.stage_nodes) == {"node01", "node06-no-peermem"}
    (f,) = [f for f in p.findings if f.check == "fleet.interconnect"]
    assert f.level == "warn" and "nvidia_peermem" in f.message
    assert result.exit_code == 1


def test_100_gbps_infiniband_meets_the_guides_minimum():
    result = fleet.evaluate_fleet(h200("01") + [variant("node07-hdr100")], v3("bf16"))
    assert node(result, "node07-hdr100").verdict == "pass"
    assert result.exit_code == 0


def test_failed_row_remapping_makes_a_node_unfit_whatever_the_plan():
    result = fleet.evaluate_fleet(h200("01") + [variant("node08-row-remap-failed")], v3("fp8"))
    bad = node(result, "node08-row-remap-failed")
    assert bad.role == "unfit" and "gpu.ecc" in checks(bad.findings, "fail")
    assert result.profiles[0].plan.stage_nodes == ["node01"]


def test_snapshots_without_network_data_leave_a_multi_node_plan_unknown(tmp_path):
    for n in ("01", "02"):
        doc = read_json(h200(n)[0])
        doc["network"] = {"nics": [], "ib_ports": [], "gpudirect_rdma": None, "unavailable": {}}
        (tmp_path / f"old-{n}.json").write_text(json.dumps(doc))
    result = fleet.evaluate_fleet([str(tmp_path)], v3("bf16"))
    assert {nv.role for nv in result.profiles[0].nodes} == {"unknown"}
    assert result.verdict == "unknown" and result.exit_code == 3


@pytest.mark.parametrize("net,level", [
    ({"nics": [{"name": "eth0", "speed_mbps": 200000, "up": True}], "ib_ports": []}, "warn"),
    ({"nics": [{"name": "eth0", "speed_mbps": 25000, "up": True}], "ib_ports": []}, "fail"),
    ({"nics": [], "ib_ports": [{"device": "mlx5_0", "port": 1, "state": "ACTIVE", "rate_gbps": 56.0,
                                 "link_layer": "InfiniBand"}]}, "warn"),
    ({"nics": [], "ib_ports": [{"device": "mlx5_bond_0", "port": 1, "state": "ACTIVE", "rate_gbps": 200.0,
                                 "link_layer": "Ethernet"}], "gpudirect_rdma": True}, "pass"),
])
def test_interconnect_levels(net, level):
    from deepseek_probe.snapshot import IbPort, NetworkInfo, NicInfo

    info = NetworkInfo(nics=[NicInfo(**n) for n in net["nics"]],
                       ib_ports=[IbPort(**p) for p in net["ib_ports"]],
                       gpudirect_rdma=net.get("gpudirect_rdma", False))
    assert fleet.interconnect_finding(info).level == level


# --- multiple profiles, formats, redaction -----------------------------------------------------------


def test_several_models_get_one_plan_each_and_the_worst_verdict_wins():
    spec7, spec671 = profiles.get_model("7b"), profiles.get_model("671b")
    reqs = [(spec7, runtimes.default_settings(spec7, "vllm")),
            (spec671, replace(runtimes.default_settings(spec671, "vllm"), precision="bf16"))]
    result = fleet.evaluate_fleet(h200("01"), reqs)
    assert [p.plan.pipeline_parallel for p in result.profiles] == [1, None]
    assert [p.verdict for p in result.profiles] == ["pass", "fail"] and result.verdict == "fail"


def test_json_report_is_versioned_and_carries_exit_code_and_plan():
    result = fleet.evaluate_fleet([H200], v3("bf16"))
    doc = json.loads(fleet_report.render_fleet(result, "json"))
    assert doc["schema_version"] == 1 and doc["exit_code"] == result.exit_code == 0
    assert doc["profiles"][0]["plan"]["pipeline_parallel"] == 2
    assert {n["node"] for n in doc["nodes"]} == {"node01", "node02", "node03", "node04"}
    assert doc["nodes"][0]["rdma_ports_active"] == 4


def test_prometheus_report_is_valid_exposition_text():
    result = fleet.evaluate_fleet([H200, variant("node10-truncated")], v3("bf16"))
    text = fleet_report.render_fleet(result, "prometheus")
    sample = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+]+$')
    for line in text.splitlines():
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or sample.match(line), line
    assert 'deepseek_probe_fleet_node_readable{node="node10-truncated"} 0' in text


def test_unknown_format_is_bad_input():
    result = fleet.evaluate_fleet(h200("01"), v3("fp8"))
    with pytest.raises(InputError):
        fleet_report.render_fleet(result, "yaml")


def test_reports_drop_hostnames_serials_and_home_dirs_but_keep_node_names(tmp_path):
    doc = read_json(h200("01")[0])
    host = doc["system"]["hostname"]
    serial = doc["gpus"][0]["serial"]
    doc["disk"]["path"] = "/home/alice/models"
    doc["disk"]["free_bytes"] = 10 * GIB  # small: the disk finding quotes the path
    # The operator named the file after the host: the node name must survive redaction.
    path = tmp_path / f"{host}.json"
    path.write_text(json.dumps(doc))
    result = fleet.evaluate_fleet([str(path)], v3("fp8"))
    for fmt in ("text", "json", "markdown"):
        out = fleet_report.render_fleet(result, fmt)
        assert "alice" not in out and serial not in out
        assert host in out  # as the node's name
    raw = fleet_report.render_fleet(result, "json", redact=False)
    assert "alice" in raw


def test_hostname_inside_a_finding_is_redacted_when_it_is_not_the_node_name(tmp_path):
    doc = read_json(h200("01")[0])
    host = doc["system"]["hostname"]
    doc["disk"]["path"] = f"/mnt/{host}/models"
    doc["disk"]["free_bytes"] = 10 * GIB
    (tmp_path / "node-a.json").write_text(json.dumps(doc))
    result = fleet.evaluate_fleet([str(tmp_path / "node-a.json")], v3("fp8"))
    assert host in fleet_report.render_fleet(result, "text", redact=False)
    assert host not in fleet_report.render_fleet(result, "text")


def test_a_network_probe_that_timed_out_is_unknown_not_a_missing_nic():
    from deepseek_probe.snapshot import NetworkInfo

    f = fleet.interconnect_finding(NetworkInfo(unavailable={"gpudirect_rdma": "timeout"}))
    assert f.level == "unknown" and "timeout" in f.message
