"""Persistent NIC names and the dedicated cluster network.

    pyinfra inventory.py tasks/network.py

udev rules pin each configured name to its MAC. A rename only happens when
the NIC is added (at boot), and renaming inside the kernel's own ``ethN``
namespace can lose the race with the name already taken (seen on the lab):
so the names in force are read back and a mismatch is reported, never
guessed around.
"""

from shlex import quote

from pyinfra import host, logger
from pyinfra.operations import server

from facts.network import NetworkInterfaces
from twonode import paths, reads
from twonode.area import open_area
from twonode.context import DeployStopped, this_node
from twonode.ops import etc_hosts, line, template
from twonode.snapshot import fact

AREA = "network"
c = open_area(AREA, reads.network)
me = this_node()
net = c.cluster_network

state = fact(NetworkInterfaces)
conflicts = state.management_conflicts(net.interface, me.nics)
if conflicts:
    raise DeployStopped(f"{host.name}: " + f"\n{host.name}: ".join(conflicts) + "\nNothing was changed.")

if me.nics:
    template(
        name=f"{AREA}: pin NIC names to MACs (udev)",
        src="network/70-persistent-net.rules.j2",
        dest=paths.UDEV_RULES,
        nics=me.nics,
    )
    for problem in state.mismatches(me.nics):
        logger.warning(
            f"{host.name}: {problem}: the udev rules apply at the next boot; "
            "reboot and run again (the cluster interface is configured by name)"
        )

# Debian's stock /etc/network/interfaces sources interfaces.d; make sure.
line(
    name=f"{AREA}: /etc/network/interfaces sources interfaces.d",
    path=paths.INTERFACES,
    regex=r"^source /etc/network/interfaces.d/\*",
    replace="source /etc/network/interfaces.d/*",
)
template(
    name=f"{AREA}: cluster interface {net.interface}",
    src="network/cluster-interface.j2",
    dest=paths.cluster_interface_file(c.cluster_network.interface),
    iface=net.interface,
    address=me.cluster_address,
    prefix=net.network.prefixlen,
)
wanted = f"{me.cluster_address}/{net.network.prefixlen}"
nic = state.nics.get(net.interface)
if nic is None:
    logger.warning(f"{host.name}: no interface {net.interface} now: it is configured for the next boot")
elif wanted not in nic.ipv4 or nic.state == "DOWN":
    server.shell(
        name=f"{AREA}: bring up {net.interface} with {wanted}",
        commands=[f"ifdown --force {quote(net.interface)} 2>/dev/null || true", f"ifup {quote(net.interface)}"],
    )

for node in host.loop(c.nodes):
    etc_hosts(
        name=f"{AREA}: /etc/hosts entry for {node.name}'s cluster address",
        ip=str(node.cluster_address),
        hostnames=[f"{node.name}{net.hosts_suffix}"],
    )
