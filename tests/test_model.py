"""The cluster description's validation (twonode/model/, twonode/loader.py).

Every bad case is the example in group_data/all.py with one mutation; the
test asserts on the text the user sees (config.validate's formatted error):
the line for the field that is wrong must say how to fix it.
"""

from __future__ import annotations

import copy
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from twonode.loader import ClusterConfigError, load_cluster, validate
from twonode.model import Cluster

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_FILE = REPO / "group_data" / "all.py"
EXAMPLE = runpy.run_path(str(EXAMPLE_FILE))["cluster"]


def example() -> dict:
    return copy.deepcopy(EXAMPLE)


def error_lines(raw: dict) -> list[str]:
    """The per-field lines of the formatted error, without the indentation."""
    with pytest.raises(ClusterConfigError) as info:
        validate(raw)
    text = str(info.value)
    header, *lines = text.splitlines()
    assert header.startswith("group_data: the cluster description is invalid")
    assert "nothing was run" in header
    return [line.strip() for line in lines]


# --- the bad corpus ------------------------------------------------------------
# Each entry: (id, mutation of the example, field path after "cluster.", a
# fragment of the message for that field that says what to do).


def rv(c, i):
    return c["replicated_volumes"][i]


def node(c, i):
    return c["nodes"][i]


def set_(path, value):
    """A mutation that sets c[path...] = value."""
    def mutate(c):
        target = c
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


def both(*mutations):
    def mutate(c):
        for m in mutations:
            m(c)
    return mutate


def rename_key(path, old, new):
    def mutate(c):
        target = c
        for key in path:
            target = target[key]
        target[new] = target.pop(old)
    return mutate


def delete(path):
    def mutate(c):
        target = c
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return mutate


def add_option(export, client, option):
    def mutate(c):
        cl = c["nfs"]["exports"][export]["clients"][client]
        # The example shares the RW/RO lists between clients: replace, never append.
        cl["options"] = cl["options"] + [option]
    return mutate


def drop_node(c):
    del c["nodes"][1]


def third_node(c):
    c["nodes"].append({"name": "third", "ssh_host": "third", "cluster_address": "192.168.3.8",
                       "nics": {"eth1": "52:54:00:00:03:01"}})


