#!/usr/bin/env bash
# The twonode lab: two Debian guests (fiori, torchio) under QEMU/TCG.
#
#   lab/lab.sh up       build the base image if missing, then boot both guests
#   lab/lab.sh down     stop both guests (by pid file)
#   lab/lab.sh reset [ROOT]    down, fresh overlays (on ROOT, default the
#                              bare base image) and data disks, up
#   lab/lab.sh status   which guests run and answer SSH
#   lab/lab.sh ssh NODE [CMD...]
#   lab/lab.sh kill NODE       hard-stop one guest (power cut), by pid
#   lab/lab.sh start NODE      boot one guest again, keeping its disks
#   lab/lab.sh power-on NODE   boot it without waiting for SSH (the BMC's "On")
#   lab/lab.sh running NODE    exit 0 if its QEMU process runs
#   lab/lab.sh bmc             the BMC's address for the guests, its user, password file and log
#   lab/lab.sh bmc-stop|bmc-start   the BMC unreachable / back (its relay then finds nobody)
#   lab/lab.sh link NODE up|down    NODE's cluster link (eth1) carrier, from the host:
#                              a pulled cable, which a reboot of the guest does not undo
#   lab/lab.sh freeze NODE     NODE hangs: its CPUs stopped (QMP stop), still powered on
#   lab/lab.sh reinstall NODE RELEASE [ROOT]   NODE's system disk replaced by a
#                              bare one of RELEASE, or ROOT (its data disk kept),
#                              then booted: the OS reinstalled, as in a rolling upgrade
#   lab/lab.sh replace NODE [ROOT]   NODE's server rebuilt: new blank disks
#                              (system disk bare, or ROOT) and new NIC MACs
#                              (52:54:00:01:...), then booted
#   lab/lab.sh build    (re)build the cached base image
#   lab/lab.sh image    build it only if missing or stale
#   lab/lab.sh rootfs DIR      the base image's root file system, unpacked into DIR
#   lab/lab.sh disk DIR FILE   DIR as a root disk (qcow2) the guests can boot
#   lab/lab.sh save DIR       freeze both guests and keep RAM, devices and disks in DIR
#   lab/lab.sh restore DIR    both guests exactly as saved, resumed together
#
# TWONODE_LAB_INSTANCE=b, c or d: the same commands on another lab beside
# the first (lab/suite.py runs the suite in all four at once).
# TWONODE_LAB_RELEASE=trixie (the default: twonode/releases.py) or bookworm:
# the guests' Debian release. Each release has its image and checkpoints;
# a lab whose guests run another release is given fresh ones by `up`, except
# a node that `reinstall` gave another release on purpose (a mixed pair).
#
# Each guest has a BMC (lab/bmc.py: Redfish over HTTPS on the host, started
# with the guests): a guest reaches it at $BMC_GUEST_ADDR:443 through its
# user-net `guestfwd`, an explicit forward that `restrict=on` keeps (QEMU:
# restrict "does not affect any explicitly set forwarding rules"); nothing
# else on the host or beyond is reachable.
#
# Why TCG: /dev/kvm here is a nested PVM KVM that hangs a stock Debian kernel
# (see shared lab-notes). Boots under TCG cost: -nodefaults (no floppy, CD or
# parallel port to probe) and cryptomgr.notests (no self-test of every
# kernel cipher) took a fresh boot from 50 s to 36 s with the masked
# e2scrub_reap below; `-cpu max` stays (qemu64 ran 3 to 5 times slower).
#
# Why these network backends: SSH reaches a guest only
# through a restricted user-net port forward on 127.0.0.1; the guests' own
# links are UDP sockets on 127.0.0.1, so no host interface ever gets a guest
# address and no guest can reach out. UDP (not listen/connect) so either guest
# can be killed and restarted without breaking the other's link.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(dirname "$HERE")
CACHE=${TWONODE_LAB_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/twonode/lab}
# Bump when the image recipe changes: a stale cached image is rebuilt. The
# image also holds the offline repository of the deploy's packages, so a
# change to that list rebuilds it too.
IMAGE_VERSION=11
RELEASE=${TWONODE_LAB_RELEASE:-$(python3 "$TOP/twonode/releases.py" default)}
case " $(python3 "$TOP/twonode/releases.py") " in
  *" $RELEASE "*) ;;
  *) echo "lab: TWONODE_LAB_RELEASE is one of: $(python3 "$TOP/twonode/releases.py"), not '$RELEASE'" >&2; exit 2 ;;
