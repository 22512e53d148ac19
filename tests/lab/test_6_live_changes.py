"""group_data changed on a live cluster, as an admin would edit it: the
deploy refuses what it cannot do safely, with the steps, and changes
nothing; what waits for the volumes to be unmounted (o2cb's timeouts) waits,
and takes effect on both nodes once they are. Starts from the converged
small cluster, volumes mounted.
"""

import re

import pytest

from conftest import SMALL, mount_id, nfs_servers, proc_drbd_states, variant, wait_until
from linkcut import lost, start_writers, stop_writers  # lab/linkcut.py
import bmc  # lab/bmc.py


@pytest.fixture(scope="module")
def live(lab):
    lab.restore("converged-small")
    return lab


def state(lab):
    """What a refused change must leave alone: DRBD states (not the I/O
    counters: the o2cb heartbeat writes all the time), mounts, cluster.conf
    and the resource file."""
    return {node: (proc_drbd_states(lab.ssh(node, "cat /proc/drbd")),
                   lab.ssh(node, "findmnt -n -o TARGET -t ocfs2; cat /etc/ocfs2/cluster.conf /etc/drbd.d/*.res"))
            for node in ("fiori", "torchio")}


def test_bmcs_that_cannot_fence_the_peer_stop_the_deploy_and_the_settings_in_use_stay(live, tmp_path, monkeypatch):
    # Two mistakes an admin makes, with a change pending: torchio's
    # systems_uri is copied from fiori's entry, and fiori's BMC password is
    # wrong (what torchio's fence would fail on). The first names a machine
    # that is on, as torchio is, so its status proves nothing: only the
    # system's UUID tells that a fence of torchio would power off fiori,
    # the survivor. (A system that is off, the BMC's spare slot, is another
    # machine's UUID too.)
    before = state(live)
    in_use = {node: live.ssh(node, "sha256sum /etc/twonode/fence/peer-options /etc/twonode/fence/handler.conf")
              for node in ("fiori", "torchio")}
    export = {"path": "/vol/small/pending", "clients": [{"host": "192.168.10.0/24", "options": ["ro"]}]}

    def mistaken(c):
        next(n for n in c["nodes"] if n["name"] == "torchio")["bmc"]["options"]["systems_uri"] = \
            "/redfish/v1/Systems/fiori"
        c["nfs"]["exports"].append(export)
    passwords = tmp_path / "bmc-passwords.toml"
    passwords.write_text(f'fiori = "not-{live.bmc_password()}"\ntorchio = "{live.bmc_password()}"\n')
    passwords.chmod(0o600)
    monkeypatch.setenv("TWONODE_FENCE_PASSWORDS", str(passwords))
    run = live.deploy(inventory=variant(tmp_path, mistaken))
    assert run.returncode != 0, run
    assert ("check: torchio's BMC settings name another machine: the system /redfish/v1/Systems/fiori there "
            f"has UUID {bmc.system_uuid('fiori')}, and torchio's own is {bmc.system_uuid('torchio')}") \
        in run.output, run
    assert "check: fiori's BMC did not answer fence_redfish status" in run.output, run
    assert live.bmc_password() not in run.output
    # Nothing but the check's own staging ran; the settings in use are the
    # ones that worked, and nothing else changed anywhere.
    assert [op for op in run.changed_ops if not re.search(r"(^|\| )fencing: ", op)] == [], run.changed_ops
    for node in ("fiori", "torchio"):
        assert live.ssh(node, "sha256sum /etc/twonode/fence/peer-options /etc/twonode/fence/handler.conf") \
            == in_use[node]
        assert live.ssh(node, "test -e /etc/twonode/fence.new || test -e /vol/small/pending && echo left "
                              "|| echo none").strip() == "none"
    assert state(live) == before
    # The right ones pass, and find nothing to change.
    monkeypatch.delenv("TWONODE_FENCE_PASSWORDS")
    again = live.deploy(inventory=SMALL)
    assert again.returncode == 0 and again.changed_ops == [], again


