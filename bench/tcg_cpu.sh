#!/usr/bin/env bash
# Which emulated CPU runs the lab fastest under TCG? Boots throwaway guests
# from the cached base image, one per CPU model given (two at a time: this
# machine kind has two cores), and in each installs every package the
# deploy installs, from the image's offline repository: test_1's
# dominant cost. Prints, per model, the boot (to SSH), the installation and
# QEMU's CPU seconds. The lab itself is not touched (own ports, own disks).
#
#   bench/tcg_cpu.sh [MODEL ...]      default: max EPYC-Rome
#   TWONODE_LAB_RELEASE=bookworm bench/tcg_cpu.sh max
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(dirname "$HERE")
CACHE=${TWONODE_LAB_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/twonode/lab}
RELEASE=${TWONODE_LAB_RELEASE:-$(python3 "$TOP/twonode/releases.py" default)}
"$TOP/lab/lab.sh" image >/dev/null
IMG=$("$TOP/lab/lab.sh" image-dir)
KEY=$CACHE/ssh/id_ed25519
PKGS=$(python3 "$TOP/twonode/packages.py" "$RELEASE")
WORK=$(mktemp -d /tmp/tcg-cpu.XXXX)
trap 'for p in "$WORK"/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done; rm -rf "$WORK"' EXIT
[ $# -gt 0 ] || set -- max EPYC-Rome

one() {  # one MODEL PORT
  local model=$1 port=$2 t0 t1 t2 pid cpu
  qemu-img create -q -f qcow2 -F qcow2 -b "$IMG/base.qcow2" "$WORK/$port.qcow2"
  t0=$(date +%s.%N)
  qemu-system-x86_64 -accel tcg,thread=single -cpu "$model" -smp 1 -m 1536 \
    -kernel "$IMG/vmlinuz" -initrd "$IMG/initrd.img" -nodefaults \
    -append "root=/dev/vda rw console=ttyS0 net.ifnames=0 systemd.hostname=bench cryptomgr.notests" \
    -drive "file=$WORK/$port.qcow2,if=virtio,format=qcow2" \
    -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:22" -device virtio-net-pci,netdev=n0 \
    -display none -serial "file:$WORK/$port.console" -monitor none -daemonize -pidfile "$WORK/$port.pid"
  pid=$(cat "$WORK/$port.pid")
  local ssh=(ssh -i "$KEY" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
             -o LogLevel=ERROR -o ConnectTimeout=10 -p "$port" root@127.0.0.1)
  until "${ssh[@]}" true 2>/dev/null; do sleep 2; done
  t1=$(date +%s.%N)
  # shellcheck disable=SC2086
  "${ssh[@]}" "apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -y -qq --no-install-recommends install $PKGS" >"$WORK/$port.apt" 2>&1
  t2=$(date +%s.%N)
  cpu=$(awk '{print ($14 + $15) / 100}' "/proc/$pid/stat")
  kill "$pid"; rm -f "$WORK/$port.pid"
  printf '| %s | %s | %.0f s | %.0f s | %.0f s |\n' "$RELEASE" "$model" "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" "$cpu"
}

echo "| release | -cpu | boot to SSH | package installation | QEMU CPU |"
echo "|---|---|---|---|---|"
port=3301
while [ $# -gt 0 ]; do
  one "$1" $port & port=$((port + 1)); shift
  if [ $# -gt 0 ]; then one "$1" $port & port=$((port + 1)); shift; fi
  wait
done
