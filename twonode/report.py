"""Render the cluster status table and split-brain recovery advice.

Pure functions over facts already read (tasks/status.py reads them), so the
output can be tested on captured states.
"""

from __future__ import annotations

from datetime import datetime, timezone

from facts.drbd_events import VERIFY_OUT_OF_SYNC, VerifyResult, latest_by_resource
from facts.drbd_state import CS_UNCONNECTED, CS_WFCONNECTION, ROLE_PRIMARY
from facts.libvirt import lease_path
from .model import Cluster, ReplicatedVolume


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_status(c: Cluster, seen: dict[str, dict | None]) -> str:
    """``seen``: per node name, its facts (drbd, o2cb, mounts, exports,
    pools, networks), or None when the node could not be reached."""
    out = []
    rows = [["resource", "node", "role", "connection", "disk", "peer disk", "out of sync", "sync", "split brain"]]
    for vol in c.replicated_volumes:
        for node in c.nodes:
            facts = seen.get(node.name)
            if facts is None:
                rows.append([vol.resource, node.name, "unreachable", "", "", "", "", "", ""])
                continue
            st = facts["drbd"].get(vol.resource)
            if st is None:
                rows.append([vol.resource, node.name, "down", "", "", "", "", "", ""])
                continue
            rows.append([
                vol.resource, node.name, f"{st.role}/{st.peer_role}", st.connection, st.disk, st.peer_disk,
                f"{st.out_of_sync_kib} KiB", f"{st.sync_percent:.1f}%" if st.sync_percent is not None else "",
                "YES" if st.split_brain else "no",
            ])
    out.append(_table(rows))

    rows = [["volume", "mount point"] + [n.name for n in c.nodes]]
    for vol in c.replicated_volumes:
        row = [vol.resource, vol.mount_point]
        for node in c.nodes:
            facts = seen.get(node.name)
            if facts is None:
                row.append("?")
                continue
            mount = facts["mounts"].get(vol.mount_point)
            row.append("mounted" if mount and mount.get("type") == "ocfs2" else "not mounted")
        rows.append(row)
    out.append(_table(rows))

    rows = [["node", "o2cb", "exports", "pools", "networks"]]
    for node in c.nodes:
        facts = seen.get(node.name)
        if facts is None:
            rows.append([node.name, "unreachable", "", "", ""])
            continue
        o2cb = facts["o2cb"]
        rows.append([
            node.name,
            ("online" if o2cb.is_online(c.o2cb.cluster_name) else "offline")
            + (", at boot" if o2cb.enabled_at_boot else ", NOT at boot") + _o2cb_timeouts(c, o2cb),
            ", ".join(sorted(facts["exports"])) or "none",
            ", ".join(f"{p.name}({'active' if p.active else 'inactive'}{', autostart' if p.autostart else ''})"
                      for p in facts["pools"].values()) or "none",
            ", ".join(f"{n.name}({'active' if n.active else 'inactive'}{', autostart' if n.autostart else ''})"
                      for n in facts["networks"].values()) or "none",
        ])
    out.append(_table(rows))
    if c.nfs is not None:
        out.append(render_nfs(c, seen))
    out += [text for text in (render_fencing(c, seen), render_vms(c, seen), _waiting(c, seen),
                              _auth_failures(c, seen), _events(c, seen), render_verify(c, seen)) if text]
    return "\n\n".join(out) + "\n"



def _utc(epoch: int) -> str | None:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if epoch else None


def fencing_document(c: Cluster, seen: dict[str, dict | None]) -> dict:
    """Per node, what it last heard from its PEER's BMC (the agent's status:
    facts/fencing.py), and whether it verifies the BMC's TLS certificate."""
    if not c.fences:
        return {}
    out = {}
    for node in c.nodes:
        peer = c.peer(node.name)
        facts = seen.get(node.name)
        check = facts.get("fence_check") if facts is not None else None
        out[node.name] = {
            "peer": peer.name, "agent": peer.bmc.agent,
            "tls_verified": peer.bmc.verifies_tls,
            # Against what: "pinned" (bmc.ca_file), the node's "system" CAs, or nothing.
            "tls_trusts": "pinned" if peer.bmc.ca_file else "system" if peer.bmc.verifies_tls else None,
            "reachable": facts is not None,
            "result": check.result if check else None,
            "asked": _utc(check.at) if check else None,
            "last_on": _utc(check.last_on) if check else None,
        }
    return out


