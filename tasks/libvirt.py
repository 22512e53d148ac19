"""Virtualisation: libvirt/KVM, storage pools, networks, keys for virt-manager.

    pyinfra inventory.py tasks/libvirt.py

virsh facts decide what runs. On the run that installs libvirt, virsh does
not exist yet when the facts are read, so those operations check for
themselves at execution time; every later run decides from facts alone.
"""

from shlex import quote

from pyinfra import host, logger
from pyinfra.facts.server import Which
from pyinfra.operations import files, python, server

from facts.libvirt import Virsh
from facts.network import NetworkInterfaces, Vxlan
from twonode import migration, paths, reads
from twonode.area import open_area
from twonode.context import host_of, presence_of, this_node
from twonode.sides import Presence
from twonode.ops import UNCHANGED, directory, line, put, template
from twonode.reads import file_lines, path_state
from twonode.snapshot import fact, prefetch

AREA = "libvirt"
#: /etc/default/libvirt-guests (read when it runs: nothing to restart).
LIBVIRT_GUESTS = {"ON_BOOT": "ignore", "ON_SHUTDOWN": "shutdown"}
c = open_area(AREA, reads.libvirt)
lv = c.libvirt
me = this_node()
peer = c.peer(me.name)
# The peer's public halves (its migration key, its host key) are read from
# the peer itself; a peer left out of this run (--limit) or unreachable is
# not trusted anew (what it is trusted with stays as it was).
peer_host = host_of(peer.name) if presence_of(peer.name) is Presence.ACTIVE else None
if peer_host is not None:
    prefetch(*reads.migration_peer(), on=peer_host)

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

# NFS mode single: the private network spans both nodes (a VXLAN joins the
# bridges, below); its bridge has no address of its own (twonode-nfs puts
# the server address on the node that serves) and the VXLAN's MTU.
carrier = c.private_network() if c.nfs_single else None

for net in host.loop(lv.networks):
    spans = carrier is not None and net.name == carrier.name
    address, mtu = (None, c.private_mtu) if spans else (net.address, None)
    mac = c.bridge_mac(net, me.name)
    xml = paths.network_xml(net.name)
    template(name=f"{AREA}: network XML {net.name}", src="libvirt/network.xml.j2",
             dest=xml, net=net, address=address, mtu=mtu, mac=mac)
    have = networks.get(net.name)
    if have is None:
        server.shell(name=f"{AREA}: define network {net.name}", commands=[f"virsh net-define {quote(xml)}"])
    elif have.target != net.bridge:
        logger.warning(
            f"{host.name}: network {net.name} has bridge {have.target}, not {net.bridge}: left alone "
            "(VMs may use it); undefine it to let the deploy redefine it"
        )
    elif (have.address, have.mtu) != (str(address) if address else None, mtu) or (spans and have.mac != mac):
        # nfs.mode changed (or the cluster link's MTU): the network is
        # defined anew (libvirt keeps a network's UUID and MAC across a
        # net-define: undefined first) and started, which VMs on it would
        # not survive.
        q_name = quote(net.name)
        autostart = f"virsh net-autostart {q_name}" + ("" if net.autostart else " --disable")
        server.shell(
            name=f"{AREA}: network {net.name} defined anew ({'one network across the nodes' if spans else 'per node'})",
            commands=[f"if ls /sys/class/net/{quote(net.bridge)}/brif 2>/dev/null | grep -v '^tnvx' | grep -q .; then "
                      f"echo 'VMs are attached to {net.bridge}: shut them down or move them, then deploy again' >&2; "
                      f"exit 1; fi",
                      f"virsh net-destroy {q_name} >/dev/null 2>&1; virsh net-undefine {q_name}",
                      f"virsh net-define {quote(xml)}", f"virsh net-start {q_name}", autostart])
        continue
    start_and_autostart("net", net.name, have, net.autostart)

