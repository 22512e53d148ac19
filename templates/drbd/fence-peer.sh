#!/bin/bash
# DRBD fence-peer handler (installed by twonode; `fencing resource-and-stonith`).
#
# DRBD runs it on a Primary that lost its peer, with I/O to the resource
# frozen until it returns. It powers the peer off through the peer's BMC
# with a real fence agent, and returns DRBD's exit codes (drbd.conf(5),
# kernel drbd_nl.c conn_try_outdate_peer):
#   7  the peer was powered off ("stonithed"): DRBD marks it Outdated and
#      I/O resumes here;
#   1  anything else: DRBD calls the handler broken and I/O STAYS FROZEN. A
#      node that cannot prove its peer is off must not write alone: it
#      waits for the link to return (I/O resumes, nothing is lost), or for
#      the operator (docs/concepts.md, "Fencing"); after o2cb's heartbeat
#      timeout, o2cb restarts it, and it boots Secondary and waits.
#
# Rules, each logged (journal tag twonode-fence) and recorded as an event:
#   - never fence from a node whose own disk is not UpToDate: a node that
#     just booted alone, or holds a partial copy, must not shoot the peer
#     that has the good data;
#   - a race is settled by delay: when the link breaks under both nodes at
#     once, both run this; first_node fences at once, the other waits
#     race_delay seconds first, and is powered off before it is done;
#   - one fence for all resources: every resource calls this at the same
#     moment; the first call fences, the others find it done. A fence is
#     reused only while the peer has stayed away since: once any resource
#     has been Connected again (the kernel's log says when), the peer is
#     back, and a new loss of it is a new fence. Never for more than two
#     minutes either;
#   - the peer is powered back on only if it was on: one that was already
#     off (a power loss) is left off, like a BMC would find it.
#
# /etc/twonode/fence/handler.conf: peer=, agent=, delay=, agent_time=,
# ca_sha256=, peer_uuid= (tasks/fencing.py).
# /etc/twonode/fence/peer-options: the agent's stdin options (root only).
set -u
resource=${DRBD_RESOURCE:-unknown}
# The TWONODE_* variables are for tests/test_fence_peer.py only: DRBD runs
# its handlers with an environment of its own.
dir=${TWONODE_FENCE_DIR:-/etc/twonode/fence}
run=${TWONODE_RUN_DIR:-/run/twonode}
agents=${TWONODE_AGENT_DIR:-/usr/sbin}
uptime=${TWONODE_UPTIME:-/proc/uptime}
# Holds the uptime (seconds) at the fence: the clock the kernel's log uses.
marker=$run/peer-fenced

# A failed fence is followed within a minute by o2cb restarting this node,
# and journald writes to disk only every few minutes: such restarts lost the
# records of the handler, the failure's included, on the lab, although it
# was logged at crit 30 s before (journald's sync on crit did not keep a
# message even 5 s before a reset there). `journalctl --sync` returns once
# what was logged is on disk: started in the background, so that I/O,
# frozen while this runs, does not wait for it (it ends in seconds, long
# before such a restart). Nothing started in the background holds the
# fence lock (fd 9) or the handler's output.
background() { ( exec 9>&- >/dev/null 2>&1 </dev/null; "$@" ) & }
keep() { logger "$@" 2>/dev/null; background timeout 5 journalctl --sync; }
say() { keep -t twonode-fence -- "$resource: $*"; echo "$resource: $*" >&2 || true; }
alarm() { keep -p daemon.crit -t twonode-fence -- "$resource: $*"; echo "$resource: $*" >&2 || true; }
warn() { keep -p daemon.warning -t twonode-fence -- "$resource: $*"; echo "$resource: $*" >&2 || true; }
event() { "${TWONODE_EVENT_HANDLER:-/usr/local/lib/twonode/drbd-event}" "$1"; }
bmc_env() {  # bmc_env COMMAND...: COMMAND, trusting what the BMC's TLS must chain to
    # A pinned certificate (bmc.ca_file): fence_redfish's HTTPS library
    # (python3-requests) then trusts it alone, not the system's CAs.
    if [ -n "${ca_sha256:-}" ]; then env "REQUESTS_CA_BUNDLE=$dir/bmc-ca.pem" "$@"; else "$@"; fi
}
agent_do() {  # agent_do ACTION: the agent's exit code; its report on stdout
    { cat "$dir/peer-options"; echo "action=$1"; } | bmc_env timeout 120 "$agents/$agent" 2>/dev/null
}