BAD = [
    # Fencing: the waiting node's fence starts after first_node's has landed,
    # and o2cb's timeouts hold the longest fence (4 + 20 + 15 = 39 s here).
    ("race-delay-shorter-than-the-agent",
     set_(["fencing", "race_delay"], 19),
     "fencing.race_delay", "19 s is too short for an agent that takes 15 s (agent_time)"),
    ("race-delay-says-the-bound",
     set_(["fencing", "race_delay"], 19),
     "fencing.race_delay", "Use at least 20 s"),
    ("race-delay-too-short",
     set_(["fencing", "race_delay"], 2),
     "fencing.race_delay", "greater than or equal to 5"),
    ("race-delay-too-long",
     set_(["fencing", "race_delay"], 121),
     "fencing.race_delay", "less than or equal to 120"),
    ("agent-time-too-long",
     set_(["fencing", "agent_time"], 61),
     "fencing.agent_time", "less than or equal to 60"),
    ("dead-threshold-below-the-fence",
     set_(["o2cb"], {"dead_threshold": 26}),
     "o2cb.dead_threshold", "26 is too low: when first_node is lost, its peer holds every write for up to 39 s"),
    ("dead-threshold-says-the-least",
     set_(["o2cb"], {"dead_threshold": 26}),
     "o2cb.dead_threshold", "Use at least 27, or omit it"),
    ("idle-timeout-below-the-fence",
     set_(["o2cb"], {"idle_timeout_ms": 30000}),
     "o2cb.idle_timeout_ms", "Use at least 49000, or omit it"),
    # DRBD minors and ports
    ("duplicate-minor",
     both(set_(["replicated_volumes", 0, "minor"], 5), set_(["replicated_volumes", 1, "minor"], 5)),
     "replicated_volumes.1.minor", "DRBD minor 5 is used twice: give each volume its own minor"),
    ("duplicate-port",
     both(set_(["replicated_volumes", 0, "port"], 7800), set_(["replicated_volumes", 2, "port"], 7800)),
     "replicated_volumes.2.port", "DRBD port 7800 is used twice: give each volume its own port"),
    ("drbd-port-is-o2cb-port",
     set_(["replicated_volumes", 0, "port"], 7777),
     "replicated_volumes.0.port", "is o2cb.port (the OCFS2 heartbeat): pick another port"),
    ("drbd-port-is-custom-o2cb-port",
     both(set_(["o2cb"], {"port": 7801}), set_(["replicated_volumes", 1, "port"], 7801)),
     "replicated_volumes.1.port", "is o2cb.port"),
    ("port-below-1024",
     set_(["replicated_volumes", 0, "port"], 80),
     "replicated_volumes.0.port", "greater than or equal to 1024"),
    ("suggested-port-beyond-65535",
     both(set_(["replicated_volumes", 0, "minor"], 60000), delete(["replicated_volumes", 0, "port"])),
     "replicated_volumes.0.port", '"minor": 60000 and a free port of your choice'),
    ("negative-minor",
     set_(["replicated_volumes", 0, "minor"], -1),
     "replicated_volumes.0.minor", "greater than or equal to 0"),
    ("bad-after-sb-0pri",
     set_(["drbd"], {"after_sb_0pri": "discard-younger"}),
     "drbd.after_sb_0pri", "Input should be 'disconnect' or 'discard-zero-changes'"),
    # Policies that discard a side with changes: refused, with why.
    ("seed-after-sb-1pri-discards-the-secondary",
     set_(["drbd"], {"after_sb_1pri": "discard-secondary"}),
     "drbd.after_sb_1pri", "discards the changes of the node that is Secondary, as every node is right after "
                           "a boot: twonode never discards a side with changes automatically. Use 'disconnect'"),
    ("after-sb-0pri-least-changes",
     set_(["drbd"], {"after_sb_0pri": "discard-least-changes"}),
     "drbd.after_sb_0pri", "or the default 'discard-zero-changes'"),
    ("after-sb-2pri-pri-lost",
     set_(["drbd"], {"after_sb_2pri": "call-pri-lost-after-sb"}),
     "drbd.after_sb_2pri", "discards the changes of one Primary and reboots it"),
    ("after-sb-2pri-unknown",
     set_(["drbd"], {"after_sb_2pri": "discard-secondary-ish"}),
     "drbd.after_sb_2pri", "Input should be 'disconnect'"),
    ("removed-wfc-timeout",
     set_(["drbd"], {"wfc_timeout": 120}),
     "drbd.wfc_timeout", "is no longer a setting: a booting node no longer promotes itself"),
    ("removed-become-primary-on-both",
     set_(["drbd"], {"become_primary_on_both": True}),
     "drbd.become_primary_on_both", "`twonode-activate --alone` is the operator's word"),
    ("bad-drbd-protocol",
     set_(["drbd"], {"protocol": "A"}),
     "drbd.protocol", "Input should be 'C'"),
    # volumes: names
    ("duplicate-name-local-and-replicated",
     set_(["local_volumes", 0, "name"], "small"),
     "replicated_volumes.0.name", "share one LV namespace in the volume group): rename one"),
    ("duplicate-name-replicated",
     set_(["replicated_volumes", 2, "name"], "small"),
     "replicated_volumes.2.name", "volume name 'small' is used twice"),
    ("volume-name-upper-case",
     set_(["replicated_volumes", 0, "name"], "Small"),
     "replicated_volumes.0.name", "use 1-32 lower-case letters, digits or '_', starting with a letter"),
    ("volume-name-leading-digit",
     set_(["local_volumes", 0, "name"], "1abc"),
     "local_volumes.0.name", "starting with a letter"),
    ("volume-name-dash",
     set_(["replicated_volumes", 1, "name"], "a-b"),
     "replicated_volumes.1.name", "'a-b' is not a valid volume name"),
    ("volume-name-too-long",
     set_(["replicated_volumes", 0, "name"], "a" * 33),
     "replicated_volumes.0.name", "use 1-32 lower-case letters"),
    ("volume-name-empty",
     set_(["local_volumes", 0, "name"], ""),
     "local_volumes.0.name", "is not a valid volume name"),
    # volumes: sizes
    ("size-no-unit",
     set_(["replicated_volumes", 0, "size"], "200"),
     "replicated_volumes.0.size", "'200' has no unit: add k, m, g or t"),
    ("size-no-unit-local",
     set_(["local_volumes", 0, "size"], "200"),
     "local_volumes.0.size", "e.g. '200g'"),
    ("size-bad-unit",
     set_(["replicated_volumes", 0, "size"], "2x"),
     "replicated_volumes.0.size", "'2x' is not a size: write a whole number with an optional unit"),
    ("size-negative",
     set_(["local_volumes", 0, "size"], "-1g"),
     "local_volumes.0.size", "'-1g' is not a size"),
    ("size-fraction",
     set_(["replicated_volumes", 0, "size"], "1.5g"),
     "replicated_volumes.0.size", "is not a size: write a whole number"),
    ("size-zero",
     set_(["replicated_volumes", 1, "size"], "0g"),
     "replicated_volumes.1.size", "'0g' is zero: give the volume a positive size"),
    ("size-replicated-bare-10",
     set_(["replicated_volumes", 2, "size"], "10"),
     "replicated_volumes.2.size", "has no unit"),
    ("size-replicated-too-small",
     set_(["replicated_volumes", 2, "size"], "10m"),
     "replicated_volumes.2.size", "too small for a replicated volume (DRBD metadata and OCFS2 journals"),
    ("size-not-a-string",
     set_(["replicated_volumes", 0, "size"], 200),
     "replicated_volumes.0.size", "Input should be a valid string"),
    # volumes: mount points and fs_type
    ("duplicate-mount-point",
     set_(["local_volumes", 0, "mount_point"], "/vol/small"),
     "replicated_volumes.0.mount_point", "is used by two volumes: give each volume its own"),
    ("nested-mount-point",
     set_(["local_volumes", 0, "mount_point"], "/vol/pub/local"),
     "local_volumes.0.mount_point", "lies inside '/vol/pub'"),
    ("nested-mount-point-outer-listed-later",
     set_(["replicated_volumes", 0, "mount_point"], "/vol/local/small"),
     "replicated_volumes.0.mount_point", "mount them side by side"),
    ("relative-mount-point",
     set_(["replicated_volumes", 0, "mount_point"], "vol/small"),
     "replicated_volumes.0.mount_point", "give an absolute, normalised path"),
    ("root-mount-point",
     set_(["local_volumes", 0, "mount_point"], "/"),
     "local_volumes.0.mount_point", "other than '/'"),
    ("fs-type-unknown",
     set_(["replicated_volumes", 0, "fs_type"], "ext4"),
     "replicated_volumes.0.fs_type", "Input should be 'mail', 'datafiles' or 'vmstore'"),
    ("vmstore-below-2g",
     set_(["replicated_volumes", 1, "size"], "2g"),
     "replicated_volumes.1.size", "mkfs.ocfs2 -T vmstore needs a DRBD device of at least 2 GiB"),
    # nodes
    ("one-node", drop_node,
     "nodes", "1 node(s) given: a twonode cluster has exactly two nodes"),
    ("three-nodes", third_node,
     "nodes", "3 node(s) given: a twonode cluster has exactly two nodes"),
    ("duplicate-node-name",
     set_(["nodes", 1, "name"], "fiori"),
     "nodes.1.name", "name 'fiori' is used twice: give each node its own host name"),
    ("node-name-fqdn",
     set_(["nodes", 0, "name"], "fiori.example.org"),
     "nodes.0.name", "it must be the node's short host name"),
    ("cluster-address-outside-network",
     set_(["nodes", 1, "cluster_address"], "192.168.4.7"),
     "nodes.1.cluster_address", "is outside cluster_network.network 192.168.3.0/24: use an address in that network"),
    ("cluster-address-is-network-address",
     set_(["nodes", 0, "cluster_address"], "192.168.3.0"),
     "nodes.0.cluster_address", "is the network or broadcast address of 192.168.3.0/24: use a host address"),
    ("cluster-address-is-broadcast",
     set_(["nodes", 1, "cluster_address"], "192.168.3.255"),
     "nodes.1.cluster_address", "use a host address"),
    ("cluster-address-same-on-both",
     set_(["nodes", 1, "cluster_address"], "192.168.3.6"),
     "nodes.1.cluster_address", "both nodes have the same cluster address: give each its own"),
    ("cluster-address-not-an-address",
     set_(["nodes", 0, "cluster_address"], "192.168.3"),
     "nodes.0.cluster_address", "valid IPv4 address"),
    ("cluster-address-missing",
     delete(["nodes", 0, "cluster_address"]),
     "nodes.0.cluster_address", "Field required"),
    ("mac-too-short",
     set_(["nodes", 0, "nics", "eth1"], "52:54:00:00:01"),
     "nodes.0.nics.eth1", "is not a MAC address: write six lower-case hex pairs separated by ':'"),
    ("mac-not-hex",
     set_(["nodes", 1, "nics", "eth2"], "52:54:00:00:02:0g"),
     "nodes.1.nics.eth2", "is not a MAC address"),
    ("mac-twice-on-a-node",
     set_(["nodes", 1, "nics", "eth2"], "52:54:00:00:02:01"),
     "nodes.1.nics", "a MAC is given for two names: one name per NIC"),
    ("no-mac-for-cluster-interface",
     delete(["nodes", 0, "nics", "eth1"]),
     "nodes.0.nics", "no MAC for the cluster interface 'eth1' (cluster_network.interface): add \"eth1\": \"<mac>\""),
    ("cluster-interface-renamed",
     set_(["cluster_network", "interface"], "eth3"),
     "nodes.0.nics", "no MAC for the cluster interface 'eth3'"),
    ("ssh-port-zero",
     set_(["nodes", 0, "ssh_port"], 0),
     "nodes.0.ssh_port", "greater than or equal to 1"),
    ("unknown-first-node",
     set_(["first_node"], "pitti"),
     "first_node", "'pitti' is not a node name: use one of ['fiori', 'torchio']"),
    # misspelt keys
    ("typo-in-node",
     rename_key(["nodes", 0], "cluster_address", "cluster_adress"),
     "nodes.0.cluster_adress", "unknown key 'cluster_adress': did you mean 'cluster_address'?"),
    ("typo-at-top-level",
     rename_key([], "replicated_volumes", "replicated_volume"),
     "replicated_volume", "did you mean 'replicated_volumes'?"),
    ("typo-in-volume",
     rename_key(["replicated_volumes", 1], "mount_point", "mountpoint"),
     "replicated_volumes.1.mountpoint", "did you mean 'mount_point'?"),
    ("unknown-key-nothing-close",
     set_(["libvirt", "zzz"], 1),
     "libvirt.zzz", "unknown key 'zzz': remove it (known keys: pools, networks"),
    # NFS
    ("export-not-under-a-mount",
     set_(["nfs", "exports", 0, "path"], "/srv/home"),
     "nfs.exports.0.path", "'/srv/home' is not under a configured volume mount"),
    ("export-prefix-is-not-a-parent",
     set_(["nfs", "exports", 1, "path"], "/vol/public"),
     "nfs.exports.1.path", "export a path inside a volume"),
    ("export-option-typo",
     add_option(0, 0, "no_root_sqash"),
     "nfs.exports.0.clients.0.options", "'no_root_sqash' is not an exports(5) option: use e.g. rw, ro"),
    ("export-option-unknown-value",
     add_option(1, 2, "uid=0"),
     "nfs.exports.1.clients.2.options", "'uid=0' is not an exports(5) option"),
    ("export-rw-and-ro",
     add_option(0, 2, "rw"),
     "nfs.exports.0.clients.2.options", "both 'rw' and 'ro' given: keep one"),
    ("export-without-clients",
     set_(["nfs", "exports", 2, "clients"], []),
     "nfs.exports.2.clients", "at least 1 item"),
    ("nfs-server-address-not-on-a-libvirt-network",
     set_(["nfs", "server_address"], "192.168.20.1/24"),
     "nfs.server_address", "is not the address of any libvirt.networks entry"),
    ("nfs-server-address-other-prefix",
     set_(["nfs", "server_address"], "192.168.10.1/16"),
     "nfs.server_address", "add one (or fix the address)"),
    # libvirt
    ("libvirt-network-overlaps-cluster-network",
     both(set_(["libvirt", "networks", 0, "address"], "192.168.3.1/24"),
          set_(["nfs", "server_address"], "192.168.3.1/24")),
     "libvirt.networks.0.address", "overlaps the cluster network 192.168.3.0/24: use a separate private network"),
    ("libvirt-network-contains-cluster-network",
     both(set_(["libvirt", "networks", 0, "address"], "192.168.10.1/16"),
          set_(["cluster_network", "network"], "192.168.3.0/24")),
     "libvirt.networks.0.address", "overlaps the cluster network"),
    ("duplicate-pool-name",
     set_(["libvirt", "pools", 1, "name"], "vmpool0"),
     "libvirt.pools.1.name", "name 'vmpool0' is used twice: give each its own name"),
    ("duplicate-network-bridge",
     lambda c: c["libvirt"]["networks"].append(
         {"name": "other", "bridge": "virbr0", "mac": "52:54:00:81:cd:09", "address": "192.168.11.1/24"}),
     "libvirt.networks.1.bridge", "bridge 'virbr0' is used twice: give each network its own bridge"),
    ("ssh-key-without-type",
     set_(["libvirt", "ssh_authorized_keys"], ["AAAAC3NzaC1lZDI1NTE5AAAAIFoo user@host"]),
     "libvirt.ssh_authorized_keys", "is not an OpenSSH public key line: paste the whole line of the .pub file"),
    ("ssh-key-private-key",
     set_(["libvirt", "ssh_authorized_keys"], ["-----BEGIN OPENSSH PRIVATE KEY-----"]),
     "libvirt.ssh_authorized_keys", "'ssh-ed25519 AAAA... user@host'"),
    ("virt-network-bad-mac",
     set_(["libvirt", "networks", 0, "mac"], "52-54-00-81-cd-08"),
     "libvirt.networks.0.mac", "is not a MAC address"),
    # values that reach a shell, fstab, exports, udev or a resource file
    ("mount-point-with-semicolon",
     set_(["local_volumes", 0, "mount_point"], "/vol/a;reboot"),
     "local_volumes.0.mount_point", "use only letters, digits and '.', '_', '-', '@', '+' between the slashes"),
    ("mount-point-with-command-substitution",
     set_(["local_volumes", 0, "mount_point"], "/vol/$(reboot)"),
     "local_volumes.0.mount_point", "not write into fstab, exports or a shell command"),
    ("mount-point-with-blank",
     set_(["local_volumes", 0, "mount_point"], "/vol/a b"),
     "local_volumes.0.mount_point", "e.g. '/vol/small'"),
    ("mount-point-with-backquote",
     set_(["replicated_volumes", 0, "mount_point"], "/vol/`id`"),
     "replicated_volumes.0.mount_point", "between the slashes"),
    ("mount-point-with-newline",
     set_(["replicated_volumes", 1, "mount_point"], "/vol/a\n/b"),
     "replicated_volumes.1.mount_point", "between the slashes"),
    ("mount-point-with-quote",
     set_(["replicated_volumes", 2, "mount_point"], "/vol/it's"),
     "replicated_volumes.2.mount_point", "between the slashes"),
    ("pool-target-with-semicolon",
     set_(["libvirt", "pools", 0, "target"], "/vol/vmpool0;rm -rf /"),
     "libvirt.pools.0.target", "between the slashes"),
    ("export-path-with-newline",
     set_(["nfs", "exports", 3, "path"], "/vol/small\n/ *(rw)"),
     "nfs.exports.3.path", "between the slashes"),
    ("export-option-fsid-injection",
     add_option(0, 0, "fsid=1) *(rw,no_root_squash"),
     "nfs.exports.0.clients.0.options", "the value of fsid must match"),
    ("export-option-anonuid-not-a-number",
     add_option(1, 0, "anonuid=0 *"),
     "nfs.exports.1.clients.0.options", "the value of anonuid must match"),
    ("export-option-sec-with-blank",
     add_option(2, 0, "sec=sys krb5"),
     "nfs.exports.2.clients.0.options", "the value of sec must match"),
    ("export-client-with-blank",
     set_(["nfs", "exports", 3, "clients", 0, "host"], "192.168.10.29 *"),
     "nfs.exports.3.clients.0.host", "should match pattern"),
    ("mount-options-with-blanks",
     set_(["local_volumes", 0, "mount_options"], "noatime, nodiratime"),
     "local_volumes.0.mount_options", "separate them with commas and no blanks, e.g. 'noatime,nodiratime'"),
    ("mount-options-empty-item",
     set_(["replicated_volumes", 0, "mount_options"], "_netdev,,noatime"),
     "replicated_volumes.0.mount_options", "is not a list of mount options"),
    ("mount-options-localflocks",
     set_(["replicated_volumes", 0, "mount_options"], "_netdev,noatime,localflocks"),
     "replicated_volumes.0.mount_options", "need it cluster-wide"),
    ("mount-options-async-on-an-exported-volume",
     set_(["replicated_volumes", 2, "mount_options"], "_netdev,noatime,async"),
     "replicated_volumes.2.mount_options", "remove 'async'"),
    ("mount-options-with-tab",
     set_(["replicated_volumes", 1, "mount_options"], "_netdev\t0 0"),
     "replicated_volumes.1.mount_options", "no blanks"),
    ("drbd-handler-name-typo",
     set_(["drbd"], {"handlers": {"split-brian": "/usr/lib/drbd/notify-split-brain.sh root"}}),
     "drbd.handlers", "'split-brian' is not a DRBD handler: did you mean 'split-brain'?"),
    ("drbd-handler-unknown",
     set_(["drbd"], {"handlers": {"on-everything": "/bin/true"}}),
     "drbd.handlers", "use one of pri-on-incon-degr"),
    ("drbd-handler-with-quote",
     set_(["drbd"], {"handlers": {"split-brain": '/usr/lib/drbd/notify-split-brain.sh "root'}}),
     "drbd.handlers", "no quotes, ';', '|' or other shell syntax"),
    ("drbd-handler-with-semicolon",
     set_(["drbd"], {"handlers": {"pri-lost": "/sbin/halt; reboot"}}),
     "drbd.handlers", "is not a command this tool writes into a resource file"),
    ("drbd-handler-relative-program",
     set_(["drbd"], {"handlers": {"pri-lost": "halt -f"}}),
     "drbd.handlers", "an absolute program path"),
    ("drbd-handler-other-variable",
     set_(["drbd"], {"handlers": {"pri-lost": "/bin/echo $HOME"}}),
     "drbd.handlers", "$DRBD_* variables"),
    ("ssh-key-with-second-line",
     set_(["libvirt", "ssh_authorized_keys"], ["ssh-ed25519 AAAAC3Nz me@a\nssh-rsa AAAAB3 evil@b"]),
     "libvirt.ssh_authorized_keys", "is not an OpenSSH public key line"),
    ("ssh-host-with-blank",
     set_(["nodes", 0, "ssh_host"], "fiori -oProxyCommand=x"),
     "nodes.0.ssh_host", "should match pattern"),
    ("network-delay-negative",
     set_(["libvirt", "networks", 0, "delay"], -1),
     "libvirt.networks.0.delay", "greater than or equal to 0"),
    # cluster network
    ("cluster-network-host-bits-set",
     set_(["cluster_network", "network"], "192.168.3.6/24"),
     "cluster_network.network", "host bits set"),
    # NFS: one server (mode single), exports NFS cannot tell apart
    ("nfs-nested-export-ro-inside-rw",
     lambda c: c["nfs"]["exports"].append({"path": "/vol/small", "clients": [
         {"host": "192.168.10.28", "options": ["ro", "no_subtree_check"]}]}),
     "nfs.exports.0", "has rw on /vol/small/home but ro on /vol/small"),
    ("nfs-single-export-on-local-volume",
     lambda c: c["nfs"]["exports"].append({"path": "/vol/local/x", "clients": [
         {"host": "192.168.10.8", "options": ["ro"]}]}),
     "nfs.exports.4.path", "set nfs.mode to \"per_node\""),
    ("nfs-state-volume-unknown",
     set_(["nfs", "state_volume"], "smal"),
     "nfs.state_volume", "is not a replicated volume (small, vmpool0, pub)"),
    ("nfs-mode-typo",
     set_(["nfs", "mode"], "per-node"),
     "nfs.mode", "'single' or 'per_node'"),
    ("nfs-grace-shorter-than-lease",
     both(set_(["nfs", "lease_time"], 60), set_(["nfs", "grace_time"], 30)),
     "nfs", "raise grace_time or lower lease_time"),
    ("nfs-vxlan-mtu-too-small",
     set_(["cluster_network", "mtu"], 1300),
     "cluster_network.mtu", "at least 1330 is needed"),
]


