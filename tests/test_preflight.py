"""The preflight's checks (twonode/preflight.py) on facts captured on the
converged example cluster (Debian 13), each broken the way a real server
would be; and the TCP reach fact's command run for real against a port
that listens and one that does not."""

from __future__ import annotations

import dataclasses
import runpy
import socket
import subprocess
from pathlib import Path

import pytest

from captured import converged
from facts.lvm import VolumeGroup
from facts.identity import Identity, NodeIdentity
from facts.reach import TcpReach
from twonode import preflight
from twonode.loader import validate

EXAMPLE = runpy.run_path(str(Path(__file__).resolve().parents[1] / "group_data" / "all.py"))["cluster"]
STATE = "converged-trixie"


@pytest.fixture
def c():
    return validate(EXAMPLE)


def facts_of(c, node: str = "fiori", answer: str = "refused") -> preflight.NodeFacts:
    return preflight.NodeFacts(
        uid=0, hostname=node, os_release=converged(node, "NodeOsRelease", state=STATE),
        network=converged(node, "NetworkInterfaces", state=STATE),
        volume_groups=converged(node, "VolumeGroups", state=STATE),
        reach={t: answer for t in preflight.peer_targets(c, c.node(node))})


def results(c, facts, node: str = "fiori", peer="same") -> dict[str, preflight.Check]:
    """``peer``: the peer's facts; "same": as captured, None: not in the run."""
    if peer == "same":
        peer = facts_of(c, c.peer(node).name)
    return {ch.what: ch for ch in preflight.node_checks(c, c.node(node), facts, peer)}


def failed(c, facts, node: str = "fiori") -> dict[str, str]:
    return {what: ch.detail for what, ch in results(c, facts, node).items() if ch.result == preflight.FAIL}


def without_cluster_address(c, facts, node: str):
    address = f"{c.node(node).cluster_address}/"
    nics = {name: dataclasses.replace(nic, ipv4=tuple(a for a in nic.ipv4 if not a.startswith(address)))
            for name, nic in facts.network.nics.items()}
    return dataclasses.replace(facts, network=dataclasses.replace(facts.network, nics=nics))


@pytest.mark.parametrize("node", ["fiori", "torchio"])
@pytest.mark.parametrize("answer", ["established", "open", "refused"])
def test_the_converged_example_passes_everything(c, node, answer):
    checks = results(c, facts_of(c, node, answer), node)
    assert {what: ch.result for what, ch in checks.items()} == {
        "root": "pass", "host name": "pass", "release": "pass", "volume group": "pass", "NICs": "pass",
        f"ports on {c.peer(node).name}": "pass", f"{c.peer(node).name}'s BMC": "pass"}


def test_the_peers_ports_are_its_drbd_o2cb_and_ssh_ports_and_its_bmc(c):
    targets = preflight.peer_targets(c, c.node("fiori"))
    assert targets == ("192.168.3.7:7790", "192.168.3.7:7791", "192.168.3.7:7792", "192.168.3.7:7777",
                       "192.168.3.7:22", f"{c.node('torchio').bmc.address}:{c.node('torchio').bmc.port}")


def test_a_user_other_than_root_fails(c):
    assert "Connect as root" in failed(c, dataclasses.replace(facts_of(c), uid=1000))["root"]


def test_a_host_name_other_than_the_nodes_name_fails_with_both_names(c):
    detail = failed(c, dataclasses.replace(facts_of(c), hostname="fiori.example.org"))["host name"]
    assert "'fiori.example.org'" in detail and "hostnamectl set-hostname fiori" in detail


def test_another_release_fails(c):
    os = dataclasses.replace(converged("fiori", "NodeOsRelease", state=STATE), codename="bullseye", version_id="11")
    assert "twonode deploys" in failed(c, dataclasses.replace(facts_of(c), os_release=os))["release"]


def test_a_missing_volume_group_fails_naming_what_there_is(c):
    detail = failed(c, dataclasses.replace(facts_of(c), volume_groups={}))["volume group"]
    assert f"{c.volume_group!r} not found (vgs lists: none)" in detail


def test_too_little_free_space_for_the_volumes_not_created_yet_fails(c):
    vg = converged("fiori", "VolumeGroups", state=STATE)[c.volume_group]
    # The converged node holds every LV: nothing more is needed...
    assert results(c, facts_of(c))["volume group"].result == "pass"
    # ...but without its LVs it needs them all, more than 1 MiB free.
    bare = VolumeGroup(name=vg.name, size_bytes=vg.size_bytes, free_bytes=1024 ** 2, extent_bytes=vg.extent_bytes)
    detail = failed(c, dataclasses.replace(facts_of(c), volume_groups={vg.name: bare}))["volume group"]
    assert "not created yet need 8.0 GiB" in detail and "vgextend" in detail


def test_a_raised_size_of_a_volume_that_exists_is_left_to_the_grow_planner(c):
    raw = {**EXAMPLE, "replicated_volumes": [dict(v) for v in EXAMPLE["replicated_volumes"]]}
    raw["replicated_volumes"][0]["size"] = "500g"
    c2 = validate(raw)
    assert results(c2, facts_of(c2))["volume group"].result == "pass"


def test_a_mac_no_nic_has_fails(c):
    raw = {**EXAMPLE, "nodes": [dict(n) for n in EXAMPLE["nodes"]]}
    raw["nodes"][0]["nics"] = {**raw["nodes"][0]["nics"], "eth1": "52:54:00:00:00:99"}
    c2 = validate(raw)
    assert "no NIC has MAC 52:54:00:00:00:99 (nics names it eth1)" in failed(c2, facts_of(c2))["NICs"]


