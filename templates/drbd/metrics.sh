#!/bin/sh
# twonode-metrics (installed by twonode): this node's DRBD and OCFS2 state
# as a Prometheus node_exporter textfile, refreshed by twonode-metrics.timer.
#
#   twonode-metrics DIRECTORY
#
# Of each replicated volume in /etc/twonode/volumes ("resource mount-point"
# per line, which the deploy and tasks/retire.py keep).
# Writes DIRECTORY/twonode.prom whole (written beside, then renamed: the
# exporter never reads half a file). The values are the ones tasks/status.py
# shows, read the same way (tests/test_metrics.py checks both agree on the
# same captured outputs): /proc/drbd (DRBD 8.4, Debian's module), the
# kernel log for split brain and authentication failures, the mounts, and
# the online verify's results.
set -u
dir=$1
proc=${TWONODE_PROC_DRBD:-/proc/drbd}  # the variables: for tests/test_metrics.py
volumes=${TWONODE_VOLUMES:-/etc/twonode/volumes}
mounts=${TWONODE_MOUNTS:-/proc/self/mounts}
verify=${TWONODE_VERIFY_STATE:-/var/lib/twonode/verify}
now=${TWONODE_NOW:-$(date +%s)}
out="$dir/twonode.prom"
tmp="$out.$$"
trap 'rm -f "$tmp" "$tmp.verify" "$tmp.log"' EXIT
nfs_conf=${TWONODE_NFS_CONF:-/etc/twonode/nfs-server.conf}
nfs_serving=${TWONODE_NFS_SERVING:-/run/twonode/nfs-server}
nfs_grace=${TWONODE_NFS_GRACE:-/proc/fs/nfsd/v4_end_grace}
fence_checked=${TWONODE_FENCE_CHECKED:-/var/lib/twonode/fence-check}
[ -r "$proc" ] || proc=/dev/null  # the module not loaded: nothing is up
[ -r "$volumes" ] || volumes=/dev/null

# Each resource's last verify: RESOURCE EPOCH RESULT KIB.
: > "$tmp.verify"
if [ -r "$verify" ]; then
    awk '{ last[$3] = $0 } END { for (r in last) print last[r] }' "$verify" |
    while read -r time node res result kib state; do
        echo "$res $(date -d "$time" +%s 2>/dev/null || echo 0) $result $kib" >> "$tmp.verify"
    done
fi

specs=""
while read -r res mp; do
    case "$res" in ""|"#"*) continue ;; esac
    minor=$(drbdadm sh-minor "$res" 2>/dev/null) || continue
    specs="$specs $res:$minor:$mp"
done < "$volumes"

if [ -n "${TWONODE_DMESG:-}" ]; then cat "$TWONODE_DMESG"; else dmesg 2>/dev/null; fi | grep drbd > "$tmp.log"

awk -v specs="$specs" -v now="$now" -v klog="$tmp.log" -v proc="$proc" -v mounts="$mounts" -v verify="$tmp.verify" '
BEGIN {
    n = split(specs, spec, " ")
    for (i = 1; i <= n; i++) {
        split(spec[i], p, ":"); res[i] = p[1]; minor[i] = p[2]; mp[i] = p[3]; name_of[p[2]] = p[1]
    }
}
# The kernel log, oldest first: the latest connection event per resource
# says whether it is a failure DRBD left unresolved (facts/drbd.py).
FILENAME == klog {
    r = ""
    if (match($0, /drbd [A-Za-z0-9_.-]+(\/[0-9]+ drbd[0-9]+)?:/)) {
        r = substr($0, RSTART + 5, RLENGTH - 6); sub(/\/.*/, "", r)
    } else if (match($0, /block drbd[0-9]+:/)) {
        r = name_of[substr($0, RSTART + 10, RLENGTH - 11)]
    }
    if (r == "") next
    if (index($0, "Split-Brain detected but unresolved")) failure[r] = "split-brain"
    else if (index($0, "Authentication of peer failed")) failure[r] = "auth"
    else if ($0 ~ /conn\( [A-Za-z]+ -> (Connected|SyncSource|SyncTarget|WFBitMapS|WFBitMapT) \)/) failure[r] = ""
    next
}
FILENAME == proc {
    if ($1 ~ /^[0-9]+:$/ && $2 ~ /^cs:/) {
        cur = substr($1, 1, length($1) - 1)
        if ($2 == "cs:Unconfigured") { cur = ""; next }
        up[cur] = 1
        cs[cur] = substr($2, 4)
        split(substr($3, 4), ro, "/"); role[cur] = ro[1]
        split(substr($4, 4), ds, "/"); disk[cur] = ds[1]; pdisk[cur] = ds[2]
        # Protocol, then the I/O flags: the first is r(unning) or s(uspended).
        suspended[cur] = (NF >= 6 && $5 ~ /^[ABC]$/ && $6 ~ /^s/) ? 1 : 0
        next
    }
    if (cur != "" && $1 ~ /^ns:/) {
        for (i = 1; i <= NF; i++) { split($i, kv, ":"); counter[cur, kv[1]] = kv[2] }
    }
    next
}
FILENAME == mounts { if ($3 == "ocfs2") mounted[$2] = 1; next }
FILENAME == verify { vtime[$1] = $2; vresult[$1] = $3; vkib[$1] = $4; next }