def test_a_pinned_certificate_that_is_not_the_bmcs_stops_the_deploy(live, tmp_path):
    # Another certificate for the same name, as a BMC replaced or an
    # impostor on the management network would present: fiori no longer
    # trusts torchio's BMC, and the settings that worked stay.
    impostor, _ = bmc.certificate(tmp_path / "impostor")  # made as the lab BMC's own is
    in_use = live.ssh("fiori", "sha256sum /etc/twonode/fence/*")
    assert "/etc/twonode/fence/bmc-ca.pem" in in_use

    def impostors(c):
        next(n for n in c["nodes"] if n["name"] == "torchio")["bmc"]["ca_file"] = str(impostor)
    run = live.deploy(inventory=variant(tmp_path, impostors))
    assert run.returncode != 0, run
    assert "check: torchio's BMC did not answer fence_redfish status: unreachable, wrong password, " \
           "a certificate that bmc-ca.pem does not vouch for or wrong system?" in run.output, run
    assert [op for op in run.changed_ops if not re.search(r"(^|\| )fencing: ", op)] == [], run.changed_ops
    assert live.ssh("fiori", "sha256sum /etc/twonode/fence/*") == in_use
    assert live.ssh("fiori", "test -e /etc/twonode/fence.new && echo left || echo none").strip() == "none"


def test_the_preflight_passes_and_names_a_port_the_peer_drops(live):
    run = live.pyinfra("tasks/check.py", inventory=SMALL)
    assert run.returncode == 0, run
    for check in ("root", "host name", "release", "volume group", "NICs", "ports on torchio", "ports on fiori",
                  "torchio's BMC", "fiori's BMC"):
        assert re.search(rf"^ +{re.escape(check)} +pass ", run.output, re.M), (check, run.output)
    # torchio's firewall drops new connections to SSH on its cluster
    # address from fiori (live migration's way in): the established ones,
    # DRBD's and o2cb's, go on.
    drop = "INPUT -s 192.168.3.6 -d 192.168.3.7 -p tcp --syn --dport 22 -j DROP"
    live.ssh("torchio", f"iptables -I {drop}")
    try:
        before = state(live)
        run = live.pyinfra("tasks/check.py", inventory=SMALL)
        assert run.returncode != 0, run
        assert "the preflight failed:" in run.output, run
        assert "fiori: ports on torchio: from 192.168.3.6 to 192.168.3.7: TCP 22 (SSH (live migration)): " \
               "timeout" in run.output, run
        assert "torchio: ports on fiori" not in run.output and "Beginning operation run" not in run.output, run
        assert state(live) == before
    finally:
        live.ssh("torchio", f"iptables -D {drop}")


def test_swapping_the_node_order_never_renumbers_a_live_o2cb(live, tmp_path):
    before = state(live)
    run = live.deploy(inventory=variant(tmp_path, lambda c: c["nodes"].reverse()))
    assert run.returncode != 0, run
    assert "o2cb runs with nodes 1:fiori@192.168.3.6:7777, 2:torchio@192.168.3.7:7777" in run.output, run
    assert "group_data gives 1:torchio@192.168.3.7:7777, 2:fiori@192.168.3.6:7777" in run.output, run
    assert "Beginning operation run" not in run.output, run
    assert state(live) == before


def test_a_release_twonode_does_not_know_is_refused_before_anything_runs(live, tmp_path):
    # fiori as the next Debian testing would say it is (no VERSION_ID), and
    # a group_data change pending: nothing of it may reach either node.
    live.ssh("fiori", "cp /etc/os-release /root/os-release.lab && "
                      "sed -i 's/trixie/forky/g; s/bookworm/forky/g; /^VERSION_ID=/d' /etc/os-release")
    try:
        before = state(live)
        export = {"path": "/vol/small/pending", "clients": [{"host": "192.168.10.0/24", "options": ["ro"]}]}
        run = live.deploy(inventory=variant(tmp_path, lambda c: c["nfs"]["exports"].append(export)))
        assert run.returncode != 0, run
        assert "fiori: it runs Debian GNU/Linux" in run.output and "VERSION_CODENAME=forky" in run.output, run
        assert "twonode deploys Debian 12 (bookworm) and Debian 13 (trixie) only" in run.output, run
        assert "Beginning operation run" not in run.output, run
        assert state(live) == before
        for node in ("fiori", "torchio"):  # not even on the node twonode knows
            assert live.ssh(node, "test -e /vol/small/pending && echo there || echo absent").strip() == "absent"
    finally:
        live.ssh("fiori", "mv /root/os-release.lab /etc/os-release")
    again = live.deploy(inventory=SMALL)
    assert again.returncode == 0 and again.changed_ops == [], again