esac
image_of() { echo "$CACHE/image-$1-$IMAGE_VERSION"; }
IMG=${TWONODE_LAB_IMAGE:-$(image_of "$RELEASE")}
image_key() { echo "$IMAGE_VERSION $RELEASE $(python3 "$TOP/twonode/packages.py" "$RELEASE")"; }
# One SSH key for the lab, kept across image rebuilds (lab/inventory.py reads it).
KEY=$CACHE/ssh/id_ed25519
[ -f "$IMG/id_ed25519" ] && KEY=$IMG/id_ed25519  # images built before the key moved
# Labs beside the first (TWONODE_LAB_INSTANCE=b, c; `make test` runs its
# modules in all three, lab/suite.py): guests, run directory, BMC and ports
# of their own; the image, the key, the checkpoints and the BMC password
# (which a checkpoint holds in its nodes' fence options) are shared.
case ${TWONODE_LAB_INSTANCE:-} in
  '') SUFFIX= DEFAULT_PORT=2220 ;;
  b) SUFFIX=-b DEFAULT_PORT=2420 ;;
  c) SUFFIX=-c DEFAULT_PORT=2620 ;;
  d) SUFFIX=-d DEFAULT_PORT=2820 ;;
  *) echo "lab: TWONODE_LAB_INSTANCE is empty (the lab), b, c or d (the labs beside it), not '$TWONODE_LAB_INSTANCE'" >&2; exit 2 ;;
esac
RUN=$CACHE/run$SUFFIX
PORT_BASE=${TWONODE_LAB_PORT:-$DEFAULT_PORT}
BMC_PORT=$((PORT_BASE + 90))
BMC_GUEST_ADDR=10.0.2.100
BMC_DIR=$CACHE/bmc$SUFFIX
BMC_CREDENTIALS=$CACHE/bmc-credentials
NODES=(fiori torchio)
MIRROR=${TWONODE_MIRROR:-http://deb.debian.org/debian}

node_index() { case $1 in fiori) echo 1 ;; torchio) echo 2 ;; *) echo "unknown node $1" >&2; exit 2 ;; esac; }
ssh_port() { echo $((PORT_BASE + $(node_index "$1"))); }
# Link ports: node i, link l (1 = cluster eth1, 2 = second LAN eth2).
link_port() { echo $((PORT_BASE + 100 + 10 * $(node_index "$1") + $2)); }
peer_of() { [ "$1" = fiori ] && echo torchio || echo fiori; }
# A node `replace` rebuilt has other NICs: the fourth byte says so.
mac() { printf '52:54:00:%02x:%02x:%02x' "$([ -f "$RUN/$1.replaced" ] && echo 1 || echo 0)" "$(node_index "$1")" "$2"; }

# One SSH connection per guest, reused by every command for two minutes
# (ControlMaster): a new connection costs the guest about 2.4 s of emulated
# key exchange, and the tests poll the guests every few seconds, in the
# very windows (fencing, boots) where the guest's CPU matters. A guest
# that stops answering ends its master after 30 s (ServerAlive); a killed
# or restored guest closes it at once.
ssh_opts() {
  echo -i "$KEY" -o BatchMode=yes -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=10 \
    -o ControlMaster=auto -o "ControlPath=$RUN/ssh-%p.sock" -o ControlPersist=120 \
    -o ServerAliveInterval=5 -o ServerAliveCountMax=6
}