if carrier is not None:
    link, bridge = paths.private_link(c.nfs.vxlan_id), carrier.bridge
    directory(name=f"{AREA}: {paths.PRIVATE_LINK_HOOK_DIR}", path=paths.PRIVATE_LINK_HOOK_DIR)
    link_hook_was_there = path_state(paths.PRIVATE_LINK_HOOK) is not None
    link_hook = put(name=f"{AREA}: network hook (the private network across the nodes)",
                    src="libvirt/private-link.sh", dest=paths.PRIVATE_LINK_HOOK, mode="755")
    wanted = Vxlan(id=c.nfs.vxlan_id, local=str(me.cluster_address), remote=str(peer.cluster_address),
                   port=c.nfs.vxlan_port, device=c.cluster_network.interface)
    link_conf = template(name=f"{AREA}: {paths.PRIVATE_LINK_CONF}", src="libvirt/private-link.conf.j2",
                         dest=paths.PRIVATE_LINK_CONF, network=quote(carrier.name), bridge=quote(bridge),
                         link=quote(link), vxlan_id=wanted.id, local=quote(wanted.local), remote=quote(wanted.remote),
                         port=wanted.port, device=quote(wanted.device), mtu=c.private_mtu)
    now = fact(NetworkInterfaces).nics.get(link)
    # A new hook (its queueing, say) is run too: libvirt runs it again only
    # when the network restarts.
    if now is None or (now.vxlan, now.master, now.mtu) != (wanted, bridge, c.private_mtu) or link_conf.will_change \
            or link_hook.will_change:
        server.shell(name=f"{AREA}: {bridge} joined to {peer.name}'s by VXLAN {link}",
                     commands=[f"{paths.PRIVATE_LINK_HOOK} {quote(carrier.name)} started begin - </dev/null"])
else:
    link_hook_was_there, link_hook = True, UNCHANGED
    if path_state(paths.PRIVATE_LINK_CONF) is not None:
        files.file(name=f"{AREA}: no VXLAN for the private network (nfs.mode per_node)",
                   path=paths.PRIVATE_LINK_CONF, present=False)
        server.shell(name=f"{AREA}: the private network's VXLAN removed",
                     commands=["ip -o link show type vxlan | grep -o ' tnvx[0-9]*' | xargs -r -n1 ip link del"])

# Each key on a line of its own already: nothing to do (the operation would
# read the user, the home and the file to find that out).
present = {text.strip() for text in file_lines(paths.AUTHORIZED_KEYS) or ()}
if lv.ssh_authorized_keys and not {k.strip() for k in lv.ssh_authorized_keys} <= present:
    server.user_authorized_keys(
        name=f"{AREA}: SSH keys for remote virt-manager",
        user="root",
        public_keys=lv.ssh_authorized_keys,
    )


# --- Live migration between the nodes (twonode/migration.py).

def peer_lines(path: str) -> tuple[str, ...] | None:
    """A file of the peer as read at the start of this run (None: missing,
    or the peer is not in this run)."""
    return file_lines(path, on=peer_host) if peer_host is not None else None


def valid_key(lines: tuple[str, ...] | None) -> bool:
    try:
        migration.public_key("\n".join(lines or ()), "")
        return True
    except migration.NotAPublicKey:
        return False


def ensure_key_command(node: str) -> str:
    """Shell run on ``node``: its migration key, made there (the private
    half never leaves it). A .pub lost or left empty (a power loss right
    after ssh-keygen, seen on the lab) comes back from the private half; a
    broken pair is made anew. Synced: the peer is about to trust it."""
    key, pub, new = (quote(p) for p in (paths.MIGRATION_KEY, paths.MIGRATION_PUBLIC_KEY,
                                         paths.MIGRATION_PUBLIC_KEY + ".new"))
    return (f"install -d -m 700 /root/.ssh && "
            f"if ssh-keygen -y -f {key} > {new} 2>/dev/null && [ -s {new} ]; then mv {new} {pub}; "
            f"else rm -f {key} {pub} {new} && "
            f"ssh-keygen -q -t ed25519 -N '' -C {quote(migration.comment(node))} -f {key}; fi && sync")


if not valid_key(file_lines(paths.MIGRATION_PUBLIC_KEY)):
    server.shell(name=f"{AREA}: this node's own SSH key for live migration", commands=[ensure_key_command(me.name)])

suffix, q_auth, q_pub = c.cluster_network.hosts_suffix, quote(paths.AUTHORIZED_KEYS), quote(paths.MIGRATION_PUBLIC_KEY)

peer_key = peer_lines(paths.MIGRATION_PUBLIC_KEY)
if valid_key(peer_key):
    line(
        name=f"{AREA}: {peer.name}'s migration key, from {peer.cluster_address} only",
        path=paths.AUTHORIZED_KEYS,
        regex=migration.authorized_regex(peer.name),
        replace=migration.authorized_line(peer.name, str(peer.cluster_address),
                                          migration.public_key("\n".join(peer_key), "")),
    )
