#!/usr/bin/env bash
# mDNS discovery between two hosts made of network namespaces, each with its
# own dbus-daemon and avahi-daemon (own /run), joined by a veth pair. The
# primary publishes; the other host browses for its fingerprint.
#   netns_discovery_test.sh [EMULATOR...] DISCOVERY_TOOL
# Exit 77 (ctest: skipped) without root, namespaces or avahi-daemon.
set -euo pipefail

skip() { echo "SKIPPED: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
for t in ip unshare avahi-daemon dbus-daemon; do
  command -v $t >/dev/null || skip "$t not installed"
done
tool=("$@")

id=ssd$$
work=$(mktemp -d /tmp/stratoswarm-netns-XXXXXX)
cleanup() {
  for h in a b; do
    if ip netns list | grep -qw "$id-$h"; then
      ip netns pids "$id-$h" | xargs -r kill -9 2>/dev/null || true
      ip netns del "$id-$h"
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
ip netns add "$id-a" 2>/dev/null || skip "cannot create network namespaces here"
ip netns add "$id-b"
ip link add "$id-va" type veth peer name "$id-vb"
ip link set "$id-va" netns "$id-a"
ip link set "$id-vb" netns "$id-b"

# host_up NAME IP IFACE: address, links, and a private /run with dbus + avahi.
host_up() {
  local h=$1 ip=$2 ifc=$3 run=$work/$1/run
  mkdir -p "$run/dbus" "$run/avahi-daemon"
  ip -n "$id-$h" addr add "$ip/24" dev "$ifc"
  ip -n "$id-$h" link set "$ifc" up
  ip -n "$id-$h" link set lo up
  printf '[server]\nhost-name=%s\nuse-ipv4=yes\nuse-ipv6=no\nallow-interfaces=%s\n[publish]\npublish-hinfo=no\npublish-workstation=no\n' \
    "$id-$h" "$ifc" > "$work/$h/avahi.conf"
  ip netns exec "$id-$h" unshare --mount sh -c "
    mount --bind '$run' /run
    dbus-daemon --system --fork --nopidfile
    avahi-daemon --no-chroot --no-drop-root --no-rlimits -f '$work/$h/avahi.conf' -D"
}
host_up a 10.213.0.1 "$id-va"
host_up b 10.213.0.2 "$id-vb"
bus() { echo "unix:path=$work/$1/run/dbus/system_bus_socket"; }
on() { local h=$1; shift; ip netns exec "$id-$h" env DBUS_SYSTEM_BUS_ADDRESS="$(bus "$h")" "$@"; }

fp=5f3a9c0e1d2b4a67
on a "${tool[@]}" publish "stratoswarm primary" 7946 v=1 fp=$fp mesh=7947 > "$work/pub.log" &
for _ in $(seq 100); do grep -q published "$work/pub.log" 2>/dev/null && break; sleep 0.1; done
grep -q published "$work/pub.log" || { echo "FAIL: publisher never established"; cat "$work/pub.log"; exit 1; }

out=$(on b "${tool[@]}" browse "${fp:0:8}" 10000) || { echo "FAIL: browse: $out"; exit 1; }
echo "$out"
echo "$out" | grep -q "10.213.0.1:7946 fp=$fp" || { echo "FAIL: wrong service: $out"; exit 1; }

# Warm cache: the seed's discovery phase when the primary is already published.
for i in 1 2 3; do on b "${tool[@]}" browse "${fp:0:8}" 10000; done

# Another cluster's fingerprint must not match: a timeout, non-zero, one line.
if out=$(on b "${tool[@]}" browse deadbeef 1500); then echo "FAIL: matched a wrong fingerprint"; exit 1; fi
echo "$out" | grep -q "Timeout: mDNS browse: no matching _stratoswarm._tcp service found within 1500 ms" ||
  { echo "FAIL: timeout message: $out"; exit 1; }
echo "$out"
echo "netns discovery test: passed"
