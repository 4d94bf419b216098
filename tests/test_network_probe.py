"""The network probe on recorded and hand-made sysfs trees (fixtures/fs/net-*)."""

from __future__ import annotations

import os

import pytest

from deepseek_probe.probes.network import (parse_port_state, parse_rate_gbps, parse_speed_mbps,
                                           probe_network)

FS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "fs")


def tree(name: str) -> str:
    return os.path.join(FS, name)


def write(root, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# --- this machine, recorded -----------------------------------------------------------------------


def test_dev_machine_lists_its_virtio_nic_and_skips_loopback_and_ifb():
    net = probe_network(tree("net-dev"))
    assert [n.name for n in net.nics] == ["eth0"]


def test_virtio_nic_reporting_speed_minus_one_has_unknown_speed_but_is_up():
    eth0 = probe_network(tree("net-dev")).nics[0]
    assert eth0.speed_mbps is None
    assert eth0.up is True


def test_dev_machine_has_no_rdma_ports_and_no_peermem_and_says_so_without_reasons():
    net = probe_network(tree("net-dev"))
    assert net.ib_ports == []
    assert net.gpudirect_rdma is False  # read from the recorded /sys/module listing
    assert net.unavailable == {}


# --- an 8-GPU InfiniBand node (hand-made, derived) -------------------------------------------------


def test_8gpu_node_has_four_active_ndr_ports_at_400_gbps():
    ports = probe_network(tree("net-8gpu-ib-derived")).ib_ports
    assert [(p.device, p.port) for p in ports] == [(f"mlx5_{i}", 1) for i in range(4)]
    assert {p.state for p in ports} == {"ACTIVE"}
    assert {p.rate_gbps for p in ports} == {400.0}
    assert {p.link_layer for p in ports} == {"InfiniBand"}


def test_8gpu_node_with_nvidia_peermem_loaded_has_gpudirect_rdma():
    assert probe_network(tree("net-8gpu-ib-derived")).gpudirect_rdma is True


def test_node_without_peermem_has_no_gpudirect_rdma():
    assert probe_network(tree("net-8gpu-ib-no-peermem-derived")).gpudirect_rdma is False


def test_docker_bridge_and_veth_are_not_listed_as_nics():
    names = [n.name for n in probe_network(tree("net-8gpu-ib-derived")).nics]
    assert "docker0" not in names and not any(n.startswith("veth") for n in names)
    assert names == ["eno1", "ib0", "ib1", "ib2", "ib3"]


def test_ports_down_read_as_down_and_their_ipoib_links_as_not_up():
    net = probe_network(tree("net-8gpu-ib-down-derived"))
    assert {p.state for p in net.ib_ports} == {"DOWN"}
    ib = [n for n in net.nics if n.name.startswith("ib")]
    assert all(n.up is False and n.speed_mbps is None for n in ib)


# --- parsing edge cases ----------------------------------------------------------------------------


@pytest.mark.parametrize("text,expected", [
    ("400 Gb/sec (4X NDR)", 400.0), ("200 Gb/sec (4X HDR)", 200.0), ("2.5 Gb/sec (1X SDR)", 2.5),
    ("100 Gb/sec (2X HDR)", 100.0), ("", None), (None, None), ("fast", None)])
def test_rate_strings_parse_to_gbps(text, expected):
    assert parse_rate_gbps(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("4: ACTIVE", "ACTIVE"), ("1: DOWN", "DOWN"), ("2: INIT", "INIT"), ("ACTIVE", "ACTIVE"),
    ("", None), (None, None)])
def test_port_states_parse_to_their_name(text, expected):
    assert parse_port_state(text) == expected


@pytest.mark.parametrize("text,expected", [("100000", 100000), ("-1", None), ("0", None),
                                           ("", None), (None, None), ("x", None)])
def test_nic_speed_unknown_values_become_none(text, expected):
    assert parse_speed_mbps(text) == expected