elif peer_host is not None:
    # The peer has no valid key yet: it makes one in this run (the operation
    # above), but pyinfra's order between one host's operation and another
    # host's is not guaranteed (this one ran first on the lab, and failed).
    # So the key is made sure of on the peer, idempotently, right here, and
    # read when this operation executes.
    def authorize_new_peer_key(state, host):
        ok, output = peer_host.run_shell_command(
            command=f"[ -s {q_pub} ] || {{ {ensure_key_command(peer.name)}; }}; cat {q_pub}")
        text = "\n".join(output.stdout_lines) if ok else ""
        entry = migration.authorized_line(peer.name, str(peer.cluster_address),
                                          migration.public_key(text, f"{peer.name}:{paths.MIGRATION_PUBLIC_KEY}"))
        ok, output = host.run_shell_command(
            command=f"install -d -m 700 /root/.ssh && touch {q_auth} && chmod 600 {q_auth} && "
                    f"{{ grep -Ev {quote(migration.authorized_regex(peer.name))} {q_auth} || true; }} > {q_auth}.new && "
                    f"echo {quote(entry)} >> {q_auth}.new && mv {q_auth}.new {q_auth}")
        if not ok:
            raise RuntimeError(f"authorizing {peer.name}'s migration key failed: {output.stderr}")

    python.call(name=f"{AREA}: {peer.name}'s new migration key, from {peer.cluster_address} only",
                function=authorize_new_peer_key)

peer_host_key = peer_lines(paths.HOST_KEY)
if valid_key(peer_host_key):
    line(
        name=f"{AREA}: {peer.name}'s pinned host key",
        path=paths.KNOWN_HOSTS,
        regex=migration.known_hosts_regex(peer.name, suffix, str(peer.cluster_address)),
        replace=migration.known_hosts_line(peer.name, suffix, str(peer.cluster_address),
                                           migration.public_key("\n".join(peer_host_key), "")),
    )
elif peer_host is not None:
    logger.warning(f"{host.name}: {peer.name} has no ed25519 host key in {paths.HOST_KEY}: it is not pinned, "
                   "and live migration to it will be refused")

template(name=f"{AREA}: SSH to {peer.name} for live migration", src="libvirt/ssh-migration.conf.j2",
         dest=paths.MIGRATION_SSH_CONFIG, mark=reads.MANAGED_MARK, peer=peer.name, peer_name=f"{peer.name}{suffix}",
         peer_address=str(peer.cluster_address), key=paths.MIGRATION_KEY, known_hosts=paths.KNOWN_HOSTS)

# --- A VM on one node at a time: a lease per disk image on a replicated
# volume, held with a cluster-wide flock (templates/libvirt/qemu-hook.sh).

put(name=f"{AREA}: VM lease holder", src="libvirt/vm-lease-holder.sh", dest=paths.LEASE_HOLDER, mode="755")
template(name=f"{AREA}: this node's name for VM leases", src="libvirt/vm-leases.conf.j2",
         dest=paths.LEASES_CONF, node=me.name)
hook_was_there = path_state(paths.QEMU_HOOK) is not None
qemu_hook = put(name=f"{AREA}: qemu hook (VM leases)", src="libvirt/qemu-hook.sh", dest=paths.QEMU_HOOK,
                mode="755")

# libvirt-guests at a node's shutdown: shut the VMs down, never a managed
# save (its default, "suspend"). A save is kept on this node's root disk:
# restored at the next boot, after the VM has run on the peer meanwhile, it
# would put old memory over a changed disk. At boot it starts nothing:
# twonode-activate starts the autostart VMs once their volumes are mounted,
# and the leases let each run on one node only.
# The setting lines only, not the commented examples: Debian 12's file
# shows ON_SHUTDOWN twice (=shutdown, =suspend), and both would become the
# setting. With none, the line is added.
for name, value in LIBVIRT_GUESTS.items():
    line(name=f"{AREA}: libvirt-guests {name}={value}", path=paths.LIBVIRT_GUESTS_DEFAULTS,
         regex=rf"^\s*{name}=", replace=f"{name}={value}")

# libvirt reads qemu.conf at start, and finds its hook scripts then too
# (a changed hook is run as it is; a new one only after a restart): a
# change restarts it (running VMs keep running: their QEMU processes do
# not belong to libvirtd).
restart_for = [
    line(name=f"{AREA}: qemu.conf {name} (migrations over the cluster network)", path=paths.QEMU_CONF,
         regex=rf"^#?\s*{name}\s*=", replace=f"{name} = {value}")
    for name, value in migration.qemu_conf_settings(str(me.cluster_address)).items()
] + ([] if hook_was_there else [qemu_hook]) + ([] if link_hook_was_there else [link_hook])
if any(op is not UNCHANGED for op in restart_for):
    server.shell(name=f"{AREA}: restart libvirtd for the new qemu.conf or hook",
                 commands=["systemctl try-restart libvirtd.service"],
                 _if=lambda: any(op.did_change() for op in restart_for))