NEW_VOLUME = {"name": "new", "size": "256m", "mount_point": "/vol/new", "fs_type": "mail",
              "minor": 1, "port": 7791}


def test_never_used_metadata_beside_a_filesystem_is_refused(live, tmp_path):
    # Somebody's XFS on an LV (smaller than the LV, as after an lvextend,
    # so drbdmeta's own check lets it through), then create-md over it: its
    # identifiers say "never used", which alone would pass for a new side.
    for node in ("fiori", "torchio"):
        live.ssh(node, "lvcreate -q -y -L 320m -n extra vg0 && mkfs.xfs -q -d size=300m /dev/vg0/extra && "
                       "drbdmeta --force 9 v08 /dev/vg0/extra internal create-md >/dev/null 2>&1")
    signatures = live.ssh("fiori", "wipefs --no-act --noheadings /dev/vg0/extra")
    assert "xfs" in signatures and "drbd" in signatures, signatures
    extra = dict(NEW_VOLUME, name="extra", mount_point="/vol/extra", minor=9, port=7799, size="320m")
    run = live.deploy(inventory=variant(tmp_path, lambda c: c["replicated_volumes"].append(extra)))
    assert run.returncode != 0, run
    assert "beside DRBD metadata that never held replicated data" in run.output, run
    assert "Beginning operation run" not in run.output, run
    assert live.ssh("fiori", "wipefs --no-act --noheadings /dev/vg0/extra") == signatures
    for node in ("fiori", "torchio"):
        live.ssh(node, "lvremove -q -y vg0/extra")


RECONNECTS = "dmesg | grep -c 'drbd_small: conn(' || true"


def test_a_volume_inserted_at_the_top_leaves_the_live_one_alone(live, tmp_path):
    resfile = {node: live.ssh(node, "sha256sum /etc/drbd.d/drbd_small.res") for node in ("fiori", "torchio")}
    reconnects = {node: live.ssh(node, RECONNECTS) for node in ("fiori", "torchio")}
    run = live.deploy(inventory=variant(tmp_path, lambda c: c["replicated_volumes"].insert(0, NEW_VOLUME)))
    assert run.returncode == 0, run
    assert not [op for op in run.started_ops if "drbd_small" in op], run.started_ops
    for node in ("fiori", "torchio"):
        assert live.ssh(node, "sha256sum /etc/drbd.d/drbd_small.res") == resfile[node]
        states = proc_drbd_states(live.ssh(node, "cat /proc/drbd"))
        assert states == [("Connected", "Primary/Primary", "UpToDate/UpToDate")] * 2, states
        assert {"/vol/small", "/vol/new"} <= set(live.ssh(node, "findmnt -n -o TARGET -t ocfs2").split())
        # drbd_small never left Connected: no adjust, no reconnect.
        assert live.ssh(node, RECONNECTS) == reconnects[node]


def with_new_volume(c):
    c["replicated_volumes"].insert(0, NEW_VOLUME)


def test_removing_a_volume_from_group_data_tears_nothing_down(live, tmp_path):
    def remove_the_volumes(c):
        c["replicated_volumes"] = []
        c["nfs"]["exports"] = []
    before = state(live)
    run = live.deploy(inventory=variant(tmp_path, remove_the_volumes))
    assert run.returncode == 0, run
    for name in ("drbd_small", "drbd_new"):
        assert f"{name} is up but not in group_data: left as it is" in run.output, run
    assert state(live) == before
    for node in ("fiori", "torchio"):
        assert "/vol/small" in state(live)[node][1] and "resource drbd_small" in state(live)[node][1]


def test_the_volumes_put_back_are_managed_again_and_then_nothing_changes(live, tmp_path):
    inventory = variant(tmp_path, with_new_volume)
    run = live.deploy(inventory=inventory)
    assert run.returncode == 0 and "not in group_data" not in run.output, run
    assert "/vol/small/home" in live.ssh("fiori", "exportfs -v")
    again = live.deploy(inventory=inventory)
    assert again.returncode == 0 and again.changed_ops == [], again


def with_small_at(size):
    def edit(c):
        with_new_volume(c)
        next(v for v in c["replicated_volumes"] if v["name"] == "small")["size"] = size
    return edit


def mount_ids(live, node):
    """The mount ID of each OCFS2 mount: a new one after any unmount."""
    return live.ssh(node, "grep ' - ocfs2 ' /proc/self/mountinfo | awk '{print $1, $5}' | sort")


