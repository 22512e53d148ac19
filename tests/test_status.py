"""The status report's new parts: DRBD events, and nodes that wait for their
peer. Events come from running the real handler script; DRBD states from
/proc/drbd captured on the lab."""

import os
import re
import subprocess
from pathlib import Path

from facts.drbd import DrbdResources
from facts.drbd_events import DrbdEvents
from twonode.loader import load_cluster
from twonode.report import render_status

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures"


def run_handler(events: Path, event: str, resource: str) -> None:
    env = {**os.environ, "TWONODE_EVENTS": str(events), "DRBD_RESOURCE": resource}
    subprocess.run(["sh", str(ROOT / "templates/drbd/drbd-event.sh"), event], env=env, check=True,
                   capture_output=True)


def drbd84(name: str):
    proc = (FIX / "drbd84" / f"{name}__proc_drbd.txt").read_text().splitlines()
    show = (FIX / "drbd84" / f"{name}__drbdsetup_show.txt").read_text().splitlines()
    return DrbdResources().process(["@@proc", *proc, "@@json", "@@show", *show, "@@dmesg"])


def facts(drbd, events=()):
    class NoO2cb:
        enabled_at_boot = True
        live_dead_threshold = live_idle_timeout_ms = None

        @staticmethod
        def is_online(name):
            return True
    return {"drbd": drbd, "events": list(events), "o2cb": NoO2cb(), "mounts": {}, "exports": {},
            "pools": {}, "networks": {}}


def test_the_event_handler_writes_lines_the_fact_reads(tmp_path):
    events = tmp_path / "events"
    run_handler(events, "split-brain", "drbd_small")
    run_handler(events, "split-brain", "drbd_pub")
    parsed = DrbdEvents().process(events.read_text().splitlines())
    host = subprocess.run(["hostname"], capture_output=True, text=True).stdout.strip()
    assert [(e.node, e.event, e.resource) for e in parsed] == [
        (host, "split-brain", "drbd_small"), (host, "split-brain", "drbd_pub")]
    assert all(e.time.endswith("Z") for e in parsed)


def test_the_event_file_keeps_the_last_200(tmp_path):
    events = tmp_path / "events"
    events.write_text("".join(f"2026-01-01T00:00:{i % 60:02d}Z fiori split-brain r{i}\n" for i in range(250)))
    run_handler(events, "split-brain", "newest")
    lines = events.read_text().splitlines()
    assert len(lines) == 200 and lines[0].endswith(" r51") and lines[-1].endswith(" newest")


def test_no_events_no_section():
    c = load_cluster(ROOT / "tests/lab/small/inventory.py", ROOT)
    both = {"fiori": facts(drbd84("connected_primary_primary_fiori")),
            "torchio": facts(drbd84("connected_primary_primary_torchio"))}
    report = render_status(c, both)
    assert "DRBD events" not in report and "waits for" not in report
    # The rest of the report is there: each node's row of the resource.
    assert [row[:4] for row in table_rows(report, "resource ")] == [
        ["drbd_small", node, "Primary/Primary", "Connected"] for node in ("fiori", "torchio")]


def test_events_of_both_nodes_newest_last(tmp_path):
    c = load_cluster(ROOT / "tests/lab/small/inventory.py", ROOT)
    ev = DrbdEvents().process(["2026-11-27T06:40:12Z fiori split-brain drbd_small"])
    ev2 = DrbdEvents().process(["2026-11-27T06:40:11Z torchio split-brain drbd_small"])
    report = render_status(c, {"fiori": facts(drbd84("connected_primary_primary_fiori"), ev),
                               "torchio": facts(drbd84("connected_primary_primary_torchio"), ev2)})
    section = report[report.index("DRBD events"):].splitlines()
    assert section[3].split() == ["2026-11-27T06:40:11Z", "torchio", "split-brain", "drbd_small"]
    assert section[4].split() == ["2026-11-27T06:40:12Z", "fiori", "split-brain", "drbd_small"]


def test_a_primary_without_its_peer_is_not_waiting():
    # Primary/WFConnection is a node serving alone (after fencing, or the
    # operator's word): it does not wait for anything.
    c = load_cluster(ROOT / "tests/lab/small/inventory.py", ROOT)
    report = render_status(c, {"fiori": facts(drbd84("alone_primary_wfconnection_fiori")), "torchio": None})
    assert "waits for" not in report


