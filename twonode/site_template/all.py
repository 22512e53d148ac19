"""The cluster: your two servers. Edit every value marked CHANGE, then
check the servers with the preflight (it changes nothing):

    .venv/bin/pyinfra SITE/inventory.py tasks/check.py

Every key, with its default and constraints: docs/group_data.md. This file
is validated before pyinfra connects to anything; a mistake stops the run
naming the field and the fix.

Secrets are never here. The BMC passwords: ~/.config/twonode/bmc-passwords.toml
(one line per node, `alpha = "..."`, chmod 600), or the file
$TWONODE_FENCE_PASSWORDS names. The replication links' shared secret:
~/.config/twonode/drbd-secret (`umask 077; openssl rand -base64 32 >
~/.config/twonode/drbd-secret`), or $TWONODE_DRBD_SECRET.
"""

RW = ["rw", "sync", "no_root_squash", "no_subtree_check"]
RO = ["ro", "root_squash", "no_subtree_check"]


def redfish_bmc(address, system="/redfish/v1/Systems/1"):
    """A BMC with Redfish (iDRAC 9, iLO 5, most BMCs since 2017): HTTPS.
    systems_uri names the server's own system (the BMC lists them at
    https://ADDRESS/redfish/v1/Systems). Its TLS certificate must be one
    the nodes trust: issued by a CA in their system store, or pinned with
    ca_file (the BMC's own certificate when self-signed, fetched once:
    openssl s_client -connect ADDRESS:443 </dev/null | openssl x509 > bmc.pem)."""
    return {"agent": "fence_redfish", "address": address, "port": 443, "username": "fence",
            "options": {"systems_uri": system},
            # "ca_file": "~/.config/twonode/ADDRESS.pem",
            }


def ipmi_bmc(address):
    """A BMC with IPMI only: IPMI 2.0 (lanplus), UDP 623. Prefer Redfish
    where the BMC has it: fence_ipmilan hands the password to ipmitool on
    its command line."""
    return {"agent": "fence_ipmilan", "address": address, "port": 623, "username": "fence",
            "options": {"lanplus": "1"}}


cluster = {
    "nodes": [
        {
            "name": "alpha",                    # CHANGE: its `uname -n`
            "ssh_host": "alpha.example.org",    # CHANGE: where pyinfra reaches it (root over SSH)
            "cluster_address": "10.99.0.1",     # its address on the cluster network (set by the deploy)
            # CHANGE: the MACs of the NICs twonode names (`ip -br link`):
            # the cluster network's, and any other you want pinned. Leave
            # out the NIC you reach the server through.
            "nics": {"eth1": "00:00:5e:00:53:01"},
            "bmc": redfish_bmc("192.0.2.11"),   # CHANGE: its BMC, as its PEER reaches it
        },
        {
            "name": "beta",
            "ssh_host": "beta.example.org",
            "cluster_address": "10.99.0.2",
            "nics": {"eth1": "00:00:5e:00:53:02"},
            "bmc": redfish_bmc("192.0.2.12"),
        },
    ],
    # A node that loses its peer powers it off through the peer's BMC before
    # it writes on; the second node waits race_delay seconds first, so that
    # when both lose the link at once exactly one survives. agent_time is the
    # longest the agent takes to power a node off: time `fence_redfish ... -o
    # off` against your BMC. race_delay must outlast it by 5 s. o2cb's
    # timeouts are derived from both (docs/concepts.md, "Fencing").
    "fencing": {"mode": "power", "agent_time": 10, "race_delay": 15},
    "volume_group": "vg0",                      # CHANGE: the VG with room for every volume below
    # A NIC of its own, on both nodes, directly or through a switch of its own.
    "cluster_network": {"network": "10.99.0.0/24", "interface": "eth1", "mtu": 1500},
    "local_volumes": [
        {"name": "local", "size": "200g", "mount_point": "/vol/local"},
    ],
    # Each volume's DRBD minor (/dev/drbdN) and port are its identity:
    # stated, and never changed while it exists. A new volume takes the
    # next free ones.
    "replicated_volumes": [
        {"name": "home", "size": "200g", "mount_point": "/vol/home", "fs_type": "mail", "minor": 0, "port": 7790},
        {"name": "vmpool0", "size": "500g", "mount_point": "/vol/vmpool0", "fs_type": "vmstore",
         "minor": 1, "port": 7791},
    ],
    "nfs": {
        # One server for both nodes, at the private network's address.
        "server_address": "192.168.10.1/24",
        "exports": [
            {"path": "/vol/home/users", "clients": [{"host": "192.168.10.0/24", "options": RW}]},
        ],
    },
    "libvirt": {
        "pools": [{"name": "vmpool0", "target": "/vol/vmpool0", "autostart": False}],
        "networks": [
            # The VMs' private network, with the NFS server's address; it
            # spans both nodes (a VXLAN over the cluster network).
            {"name": "private", "bridge": "virbr0", "mac": "52:54:00:81:cd:08", "address": "192.168.10.1/24"},
        ],
        # Keys allowed to log in as root for virt-manager (ssh-ed25519 ...).
        "ssh_authorized_keys": [],
    },
}
