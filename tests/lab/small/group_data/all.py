"""A small cluster for the end-to-end tests that sync whole volumes: the
example's nodes, networks and BMCs (the lab's, lab/bmc.py), one 256 MiB
replicated volume."""


def lab_bmc(node):
    return {"address": "10.0.2.100", "port": 443, "username": "twonode-lab",
            "options": {"systems_uri": f"/redfish/v1/Systems/{node}"},
            "ca_file": "~/.cache/twonode/lab/bmc-credentials/bmc-tls.crt"}


cluster = {
    "nodes": [
        {"name": "fiori", "ssh_host": "fiori", "cluster_address": "192.168.3.6",
         "nics": {"eth1": "52:54:00:00:01:01", "eth2": "52:54:00:00:01:02"}, "bmc": lab_bmc("fiori")},
        {"name": "torchio", "ssh_host": "torchio", "cluster_address": "192.168.3.7",
         "nics": {"eth1": "52:54:00:00:02:01", "eth2": "52:54:00:00:02:02"}, "bmc": lab_bmc("torchio")},
    ],
    # The lab's BMC passwords: lab/lab.sh writes the file, twonode.lab names it.
    # agent_time 15: under the lab's TCG emulation fence_redfish takes up to
    # about 15 s (start-up and TLS); race_delay 20 outlasts it by DRBD's 3-s
    # ping interval and a margin (real BMCs: the defaults, 10 and 15). o2cb's
    # timeouts are derived from both (docs/concepts.md, "Fencing").
    "fencing": {"mode": "power", "agent_time": 15, "race_delay": 20},
    "cluster_network": {"network": "192.168.3.0/24", "interface": "eth1"},
    "replicated_volumes": [
        {"name": "small", "size": "256m", "mount_point": "/vol/small", "fs_type": "mail", "minor": 0, "port": 7790},
    ],
    "nfs": {
        "server_address": "192.168.10.1/24",
        "exports": [{"path": "/vol/small/home", "clients": [
            {"host": "192.168.10.0/24", "options": ["rw", "sync", "no_root_squash", "no_subtree_check"]}]}],
    },
    # Every ten minutes, not each minute: under TCG a refresh costs a guest
    # two seconds of CPU, and the suite runs eight guests at once. The tests
    # that read the metrics refresh them first (tests/lab/test_11).
    "monitoring": {"interval": 600},
    # crc32c, not the default sha256: an online verify of the volume (test_11
    # runs two) then costs the guests 40 CPU-s instead of 90 under TCG,
    # which emulates the vector code sha256 runs on. What the tests check
    # (the verify finds changed blocks, the resync commands) is the same.
    "drbd": {"verify_alg": "crc32c"},
    "libvirt": {
        "networks": [{"name": "192.168.10.0", "bridge": "virbr0", "mac": "52:54:00:81:cd:08",
                      "address": "192.168.10.1/24"}],
    },
}