# drbd-fence-peer check [--running] [DIR]: the agent's "status" of the peer,
# asked by the deploy (--running: it has just reached the peer; DIR: its new
# settings, handler.conf and peer-options, checked before they are put in
# place) and hourly by twonode-fence-check.timer. "on" while the peer runs proves
# that its BMC answers, takes the password and names a system that is on:
# a wrong address or systems_uri would answer "off" (or fail), and the
# first real fence would then take "Already OFF" for done while the peer
# writes. And the system the BMC answers for must be the peer: a wrong
# address or systems_uri that names another running machine (this node
# itself, a neighbour in the chassis) answers "on" too, and a fence through
# it would power that machine off and take the peer for fenced. So where
# the agent is fence_redfish, the UUID the BMC reports for that system must
# be the peer's own machine UUID (peer_uuid, read on the peer by the
# deploy). The result goes to $checked as "EPOCH RESULT LAST_ON_EPOCH"
# (tasks/status.py and twonode-metrics read it). Exit: 0 on, 2 off, 1
# failed or another machine's BMC (not-peer).
checked=${TWONODE_FENCE_CHECKED:-/var/lib/twonode/fence-check}
uuid_reader=${TWONODE_BMC_SYSTEM_UUID:-/usr/local/lib/twonode/bmc-system-uuid}
mode=fence running=no
if [ "${1:-}" = check ]; then
    mode=check resource=check
    shift
    if [ "${1:-}" = --running ]; then running=yes; shift; fi
    if [ -n "${1:-}" ]; then dir=$1; fi
fi
# The settings of the directory asked about: a first check, of new
# settings, runs before any are in place.
. "$dir/handler.conf"
if [ $mode = check ]; then
    # Asked up to three times while it fails, 2 s apart: one failed answer
    # is a BMC or a node busy at that moment; three are the BMC, the agent
    # or the settings.
    tries=0
    while :; do
        started=$(date +%s)
        agent_do status >/dev/null
        case $? in
            0) result=on ;;
            2) result=off ;;
            *) result=failed ;;
        esac
        took=$(( $(date +%s) - started ))
        tries=$((tries + 1))
        [ "$result" = failed ] && [ $tries -lt 3 ] || break
        sleep 2
    done
    # A power-off is a status and more (the "off", then status polls until
    # the BMC reads off): an agent whose status alone takes longer than
    # agent_time may not land a fence in the time that race_delay and o2cb
    # were sized for (docs/concepts.md, "Fencing"). A warning, not a
    # failure: the answer is right, and what is at stake is the survivor's
    # availability (o2cb would restart it too while a late fence lands), not
    # data, since the fence still comes before any write. And one answer
    # cannot tell a slow agent from a node starved of CPU at that moment (a
    # deploy installing packages, an emulated lab beside busy ones).
    if [ "$result" != failed ] && [ "$took" -gt "${agent_time:-60}" ]; then
        warn "$peer's BMC took $took s to answer $agent status, more than agent_time ($agent_time s): if that is its usual time, a fence would land later than o2cb's timeouts allow, and o2cb would restart this node too. Time the agent on an idle node and set fencing.agent_time (and race_delay) to fit"
    fi
    if [ "$result" != failed ] && [ -n "${peer_uuid:-}" ] && [ "$agent" = fence_redfish ]; then
        if reported=$(bmc_env timeout 60 "$uuid_reader" < "$dir/peer-options" 2>/dev/null); then
            if [ -z "$reported" ]; then
                warn "$peer's BMC reports no UUID for the system it fences: whether that is $peer was not checked"
            elif [ "$reported" != "$peer_uuid" ]; then
                result=not-peer
            fi
        else
            warn "the UUID of the system $peer's BMC fences could not be read (${reported:-no answer}): whether that is $peer was not checked"
        fi
    fi
    now=$(date +%s)
    last_on=0
    read -r _ _ last_on 2>/dev/null < "$checked" || last_on=0
    [ "$result" = on ] && last_on=$now
    mkdir -p "$(dirname "$checked")"
    echo "$now $result ${last_on:-0}" > "$checked.new" && mv -f "$checked.new" "$checked"
    case $result in
        on) say "$peer's BMC answers: $peer is on ($agent status)"; exit 0 ;;
        off) # The deploy, which has just reached the peer, says it runs; so
             # does a connection. Otherwise the peer may well be off.
             if [ $running = yes ] || grep -q 'cs:Connected' "${TWONODE_PROC_DRBD:-/proc/drbd}" 2>/dev/null; then
                 alarm "$peer's BMC says $peer is OFF while it runs: wrong BMC address or systems_uri? A fence would take that for done"
             else
                 say "$peer's BMC says $peer is off ($agent status), and this node is not connected to it"
             fi
             exit 2 ;;
        not-peer)
           uri=$(sed -n 's/^systems_uri=//p' "$dir/peer-options")
           alarm "$peer's BMC settings name another machine: the system ${uri:-?} there has UUID $reported, and $peer's own is $peer_uuid. A fence would power that machine off and take $peer for fenced: fix nodes.$peer.bmc (address, options.systems_uri) in group_data"
           exit 1 ;;
        *) alarm "$peer's BMC did not answer $agent status: unreachable, wrong password${ca_sha256:+, a certificate that bmc-ca.pem does not vouch for} or wrong system? A fence of $peer would fail (asked $tries times)"
           exit 1 ;;
    esac