def render_fencing(c: Cluster, seen: dict[str, dict | None]) -> str:
    """One line per node: can it fence its peer, by the BMC's last answer."""
    lines = []
    for node, f in fencing_document(c, seen).items():
        tls = {"pinned": ", TLS verified against its ca_file", "system": "",
               None: ", TLS NOT verified (ssl_insecure)"}[f["tls_trusts"]]
        head = f"fencing: {node} -> {f['peer']}'s BMC ({f['agent']}{tls}):"
        if not f["reachable"]:
            lines.append(f"{head} unknown ({node} unreachable)")
        elif f["result"] is None:
            lines.append(f"{head} NEVER ASKED (deploy, or on {node}: systemctl start twonode-fence-check)")
        elif f["result"] == "on":
            lines.append(f"{head} answers, {f['peer']} on (asked {f['asked']})")
        else:
            said = {"off": "says OFF", "not-peer": f"answers for ANOTHER MACHINE (not {f['peer']}'s UUID)"}.get(
                f["result"], "did not answer")
            lines.append(f"{head} {said} at {f['asked']} (last on: {f['last_on'] or 'never'}): a fence of "
                         f"{f['peer']} may fail, or be taken for done while it runs; journalctl -t twonode-fence "
                         f"on {node}")
    return "\n".join(lines)


def nfs_document(c: Cluster, seen: dict[str, dict | None]) -> dict:
    """Who serves NFS: mode single, the node that holds the server's lock
    (None: nobody, or not known), since when and whether its grace period
    runs; mode per_node, every node that runs nfsd."""
    if c.nfs is None:
        return {"mode": None}
    if not c.nfs_single:
        return {"mode": "per_node", "locks": "per node"}
    serving = [(n.name, facts["nfs_server"]) for n in c.nodes
               if (facts := seen.get(n.name)) is not None and facts.get("nfs_server") is not None
               and facts["nfs_server"].serving]
    unknown = [n.name for n in c.nodes if seen.get(n.name) is None]
    doc = {"mode": "single", "address": str(c.nfs.server_address), "serving": None, "since": None,
           "in_grace": None, "unknown": unknown}
    if len(serving) > 1:
        doc["serving"] = [name for name, _ in serving]
    elif serving:
        name, state = serving[0]
        doc.update(serving=name, since=state.since, in_grace=state.in_grace)
    return doc


def render_nfs(c: Cluster, seen: dict[str, dict | None]) -> str:
    doc = nfs_document(c, seen)
    if doc["mode"] == "per_node":
        return (f"NFS: each node serves its own VMs at {c.nfs.server_address} (nfs.mode per_node): "
                "a lock taken through one node is not seen through the other")
    if isinstance(doc["serving"], list):
        return f"NFS: BOTH {' and '.join(doc['serving'])} say they serve {doc['address']}: see journalctl -u twonode-nfs"
    if doc["serving"] is None:
        where = f" ({', '.join(doc['unknown'])} could not be asked)" if doc["unknown"] else ""
        return f"NFS: nobody serves {doc['address']}{where}: see journalctl -u twonode-nfs"
    grace = {True: "in its grace period (clients reclaim their locks)", False: "grace period over",
             None: "nfsd not running"}[doc["in_grace"]]
    return f"NFS: {doc['serving']} serves {doc['address']} since {doc['since']}, {grace}"


def _auth_failures(c: Cluster, seen: dict[str, dict | None]) -> str:
    """Resources whose nodes last met with different shared secrets."""
    failed = {}
    for node in c.nodes:
        for name, st in ((seen.get(node.name) or {}).get("drbd") or {}).items():
            if st.auth_failed:
                failed.setdefault(name, []).append(node.name)
    return "\n".join(
        f"{res}: AUTHENTICATION FAILED on {', '.join(nodes)} (DRBD: \"Authentication of peer failed\"): the "
        "nodes' shared secrets differ, and DRBD stays StandAlone. Give both the same one: run the deploy "
        "(tasks/drbd.py); it connects them again, and the node that was away resyncs only what changed."
        for res, nodes in sorted(failed.items()))