need() {
  local missing=()
  for c in "$@"; do command -v "$c" >/dev/null || missing+=("$c"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "lab: installing host tools for: ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    qemu-system-x86 qemu-utils debootstrap apt-utils e2fsprogs openssh-client openssl >/dev/null
}

build() {
  need debootstrap qemu-img apt-ftparchive mkfs.ext4 ssh-keygen
  local t0=$SECONDS work=$CACHE/build
  rm -rf "$work"; mkdir -p "$work" "$IMG"
  local root=$work/rootfs
  echo "lab: debootstrap $RELEASE (minbase) ..." >&2
  # minbase plus what a server installed by Debian's installer ("SSH server",
  # "standard system utilities") has and the deploy relies on: the guests
  # start as the procedure's "basic OS installation, including LVM". That
  # installation has python3 (reportbug) and ca-certificates (wget's
  # recommends) too; under TCG they would cost test_1 over a minute of
  # configuring (ca-certificates' rehash alone 68 s, measured).
  debootstrap --variant=minbase \
    --include=linux-image-amd64,systemd-sysv,udev,openssh-server,lvm2,ifupdown,iproute2,kmod,procps,e2fsprogs,util-linux,python3,ca-certificates \
    "$RELEASE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log"; exit 1; }

  # Offline apt repository: every package the deploy installs, with the
  # dependencies the base system lacks, so the deploy's apt operations run
  # for real inside guests that cannot reach any mirror.
  local pkgs
  pkgs=$(python3 "$TOP/twonode/packages.py" "$RELEASE")
  echo "lab: mirroring deploy packages: $pkgs" >&2
  mount --bind /proc "$root/proc"
  trap 'umount "$root/proc" 2>/dev/null || true' EXIT
  chroot "$root" apt-get -qq clean
  # shellcheck disable=SC2086
  chroot "$root" apt-get -y -qq --download-only --no-install-recommends install $pkgs >/dev/null
  umount "$root/proc"; trap - EXIT
  mkdir -p "$root/srv/twonode-repo"
  mv "$root"/var/cache/apt/archives/*.deb "$root/srv/twonode-repo/"
  (cd "$root/srv/twonode-repo" && apt-ftparchive packages . > Packages)
  echo 'deb [trusted=yes] file:/srv/twonode-repo ./' > "$root/etc/apt/sources.list"
  rm -rf "$root"/var/lib/apt/lists/*

  # Guest configuration.
  if [ ! -f "$KEY" ]; then
    mkdir -p "$(dirname "$KEY")"
    ssh-keygen -q -t ed25519 -N '' -C twonode-lab -f "$KEY"
  fi
  install -d -m 700 "$root/root/.ssh"
  install -m 600 "$KEY.pub" "$root/root/.ssh/authorized_keys"
  cat > "$root/etc/network/interfaces" <<'EOF'
# eth0 is the lab's management link (QEMU user net); the deploy owns the rest.
source /etc/network/interfaces.d/*
auto lo
iface lo inet loopback
auto eth0
iface eth0 inet static
    address 10.0.2.15/24
    gateway 10.0.2.2
EOF
  echo '/dev/vda / ext4 defaults 0 1' > "$root/etc/fstab"
  : > "$root/etc/hostname"
  printf '127.0.0.1\tlocalhost\n' > "$root/etc/hosts"
  # No name server: the guests reach nothing outside (restrict=on). The host's
  # resolv.conf, which debootstrap copies, made every lookup wait 10 s for an
  # unreachable server (`exportfs -u` took 20 s); with none, glibc asks
  # 127.0.0.1 and fails at once.
  echo '# lab guest: no name server (lab/lab.sh)' > "$root/etc/resolv.conf"
  # Nothing may run apt behind the deploy's back (it would hold the dpkg lock).
  # e2scrub_reap only looks for leftover e2scrub snapshots: 10 to 28 s of
  # every boot under TCG.
  for u in apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer fstrim.timer e2scrub_reap.service; do
    ln -sf /dev/null "$root/etc/systemd/system/$u"
  done
  # Generators that look for what a lab guest never has (GPT partitions to
  # auto-mount, a TPM, a hibernation image, SSH over vsock, disk images to
  # import, a debug shell, an offline update, rc.local): under TCG each is a
  # process start of 0.1 to 0.25 s at every boot and every `systemctl
  # daemon-reload`, which the packages' maintainer scripts and the deploy
  # run dozens of times (a reload took 4.5 s with them, 2.7 s without).
  mkdir -p "$root/etc/systemd/system-generators"
  for g in debug gpt-auto hibernate-resume import rc-local run ssh system-update tpm2; do
    ln -sf /dev/null "$root/etc/systemd/system-generators/systemd-$g-generator"
  done
  echo 'UseDNS no' > "$root/etc/ssh/sshd_config.d/lab.conf"
  # dpkg under TCG: every fsync and every unpacked file costs. A lab guest
  # is thrown away, never power-cut mid-install, so no fsync; and no docs.
  # The deploy's apt operations still install every package for real.
  echo force-unsafe-io > "$root/etc/dpkg/dpkg.cfg.d/lab-unsafe-io"
  cat > "$root/etc/dpkg/dpkg.cfg.d/lab-nodoc" <<'EOF'
path-exclude=/usr/share/man/*
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
EOF
  # The guests boot the kernel and initrd cached beside the image (-kernel,
  # -initrd): rebuilding the guest's own initramfs, which packages such as
  # xfsprogs trigger, would only cost minutes under TCG.
  sed -i 's/^update_initramfs=.*/update_initramfs=no/' "$root/etc/initramfs-tools/update-initramfs.conf"
  cp "$root"/boot/vmlinuz-* "$work/vmlinuz"
  cp "$root"/boot/initrd.img-* "$work/initrd.img"

  echo "lab: writing root image ..." >&2
  disk "$root" "$work/base.qcow2"
  # The root file system too: the provisioned checkpoint installs the
  # deploy's packages into a copy of it at the host's speed
  # (lab/checkpoints.py), not in a guest under TCG.
  tar -C "$root" -cf "$work/rootfs.tar" .
  mv "$work/base.qcow2" "$work/rootfs.tar" "$work/vmlinuz" "$work/initrd.img" "$IMG/"
  image_key > "$IMG/version"
  rm -rf "$work"
  # Images of other versions are never used again (checkpoints name theirs);
  # the other release's stays. image-N: before images named their release.
  local old; for old in "$CACHE"/image-"$RELEASE"-* "$CACHE"/image-[0-9]*; do
    [ "$old" = "$IMG" ] || rm -rf "$old"
  done
  echo "lab: image built in $((SECONDS - t0)) s" >&2
}

