#!/bin/sh
# drbd-verify (installed by twonode): online verify of each replicated
# volume (/etc/twonode/volumes: "resource mount-point" per line, which the
# deploy and tasks/retire.py keep), one after the other, run by
# twonode-verify.service on one node only.
#
# DRBD compares each block's digest (verify-alg) with the peer's and marks
# the blocks that differ out of sync; it does not copy them: which node's
# copy is right is the operator's call, and tasks/status.py shows the
# commands. A resource not Connected and UpToDate on both nodes is skipped:
# a verify there would compare nothing, or race a resync.
#
# Each result is one line of $STATE, newest last (the last 200 kept):
#   TIME NODE RESOURCE RESULT KIB STATE
# RESULT: in-sync, out-of-sync (KIB found), skipped or interrupted (STATE
# says why: connection,disk/peer-disk). Exit 1 when any resource is not
# in sync, so that systemd (and monitoring) sees a failed unit.
state=${TWONODE_VERIFY_STATE:-/var/lib/twonode/verify}  # the variables: for tests/test_verify.py
poll=${TWONODE_VERIFY_POLL:-5}
proc=${TWONODE_PROC_DRBD:-/proc/drbd}
volumes=${TWONODE_VOLUMES:-/etc/twonode/volumes}
status=0

record() {  # RESOURCE RESULT KIB STATE
    mkdir -p "${state%/*}"
    {
        tail -n 199 "$state" 2>/dev/null
        echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $(hostname) $1 $2 $3 $4"
    } > "$state.new" && sync "$state.new" 2>/dev/null && mv -f "$state.new" "$state"
    if [ "$2" = in-sync ]; then
        logger -t twonode -- "DRBD verify of $1: in sync"
    else
        logger -p daemon.crit -t twonode -- "DRBD verify of $1: $2 ($3 KiB out of sync, $4)"
        status=1
    fi
}

# Out-of-sync KiB: 8.4's /proc/drbd (oos: on the line after the device's),
# DRBD 9's status statistics.
out_of_sync() {
    minor=$(drbdadm sh-minor "$1" 2>/dev/null) || { echo 0; return; }
    if [ -r "$proc" ] && grep -q "^ *$minor: cs:" "$proc"; then
        awk -v dev="$minor:" '$1 == dev { getline; for (i = 1; i <= NF; i++) if ($i ~ /^oos:/) print substr($i, 5) }' "$proc"
    else
        drbdsetup status "$1" --statistics 2>/dev/null | tr ' ' '\n' | sed -n 's/^out-of-sync://p' | head -n 1
    fi
}

for res in $(awk '$1 !~ /^(#|$)/ { print $1 }' "$volumes" 2>/dev/null); do
    cs=$(drbdadm cstate "$res" 2>/dev/null); ds=$(drbdadm dstate "$res" 2>/dev/null)
    if [ "$cs" != Connected ] || [ "$ds" != UpToDate/UpToDate ]; then
        record "$res" skipped 0 "${cs:-down},${ds:-none}"
        continue
    fi
    if ! drbdadm verify "$res"; then
        record "$res" skipped 0 "verify-refused"
        continue
    fi
    # drbdadm returns once the verify started; it ends in Connected, or in
    # whatever the connection fell to.
    while cs=$(drbdadm cstate "$res" 2>/dev/null); [ "$cs" = VerifyS ] || [ "$cs" = VerifyT ]; do
        sleep "$poll"
    done
    ds=$(drbdadm dstate "$res" 2>/dev/null)
    kib=$(out_of_sync "$res"); kib=${kib:-0}
    if [ "$cs" != Connected ]; then
        record "$res" interrupted "$kib" "${cs:-down},${ds:-none}"
    elif [ "$kib" -gt 0 ]; then
        record "$res" out-of-sync "$kib" "$cs,$ds"
    else
        record "$res" in-sync 0 "$cs,$ds"
    fi
done
exit $status