def latest_verifies(c: Cluster, seen: dict[str, dict | None]) -> dict[str, VerifyResult]:
    """Each replicated volume's newest verify result, whichever node ran it."""
    results = sorted((r for facts in seen.values() if facts for r in facts.get("verify", ())), key=lambda r: r.time)
    return {res: r for res, r in latest_by_resource(results).items()
            if any(v.resource == res for v in c.replicated_volumes)}


def serves_nfs(c: Cluster, vol: ReplicatedVolume) -> bool:
    """The one NFS service (mode single) keeps its state, or exports, on
    ``vol``: on each node its twonode-nfs uses the volume, serving or not."""
    return c.nfs_single and c.nfs_writes_to(vol)


def resync_commands(c: Cluster, vol: ReplicatedVolume, target: str) -> list[dict[str, str]]:
    """The operator's commands that copy the blocks a verify found onto
    ``target`` from its peer (tried on the lab), in order: ``on`` is a node, or "pyinfra" (the
    machine that runs it). DRBD copies blocks marked out of sync only when
    it connects; with both nodes Primary a disconnect makes both start a
    new generation, a split brain. So ``target`` leaves first: its VMs
    moved, the volume unmounted and demoted, then disconnect and connect:
    it becomes the sync target of exactly those blocks (and of what its
    peer wrote meanwhile). twonode-activate promotes and mounts it again
    once they are copied. A Secondary's disconnect fences nobody."""
    res, mp = vol.resource, vol.mount_point
    # The NFS service's standby opens its lock file on the volume every few
    # seconds: a umount meeting that moment finds the volume busy. Emptying
    # the node has moved the server away; its standby stops for the time.
    nfs = serves_nfs(c, vol)
    return [
        {"on": "pyinfra", "run": f"pyinfra inventory.py tasks/vms.py --data empty={target}"},
        {"on": target, "run": f"{'systemctl stop twonode-nfs && ' if nfs else ''}umount {mp} "
                              f"&& drbdadm secondary {res} && drbdadm disconnect {res} && drbdadm connect {res}"},
        {"on": target, "run": "systemctl restart twonode-activate"
                              + (" && systemctl start twonode-nfs" if nfs else "")},
        # The verify skips a resource still syncing: wait for the copy.
        {"on": c.first, "run": f"while [ \"$(drbdadm dstate {res})\" != UpToDate/UpToDate ]; do sleep 5; done; "
                               "systemctl start twonode-verify"},
    ]


def render_verify(c: Cluster, seen: dict[str, dict | None]) -> str:
    """The last online verify of each volume, and for blocks found out of
    sync the commands that copy them, for the node the operator chooses
    (DRBD cannot know which copy is right; nothing here runs them)."""
    latest = latest_verifies(c, seen)
    schedule = c.drbd.verify_schedule
    head = (f"Online verify (twonode-verify.timer on {c.first}: {schedule})" if schedule
            else f"Online verify (no schedule: systemctl start twonode-verify on {c.first})")
    rows = [["volume", "last verify (UTC)", "on", "result", "out of sync", "state"]]
    for vol in c.replicated_volumes:
        r = latest.get(vol.resource)
        rows.append([vol.resource, r.time, r.node, r.result, f"{r.out_of_sync_kib} KiB", r.state] if r
                    else [vol.resource, "never", "", "", "", ""])
    out = [f"{head}\n{_table(rows)}"]
    for vol in c.replicated_volumes:
        r = latest.get(vol.resource)
        if r is None or r.result != VERIFY_OUT_OF_SYNC:
            continue
        out.append(
            f"VERIFY FOUND {r.out_of_sync_kib} KiB of {vol.resource} that differ between the nodes ({r.node}, "
            f"{r.time}). Nothing was copied: DRBD cannot know which copy is right. Choose the node whose copy "
            "of those blocks is overwritten by its peer's, then run, in this order:")
        for node in c.nodes:
            peer = c.peer(node.name).name
            lines, where = [f"# to overwrite {node.name}'s copy with {peer}'s (nothing else may use "
                            f"{vol.mount_point} on {node.name}: `fuser -vm {vol.mount_point}` if umount says busy):"], None
            for cmd in resync_commands(c, vol, node.name):
                if cmd["on"] != where:
                    where = cmd["on"]
                    lines.append(f"#   {'on the pyinfra machine' if where == 'pyinfra' else 'on ' + where}:")
                lines.append(cmd["run"])
            out.append("\n".join(lines))
    return "\n\n".join(out)