image_ok() { [ -f "$IMG/base.qcow2" ] && [ "$(cat "$IMG/version" 2>/dev/null)" = "$(image_key)" ]; }

# The image, built when missing or stale: one build at a time, even with
# both labs asking.
lock_builds() { mkdir -p "$CACHE"; exec 9>"$CACHE/build.lock"; flock 9; }
ensure_image() {
  image_ok && return 0
  lock_builds
  image_ok || build  # the other lab may have built it meanwhile
  exec 9>&-
}

# disk DIR FILE: a root file system as a qcow2 disk (sparse, 4 GiB).
disk() {
  local root=$1 out=$2
  need mkfs.ext4 qemu-img
  rm -f "$out.raw"
  truncate -s 4G "$out.raw"
  mkfs.ext4 -q -L root -d "$root" "$out.raw"
  qemu-img convert -O qcow2 "$out.raw" "$out"
  rm -f "$out.raw"
}

rootfs() {
  ensure_image
  mkdir -p "$1"
  tar -C "$1" -xf "$IMG/rootfs.tar"
}

running() { local pid; pid=$(cat "$RUN/$1.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null; }

fresh_disks() {
  local n=$1 root=${2:-$IMG/base.qcow2}
  mkdir -p "$RUN"
  rm -f "$RUN/$n.qcow2" "$RUN/$n-data.qcow2" "$RUN/$n.reinstalled" "$RUN/$n.replaced"
  echo "$RELEASE" > "$RUN/$n.release"
  qemu-img create -q -f qcow2 -F qcow2 -b "$root" "$RUN/$n.qcow2"
  # vg0's disk: large enough for the 8 GiB benchmark volume, sparse.
  qemu-img create -q -f qcow2 "$RUN/$n-data.qcow2" 24G
}

# start_node NODE [STATE]: boot NODE, or with STATE (lab.sh save) load that
# RAM and device state instead and wait paused for `cont`.
start_node() {
  local n=$1 state=${2:-} peer
  peer=$(peer_of "$n")
  running "$n" && return 0
  mkdir -p "$RUN"
  # Disks of the other release (or of a lab older than the setting) stand
  # on an image this release does not use: the guest starts afresh, unless
  # `reinstall` gave it that release (then its release's kernel boots it).
  local img=$IMG
  if [ -f "$RUN/$n.reinstalled" ]; then
    img=$(image_of "$(cat "$RUN/$n.release")")
  elif [ -f "$RUN/$n.qcow2" ] && [ "$(cat "$RUN/$n.release" 2>/dev/null)" != "$RELEASE" ]; then
    echo "lab: $n's disks are of $(cat "$RUN/$n.release" 2>/dev/null || echo 'another release'): fresh $RELEASE disks" >&2
    fresh_disks "$n"
  fi
  [ -f "$RUN/$n.qcow2" ] || fresh_disks "$n"
  local nics=() l
  for l in 1 2; do
    nics+=(-netdev "socket,id=n$l,udp=127.0.0.1:$(link_port "$peer" $l),localaddr=127.0.0.1:$(link_port "$n" $l)"
           -device "virtio-net-pci,netdev=n$l,mac=$(mac "$n" $l)")
  done
  # -uuid: the machine's identity in its SMBIOS (the guest's
  # /sys/class/dmi/id/product_uuid), which the lab's BMC reports for it.
  qemu-system-x86_64 -name "twonode$SUFFIX-$n" -accel tcg,thread=single -cpu max -smp 1 -m 1536 \
    -uuid "$(python3 "$HERE/bmc.py" uuid "$n")" \
    -kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
    -nodefaults -append "root=/dev/vda rw console=ttyS0 net.ifnames=0 systemd.hostname=$n cryptomgr.notests" \
    -drive "file=$RUN/$n.qcow2,if=virtio,format=qcow2" \
    -drive "file=$RUN/$n-data.qcow2,if=virtio,format=qcow2" \
    -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$(ssh_port "$n")-:22,guestfwd=tcp:$BMC_GUEST_ADDR:443-cmd:python3 $HERE/bmc.py relay $BMC_PORT" \
    -device "virtio-net-pci,netdev=n0,mac=$(mac "$n" 0)" \
    "${nics[@]}" \
    -display none -serial "file:$RUN/$n.console" -monitor none \
    -qmp "unix:$RUN/$n.qmp,server=on,wait=off" \
    ${state:+-S -incoming "exec:cat $state"} \
    -daemonize -pidfile "$RUN/$n.pid"
  # A daemonized QEMU leads a session of its own, and under the kernel's
  # autogroup scheduling a session's own nice value is what weighs against
  # other sessions, not its processes' (the second lab's QEMUs, niced by
  # lab/suite.py, took half the cores from the first lab's until this).
  local prio group=/proc/$(cat "$RUN/$n.pid")/autogroup
  prio=$(nice)
  if [ "$prio" != 0 ] && [ -w "$group" ]; then echo "$prio" > "$group"; fi
}

qmp() { python3 "$HERE/qmp.py" "$RUN/$1.qmp" "${@:2}"; }

bmc_running() { local pid; pid=$(cat "$RUN/bmc.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null; }

bmc_start() {
  need openssl  # the BMC's self-signed certificate
  local cert
  cert=$(python3 "$HERE/bmc.py" certificate "$BMC_CREDENTIALS")
  # A BMC started before its certificate was made serves another one (an
  # older lab's): the nodes, which pin this one, would not trust it.
  if bmc_running; then
    [ "$RUN/bmc.pid" -nt "$cert" ] && return 0
    bmc_stop
  fi
  mkdir -p "$RUN" "$BMC_DIR"
  # In a subshell: not a job of this shell, which `wait_all` would wait for.
  ( setsid python3 "$HERE/bmc.py" serve "$BMC_DIR" "$BMC_CREDENTIALS" "$BMC_PORT" >>"$BMC_DIR/bmc.err" 2>&1 < /dev/null &
    echo $! > "$RUN/bmc.pid" )
  local i
  for i in $(seq 50); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $BMC_PORT), 1)" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "lab: the BMC did not start; see $BMC_DIR/bmc.err" >&2; return 1
}

bmc_stop() {
  local pid i; pid=$(cat "$RUN/bmc.pid" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || true
  # Gone, and its port free, before another may start.
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$RUN/bmc.pid"
}

ssh_node() { local n=$1; shift; # shellcheck disable=SC2046
  ssh $(ssh_opts) -p "$(ssh_port "$n")" root@127.0.0.1 "$@"; }

wait_ssh() {
  local n=$1 deadline=$((SECONDS + ${TWONODE_LAB_BOOT_TIMEOUT:-900}))
  until ssh_node "$n" true 2>/dev/null; do
    running "$n" || { echo "lab: $n died; see $RUN/$n.console" >&2; return 1; }
    [ $SECONDS -lt $deadline ] || { echo "lab: $n not reachable by SSH; see $RUN/$n.console" >&2; return 1; }
    sleep 3
  done
}

# What the seed leaves to the OS installation: the volume group on the data disk.
provision() {
  ssh_node "$1" 'vgs vg0 >/dev/null 2>&1 || { pvcreate -q /dev/vdb && vgcreate -q vg0 /dev/vdb; }' >/dev/null
}

up() {
  ensure_image
  need qemu-system-x86_64
  local t0=$SECONDS n
  bmc_start
  for n in "${NODES[@]}"; do start_node "$n"; done
  for n in "${NODES[@]}"; do wait_ssh "$n"; provision "$n"; done
  echo "lab: up (fiori ssh 127.0.0.1:$(ssh_port fiori), torchio 127.0.0.1:$(ssh_port torchio)) in $((SECONDS - t0)) s" >&2
}

stop_node() {
  local n=$1 p=$RUN/$1.pid i
  local pid; pid=$(cat "$p" 2>/dev/null) || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$p" "$RUN/ssh-$(ssh_port "$n").sock"
}

down() { local n; for n in "${NODES[@]}"; do stop_node "$n"; done; bmc_stop; }

reset() {
  local root=${1:-}
  ensure_image
  down
  [ -z "$root" ] || [ -f "$root" ] || { echo "lab: no root disk $root" >&2; return 1; }
  local n; for n in "${NODES[@]}"; do fresh_disks "$n" ${root:+"$(realpath "$root")"}; done
  up
}

# reinstall NODE RELEASE [ROOT]: what an admin does to move a node to
# another release by reinstalling it: the system disk bare again, of
# RELEASE (or ROOT, a root disk of RELEASE such as the provisioned
# checkpoint's); the data disk (vg0, the DRBD backing LVs) kept. The node is
# stopped first if it still runs (a clean shutdown is the caller's:
# systemctl poweroff).
reinstall() {
  local n=$1 rel=$2 root=${3:-}
  node_index "$n" >/dev/null
  TWONODE_LAB_RELEASE=$rel "$0" image  # refuses a release it does not know
  [ -n "$root" ] || root=$(image_of "$rel")/base.qcow2
  [ -f "$root" ] || { echo "lab: no root disk $root" >&2; return 1; }
  stop_node "$n"
  rm -f "$RUN/$n.qcow2"
  qemu-img create -q -f qcow2 -F qcow2 -b "$(realpath "$root")" "$RUN/$n.qcow2"
  echo "$rel" > "$RUN/$n.release"
  touch "$RUN/$n.reinstalled"
  bmc_start; start_node "$n"; wait_ssh "$n"; provision "$n"
}

# replace NODE [ROOT]: NODE's server died and is rebuilt: new disks (the
# system disk bare, or ROOT, e.g. the provisioned checkpoint's; the data disk
# blank but for the VG the installer makes) and new NICs, so new MACs. It
# is stopped first if it still runs, then booted.
replace() {
  local n=$1 root=${2:-}
  node_index "$n" >/dev/null
  [ -z "$root" ] || [ -f "$root" ] || { echo "lab: no root disk $root" >&2; return 1; }
  stop_node "$n"
  fresh_disks "$n" ${root:+"$(realpath "$root")"}
  touch "$RUN/$n.replaced"
  bmc_start; start_node "$n"; wait_ssh "$n"; provision "$n"
}

# Checkpoints of the running pair. Both guests are frozen within
# milliseconds of each other and resumed the same way, so their clocks (QEMU's
# virtual clock stops with the guest) and their DRBD and o2cb links see no gap.
save() {
  local dir=$1 n
  for n in "${NODES[@]}"; do running "$n" || { echo "lab: $n is not running" >&2; return 1; }; done
  # Dirty pages reach the disks first, so that a later cold boot from these
  # disks (lab.sh kill + start) finds the files the checkpoint has; the
  # clean page cache is dropped, so the state holds what is in use (a
  # quarter of the size after the package installation).
  for n in "${NODES[@]}"; do ssh_node "$n" 'sync && echo 3 > /proc/sys/vm/drop_caches'; done
  rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
  local pids=()
  for n in "${NODES[@]}"; do pids+=("$(cat "$RUN/$n.pid")"); done
  for n in "${NODES[@]}"; do qmp "$n" stop; done
  for n in "${NODES[@]}"; do qmp "$n" save "$dir.tmp/$n.state" & done
  wait_all || { down; return 1; }
  # QEMU removes its pid file as it quits: wait for the pids read above.
  for n in "${NODES[@]}"; do qmp "$n" quit || true; done
  local pid i
  for pid in "${pids[@]}"; do
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  for n in "${NODES[@]}"; do rm -f "$RUN/$n.pid"; mv "$RUN/$n.qcow2" "$RUN/$n-data.qcow2" "$dir.tmp/"; done
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
}

wait_all() { local rc=0 p; for p in $(jobs -p); do wait "$p" || rc=1; done; return $rc; }

restore() {
  local dir=$1 n
  for n in "${NODES[@]}"; do [ -f "$dir/$n.state" ] || { echo "lab: no checkpoint in $dir" >&2; return 1; }; done
  image_ok || { echo "lab: the base image is missing or stale: $dir was made on another" >&2; return 1; }
  down
  mkdir -p "$RUN"
  bmc_start
  for n in "${NODES[@]}"; do
    rm -f "$RUN/$n.qcow2" "$RUN/$n-data.qcow2" "$RUN/$n.reinstalled" "$RUN/$n.replaced"
    echo "$RELEASE" > "$RUN/$n.release"
    qemu-img create -q -f qcow2 -F qcow2 -b "$dir/$n.qcow2" "$RUN/$n.qcow2"
    qemu-img create -q -f qcow2 -F qcow2 -b "$dir/$n-data.qcow2" "$RUN/$n-data.qcow2"
    start_node "$n" "$dir/$n.state"
  done
  for n in "${NODES[@]}"; do qmp "$n" wait-incoming & done
  wait_all || { down; return 1; }
  for n in "${NODES[@]}"; do qmp "$n" cont; done
  # The guests' wall clocks resume at the moment of the save.
  for n in "${NODES[@]}"; do wait_ssh "$n" && ssh_node "$n" "date -s @$(date +%s) >/dev/null"; done
}

status() {
  local n
  for n in "${NODES[@]}"; do
    if running "$n"; then
      if ssh_node "$n" true 2>/dev/null; then echo "$n: up, ssh ok"; else echo "$n: running, no ssh yet"; fi
    else echo "$n: down"; fi
  done
}

cmd=${1:-}
shift || true
case $cmd in
  build) lock_builds; build ;;
  image) ensure_image ;;
  up) up ;;
  down) down ;;
  reset) reset "${1:-}" ;;
  rootfs) rootfs "$1" ;;
  disk) disk "$1" "$2" ;;
  status) status ;;
  ssh) ssh_node "$@" ;;
  kill) running "$1" && kill -9 "$(cat "$RUN/$1.pid")"; rm -f "$RUN/$1.pid" ;;
  start) bmc_start; start_node "$1"; wait_ssh "$1"; provision "$1" ;;
  power-on) start_node "$1" ;;
  running) running "$1" ;;
  bmc) python3 "$HERE/bmc.py" credentials "$BMC_CREDENTIALS" >/dev/null  # made on first use
       echo "address $BMC_GUEST_ADDR:443 user twonode-lab password-file $BMC_CREDENTIALS/password log $BMC_DIR/bmc.log" ;;
  bmc-stop) bmc_stop ;;
  bmc-start) bmc_start ;;
  link) qmp "$1" link n1 "$2" ;;
  # A node that hangs: its CPU stopped, still powered (its BMC still sees it on).
  freeze) qmp "$1" stop ;;
  reinstall) reinstall "$1" "$2" "${3:-}" ;;
  replace) replace "$1" "${2:-}" ;;
  save) save "$1" ;;
  restore) restore "$1" ;;
  key) echo "$KEY" ;;
  image-key) image_key ;;
  port) ssh_port "$1" ;;
  release) echo "$RELEASE" ;;
  image-dir) echo "$IMG" ;;
  *) sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
