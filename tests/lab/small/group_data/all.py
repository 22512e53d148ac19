"""A small cluster for the end-to-end tests that sync whole volumes: the
example's nodes and networks, one 256 MiB replicated volume."""

cluster = {
    "nodes": [
        {"name": "fiori", "ssh_host": "fiori", "cluster_address": "192.168.3.6",
         "nics": {"eth1": "52:54:00:00:01:01", "eth2": "52:54:00:00:01:02"}},
        {"name": "torchio", "ssh_host": "torchio", "cluster_address": "192.168.3.7",
         "nics": {"eth1": "52:54:00:00:02:01", "eth2": "52:54:00:00:02:02"}},
    ],
    "cluster_network": {"network": "192.168.3.0/24", "interface": "eth1"},
    "replicated_volumes": [
        {"name": "small", "size": "256m", "mount_point": "/vol/small", "fs_type": "mail", "minor": 0, "port": 7790},
    ],
    "nfs": {
        "server_address": "192.168.10.1/24",
        "exports": [{"path": "/vol/small/home", "clients": [
            {"host": "192.168.10.0/24", "options": ["rw", "sync", "no_root_squash", "no_subtree_check"]}]}],
    },
    "libvirt": {
        "networks": [{"name": "192.168.10.0", "bridge": "virbr0", "mac": "52:54:00:81:cd:08",
                      "address": "192.168.10.1/24"}],
    },
}
