"""Virtualisation: libvirt/KVM, storage pools, networks, keys for virt-manager.

    pyinfra inventory.py tasks/libvirt.py

virsh facts decide what runs. On the run that installs libvirt, virsh does
not exist yet when the facts are read, so those operations check for
themselves at execution time; every later run decides from facts alone.
"""

from shlex import quote

from pyinfra import host, logger
from pyinfra.facts.server import Which
from pyinfra.operations import server

from facts.libvirt import Virsh
from twonode import packages, reads
from twonode.context import cluster
from twonode.install import install
from twonode.ops import directory, file_lines, template
from twonode.snapshot import fact, prefetch

AREA = "libvirt"
c = cluster()
lv = c.libvirt
prefetch(*reads.libvirt(c))
install(packages.LIBVIRT, AREA)

def start_and_autostart(kind: str, name: str, have, autostart: bool) -> None:
    """Start a pool/network unless active; set autostart as configured (a
    newly defined one starts with autostart off)."""
    if have is None or not have.active:
        server.shell(name=f"{AREA}: start {kind} {name}", commands=[f"virsh {kind}-start {quote(name)}"])
    if (have.autostart if have is not None else False) != autostart:
        flag = "" if autostart else " --disable"
        server.shell(name=f"{AREA}: {kind} {name} autostart {'on' if autostart else 'off'}",
                     commands=[f"virsh {kind}-autostart {quote(name)}{flag}"])


# Without virsh (this run installs it) the facts are empty and unknown.
virsh_known = fact(Which, command="virsh") is not None
libvirt_objects = fact(Virsh, **reads.virsh_names(c))
pools, networks = libvirt_objects.pools, libvirt_objects.networks


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
    directory(name=f"{AREA}: pool target {pool.target}", path=pool.target)
    have = pools.get(pool.name)
    if have is None:
        server.shell(
            name=f"{AREA}: define pool {pool.name}",
            commands=[f"virsh pool-define-as --name={quote(pool.name)} --type=dir --target={quote(pool.target)}"],
        )
    elif have.target != pool.target:
        logger.warning(f"{host.name}: pool {pool.name} targets {have.target}, not {pool.target}: "
                       "left alone (undefine it to let the deploy redefine it)")
    start_and_autostart("pool", pool.name, have, pool.autostart)

for net in host.loop(lv.networks):
    xml = reads.network_xml(net)
    template(name=f"{AREA}: network XML {net.name}", src="templates/libvirt/network.xml.j2",
                   dest=xml, net=net)
    have = networks.get(net.name)
    if have is None:
        server.shell(name=f"{AREA}: define network {net.name}", commands=[f"virsh net-define {quote(xml)}"])
    elif (have.target, have.address) != (net.bridge, str(net.address)):
        logger.warning(
            f"{host.name}: network {net.name} has bridge {have.target} and address {have.address}, not "
            f"{net.bridge} {net.address}: left alone (VMs may use it); undefine it to let the deploy redefine it"
        )
    start_and_autostart("net", net.name, have, net.autostart)

# Each key on a line of its own already: nothing to do (the operation would
# read the user, the home and the file to find that out).
present = {text.strip() for text in file_lines(reads.AUTHORIZED_KEYS) or ()}
if lv.ssh_authorized_keys and not {k.strip() for k in lv.ssh_authorized_keys} <= present:
    server.user_authorized_keys(
        name=f"{AREA}: SSH keys for remote virt-manager",
        user="root",
        public_keys=lv.ssh_authorized_keys,
    )