def test_a_failed_fence_is_explained_while_the_io_is_frozen():
    c = load_cluster(ROOT / "tests/lab/small/inventory.py", ROOT)
    frozen = drbd84("fence_failed_frozen_fiori")
    assert frozen["drbd_small"].io_suspended
    failed = DrbdEvents().process(["2026-11-27T06:40:12Z fiori fence-failed drbd_small"])
    report = render_status(c, {"fiori": facts(frozen, failed), "torchio": None})
    assert "FENCING FAILED on fiori for drbd_small" in report
    assert "on fiori: drbdadm resume-io drbd_small" in report
    # The small cluster's heartbeat timeout: (27 - 1) x 2 s.
    assert "within o2cb's 52 s; after that, o2cb restarts fiori" in report
    # A later fence superseded it.
    later = failed + DrbdEvents().process(["2026-11-27T06:41:00Z fiori fenced-peer drbd_small"])
    assert "FENCING FAILED" not in render_status(c, {"fiori": facts(frozen, later), "torchio": None})
    # The link came back, or o2cb restarted the node: I/O runs, the event
    # stays in the table only.
    running = drbd84("alone_primary_wfconnection_fiori")
    assert not running["drbd_small"].io_suspended
    report = render_status(c, {"fiori": facts(running, failed), "torchio": None})
    assert "FENCING FAILED" not in report and "fence-failed" in report


def test_a_node_that_booted_alone_waits_with_the_command_to_come_up_alone():
    c = load_cluster(ROOT / "tests/lab/small/inventory.py", ROOT)
    waiting = drbd84("booted_link_down_waiting_torchio")
    assert waiting["drbd_small"].role == "Secondary" and waiting["drbd_small"].connection == "WFConnection"
    report = render_status(c, {"fiori": facts(drbd84("alone_primary_wfconnection_fiori")),
                               "torchio": facts(waiting)})
    assert "torchio waits for fiori (Secondary, not mounted): drbd_small." in report
    assert "on torchio: twonode-activate --alone" in report
    assert "fiori waits" not in report


# --- VMs (facts.libvirt.VirshDomains; tests/test_facts.py parses the lab's output).

def vm_facts(domains=(), leases=None):
    from facts.libvirt import VmState
    state = VmState(domains={d.name: d for d in domains}, leases=leases or {})
    return {**facts(drbd84("connected_primary_primary_fiori")), "vms": state}


def tiny(state="running", persistent=True, disk="/vol/small/vms/tiny.qcow2"):
    from facts.libvirt import Domain
    return Domain(name="tiny", state=state, persistent=persistent, autostart=False, disks=(disk,))


def lease_of(node, disk="/vol/small/vms/tiny.qcow2"):
    from facts.libvirt import DiskLease, lease_path
    return {lease_path("/vol/small", disk): DiskLease(node=node, since="2026-11-27T20:02:33Z", vm="tiny")}


def vm_row(report: str) -> str:
    return next(line for line in report.splitlines() if line.startswith("tiny "))


def test_a_vm_running_on_one_node_with_its_lease():
    c = load_cluster(ROOT / "tests/lab/small/inventory.py", ROOT)
    report = render_status(c, {"fiori": vm_facts([tiny()], lease_of("fiori")),
                               "torchio": vm_facts([tiny("shut off")], lease_of("fiori"))})
    row = vm_row(report).split("  ")
    cells = [cell.strip() for cell in row if cell.strip()]
    assert cells == ["tiny", "fiori", "fiori, torchio", "fiori since 2026-11-27T20:02:33Z"], cells


def test_a_vm_running_on_both_nodes_is_flagged_first():
    c = load_cluster(ROOT / "tests/lab/small/inventory.py", ROOT)
    report = render_status(c, {"fiori": vm_facts([tiny()], lease_of("fiori")),
                               "torchio": vm_facts([tiny()], lease_of("fiori"))})
    assert "RUNNING ON BOTH NODES" in vm_row(report)


def test_a_local_disk_a_missing_lease_and_a_single_definition_are_flagged():
    c = load_cluster(ROOT / "tests/lab/small/inventory.py", ROOT)
    local = render_status(c, {"fiori": vm_facts([tiny(disk="/var/lib/libvirt/images/tiny.qcow2")]),
                              "torchio": vm_facts()})
    assert "local disk /var/lib/libvirt/images/tiny.qcow2: cannot move" in vm_row(local)
    assert "defined on fiori only" in vm_row(local)
    # Started before the deploy installed the hook: nobody holds its lease.
    unleased = render_status(c, {"fiori": vm_facts([tiny()]), "torchio": vm_facts([tiny("shut off")])})
    assert "runs without the lease of /vol/small/vms/tiny.qcow2" in vm_row(unleased)
    # A stopped VM's lease file keeps its last holder: it is free.
    stopped = render_status(c, {"fiori": vm_facts([tiny("shut off")], lease_of("fiori")),
                                "torchio": vm_facts([tiny("shut off")])})
    assert [cell.strip() for cell in vm_row(stopped).split("  ") if cell.strip()][1:4] == [
        "nowhere", "fiori, torchio", "free"]