fi

disk=$(drbdadm dstate "$resource" 2>/dev/null); disk=${disk%%/*}
if [ "$disk" != UpToDate ]; then
    say "not fencing $peer: this node's disk is $disk, not UpToDate (I/O stays frozen)"
    event fence-refused
    exit 1
fi

mkdir -p "$run"
exec 9>"$run/fence.lock"
flock 9
# Another resource fenced the peer moments ago (the same link loss), and
# no resource has been Connected since: the peer is still off.
connected_since() {  # connected_since UPTIME: a resource connected after it
    dmesg 2>/dev/null | awk -v t="$1" '/drbd/ && /conn\( [A-Za-z]+ -> Connected \)/ {
        s = $0; sub(/^\[ */, "", s); sub(/\].*/, "", s); if (s + 0 >= t + 0) found = 1 }
        END { exit !found }'
}
if [ -e "$marker" ]; then
    age=$(( $(date +%s) - $(stat -c %Y "$marker") ))
    if connected_since "$(cat "$marker" 2>/dev/null || echo 0)"; then
        say "$peer was fenced $age s ago, but has been connected since: fencing it again"
    elif [ "$age" -lt 120 ]; then
        say "$peer was fenced $age s ago and has stayed away since: done"
        exit 7
    fi
    rm -f "$marker"
fi
if [ "${delay:-0}" -gt 0 ]; then
    say "waiting $delay s before fencing $peer (first_node fences first in a race)"
    sleep "$delay"
fi
# The link may be back by now: then there is nobody to fence.
if [ "$(drbdadm cstate "$resource" 2>/dev/null)" = Connected ]; then
    say "connected again: not fencing $peer"
    exit 1
fi

# One agent call: every second here is frozen I/O, and the other node's
# race_delay must outlast it. fence-agents reports "Success: Powered OFF",
# or "Success: Already OFF" for a peer that was off.
say "fencing $peer: $agent off"
if ! report=$(agent_do off); then
    alarm "FENCING $peer FAILED: its BMC did not confirm power off. I/O stays frozen; see tasks/status.py"
    event fence-failed
    exit 1
fi
cut -d' ' -f1 "$uptime" > "$marker"
say "$peer is powered off ($report): I/O resumes here"
event fenced-peer
if [ "$report" = "Success: Powered OFF" ]; then
    # Back on, in the background: DRBD's I/O must not wait for a boot. The
    # peer boots Secondary and joins by itself (twonode-activate).
    power_on() { if agent_do on >/dev/null; then say "$peer powered on again"; else say "$peer could not be powered on again"; fi; }
    background power_on
fi
exit 7