RESYNCS = "dmesg | grep -c 'drbd_small.*Began resync' || true"


def sizes_mib(live, node):
    """The DRBD device's and the mounted filesystem's size, in MiB."""
    return tuple(int(x) / 2**20 for x in live.ssh(
        node, "blockdev --getsize64 /dev/drbd_small; df -B1 --output=size /vol/small | tail -1").split())


def test_a_raised_size_grows_the_mounted_volume_under_writers_on_both_nodes(live, tmp_path):
    live.ssh("fiori", "head -c 16M /dev/urandom > /vol/small/known && sync")
    known = live.ssh("torchio", "sha256sum /vol/small/known").split()[0]
    nodes = ("fiori", "torchio")
    before = {n: (mount_ids(live, n), live.ssh(n, "exportfs -v"), live.ssh(n, RESYNCS)) for n in nodes}
    (tmp_path / "320").mkdir(), (tmp_path / "384").mkdir()
    at_320, at_384 = (variant(tmp_path / size, with_small_at(f"{size}m")) for size in ("320", "384"))
    start_writers(live.ssh)
    try:
        # A grow cut short after DRBD (the drbd task alone, as an admin may
        # run it): the next deploy finishes it. Then one in a single deploy.
        first = live.pyinfra("tasks/drbd.py", inventory=at_320)
        halfway = {n: sizes_mib(live, n) for n in nodes}
        second = live.deploy(inventory=at_320)
        run = live.deploy(inventory=at_384)
    finally:
        stop_writers(live.ssh)
    for done in (first, second, run):
        assert done.returncode == 0, done
    for node in nodes:
        device, filesystem = halfway[node]
        assert 319 < device <= 320 and 255 < filesystem <= 256, (node, halfway[node])
    assert [op for op in run.changed_ops if "drbd_small" in op or "/dev/drbd_small" in op], run
    for node in nodes:
        device, filesystem = sizes_mib(live, node)
        assert 383 < filesystem <= device <= 384, (node, device, filesystem)
        assert live.ssh(node, "sha256sum /vol/small/known").split()[0] == known
        states = proc_drbd_states(live.ssh(node, "cat /proc/drbd"))
        assert states == [("Connected", "Primary/Primary", "UpToDate/UpToDate")] * 2, states
        # Mounted and exported all along, and no resync at all: the new area
        # was written through DRBD, never synced.
        assert (mount_ids(live, node), live.ssh(node, "exportfs -v"), live.ssh(node, RESYNCS)) == before[node]
        assert "Resync of new storage suppressed" in live.ssh(node, "dmesg | grep drbd_small")
    for writer in nodes:
        for reader in nodes:
            assert lost(live.ssh, writer, reader) == [], (writer, reader)
    again = live.deploy(inventory=at_384)
    assert again.returncode == 0 and again.changed_ops == [], again


def test_a_smaller_size_is_refused_before_anything_runs(live, tmp_path):
    before = state(live)
    run = live.deploy(inventory=variant(tmp_path, with_small_at("256m")))
    assert run.returncode != 0, run
    assert "drbd_small: size 256m is smaller than its LV on fiori (384 MiB)" in run.output, run
    assert "Beginning operation run" not in run.output, run
    assert state(live) == before


def test_a_size_the_volume_groups_cannot_hold_is_refused_before_anything_runs(live, tmp_path):
    before = state(live)
    run = live.deploy(inventory=variant(tmp_path, with_small_at("100g")))
    assert run.returncode != 0, run
    assert "drbd_small: size 100g needs" in run.output and "Nothing was changed" in run.output, run
    assert "Beginning operation run" not in run.output, run
    assert state(live) == before