def test_no_vm_no_section():
    c = load_cluster(ROOT / "tests/lab/small/inventory.py", ROOT)
    assert "VMs (" not in render_status(c, {"fiori": vm_facts(), "torchio": vm_facts()})


def seen_converged(state="converged-trixie"):
    """What tasks/status.py reads, from the example cluster's captured facts."""
    from captured import converged
    seen = {}
    for node in ("fiori", "torchio"):
        virsh = converged(node, "Virsh", state)
        seen[node] = {"drbd": converged(node, "DrbdResources", state), "events": [],
                      "o2cb": converged(node, "O2cb", state), "exports": converged(node, "NfsExports", state),
                      "pools": virsh.pools, "networks": virsh.networks,
                      "mounts": {"/vol/small": {"type": "ocfs2"}, "/vol/pub": {"type": "ocfs2"},
                                 "/vol/vmpool0": {"type": "ocfs2"}}}
    return seen


def split_brain_on_fiori():
    """fiori's DRBD state in a split brain, captured (StandAlone, the kernel's report)."""
    proc = (FIX / "drbd84" / "split_brain_standalone_fiori__proc_drbd.txt").read_text().splitlines()
    show = (FIX / "drbd84" / "split_brain_standalone_fiori__drbdsetup_show.txt").read_text().splitlines()
    dmesg = (FIX / "drbd84" / "split_brain_standalone_fiori__dmesg_split-brain.txt").read_text().splitlines()
    return DrbdResources().process(["@@proc", *proc, "@@json", "@@show", *show, "@@dmesg", *dmesg])


def table_rows(report: str, header: str) -> list[list[str]]:
    """The rows of the report's table that starts with ``header``, split
    into their columns (two spaces or more apart)."""
    import re
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.strip():
            break
        rows.append(re.split(r"\s{2,}", line.strip()))
    return rows


def test_the_json_document_says_what_the_table_says_for_every_resource_node_and_mount():
    import json
    from twonode.report import status_document
    c = load_cluster(ROOT / "inventory.py", ROOT)
    seen = seen_converged()
    # Not all alike: fiori's drbd_small in split brain (captured), and
    # /vol/pub not mounted on torchio.
    seen["fiori"]["drbd"] = split_brain_on_fiori()
    del seen["torchio"]["mounts"]["/vol/pub"]
    doc = json.loads(json.dumps(status_document(c, seen)))
    report = render_status(c, seen)

    assert set(doc) == {"nodes", "resources", "mounts", "vms", "events", "verify", "nfs", "fencing"}
    table = {(row[0], row[1]): row for row in table_rows(report, "resource ")}
    assert [(r["resource"], r["node"]) for r in doc["resources"]] == list(table) == [
        (v.resource, n.name) for v in c.replicated_volumes for n in c.nodes]
    for r in doc["resources"]:
        row = table[r["resource"], r["node"]]
        if not r["up"]:
            assert row[2:] == ["down"], row
            continue
        assert row[2:7] == [f"{r['role']}/{r['peer_role']}", r["connection"], r["disk"], r["peer_disk"],
                            f"{r['out_of_sync_kib']} KiB"], row
        assert row[-1] == ("YES" if r["split_brain"] else "no"), row
    assert [(r["resource"], r["node"]) for r in doc["resources"] if not r["up"]] == [("drbd_vmpool0", "fiori")]
    assert table["drbd_small", "fiori"][3] == "StandAlone"

    mounts = {row[1]: dict(zip(("fiori", "torchio"), row[2:])) for row in table_rows(report, "volume ")}
    assert len(doc["mounts"]) == 6
    for m in doc["mounts"]:
        assert mounts[m["mount_point"]][m["node"]] == ("mounted" if m["mounted"] else "not mounted"), (m, mounts)
    assert [m["node"] for m in doc["mounts"] if not m["mounted"]] == ["torchio"]

    nodes = {row[0]: row for row in table_rows(report, "node ")}
    for node in ("fiori", "torchio"):
        info = doc["nodes"][node]
        assert info["reachable"] and info["o2cb"] == {"online": True, "at_boot": True, "dead_threshold": 27,
                                                      "idle_timeout_ms": 49000}
        assert nodes[node][1] == "online, at boot, dead threshold 27, idle 49 s"
        assert nodes[node][2] == ", ".join(info["exports"]) and "/vol/small/home" in info["exports"]
        assert {p["name"] for p in info["pools"]} == {"vmpool0", "isoimages"}
        assert [n["name"] for n in info["networks"]] == ["192.168.10.0"]


