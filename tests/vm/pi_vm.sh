#!/usr/bin/env bash
# The emulated Raspberry Pi: a full-system aarch64 VM (qemu-system-aarch64 -M
# virt -cpu cortex-a72, TCG) booting Debian's arm64 kernel (.deps/aarch64/kernel,
# fetched by scripts/bootstrap) with an initramfs of the static aarch64
# swarmlet, busybox-static:arm64, the kernel's virtio-net/overlay/squashfs/loop
# modules, util-linux's unshare and the guest scripts in tests/vm/guest/.
# cgroup v2 only (cgroup_no_v1=all), like Raspberry Pi OS bookworm. The VM's
# eth0 (10.77.0.2/24) reaches the host through tap0 in a network namespace
# (the host end 10.77.0.1/24: run a GPU peer there with `pv_in_ns`).
# See docs/pi_vm.md.
#
# Command line (also what the testbed uses):
#   pi_vm.sh run --out DIR [--guest NAME] [--append ARGS] [--timeout S]
#                [--swarmlet PATH] [--netns NAME] [--add SRC:DEST]...
#       builds DIR/initramfs.cpio.gz, creates the namespace (or uses --netns
#       NAME, which must exist; tap0 is added to it), boots the VM running the
#       guest script tests/vm/guest/NAME.sh (default basics), streams the
#       serial console to DIR/console.log, waits for the guest to power off
#       (killing qemu after S seconds, default 240), prints the guest's
#       "CHECK name ok|FAIL detail" lines and exits 0 when there was at least
#       one and none failed, 1 otherwise, 77 when something it needs is
#       missing (one line: why). Everything it started is gone when it exits.
#   pi_vm.sh initramfs OUT.cpio.gz [--swarmlet PATH] [--add SRC:DEST]...
#   pi_vm.sh require       exit 77 with the reason if the VM cannot run here
#
# Sourced (". tests/vm/pi_vm.sh"), it defines the pieces, for tests that talk to
# the VM while it runs (tests/vm/pi_vm_test.sh):
#   pv_require                   skip (exit 77, one line) if anything is missing
#   pv_initramfs OUT [SRC:DEST]...
#   pv_net_up NS                 netns NS (created, removed by pv_cleanup) + tap0
#   pv_in_ns CMD...              run CMD in that namespace (network only)
#   pv_boot DIR APPEND [SECONDS] start qemu in the background: $PV_QEMU_PID,
#                                DIR/console.log, $PV_T0 (start, ms since epoch)
#   pv_wait_console SECONDS ERE  until the console shows ERE
#   pv_wait_off SECONDS          until qemu exits (killed after SECONDS)
#   pv_kill                      kill -9 qemu (power loss)
#   pv_checks DIR                print CHECK lines; 0 iff >= 1 and no FAIL
#   pv_cleanup                   qemu, tap, namespace (pv_net_up traps it)
# Environment: PV_SWARMLET (default build/aarch64/swarmlet/swarmlet),
# PV_KERNEL_DIR (default .deps/aarch64/kernel), PV_SMP (2), PV_MEM (1024).

PV_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PV_REPO=$(cd "$PV_HERE/../.." && pwd)
PV_SWARMLET=${PV_SWARMLET:-$PV_REPO/build/aarch64/swarmlet/swarmlet}
PV_KERNEL_DIR=${PV_KERNEL_DIR:-$PV_REPO/.deps/aarch64/kernel}
PV_BUSYBOX=${PV_BUSYBOX:-$PV_REPO/.deps/aarch64/busybox-static/bin/busybox}
PV_UTIL_LINUX=${PV_UTIL_LINUX:-$PV_REPO/.deps/aarch64/util-linux}
PV_ARM_LIBC=${PV_ARM_LIBC:-/usr/lib/aarch64-linux-gnu}
PV_SMP=${PV_SMP:-2}
PV_MEM=${PV_MEM:-1024}
PV_QEMU_PID=
PV_NS=
PV_NS_OWNED=
# Loaded in this order (dependencies first); each is skipped when built in.
PV_MODULES="virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net overlay squashfs loop"
# Everything on one line, for the ctest output.
PV_BASE_APPEND="console=ttyAMA0 rdinit=/init panic=-1 quiet loglevel=4 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1"

pv_skip() { echo "SKIPPED: $*"; exit 77; }

pv_kernel() { ls "$PV_KERNEL_DIR"/boot/vmlinuz-* 2>/dev/null | head -n1; }