def test_a_volume_retired_by_name_goes_and_the_live_one_is_left_alone(live, tmp_path):
    # "new" has left group_data; "small" stays, grown, served, written to.
    inventory = variant(tmp_path, lambda c: c["replicated_volumes"][0].update(size="384m"))
    nodes = ("fiori", "torchio")
    small = mount_id("/vol/small") + "; sha256sum /etc/drbd.d/drbd_small.res; exportfs -v; " + RECONNECTS
    before = {n: live.ssh(n, small) for n in nodes}
    fences = live.bmc_actions()
    start_writers(live.ssh)
    try:
        run = live.pyinfra("tasks/retire.py", "--data", "retire=new", inventory=inventory)
    finally:
        stop_writers(live.ssh)
    assert run.returncode == 0, run
    assert "retiring new keeps its LV /dev/vg0/new" in run.output and "lvremove vg0/new" in run.output, run
    for node in nodes:
        assert live.ssh(node, small) == before[node]
        states = proc_drbd_states(live.ssh(node, "cat /proc/drbd"))
        assert states == [("Connected", "Primary/Primary", "UpToDate/UpToDate")], states
        # The volumes mounted (the NFS server's node also has its state,
        # /var/lib/nfs, bound from /vol/small).
        assert [m for m in live.ssh(node, "findmnt -n -o TARGET -t ocfs2").split()
                if m.startswith("/vol/")] == ["/vol/small"]
        assert live.ssh(node, "ls /etc/drbd.d/*.res; grep -c drbd_new /etc/fstab /etc/twonode/volumes || true") == (
            "/etc/drbd.d/drbd_small.res\n/etc/fstab:0\n/etc/twonode/volumes:0\n")
        assert live.ssh(node, "lvs --noheadings -o lv_name vg0/new").strip() == "new"
    for writer in nodes:
        assert lost(live.ssh, writer, "torchio") == [], writer
    assert live.bmc_actions() == fences  # nobody was fenced
    again = live.deploy(inventory=inventory)
    assert again.returncode == 0 and again.changed_ops == [] and "not in group_data" not in again.output, again


def o2cb_timeouts(lab) -> dict[str, tuple[str, ...]]:
    """Each node's running o2cb timeouts (configfs), then its defaults file's."""
    return {node: tuple(lab.ssh(node, "cat /sys/kernel/config/cluster/ocfs2/heartbeat/dead_threshold "
                                      "/sys/kernel/config/cluster/ocfs2/idle_timeout_ms; "
                                      "sed -n 's/^O2CB_\\(HEARTBEAT_THRESHOLD\\|IDLE_TIMEOUT_MS\\)=//p' "
                                      "/etc/default/o2cb").split())
            for node in ("fiori", "torchio")}


def test_new_o2cb_timeouts_wait_until_neither_node_has_a_volume_mounted_then_both_take_them(live, tmp_path):
    # The admin timed the BMC's agent slower than thought: agent_time 20,
    # race_delay 25. The longest fence becomes 4 + 25 + 20 = 49 s, so o2cb
    # needs a dead threshold of 32 and an idle timeout of 59 s (it runs 27
    # and 49 s). (The volume as the test before left it: grown, "new" gone.)
    def slower_agent(c):
        c["replicated_volumes"][0].update(size="384m")
        c["fencing"].update(agent_time=20, race_delay=25)
    inventory = variant(tmp_path, slower_agent)
    before = state(live)
    run = live.deploy(inventory=inventory)
    assert run.returncode == 0, run
    assert "o2cb runs with dead_threshold 27 and idle_timeout_ms 49000; group_data gives 32 and 59000" in run.output
    # Mounted: o2cb runs on as it was, and its defaults file still says so,
    # for a node that reboots meanwhile.
    assert o2cb_timeouts(live) == {node: ("27", "49000", "27", "49000") for node in ("fiori", "torchio")}
    assert state(live) == before
    # The operator's steps (docs/operations.md, "Change the o2cb timeouts").
    for node in ("fiori", "torchio"):
        live.ssh(node, "systemctl stop twonode-nfs && umount /vol/small")
    run = live.deploy(inventory=inventory)
    assert run.returncode == 0, run
    assert any("o2cb restarted with dead_threshold 32 and idle_timeout_ms 59000" in op for op in run.changed_ops), run
    assert o2cb_timeouts(live) == {node: ("32", "59000", "32", "59000") for node in ("fiori", "torchio")}
    for node in ("fiori", "torchio"):
        assert proc_drbd_states(live.ssh(node, "cat /proc/drbd")) == [
            ("Connected", "Primary/Primary", "UpToDate/UpToDate")]
        assert "/vol/small" in live.ssh(node, "findmnt -n -o TARGET -t ocfs2").split()
    # twonode-nfs, started again by the deploy, takes the lock and serves
    # on one node a few seconds later.
    wait_until(lambda: len(nfs_servers(live)) == 1, timeout=120, interval=2)
    again = live.deploy(inventory=inventory)
    assert again.returncode == 0 and again.changed_ops == [], again
