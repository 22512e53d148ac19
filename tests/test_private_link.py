"""libvirt's network hook for the private network (templates/libvirt/
private-link.sh) run for real with fake ip and tc that record their calls:
the VXLAN joins the bridge when libvirt has started the network, made anew
each time, its traffic queued after replication's on the cluster NIC, and
gone when the network stops; other networks and a node without the
configuration are left alone."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "templates/libvirt/private-link.sh"
CONF = "NETWORK=192.168.10.0\nBRIDGE=virbr0\nLINK=tnvx4210\nVXLAN_ID=4210\nLOCAL=192.168.3.6\n" \
       "REMOTE=192.168.3.7\nPORT=4789\nDEVICE=eth1\nMTU=1450\n"


@pytest.fixture
def node(tmp_path):
    (tmp_path / "bin").mkdir()
    for tool in ("ip", "tc", "logger"):
        (tmp_path / "bin" / tool).write_text(f"#!/bin/sh\necho \"{tool} $*\" >> \"$WORK/calls\"\n")
        (tmp_path / "bin" / tool).chmod(0o755)
    (tmp_path / "conf").write_text(CONF)
    return tmp_path


def hook(work: Path, *args: str) -> list[str]:
    env = {"PATH": f"{work}/bin:/usr/bin:/bin", "WORK": str(work), "TWONODE_PRIVATE_LINK_CONF": str(work / "conf")}
    result = subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, input="<network/>")
    assert result.returncode == 0, result.stderr  # a failing hook would stop libvirt's network
    calls = work / "calls"
    lines = calls.read_text().splitlines() if calls.exists() else []
    calls.unlink(missing_ok=True)
    return lines


def test_started_makes_the_link_anew_on_the_bridge_and_queues_it_last(node):
    assert hook(node, "192.168.10.0", "started", "begin", "-") == [
        "ip link del tnvx4210",
        "ip link add tnvx4210 type vxlan id 4210 local 192.168.3.6 remote 192.168.3.7 dstport 4789 dev eth1",
        "ip link set tnvx4210 mtu 1450 master virbr0 up",
        "tc qdisc del dev eth1 root",
        "tc qdisc add dev eth1 root handle 1: prio",
        # UDP to the VXLAN port into the lowest of prio's three bands.
        "tc filter add dev eth1 parent 1: protocol ip prio 1 u32 match ip protocol 17 0xff "
        "match ip dport 4789 0xffff flowid 1:3",
    ]


def test_stopped_removes_the_link(node):
    assert hook(node, "192.168.10.0", "stopped", "end", "-") == ["ip link del tnvx4210"]


@pytest.mark.parametrize("args", [("default", "started", "begin", "-"), ("192.168.10.0", "start", "begin", "-"),
                                  ("192.168.10.0", "port-created", "begin", "-")])
def test_other_networks_and_operations_are_left_alone(node, args):
    assert hook(node, *args) == []


def test_a_node_without_the_configuration_is_left_alone(node):
    (node / "conf").unlink()
    assert hook(node, "192.168.10.0", "started", "begin", "-") == []