pv_require() {
  [ "$(id -u)" = 0 ] || pv_skip "the emulated Pi needs root (network namespace, tap device)"
  command -v qemu-system-aarch64 >/dev/null ||
    pv_skip "no qemu-system-aarch64 (apt-get install qemu-system-arm; scripts/bootstrap does)"
  [ -c /dev/net/tun ] || pv_skip "no /dev/net/tun (the VM's tap device needs it)"
  [ -n "$(pv_kernel)" ] || pv_skip "no arm64 kernel in $PV_KERNEL_DIR (run scripts/bootstrap)"
  [ -x "$PV_BUSYBOX" ] || pv_skip "no arm64 busybox at $PV_BUSYBOX (run scripts/bootstrap)"
  [ -x "$PV_UTIL_LINUX/usr/bin/unshare" ] || pv_skip "no util-linux:arm64 in $PV_UTIL_LINUX (run scripts/bootstrap)"
  [ -f "$PV_SWARMLET" ] || pv_skip "no static aarch64 swarmlet at $PV_SWARMLET (cmake --build --preset aarch64)"
  for t in ip nsenter gzip busybox qemu-aarch64-static; do command -v $t >/dev/null || pv_skip "no $t"; done
  return 0
}

pv_now_ms() { date +%s%3N; }

