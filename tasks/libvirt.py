"""Virtualisation: libvirt/KVM, storage pools, networks, keys for virt-manager.

    pyinfra inventory.py tasks/libvirt.py

virsh facts decide what runs. On the run that installs libvirt, virsh does
not exist yet when the facts are read, so those operations check for
themselves at execution time; every later run decides from facts alone.
"""

from pyinfra import host, logger
from pyinfra.facts.server import Which
from pyinfra.operations import files, server

from facts.libvirt import VirshNetworks, VirshPools
from twonode import packages
from twonode.context import cluster
from twonode.ops import install

AREA = "libvirt"
c = cluster()
lv = c.libvirt
install(packages.LIBVIRT, AREA)

# Without virsh (this run installs it) the facts are empty and unknown.
virsh_known = host.get_fact(Which, command="virsh") is not None
pools = host.get_fact(VirshPools)
networks = host.get_fact(VirshNetworks)


def drop_default(kind: str, objects: dict) -> None:
    """Undefine the stock `default` pool/network: destroying is not
    persistent, and the network would keep claiming virbr0."""
    if virsh_known and "default" not in objects:
        return
    server.shell(
        name=f"{AREA}: undefine the stock default {kind}",
        commands=[
            f"if virsh {kind}-info default >/dev/null 2>&1; then "
            f"virsh {kind}-destroy default >/dev/null 2>&1 || true; virsh {kind}-undefine default; fi"
        ],
    )


if lv.remove_default_network:
    drop_default("net", networks)
if lv.remove_default_pool:
    drop_default("pool", pools)

for pool in host.loop(lv.pools):
    files.directory(name=f"{AREA}: pool target {pool.target}", path=pool.target)
    have = pools.get(pool.name)
    if have is None:
        server.shell(
            name=f"{AREA}: define pool {pool.name}",
            commands=[f"virsh pool-define-as --name={pool.name} --type=dir --target={pool.target}"],
        )
    elif have.target != pool.target:
        logger.warning(f"{host.name}: pool {pool.name} targets {have.target}, not {pool.target}: "
                       "left alone (undefine it to let the deploy redefine it)")
    if have is None or not have.active:
        server.shell(name=f"{AREA}: start pool {pool.name}", commands=[f"virsh pool-start {pool.name}"])
    # A new pool starts with autostart off.
    if (have is None and pool.autostart) or (have is not None and have.autostart != pool.autostart):
        flag = "" if pool.autostart else " --disable"
        server.shell(name=f"{AREA}: pool {pool.name} autostart {'on' if pool.autostart else 'off'}",
                     commands=[f"virsh pool-autostart {pool.name}{flag}"])

for net in host.loop(lv.networks):
    xml = f"/etc/twonode/libvirt/network-{net.name}.xml"
    files.template(name=f"{AREA}: network XML {net.name}", src="templates/libvirt/network.xml.j2",
                   dest=xml, net=net)
    have = networks.get(net.name)
    if have is None:
        server.shell(name=f"{AREA}: define network {net.name}", commands=[f"virsh net-define {xml}"])
    elif (have.target, have.address) != (net.bridge, str(net.address)):
        logger.warning(
            f"{host.name}: network {net.name} has bridge {have.target} and address {have.address}, not "
            f"{net.bridge} {net.address}: left alone (VMs may use it); undefine it to let the deploy redefine it"
        )
    if have is None or not have.active:
        server.shell(name=f"{AREA}: start network {net.name}", commands=[f"virsh net-start {net.name}"])
    # A new network starts with autostart off.
    if (have is None and net.autostart) or (have is not None and have.autostart != net.autostart):
        flag = "" if net.autostart else " --disable"
        server.shell(name=f"{AREA}: network {net.name} autostart {'on' if net.autostart else 'off'}",
                     commands=[f"virsh net-autostart {net.name}{flag}"])

if lv.ssh_authorized_keys:
    server.user_authorized_keys(
        name=f"{AREA}: SSH keys for remote virt-manager",
        user="root",
        public_keys=lv.ssh_authorized_keys,
    )