def _waiting(c: Cluster, seen: dict[str, dict | None]) -> str:
    """Nodes that stay Secondary because they cannot see their peer (as a
    node that boots with its cluster link down does), with the one command
    that brings such a node up alone: the operator's call, never automatic."""
    lines = []
    for node in c.nodes:
        facts = seen.get(node.name)
        if facts is None:
            continue
        waiting = [st for st in facts["drbd"].values()
                   if st.role != ROLE_PRIMARY and st.connection in (CS_WFCONNECTION, CS_UNCONNECTED)]
        if waiting:
            peer = next(n.name for n in c.nodes if n.name != node.name)
            lines += [f"{node.name} waits for {peer} (Secondary, not mounted): "
                      f"{', '.join(sorted(st.resource for st in waiting))}.",
                      f"  It joins by itself once the cluster link to {peer} is back. Only if {peer} is down and",
                      f"  stays down, bring {node.name} up alone (it asks {peer}'s BMC first, which must say off),"]
            consistent = sorted(st.resource for st in waiting if st.disk == "Consistent")
            if consistent:
                # Power fencing never marks the fenced node's disk Outdated:
                # this may be the node that was fenced, its data old.
                lines += [f"  on {node.name}: twonode-activate --alone --consistent  -- but {', '.join(consistent)} "
                          f"is Consistent there: the data {node.name} had when it lost {peer}. If {peer} fenced it and "
                          "wrote on, that data is OLD and coming up alone serves it; do it only if "
                          f"{peer} cannot have written since."]
            else:
                lines.append(f"  on {node.name}: twonode-activate --alone")
    return "\n".join(lines)


def _events(c: Cluster, seen: dict[str, dict | None]) -> str:
    """The DRBD events recorded on the nodes (split brain, fencing), newest last."""
    events = sorted((e for facts in seen.values() if facts for e in facts.get("events", ())),
                    key=lambda e: e.time)
    if not events:
        return ""
    rows = [["time (UTC)", "node", "event", "resource"]]
    rows += [[e.time, e.node, e.event, e.resource] for e in events[-20:]]
    out = "DRBD events (journal: journalctl -t twonode)\n" + _table(rows)
    # A failed fence leaves that node's I/O frozen (by design: it cannot
    # prove its peer is off). Say so, with the way out, while DRBD says it
    # is frozen: the event stays in the record after the link returned or
    # o2cb restarted the node.
    latest = {}
    for e in events:
        latest[(e.node, e.resource)] = e
    for (node, resource), e in sorted(latest.items()):
        state = (seen.get(node) or {}).get("drbd", {}).get(resource)
        if e.event == "fence-failed" and state is not None and state.io_suspended:
            out += (f"\n\nFENCING FAILED on {node} for {resource}: its I/O is frozen, so nothing splits. It "
                    "resumes by itself if the cluster link returns within o2cb's "
                    f"{c.o2cb_timeouts.heartbeat_write_timeout} s; after that, o2cb "
                    f"restarts {node}, which then waits Secondary for its peer. Or, now: make sure the peer "
                    f"is powered off (by its BMC or by hand), then on {node}: drbdadm resume-io {resource}")
    return out