# pv_initramfs OUT [SRC:DEST]...: the guest's root. /init copies itself onto a
# tmpfs and switch_roots there (pivot_root cannot leave the initramfs root).
pv_initramfs() {
  local out=$1; shift
  local root m f kver
  root=$(mktemp -d /tmp/pi-vm-root-XXXXXX)
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib/aarch64-linux-gnu,proc,sys,dev,tmp,run,etc,root,var/lib,checks,modules,newroot}
  cp "$PV_BUSYBOX" "$root/bin/busybox"
  # busybox --install needs to run on the target; the applet links are made here.
  for a in $(qemu-aarch64-static "$PV_BUSYBOX" --list); do
    [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
  done
  cp "$PV_SWARMLET" "$root/bin/swarmlet"
  # util-linux's unshare (dynamic: the arm64 glibc loader and libc come along).
  cp "$PV_UTIL_LINUX/usr/bin/unshare" "$root/usr/bin/unshare"
  cp "$PV_ARM_LIBC/ld-linux-aarch64.so.1" "$root/lib/aarch64-linux-gnu/"
  cp "$PV_ARM_LIBC/libc.so.6" "$root/lib/aarch64-linux-gnu/"
  ln -s aarch64-linux-gnu/ld-linux-aarch64.so.1 "$root/lib/ld-linux-aarch64.so.1"
  kver=$(basename "$(ls -d "$PV_KERNEL_DIR"/lib/modules/* | head -n1)")
  : >"$root/modules/order"
  for m in $PV_MODULES; do
    if grep -q "/$m.ko" "$PV_KERNEL_DIR/lib/modules/$kver/modules.builtin" 2>/dev/null; then continue; fi
    f=$(find "$PV_KERNEL_DIR/lib/modules/$kver" -name "$m.ko" -o -name "$m.ko.xz" | head -n1)
    [ -n "$f" ] || { echo "pi_vm: module $m not in $PV_KERNEL_DIR/lib/modules/$kver" >&2; rm -rf "$root"; return 1; }
    case $f in
      *.xz) xz -dc "$f" >"$root/modules/$m.ko" ;;
      *) cp "$f" "$root/modules/$m.ko" ;;
    esac
    echo "$m" >>"$root/modules/order"
  done
  cp "$PV_HERE/guest/init" "$root/init"
  cp "$PV_HERE"/guest/*.sh "$root/checks/"
  chmod +x "$root/init" "$root"/checks/*.sh
  echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
  echo "root:x:0:" >"$root/etc/group"
  local a
  for a in "$@"; do
    mkdir -p "$root/$(dirname "${a#*:}")"
    cp -a "${a%%:*}" "$root/${a#*:}"
  done
  (cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$out" || { rm -rf "$root"; return 1; }
  rm -rf "$root"
}

pv_in_ns() { nsenter --net="/run/netns/$PV_NS" -- "$@"; }

pv_net_up() {  # pv_net_up NS [existing]
  PV_NS=$1
  if [ "${2:-}" != existing ]; then
    ip netns add "$PV_NS" || pv_skip "cannot create network namespace $PV_NS"
    PV_NS_OWNED=1
  fi
  trap pv_cleanup EXIT
  trap 'exit 1' INT TERM
  ip -n "$PV_NS" link set lo up
  ip -n "$PV_NS" tuntap add tap0 mode tap || { echo "pi_vm: cannot create tap0 in $PV_NS"; return 1; }
  ip -n "$PV_NS" addr add 10.77.0.1/24 dev tap0
  ip -n "$PV_NS" link set tap0 up
}

pv_boot() {  # pv_boot DIR APPEND [SECONDS]
  local dir=$1 append=$2 secs=${3:-600} kernel
  kernel=$(pv_kernel)
  : >"$dir/console.log"
  PV_T0=$(pv_now_ms)
  local net=()
  [ -n "$PV_NS" ] && net=(-netdev tap,id=n0,ifname=tap0,script=no,downscript=no -device virtio-net-pci,netdev=n0,romfile=)
  # The serial console goes to console.log as it comes; timeout(1) is the
  # backstop, pv_wait_off the ordinary limit.
  ${PV_NS:+nsenter --net=/run/netns/$PV_NS --} timeout -s KILL "$secs" \
    qemu-system-aarch64 -M virt -cpu cortex-a72 -smp "$PV_SMP" -m "$PV_MEM" \
    -nographic -monitor none -serial stdio -no-reboot \
    -kernel "$kernel" -initrd "$dir/initramfs.cpio.gz" \
    -append "$PV_BASE_APPEND $append" "${net[@]}" </dev/null >>"$dir/console.log" 2>&1 &
  PV_QEMU_PID=$!
  PV_DIR=$dir
}

pv_wait_console() {  # pv_wait_console SECONDS ERE
  local end=$(($(date +%s) + $1))
  while [ "$(date +%s)" -lt $end ]; do
    grep -qE "$2" "$PV_DIR/console.log" 2>/dev/null && return 0
    [ -n "$PV_QEMU_PID" ] && ! kill -0 "$PV_QEMU_PID" 2>/dev/null && break
    sleep 0.1
  done
  grep -qE "$2" "$PV_DIR/console.log" 2>/dev/null
}

pv_wait_off() {  # pv_wait_off SECONDS: 0 if the guest powered off in time
  local end=$(($(date +%s) + $1))
  [ -n "$PV_QEMU_PID" ] || return 0
  while kill -0 "$PV_QEMU_PID" 2>/dev/null; do
    if [ "$(date +%s)" -ge $end ]; then
      echo "pi_vm: the guest did not power off within $1 s; killing qemu"
      pv_kill
      return 1
    fi
    sleep 0.2
  done
  wait "$PV_QEMU_PID" 2>/dev/null
  PV_QEMU_PID=
}

pv_kill() {
  [ -n "$PV_QEMU_PID" ] || return 0
  # timeout(1) runs qemu as its child: kill both.
  pkill -KILL -P "$PV_QEMU_PID" 2>/dev/null
  kill -KILL "$PV_QEMU_PID" 2>/dev/null
  wait "$PV_QEMU_PID" 2>/dev/null
  PV_QEMU_PID=
}

pv_checks() {  # pv_checks DIR
  local log=$1/console.log
  tr -d '\r' <"$log" | grep -E '^CHECK ' || true
  tr -d '\r' <"$log" | grep -qE '^CHECK [^ ]+ ok' || return 1
  ! tr -d '\r' <"$log" | grep -qE '^CHECK [^ ]+ FAIL'
}

pv_cleanup() {
  pv_kill
  if [ -n "$PV_NS" ]; then
    ip -n "$PV_NS" link del tap0 2>/dev/null
    if [ -n "$PV_NS_OWNED" ]; then
      ip netns pids "$PV_NS" 2>/dev/null | xargs -r kill -9 2>/dev/null
      ip netns del "$PV_NS" 2>/dev/null
    fi
  fi
  return 0
}

pv_main() {
  local cmd=${1:-}; shift || true
  local out="" guest=basics append="" timeout=240 netns="" adds=() initrd=""
  case $cmd in
    require) pv_require; echo "pi_vm: ready"; return 0 ;;
    initramfs) initrd=${1:?initramfs OUT}; shift ;;
    run) ;;
    *) sed -n '12,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; return 2 ;;
  esac
  while [ $# -gt 0 ]; do
    case $1 in
      --out) out=$2; shift 2 ;;
      --guest) guest=$2; shift 2 ;;
      --append) append=$2; shift 2 ;;
      --timeout) timeout=$2; shift 2 ;;
      --swarmlet) PV_SWARMLET=$2; shift 2 ;;
      --netns) netns=$2; shift 2 ;;
      --add) adds+=("$2"); shift 2 ;;
      *) echo "pi_vm: unknown argument $1" >&2; return 2 ;;
    esac
  done
  pv_require
  if [ -n "$initrd" ]; then pv_initramfs "$initrd" "${adds[@]}"; return; fi
  [ -n "$out" ] || { echo "pi_vm: run needs --out DIR" >&2; return 2; }
  [ -f "$PV_HERE/guest/$guest.sh" ] || { echo "pi_vm: no guest script $PV_HERE/guest/$guest.sh" >&2; return 2; }
  mkdir -p "$out"
  pv_initramfs "$out/initramfs.cpio.gz" "${adds[@]}" || return 1
  if [ -n "$netns" ]; then pv_net_up "$netns" existing; else pv_net_up "pivm$$"; fi || return 1
  pv_boot "$out" "pi_vm.run=$guest $append" $((timeout + 10))
  pv_wait_off "$timeout"
  pv_checks "$out"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  pv_main "$@"
fi
