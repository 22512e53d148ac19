"""The cluster: the seed procedure's example (fiori and torchio), sized for the lab.

Edit this to describe your own two servers. It is validated (twonode/model.py)
before pyinfra connects to anything. The seed's sizes (small 200g, vmpool0
500g, pub 2t, local 200g) are scaled down so the example fits the lab's disks
(vmstore and datafiles need a device of 2 GiB at least, hence 3g);
the MACs are the lab guests' (lab/lab.sh): put your NICs' MACs here.

Secrets are never here: the BMC passwords (see "fencing" below) and the
replication links' shared secret (~/.config/twonode/drbd-secret, or
$TWONODE_DRBD_SECRET; docs/concepts.md, "Replication links") live outside the
repository. Online verify runs weekly and each node writes a Prometheus
textfile: "drbd" and "monitoring" keys change that (twonode/model).
"""

def lab_bmc(node):
    """The lab guests' BMC (lab/bmc.py, reached through QEMU's guestfwd):
    put your servers' BMC addresses, users and agent options here."""
    return {"agent": "fence_redfish", "address": "10.0.2.100", "port": 443, "username": "twonode-lab",
            "options": {"systems_uri": f"/redfish/v1/Systems/{node}"},
            # The certificate the BMC must present: the lab BMC's own,
            # self-signed (lab/bmc.py makes it). For your servers: your BMC's
            # certificate, or its CA's; without ca_file the nodes' system CAs.
            "ca_file": "~/.cache/twonode/lab/bmc-credentials/bmc-tls.crt"}


RW = ["rw", "sync", "no_root_squash", "no_subtree_check"]
RO = ["ro", "no_root_squash", "no_subtree_check"]

cluster = {
    "nodes": [
        {
            "name": "fiori",
            "ssh_host": "fiori",
            "cluster_address": "192.168.3.6",
            "nics": {"eth1": "52:54:00:00:01:01", "eth2": "52:54:00:00:01:02"},
            "bmc": lab_bmc("fiori"),
        },
        {
            "name": "torchio",
            "ssh_host": "torchio",
            "cluster_address": "192.168.3.7",
            "nics": {"eth1": "52:54:00:00:02:01", "eth2": "52:54:00:00:02:02"},
            "bmc": lab_bmc("torchio"),
        },
    ],
    # A node that loses its peer powers it off through the peer's BMC before
    # it writes on (docs/concepts.md, "Fencing"). The BMC passwords live outside the
    # repository: passwords_file (default ~/.config/twonode/bmc-passwords.toml,
    # `fiori = "..."` per node), or the file $TWONODE_FENCE_PASSWORDS names
    # (the lab's inventory points it at the lab BMC's).
    # agent_time 15: under the lab's TCG emulation fence_redfish takes up to
    # about 15 s (start-up and TLS); race_delay 20 outlasts it by DRBD's 3-s
    # ping interval and a margin (real BMCs: the defaults, 10 and 15). o2cb's
    # timeouts are derived from both (docs/concepts.md, "Fencing").
    "fencing": {"mode": "power", "agent_time": 15, "race_delay": 20},
    "volume_group": "vg0",
    "cluster_network": {"network": "192.168.3.0/24", "interface": "eth1"},
    "local_volumes": [
        {"name": "local", "size": "1g", "mount_point": "/vol/local"},
    ],
    # Each volume's DRBD minor (/dev/drbdN) and port are its identity: stated,
    # and never changed while it exists (a new volume takes the next free ones).
    "replicated_volumes": [
        # small holds the mail server's maildirs (exported below): a delivery
        # is a rename, on disk at the next journal commit, so commit every
        # second (docs/concepts.md, "NFS: one server for both nodes").
        {"name": "small", "size": "1g", "mount_point": "/vol/small", "fs_type": "mail", "minor": 0, "port": 7790,
         "mount_options": "_netdev,noatime,data=writeback,commit=1,nodiratime"},
        {"name": "vmpool0", "size": "3g", "mount_point": "/vol/vmpool0", "fs_type": "vmstore",
         "minor": 1, "port": 7791},
        {"name": "pub", "size": "3g", "mount_point": "/vol/pub", "fs_type": "datafiles", "minor": 2, "port": 7792},
    ],
    "nfs": {
        # One server for both nodes (mode "single", the default): the node
        # that holds the cluster-wide lock serves at this address, the other
        # takes over when it is fenced or asked to.
        # docs/concepts.md, "NFS: one server for both nodes".
        "server_address": "192.168.10.1/24",
        "exports": [
            # login servers get write access to home and pub
            {"path": "/vol/small/home", "clients": [
                {"host": "192.168.1.0/24", "options": RW},
                {"host": "192.168.10.9", "options": RW},
                # web server reads, storage gateway writes (backups)
                {"host": "192.168.10.8", "options": RO},
                {"host": "192.168.10.28", "options": RW},
            ]},
            {"path": "/vol/pub", "clients": [
                {"host": "192.168.1.0/24", "options": RW},
                {"host": "192.168.10.9", "options": RW},
                {"host": "192.168.10.8", "options": RO},
                {"host": "192.168.10.28", "options": RW},
            ]},
            {"path": "/vol/small/svn", "clients": [{"host": "192.168.10.8", "options": RW}]},
            {"path": "/vol/small/mail", "clients": [{"host": "192.168.10.29", "options": RW}]},
            # The seed also gives 192.168.10.28 all of /vol/small read-only.
            # /vol/small/home, which it has read-write, is on that file system,
            # and NFS cannot give one client two kinds of access there: the
            # model refuses it. Read-write home it is.
        ],
    },
    "libvirt": {
        "pools": [
            {"name": "vmpool0", "target": "/vol/vmpool0", "autostart": False},
            {"name": "isoimages", "target": "/vol/pub/computing/software/isoimages/os", "autostart": False},
        ],
        "networks": [
            # The private storage network. With nfs.mode "single" (the default)
            # it spans both nodes, and 192.168.10.1 is on the node that serves NFS.
            {"name": "192.168.10.0", "bridge": "virbr0", "mac": "52:54:00:81:cd:08",
             "address": "192.168.10.1/24"},
        ],
        "ssh_authorized_keys": [],
    },
}