function family(name, type, help) { printf "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type }
function each(name, what,    i, m, v) {
    for (i = 1; i <= n; i++) {
        m = minor[i]
        if (what == "up") v = (m in up) ? 1 : 0
        else if (!(m in up)) continue
        else if (what == "connected") v = (cs[m] ~ /^(Connected|SyncSource|SyncTarget|PausedSyncS|PausedSyncT|WFBitMapS|WFBitMapT|WFSyncUUID|StartingSyncS|StartingSyncT|VerifyS|VerifyT)$/) ? 1 : 0
        else if (what == "resync") v = (cs[m] ~ /^(SyncSource|SyncTarget|PausedSyncS|PausedSyncT|WFBitMapS|WFBitMapT|WFSyncUUID|StartingSyncS|StartingSyncT)$/) ? 1 : 0
        else if (what == "primary") v = (role[m] == "Primary") ? 1 : 0
        else if (what == "disk") v = (disk[m] == "UpToDate") ? 1 : 0
        else if (what == "pdisk") v = (pdisk[m] == "UpToDate") ? 1 : 0
        else if (what == "suspended") v = suspended[m]
        else if (what == "split") v = (cs[m] == "StandAlone" && failure[res[i]] == "split-brain") ? 1 : 0
        else if (what == "auth") v = (cs[m] == "StandAlone" && failure[res[i]] == "auth") ? 1 : 0
        else v = counter[m, what] * 1024
        printf "%s{resource=\"%s\"} %.0f\n", name, res[i], v
    }
}
function state_of(name,    i, m) {
    for (i = 1; i <= n; i++) {
        m = minor[i]
        if (m in up) printf "%s{resource=\"%s\",state=\"%s\"} 1\n", name, res[i], cs[m]
    }
}
function verified(name, what,    i, r) {
    for (i = 1; i <= n; i++) {
        r = res[i]
        if (!(r in vresult)) continue
        if (what == "time") printf "%s{resource=\"%s\"} %.0f\n", name, r, vtime[r]
        else if (what == "ok") printf "%s{resource=\"%s\"} %d\n", name, r, (vresult[r] == "in-sync") ? 1 : 0
        else printf "%s{resource=\"%s\"} %.0f\n", name, r, vkib[r] * 1024
    }
}
END {
    family("twonode_drbd_up", "gauge", "1 when the resource is configured in the kernel on this node.")
    each("twonode_drbd_up", "up")
    family("twonode_drbd_connected", "gauge", "1 when connected to the peer (resyncing and verifying included).")
    each("twonode_drbd_connected", "connected")
    family("twonode_drbd_connection_state", "gauge", "The connection state DRBD reports, as a label.")
    state_of("twonode_drbd_connection_state")
    family("twonode_drbd_primary", "gauge", "1 when this node is Primary.")
    each("twonode_drbd_primary", "primary")
    family("twonode_drbd_disk_up_to_date", "gauge", "1 when the local disk is UpToDate.")
    each("twonode_drbd_disk_up_to_date", "disk")
    family("twonode_drbd_peer_disk_up_to_date", "gauge", "1 when the peer disk is UpToDate, as this node knows it.")
    each("twonode_drbd_peer_disk_up_to_date", "pdisk")
    family("twonode_drbd_resync_in_progress", "gauge", "1 while a resync runs.")
    each("twonode_drbd_resync_in_progress", "resync")
    family("twonode_drbd_out_of_sync_bytes", "gauge", "Data DRBD knows to differ from the peer.")
    each("twonode_drbd_out_of_sync_bytes", "oos")
    family("twonode_drbd_io_suspended", "gauge", "1 while I/O is frozen (fencing in progress or failed).")
    each("twonode_drbd_io_suspended", "suspended")
    family("twonode_drbd_split_brain", "gauge", "1 when DRBD dropped the connection on a split brain it did not resolve.")
    each("twonode_drbd_split_brain", "split")
    family("twonode_drbd_auth_failed", "gauge", "1 when the peer failed authentication (the shared secrets differ).")
    each("twonode_drbd_auth_failed", "auth")
    family("twonode_drbd_network_sent_bytes_total", "counter", "Data sent to the peer since the resource came up.")
    each("twonode_drbd_network_sent_bytes_total", "ns")
    family("twonode_drbd_network_received_bytes_total", "counter", "Data received from the peer since the resource came up.")
    each("twonode_drbd_network_received_bytes_total", "nr")
    family("twonode_drbd_disk_written_bytes_total", "counter", "Data written to the local disk since the resource came up.")
    each("twonode_drbd_disk_written_bytes_total", "dw")
    family("twonode_drbd_disk_read_bytes_total", "counter", "Data read from the local disk since the resource came up.")
    each("twonode_drbd_disk_read_bytes_total", "dr")
    family("twonode_drbd_verify_last_timestamp_seconds", "gauge", "When the last online verify of the resource ended (Unix time).")
    verified("twonode_drbd_verify_last_timestamp_seconds", "time")
    family("twonode_drbd_verify_last_success", "gauge", "1 when the last online verify found the resource in sync.")
    verified("twonode_drbd_verify_last_success", "ok")
    family("twonode_drbd_verify_out_of_sync_bytes", "gauge", "Data the last online verify found to differ.")
    verified("twonode_drbd_verify_out_of_sync_bytes", "oos")
    family("twonode_ocfs2_mounted", "gauge", "1 when the volume is mounted (OCFS2) on this node.")
    for (i = 1; i <= n; i++) printf "twonode_ocfs2_mounted{resource=\"%s\",mount_point=\"%s\"} %d\n", res[i], mp[i], (mp[i] in mounted) ? 1 : 0
    family("twonode_metrics_timestamp_seconds", "gauge", "When these metrics were read (Unix time).")
    printf "twonode_metrics_timestamp_seconds %.0f\n", now
}' "$tmp.log" "$proc" "$mounts" "$tmp.verify" > "$tmp" || exit 1

# NFS in mode single (twonode-nfs): what tasks/status.py says of this node.
if [ -r "$nfs_conf" ]; then
    serving=0 grace=0
    if read -r _ since < "$nfs_serving" 2>/dev/null && [ -n "${since:-}" ]; then
        serving=1
        [ "$(cat "$nfs_grace" 2>/dev/null)" = N ] && grace=1
    fi
    {
        echo "# HELP twonode_nfs_serving 1 when this node serves the cluster's NFS (it holds the server's lock)."
        echo "# TYPE twonode_nfs_serving gauge"
        echo "twonode_nfs_serving $serving"
        echo "# HELP twonode_nfs_in_grace 1 while the NFS server on this node is in its grace period."
        echo "# TYPE twonode_nfs_in_grace gauge"
        echo "twonode_nfs_in_grace $grace"
        if [ $serving = 1 ]; then
            echo "# HELP twonode_nfs_serving_since_seconds When this node began to serve NFS (Unix time)."
            echo "# TYPE twonode_nfs_serving_since_seconds gauge"
            echo "twonode_nfs_serving_since_seconds $(date -u -d "$since" +%s)"
        fi
    } >> "$tmp"
fi
# The peer's BMC's last answer to the fence agent's status (fence-peer.sh
# check): what tasks/status.py shows on its fencing line.
if read -r asked result last_on < "$fence_checked" 2>/dev/null && [ -n "${last_on:-}" ]; then
    {
        echo "# HELP twonode_fence_check_ok 1 when the peer's BMC last answered the fence agent's status with on."
        echo "# TYPE twonode_fence_check_ok gauge"
        echo "twonode_fence_check_ok $([ "$result" = on ] && echo 1 || echo 0)"
        echo "# HELP twonode_fence_check_timestamp_seconds When the peer's BMC was last asked (Unix time)."
        echo "# TYPE twonode_fence_check_timestamp_seconds gauge"
        echo "twonode_fence_check_timestamp_seconds $asked"
        echo "# HELP twonode_fence_check_last_on_timestamp_seconds When the peer's BMC last answered on (Unix time; 0: never)."
        echo "# TYPE twonode_fence_check_last_on_timestamp_seconds gauge"
        echo "twonode_fence_check_last_on_timestamp_seconds $last_on"
    } >> "$tmp"
fi
chmod 644 "$tmp" && mv -f "$tmp" "$out"