def test_corpus_is_big_and_ids_unique():
    assert len(BAD) >= 24
    ids = [case[0] for case in BAD]
    assert len(ids) == len(set(ids))


def test_example_is_valid():
    cluster = validate(example())
    assert isinstance(cluster, Cluster)
    assert [n.name for n in cluster.nodes] == ["fiori", "torchio"]
    assert cluster.first == "fiori"
    assert cluster.peer("fiori").name == "torchio"


@pytest.mark.parametrize("mutate, field, fix", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_config_names_field_and_fix(mutate, field, fix):
    raw = example()
    mutate(raw)
    lines = error_lines(raw)
    prefix = f"cluster.{field}: "
    mine = [line for line in lines if line.startswith(prefix)]
    assert mine, f"no error for {field!r}; got:\n" + "\n".join(lines)
    assert any(fix in line for line in mine), f"{fix!r} not in:\n" + "\n".join(mine)
    # Every problem points at a field, never at the cluster as a whole.
    assert not any(line.startswith("cluster.cluster:") for line in lines), lines


def test_nested_exports_with_the_same_access_pass():
    raw = example()
    raw["nfs"]["exports"].append({"path": "/vol/small", "clients": [
        {"host": "192.168.10.28", "options": ["rw", "no_subtree_check"]}]})
    validate(raw)


def test_per_node_mode_takes_exports_on_local_volumes():
    raw = example()
    raw["nfs"]["mode"] = "per_node"
    raw["nfs"]["exports"].append({"path": "/vol/local/x", "clients": [{"host": "192.168.10.8", "options": ["ro"]}]})
    assert validate(raw).nfs_state_volume() is None


def test_the_state_volume_is_the_first_exports_unless_named():
    raw = example()
    assert validate(raw).nfs_state_volume().name == "small"
    raw["nfs"]["state_volume"] = "pub"
    assert validate(raw).nfs_state_volume().name == "pub"


def test_volumes_nfs_writes_to_are_mounted_sync_in_either_mode():
    raw = example()
    c = validate(raw)
    given = {v.name: v.mount_options.split(",") for v in c.replicated_volumes}
    # small and pub hold exports; vmpool0 (the VMs' disks) keeps what was given.
    assert {v.name: c.mount_options_of(v).split(",") for v in c.replicated_volumes} == {
        "small": [*given["small"], "sync"], "vmpool0": given["vmpool0"], "pub": [*given["pub"], "sync"]}
    raw["nfs"]["mode"] = "per_node"
    c = validate(raw)
    assert [("sync" in c.mount_options_of(v).split(",")) for v in c.replicated_volumes] == [True, False, True]


def test_the_state_volume_is_mounted_sync_without_exports_on_it():
    raw = example()
    raw["nfs"]["state_volume"] = "vmpool0"
    c = validate(raw)
    assert all("sync" in c.mount_options_of(v).split(",") for v in c.replicated_volumes)


def test_sync_given_by_the_admin_is_kept_once_and_without_nfs_too():
    raw = example()
    raw["replicated_volumes"][0]["mount_options"] = "_netdev,sync,noatime"
    raw["replicated_volumes"][1]["mount_options"] = "_netdev,sync"
    c = validate(raw)
    assert c.mount_options_of(c.replicated_volumes[0]) == "_netdev,sync,noatime"
    assert c.mount_options_of(c.replicated_volumes[1]) == "_netdev,sync"
    raw.pop("nfs")
    c = validate(raw)
    assert c.mount_options_of(c.replicated_volumes[2]) == c.replicated_volumes[2].mount_options


def test_all_problems_are_reported_at_once():
    raw = example()
    raw["nodes"][1]["cluster_address"] = "192.168.4.7"
    raw["replicated_volumes"][0]["minor"] = raw["replicated_volumes"][1]["minor"] = 3
    raw["nfs"]["exports"][0]["path"] = "/srv/home"
    fields = {line.split(":", 1)[0] for line in error_lines(raw)}
    assert {"cluster.nodes.1.cluster_address", "cluster.replicated_volumes.1.minor",
            "cluster.nfs.exports.0.path"} <= fields


def test_validation_does_not_change_the_input():
    raw = example()
    validate(raw)
    assert raw == EXAMPLE


# --- deterministic DRBD minors and ports ------------------------------------------


def without_minors_and_ports(raw):
    for vol in raw["replicated_volumes"]:
        vol.pop("minor", None)
        vol.pop("port", None)
    return raw


def test_minor_and_port_are_stated_with_the_values_a_live_cluster_has():
    # A description written for an earlier twonode (no minors): each
    # volume is told the minor and port it was given by position then.
    lines = error_lines(without_minors_and_ports(example()))
    for i, (minor, port) in enumerate([(0, 7790), (1, 7791), (2, 7792)]):
        assert any(line.startswith(f"cluster.replicated_volumes.{i}.minor: required") and
                   f'Write "minor": {minor}, "port": {port}' in line for line in lines), lines


def test_a_volume_inserted_at_the_top_is_told_the_next_free_minor():
    raw = example()
    raw["replicated_volumes"].insert(0, {"name": "new", "size": "1g", "mount_point": "/vol/new"})
    lines = error_lines(raw)
    assert len(lines) == 1 and lines[0].startswith("cluster.replicated_volumes.0.minor: required"), lines
    assert 'Write "minor": 3, "port": 7793' in lines[0]


def test_inserting_removing_or_reordering_volumes_changes_no_identity():
    def identities(raw):
        return {v.name: (v.minor, v.port, v.device) for v in validate(raw).replicated_volumes}
    before = identities(example())
    raw = example()
    raw["replicated_volumes"].insert(0, {"name": "new", "size": "1g", "mount_point": "/vol/new",
                                         "minor": 3, "port": 7793})
    raw["replicated_volumes"].reverse()
    del raw["replicated_volumes"][1]  # vmpool0
    after = identities(raw)
    assert after == {**{k: v for k, v in before.items() if k != "vmpool0"}, "new": (3, 7793, "/dev/drbd_new")}


def test_a_missing_port_alone_is_named():
    raw = example()
    del raw["replicated_volumes"][1]["port"]
    lines = error_lines(raw)
    assert len(lines) == 1 and lines[0].startswith("cluster.replicated_volumes.1.port: required"), lines


# --- load_cluster reads group_data/all.py ------------------------------------------


def make_project(tmp_path: Path, all_py: str) -> Path:
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data" / "all.py").write_text(all_py)
    inventory = tmp_path / "inventory.py"
    shutil.copy(REPO / "inventory.py", inventory)
    return inventory


DUPLICATE_MINORS = (
    "\ncluster['replicated_volumes'][0]['minor'] = 1"
    "\ncluster['replicated_volumes'][1]['minor'] = 1\n"
)


def test_load_cluster_reads_group_data(tmp_path):
    inventory = make_project(tmp_path, EXAMPLE_FILE.read_text())
    cluster = load_cluster(inventory, cwd=tmp_path)
    assert [n.name for n in cluster.nodes] == ["fiori", "torchio"]


def test_load_cluster_rejects_bad_file(tmp_path):
    inventory = make_project(tmp_path, EXAMPLE_FILE.read_text() + DUPLICATE_MINORS)
    with pytest.raises(ClusterConfigError) as info:
        load_cluster(inventory, cwd=tmp_path)
    assert "cluster.replicated_volumes.1.minor: DRBD minor 1 is used twice" in str(info.value)


def test_load_cluster_without_cluster_variable(tmp_path):
    inventory = make_project(tmp_path, "volume_group = 'vg0'\n")
    with pytest.raises(ClusterConfigError) as info:
        load_cluster(inventory, cwd=tmp_path)
    assert "no `cluster = {...}`" in str(info.value)
    assert "group_data/all.py" in str(info.value)


def test_load_cluster_without_group_data(tmp_path):
    inventory = tmp_path / "inventory.py"
    shutil.copy(REPO / "inventory.py", inventory)
    with pytest.raises(ClusterConfigError, match="describe the cluster there"):
        load_cluster(inventory, cwd=tmp_path)


def test_load_cluster_inventory_dir_wins_over_cwd(tmp_path):
    # As pyinfra does: cwd's group_data first, then the inventory's; later wins.
    project = tmp_path / "project"
    project.mkdir()
    inventory = make_project(project, EXAMPLE_FILE.read_text())
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "group_data").mkdir(parents=True)
    (elsewhere / "group_data" / "all.py").write_text(EXAMPLE_FILE.read_text() + DUPLICATE_MINORS)
    assert load_cluster(inventory, cwd=elsewhere).nodes[0].name == "fiori"