def _o2cb_timeouts(c: Cluster, o2cb) -> str:
    """The running stack's timeouts, and group_data's where they differ."""
    if o2cb.live_dead_threshold is None:
        return ""
    text = f", dead threshold {o2cb.live_dead_threshold}, idle {o2cb.live_idle_timeout_ms // 1000} s"
    wanted = c.o2cb_timeouts
    if o2cb.live_timeouts_differ(c.o2cb.cluster_name, wanted.dead_threshold, wanted.idle_timeout_ms):
        text += (f" (group_data: {wanted.dead_threshold}, {wanted.idle_timeout_ms // 1000} s: docs/operations.md, "
                 "'Change the o2cb timeouts')")
    return text


def split_brain_recovery(c: Cluster, seen: dict[str, dict | None], discard_node: str | None) -> str:
    """The manual recovery of every resource in split brain, for the node
    whose changes the operator chooses to discard (both choices when none
    is given). Nothing is run: DRBD cannot know which changes matter."""
    affected = []
    for vol in c.replicated_volumes:
        for node in c.nodes:
            facts = seen.get(node.name)
            st = facts["drbd"].get(vol.resource) if facts else None
            if st is not None and st.split_brain:
                affected.append(vol)
                break
    if not affected:
        return ""
    names = [n.name for n in c.nodes]
    if discard_node is not None and discard_node not in names:
        return f"\ndiscard_node={discard_node!r} is not a node: use one of {names}\n"
    victims = [discard_node] if discard_node else names
    out = ["", "SPLIT BRAIN: both nodes changed the data while disconnected. Nothing has been discarded.",
           "Choose the node whose changes since the split are thrown away (copy off anything you need",
           "from its volumes first), then run, in this order:"]
    for victim in victims:
        survivor = next(n for n in names if n != victim)
        out.append(f"\n# to keep {survivor}'s data and discard {victim}'s changes:")
        for vol in affected:
            # The NFS service keeps its volume busy where it runs: it goes
            # to the survivor for the time of the recovery.
            serves = serves_nfs(c, vol)
            out += [
                f"#   on {victim}:",
                *(["systemctl stop twonode-nfs"] if serves else []),
                f"umount {vol.mount_point}",
                f"drbdadm secondary {vol.resource}",
                f"drbdadm connect --discard-my-data {vol.resource}",
                f"#   on {survivor} (if it is StandAlone too):",
                f"drbdadm connect {vol.resource}",
                f"#   on {victim}, once `drbdadm dstate {vol.resource}` says UpToDate/UpToDate:",
                f"drbdadm primary {vol.resource} && mount {vol.mount_point}",
                *(["systemctl start twonode-nfs"] if serves else []),
            ]
    if not discard_node:
        out.append("\n(re-run with --data discard_node=<node> to see only your choice)")
    return "\n".join(out) + "\n"


def render_vms(c: Cluster, seen: dict[str, dict | None]) -> str:
    """Each VM: where it runs, where it is defined, who holds the leases of
    its disks on the replicated volumes, and what is wrong with it: running
    on both nodes, running without its lease, a disk outside the replicated
    volumes (it cannot move), defined on one node only (it can run on the
    other only after a migration or a define there)."""
    reachable = {name: facts["vms"] for name, facts in seen.items() if facts and facts.get("vms") is not None}
    names = sorted({vm for state in reachable.values() for vm in state.domains})
    if not names:
        return ""
    leases = {path: lease for state in reachable.values() for path, lease in state.leases.items()}
    rows = [["VM", "runs on", "defined on", "disk leases held by", "attention"]]
    for vm in names:
        doms = {node: state.domains[vm] for node, state in reachable.items() if vm in state.domains}
        running = [n for n, d in doms.items() if d.is_active]
        defined = [n for n, d in doms.items() if d.persistent]
        disks = next(iter(d.disks for n, d in doms.items() if n in running), None) or next(iter(doms.values())).disks
        holders, attention = [], []
        for disk in disks:
            vol = c.replicated_volume_of(disk)
            if vol is None:
                attention.append(f"local disk {disk}: cannot move")
                continue
            # A lease file keeps its last holder's record after the holder
            # let go: it is held while the VM runs on that node.
            lease = leases.get(lease_path(vol.mount_point, disk))
            holders.append(f"{lease.node} since {lease.since}" if lease and lease.node in running else "free")
            if running and (lease is None or lease.node not in running):
                attention.append(f"runs without the lease of {disk}")
        if len(running) > 1:
            attention.insert(0, "RUNNING ON BOTH NODES")
        if len(defined) == 1 and len(reachable) == len(c.nodes):
            attention.append(f"defined on {defined[0]} only")
        rows.append([vm, ", ".join(running) or "nowhere", ", ".join(defined) or "nowhere",
                     ", ".join(dict.fromkeys(holders)) or "-", "; ".join(attention)])
    return "VMs (leases: templates/libvirt/qemu-hook.sh)\n" + _table(rows)