def test_roce_port_keeps_its_ethernet_link_layer(tmp_path):
    write(tmp_path, "sys/class/infiniband/mlx5_bond_0/ports/1/state", "4: ACTIVE\n")
    write(tmp_path, "sys/class/infiniband/mlx5_bond_0/ports/1/rate", "200 Gb/sec (4X HDR)\n")
    write(tmp_path, "sys/class/infiniband/mlx5_bond_0/ports/1/link_layer", "Ethernet\n")
    (port,) = probe_network(str(tmp_path)).ib_ports
    assert (port.state, port.rate_gbps, port.link_layer) == ("ACTIVE", 200.0, "Ethernet")


def test_ports_sort_numerically_and_non_numeric_entries_are_ignored(tmp_path):
    for n in ("10", "2", "1"):
        write(tmp_path, f"sys/class/infiniband/hfi1_0/ports/{n}/state", "4: ACTIVE\n")
    write(tmp_path, "sys/class/infiniband/hfi1_0/ports/README", "x")
    assert [p.port for p in probe_network(str(tmp_path)).ib_ports] == [1, 2, 10]


def test_old_nv_peer_mem_module_counts_as_gpudirect(tmp_path):
    write(tmp_path, "proc/modules", "nv_peer_mem 16384 0 - Live 0x0000000000000000 (OE)\n")
    assert probe_network(str(tmp_path)).gpudirect_rdma is True


def test_a_module_merely_depending_on_peermem_does_not_count(tmp_path):
    write(tmp_path, "proc/modules", "ib_core 475136 3 nvidia_peermem, Live 0x0000000000000000\n")
    assert probe_network(str(tmp_path)).gpudirect_rdma is False


def test_operstate_unknown_falls_back_to_carrier(tmp_path):
    write(tmp_path, "sys/class/net/enp1s0/operstate", "unknown\n")
    write(tmp_path, "sys/class/net/enp1s0/carrier", "1\n")
    write(tmp_path, "sys/class/net/enp1s0/device/vendor", "0x15b3\n")
    assert probe_network(str(tmp_path)).nics[0].up is True


def test_a_physical_nic_named_like_a_virtual_one_is_kept(tmp_path):
    write(tmp_path, "sys/class/net/tap0/operstate", "up\n")
    write(tmp_path, "sys/class/net/tap0/device/vendor", "0x8086\n")
    write(tmp_path, "sys/class/net/veth9/operstate", "up\n")
    assert [n.name for n in probe_network(str(tmp_path)).nics] == ["tap0"]


def test_bonds_are_kept_as_nics(tmp_path):
    write(tmp_path, "sys/class/net/bond0/operstate", "up\n")
    write(tmp_path, "sys/class/net/bond0/speed", "200000\n")
    (bond,) = probe_network(str(tmp_path)).nics
    assert (bond.name, bond.speed_mbps, bond.up) == ("bond0", 200000, True)


# --- never raises, says why --------------------------------------------------------------------------


def test_missing_sysfs_gives_reasons_not_an_exception(tmp_path):
    net = probe_network(str(tmp_path / "nothing-here"))
    assert net.nics == [] and net.ib_ports == [] and net.gpudirect_rdma is None
    assert set(net.unavailable) == {"nics", "ib_ports", "gpudirect_rdma"}


def test_sysfs_without_an_infiniband_class_means_no_ports_not_unknown(tmp_path):
    write(tmp_path, "sys/class/net/eth0/operstate", "up\n")
    net = probe_network(str(tmp_path))
    assert net.ib_ports == [] and "ib_ports" not in net.unavailable


def test_unreadable_entry_inside_a_tree_does_not_stop_the_probe(tmp_path):
    # A port whose files are directories (corrupt tree): values None, other ports still read.
    (tmp_path / "sys/class/infiniband/mlx5_0/ports/1/state").mkdir(parents=True)
    write(tmp_path, "sys/class/infiniband/mlx5_1/ports/1/state", "4: ACTIVE\n")
    ports = probe_network(str(tmp_path)).ib_ports
    assert [(p.device, p.state) for p in ports] == [("mlx5_0", None), ("mlx5_1", "ACTIVE")]


def test_live_probe_runs_on_this_machine_without_raising():
    net = probe_network("/")
    assert isinstance(net.nics, list)