def test_the_cluster_network_on_the_management_nic_fails(c):
    facts = facts_of(c)
    management = facts.network.management_nic()
    raw = {**EXAMPLE, "cluster_network": {**EXAMPLE["cluster_network"], "interface": management.name},
           "nodes": [{k: v for k, v in n.items() if k != "nics"} for n in EXAMPLE["nodes"]]}
    c2 = validate(raw)
    assert "give the cluster network a NIC of its own" in failed(c2, facts_of(c2))["NICs"]


@pytest.mark.parametrize("answer", ["timeout", "unreachable"])
def test_a_port_the_peer_does_not_answer_on_fails_naming_port_and_use(c, answer):
    facts = facts_of(c)
    reach = {**facts.reach, "192.168.3.7:7791": answer}
    detail = failed(c, dataclasses.replace(facts, reach=reach))["ports on torchio"]
    assert f"TCP 7791 (DRBD, volume vmpool0): {answer}" in detail and "7790" not in detail


def test_a_bmc_that_does_not_answer_fails(c):
    facts = facts_of(c)
    bmc = preflight.bmc_target(c, c.node("fiori"))
    assert "route or open the management network" in failed(
        c, dataclasses.replace(facts, reach={**facts.reach, bmc: "timeout"}))["torchio's BMC"]


def test_before_the_first_deploy_the_ports_wait_for_the_cluster_address(c):
    facts = without_cluster_address(c, facts_of(c, answer="timeout"), "fiori")
    check = results(c, facts)
    assert check["ports on torchio"].result == "later"
    assert "check again after the first deploy" in check["ports on torchio"].detail


def test_a_peer_out_of_the_run_leaves_its_ports_for_later_and_stops_nothing(c):
    # A node brought up alone, or the survivor deployed while its peer is
    # off: the peer's ports cannot answer, and that is no reason to stop.
    facts = facts_of(c, answer="timeout")
    bmc = preflight.bmc_target(c, c.node("fiori"))
    check = results(c, dataclasses.replace(facts, reach={**facts.reach, bmc: "open"}), peer=None)
    assert check["ports on torchio"].result == "later"
    assert check["ports on torchio"].detail == "torchio is not in this run"
    assert not [ch for ch in check.values() if ch.result == "FAIL"]


def test_a_rebuilt_peer_without_its_cluster_address_leaves_the_ports_for_later(c):
    peer = without_cluster_address(c, facts_of(c, "torchio"), "torchio")
    check = results(c, facts_of(c, answer="unreachable"), peer=peer)
    assert check["ports on torchio"].result == "later"
    assert "192.168.3.7 is not on torchio yet" in check["ports on torchio"].detail


def test_the_peers_cluster_ports_are_not_tried_when_it_is_out_of_the_run(c):
    assert preflight.peer_targets(c, c.node("fiori"), cluster_ports=False) == (
        f"{c.node('torchio').bmc.address}:{c.node('torchio').bmc.port}",)


def test_the_report_lists_each_node_and_the_failures_carry_the_fix(c):
    res = {"fiori": preflight.node_checks(c, c.node("fiori"), dataclasses.replace(facts_of(c), uid=1000),
                                          facts_of(c, "torchio"))}
    text = preflight.render(res)
    assert text.splitlines()[0] == "twonode preflight (nothing was changed)" and "  fiori" in text
    assert preflight.failures(res) == [f"fiori: root: {failed(c, dataclasses.replace(facts_of(c), uid=1000))['root']}"]


def test_the_reach_command_tells_a_listening_port_from_a_closed_one_and_a_used_one():
    listening, closed, used = socket.socket(), socket.socket(), socket.socket()
    for s in (listening, closed, used):
        s.bind(("127.0.0.1", 0))
    listening.listen()
    used.listen()
    client = socket.create_connection(used.getsockname())
    accepted, _ = used.accept()
    open_port, closed_port, used_port = (s.getsockname()[1] for s in (listening, closed, used))
    fact = TcpReach()
    targets = (f"127.0.0.1:{open_port}", f"127.0.0.1:{closed_port}", f"127.0.0.1:{used_port}")
    out = subprocess.run(["sh", "-c", fact.command(targets)], capture_output=True, text=True, timeout=30)
    for s in (listening, closed, used, client, accepted):
        s.close()
    assert fact.process(out.stdout.splitlines()) == {
        targets[0]: "open", targets[1]: "refused", targets[2]: "established"}


def test_the_identity_fact_reads_uid_host_name_and_machine_uuid():
    assert NodeIdentity().process(["0", "fiori"]) == Identity(uid=0, hostname="fiori")
    # As the lab's guests print it (tests/fixtures/facts/*__NodeIdentity.txt).
    assert converged("fiori", "NodeIdentity", "converged-small-trixie") == Identity(
        uid=0, hostname="fiori", machine_uuid="8bb135ae-5331-516a-94a8-ec29cc38eb28")
    assert converged("torchio", "NodeIdentity", "converged-small-trixie").machine_uuid == \
        "2c503f9d-2867-5ddf-a1df-172d2062c13f"
    # Upper case is the same machine; a firmware's placeholder, or nothing
    # readable (not root), is none.
    upper = NodeIdentity().process(["0", "fiori", "8BB135AE-5331-516A-94A8-EC29CC38EB28"])
    assert upper.machine_uuid == "8bb135ae-5331-516a-94a8-ec29cc38eb28"
    for placeholder in ("00000000-0000-0000-0000-000000000000", "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
                        "03000200-0400-0500-0006-000700080009", "Not Settable", ""):
        assert NodeIdentity().process(["0", "fiori", placeholder]).machine_uuid == "", placeholder
    out = subprocess.run(["sh", "-c", NodeIdentity().command()], capture_output=True, text=True)
    identity = NodeIdentity().process(out.stdout.splitlines())
    assert identity.uid >= 0 and identity.hostname == socket.gethostname()