def test_in_json_an_unreachable_node_is_said_so_and_a_split_brain_and_events_are_kept(tmp_path):
    from twonode.report import status_document
    c = load_cluster(ROOT / "inventory.py", ROOT)
    events = tmp_path / "events"
    run_handler(events, "split-brain", "drbd_small")
    seen = seen_converged()
    dmesg = (FIX / "drbd84" / "split_brain_standalone_fiori__dmesg_split-brain.txt").read_text().splitlines()
    proc = (FIX / "drbd84" / "split_brain_standalone_fiori__proc_drbd.txt").read_text().splitlines()
    show = (FIX / "drbd84" / "split_brain_standalone_fiori__drbdsetup_show.txt").read_text().splitlines()
    seen["fiori"]["drbd"] = DrbdResources().process(["@@proc", *proc, "@@json", "@@show", *show, "@@dmesg", *dmesg])
    seen["fiori"]["events"] = DrbdEvents().process(events.read_text().splitlines())
    seen["torchio"] = None
    doc = status_document(c, seen)
    assert doc["nodes"]["torchio"] == {"reachable": False}
    small = {r["node"]: r for r in doc["resources"] if r["resource"] == "drbd_small"}
    assert small["fiori"]["split_brain"] is True and small["fiori"]["connection"] == "StandAlone"
    assert small["torchio"] == {"resource": "drbd_small", "node": "torchio", "up": False}
    assert [m["mounted"] for m in doc["mounts"] if m["node"] == "torchio"] == [None, None, None]
    assert [(e["event"], e["resource"]) for e in doc["events"]] == [("split-brain", "drbd_small")]


def test_a_wrong_shared_secret_is_reported_with_the_way_out():
    from captured import lines
    c = load_cluster(ROOT / "inventory.py", ROOT)
    seen = {node: facts(DrbdResources().process(lines(f"facts/auth-failed_{node}__DrbdResources.txt")))
            for node in ("fiori", "torchio")}
    report = render_status(c, seen)
    assert "drbd_small: AUTHENTICATION FAILED on fiori, torchio" in report
    assert "run the deploy" in report and "SPLIT BRAIN" not in report


def test_split_brain_recovery_moves_the_nfs_server_off_the_node_that_discards():
    # The serving node keeps its volumes busy (the state bound, nfsd): the
    # victim's umount would fail. Its server goes to the survivor first and
    # comes back as a standby after the mount.
    from twonode.report import split_brain_recovery
    c = load_cluster(ROOT / "inventory.py", ROOT)
    seen = seen_converged()
    seen["fiori"]["drbd"] = split_brain_on_fiori()
    lines = split_brain_recovery(c, seen, "fiori").splitlines()
    small = lines[lines.index("umount /vol/small") - 2:]
    assert small[:3] == ["#   on fiori:", "systemctl stop twonode-nfs", "umount /vol/small"], small
    mount = small.index("drbdadm primary drbd_small && mount /vol/small")
    assert small[mount + 1] == "systemctl start twonode-nfs", small


def test_fencing_says_per_node_what_its_peers_bmc_last_answered_in_the_table_and_the_json():
    from facts.fencing import FenceCheck
    from twonode.report import fencing_document, render_fencing, status_document
    c = load_cluster(ROOT / "tests/lab/small/inventory.py", ROOT)
    assert c.fences
    seen = {"fiori": {**facts({}), "fence_check": FenceCheck(1796600000, "on", 1796600000)},
            "torchio": {**facts({}), "fence_check": FenceCheck(1796603600, "off", 1796600000)}}
    doc = fencing_document(c, seen)
    assert doc["fiori"]["result"] == "on" and doc["fiori"]["peer"] == "torchio"
    assert (doc["torchio"]["result"], doc["torchio"]["asked"], doc["torchio"]["last_on"]) == \
        ("off", "2026-12-07T00:33:20Z", "2026-12-06T23:33:20Z")
    # The lab's BMCs have a self-signed certificate, pinned: said so.
    assert doc["fiori"]["tls_verified"] is True and doc["fiori"]["tls_trusts"] == "pinned"
    lines = render_fencing(c, seen).splitlines()
    assert lines[0].startswith("fencing: fiori -> torchio's BMC (fence_redfish, TLS verified against its ca_file")
    assert "answers, torchio on (asked 2026-12-06T23:33:20Z)" in lines[0]
    assert "says OFF at 2026-12-07T00:33:20Z (last on: 2026-12-06T23:33:20Z)" in lines[1]
    assert lines[1] in render_status(c, seen) and status_document(c, seen)["fencing"] == doc
    # Never asked, or a node not reached: said so, never "on".
    seen["fiori"]["fence_check"], seen["torchio"] = None, None
    lines = render_fencing(c, seen).splitlines()
    assert "NEVER ASKED" in lines[0] and "unknown (torchio unreachable)" in lines[1]