def status_document(c: Cluster, seen: dict[str, dict | None]) -> dict:
    """The same facts as the table, for machines (``--data format=json``):
    per node what it runs and serves, per resource and node the DRBD
    state, per volume and node the mount, the VMs each node has, and the
    recorded events. A node that could not be reached is ``reachable:
    false`` and nothing else is said of it (nothing is known)."""
    nodes, resources, mounts, vms = {}, [], [], []
    for node in c.nodes:
        facts = seen.get(node.name)
        if facts is None:
            nodes[node.name] = {"reachable": False}
            continue
        o2cb = facts["o2cb"]
        nodes[node.name] = {
            "reachable": True,
            "o2cb": {"online": o2cb.is_online(c.o2cb.cluster_name), "at_boot": o2cb.enabled_at_boot,
                     "dead_threshold": o2cb.live_dead_threshold, "idle_timeout_ms": o2cb.live_idle_timeout_ms},
            "exports": sorted(facts["exports"]),
            "pools": [{"name": p.name, "active": p.active, "autostart": p.autostart, "target": p.target}
                      for p in facts["pools"].values()],
            "networks": [{"name": n.name, "active": n.active, "autostart": n.autostart}
                         for n in facts["networks"].values()],
        }
        for vm in (facts["vms"].domains.values() if facts.get("vms") is not None else ()):
            vms.append({"name": vm.name, "node": node.name, "state": vm.state, "running": vm.is_active,
                        "persistent": vm.persistent, "autostart": vm.autostart, "disks": list(vm.disks)})
    for vol in c.replicated_volumes:
        for node in c.nodes:
            facts = seen.get(node.name)
            state = facts["drbd"].get(vol.resource) if facts is not None else None
            resources.append({"resource": vol.resource, "node": node.name, "up": state is not None,
                              **({k: v for k, v in state.to_json().items() if k not in ("minor", "resource")}
                                 if state is not None else {})})
            mount = facts["mounts"].get(vol.mount_point) if facts is not None else None
            mounts.append({"volume": vol.name, "mount_point": vol.mount_point, "node": node.name,
                           "mounted": None if facts is None else bool(mount and mount.get("type") == "ocfs2")})
    events = sorted((e.to_json() for facts in seen.values() if facts for e in facts.get("events", ())),
                    key=lambda e: e["time"])
    return {"nodes": nodes, "resources": resources, "mounts": mounts, "vms": vms, "events": events,
            "verify": verify_document(c, seen), "nfs": nfs_document(c, seen), "fencing": fencing_document(c, seen)}


def verify_document(c: Cluster, seen: dict[str, dict | None]) -> dict:
    """Where and when the verify runs, each volume's last result, and,
    where it found blocks that differ, the resync commands per choice of
    the node to overwrite."""
    latest = latest_verifies(c, seen)

    def found(res: str) -> bool:
        return res in latest and latest[res].result == VERIFY_OUT_OF_SYNC

    volumes = [{"volume": vol.name, "resource": vol.resource,
                "last": latest[vol.resource].to_json() if vol.resource in latest else None,
                "resync_commands": ({node.name: resync_commands(c, vol, node.name) for node in c.nodes}
                                    if found(vol.resource) else None)}
               for vol in c.replicated_volumes]
    return {"node": c.first, "schedule": c.drbd.verify_schedule, "volumes": volumes}
