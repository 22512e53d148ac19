"""The network fact on outputs captured from the lab guests: NICs, names
in force, and the NIC the deploy connects through."""

from captured import converged, fx
from facts.network import NetworkState, Vxlan, parse_ip_addr_json, parse_ssh_connection


def test_nics_and_addresses():
    nics = parse_ip_addr_json(fx("network/eth1_configured_fiori__ip_j_addr.txt"))
    assert nics["eth1"].mac == "52:54:00:00:01:01"
    assert any(a.startswith("192.168.3.6/") for a in nics["eth1"].ipv4)
    assert "lo" not in nics


def test_names_in_force_against_the_wanted_ones():
    state = NetworkState(nics=parse_ip_addr_json(fx("network/eth1_configured_fiori__ip_j_addr.txt")))
    assert state.mismatches({"eth1": "52:54:00:00:01:01"}) == []
    assert state.mismatches({"eth1": "52:54:00:00:01:02"}) == ["NIC 52:54:00:00:01:02 is named eth2, not eth1"]
    assert state.mismatches({"eth9": "00:11:22:33:44:55"}) == ["no NIC with MAC 00:11:22:33:44:55 (wanted as eth9)"]


def lab_state(management_address):
    """The converged lab's interfaces (captured), reached at ``management_address``."""
    state = converged("fiori", "NetworkInterfaces")
    return NetworkState(nics=state.nics, management_address=management_address)


def test_ssh_connection_names_the_nodes_own_address():
    assert parse_ssh_connection("10.0.2.2 41234 10.0.2.15 22") == "10.0.2.15"
    assert parse_ssh_connection("") is None


def test_the_management_nic_is_the_one_with_the_address():
    assert lab_state("10.0.2.15").management_nic().name == "eth0"
    assert lab_state("192.0.2.1").management_nic() is None
    assert lab_state(None).management_nic() is None


def test_the_lab_layout_has_no_conflict():
    assert lab_state("10.0.2.15").management_conflicts("eth1", {"eth1": "52:54:00:00:01:01",
                                                                "eth2": "52:54:00:00:01:02"}) == []


def test_cluster_network_on_the_management_nic_is_refused():
    problems = lab_state("10.0.2.15").management_conflicts("eth0", {})
    assert len(problems) == 1 and "cluster_network.interface is eth0" in problems[0]


def test_pinning_the_management_nic_is_refused():
    problems = lab_state("10.0.2.15").management_conflicts("eth1", {"mgmt0": "52:54:00:00:01:00"})
    assert len(problems) == 1 and "pins it as mgmt0" in problems[0]


def test_giving_the_management_nics_name_away_is_refused():
    problems = lab_state("10.0.2.15").management_conflicts("eth1", {"eth0": "52:54:00:00:01:01"})
    assert len(problems) == 1 and "gives its name eth0 to 52:54:00:00:01:01" in problems[0]


def test_the_private_networks_vxlan_its_bridge_and_mtu():
    # Captured with NFS in mode single: the VXLAN joins virbr0 to the peer's,
    # two NFS clients of the lab (veths) on the bridge too.
    fiori = converged("fiori", "NetworkInterfaces", state="nfs-single").nics
    torchio = converged("torchio", "NetworkInterfaces", state="nfs-single").nics
    link = fiori["tnvx4210"]
    assert link.vxlan == Vxlan(id=4210, local="192.168.3.6", remote="192.168.3.7", port=4789, device="eth1")
    assert (link.master, link.mtu) == ("virbr0", 1450)
    assert torchio["tnvx4210"].vxlan.remote == "192.168.3.6"
    assert fiori["virbr0"].vxlan is None and fiori["virbr0"].mtu == 1450
    assert fiori["eth1"].master is None and fiori["eth1"].mtu == 1500
    # Without -d (older captures) there are no tunnel details, and nothing breaks.
    assert all(nic.vxlan is None for nic in parse_ip_addr_json(fx("network/eth1_configured_fiori__ip_j_addr.txt")).values())