def test_a_waiting_node_with_a_consistent_disk_is_not_offered_the_plain_command():
    # The node the peer fenced boots Consistent (power fencing never marks
    # its disk Outdated): the captured waiting node, as such a node sees it.
    c = load_cluster(ROOT / "tests/lab/small/inventory.py", ROOT)
    proc = (FIX / "drbd84" / "booted_link_down_waiting_torchio__proc_drbd.txt").read_text()
    assert "ds:UpToDate/DUnknown" in proc
    show = (FIX / "drbd84" / "booted_link_down_waiting_torchio__drbdsetup_show.txt").read_text().splitlines()
    consistent = DrbdResources().process(["@@proc", *proc.replace("ds:UpToDate/DUnknown", "ds:Consistent/DUnknown")
                                          .splitlines(), "@@json", "@@show", *show, "@@dmesg"])
    report = render_status(c, {"fiori": None, "torchio": facts(consistent)})
    assert "on torchio: twonode-activate --alone --consistent  -- but drbd_small is Consistent there" in report
    assert "that data is OLD" in report
    assert not re.search(r"twonode-activate --alone$", report, re.M), report


def test_fencing_says_against_what_each_node_checks_its_peers_bmc_certificate():
    from facts.fencing import FenceCheck
    from twonode.report import fencing_document, render_fencing
    c = load_cluster(ROOT / "tests/lab/small/inventory.py", ROOT)
    pinned = {"options": {"systems_uri": "/redfish/v1/Systems/fiori"}, "ca_file": "~/site/fiori-bmc.pem"}
    system = {"options": {"systems_uri": "/redfish/v1/Systems/torchio"}, "ca_file": None}
    unverified = {"options": {"ssl_insecure": "1", "systems_uri": "/redfish/v1/Systems/torchio"},
                  "accept_unverified_tls": True, "ca_file": None}
    nodes = [n.model_copy(update={"bmc": n.bmc.model_copy(update=pinned if n.name == "fiori" else system)})
             for n in c.nodes]
    c = c.model_copy(update={"nodes": nodes})
    seen = {n: {**facts({}), "fence_check": FenceCheck(1796600000, "on", 1796600000)} for n in ("fiori", "torchio")}
    doc = fencing_document(c, seen)
    # torchio fences fiori: through fiori's BMC, whose certificate is pinned.
    assert (doc["torchio"]["tls_trusts"], doc["fiori"]["tls_trusts"]) == ("pinned", "system")
    lines = render_fencing(c, seen).splitlines()
    assert lines[1].startswith("fencing: torchio -> fiori's BMC (fence_redfish, TLS verified against its ca_file):")
    assert lines[0].startswith("fencing: fiori -> torchio's BMC (fence_redfish):"), lines
    nodes = [n.model_copy(update={"bmc": n.bmc.model_copy(update=unverified)}) if n.name == "torchio" else n
             for n in c.nodes]
    c = c.model_copy(update={"nodes": nodes})
    assert fencing_document(c, seen)["fiori"]["tls_trusts"] is None
    assert render_fencing(c, seen).startswith("fencing: fiori -> torchio's BMC (fence_redfish, TLS NOT verified")


def test_o2cb_s_running_timeouts_are_shown_with_group_data_s_where_they_differ():
    from captured import converged
    small = load_cluster(ROOT / "tests/lab/small/inventory.py", ROOT)
    seen = {node: {**facts({}), "o2cb": converged(node, "O2cb", "converged-small-trixie")}
            for node in ("fiori", "torchio")}
    nodes = {row[0]: row for row in table_rows(render_status(small, seen), "node ")}
    assert nodes["fiori"][1] == nodes["torchio"][1] == "online, at boot, dead threshold 27, idle 49 s"
    # The admin measured a slower agent; the cluster still runs the old.
    slower = small.model_copy(update={"fencing": small.fencing.model_copy(update={"agent_time": 20,
                                                                                   "race_delay": 25})})
    nodes = {row[0]: row for row in table_rows(render_status(slower, seen), "node ")}
    assert nodes["fiori"][1] == ("online, at boot, dead threshold 27, idle 49 s (group_data: 32, 59 s: "
                                 "docs/operations.md, 'Change the o2cb timeouts')")