# --- end to end: pyinfra stops before connecting -------------------------------------


def run_pyinfra(cwd: Path) -> subprocess.CompletedProcess:
    pyinfra = Path(sys.executable).parent / "pyinfra"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [str(pyinfra), "-y", "inventory.py", "exec", "--dry", "--", "true"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL,
    )


def test_pyinfra_stops_before_connecting(tmp_path):
    make_project(tmp_path, EXAMPLE_FILE.read_text() + DUPLICATE_MINORS)
    result = run_pyinfra(tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "cluster.replicated_volumes.1.minor" in output
    assert "give each volume its own minor" in output
    assert "nothing was run" in output
    # A valid description gets to "--> Connecting to hosts..." and then
    # "[fiori] Could not resolve hostname": none of that may happen here.
    assert "Connecting" not in output
    assert "Could not" not in output
    assert "Connection" not in output
    assert "[fiori]" not in output and "[torchio]" not in output


@pytest.mark.parametrize("mutate", [
    set_(["drbd"], {"handlers": {"before-resync-target": "/sbin/drbdsetup $DRBD_MINOR secondary",
                                 "split-brain": "/usr/lib/drbd/notify-split-brain.sh root",
                                 "pri-lost-after-sb": "/usr/lib/drbd/notify-pri-lost-after-sb.sh ${DRBD_RESOURCE}"}}),
    add_option(0, 0, "fsid=root"),
    add_option(0, 0, "fsid=3f0c6a4e-2b1d-4c8e-9f7a-0123456789ab"),
    add_option(1, 0, "anonuid=65534"),
    add_option(2, 0, "sec=sys:krb5p"),
    set_(["local_volumes", 0, "mount_options"], "defaults,x-systemd.requires=drbd.service"),
    set_(["local_volumes", 0, "mount_point"], "/srv/vm-images_2.0@a+b"),
], ids=["seed-handlers", "fsid-root", "fsid-uuid", "anonuid", "sec-list", "systemd-mount-options",
        "mount-point-punctuation"])
def test_strict_patterns_still_take_what_the_tools_accept(mutate):
    raw = example()
    mutate(raw)
    validate(raw)
