#!/usr/bin/env bash
# mDNS discovery between two hosts made of network namespaces, each with its
# own dbus-daemon and avahi-daemon (own /run), on one bridge (netns_lib.sh).
# The primary publishes; the other host browses for its fingerprint.
#   netns_discovery_test.sh [EMULATOR...] DISCOVERY_TOOL
# Exit 77 (ctest: skipped) without root, namespaces or avahi-daemon.
set -euo pipefail
. "$(dirname "$0")/netns_lib.sh"
nl_require
tool=("$@")
nl_init
nl_host a 10.213.0.1
nl_host b 10.213.0.2
on() { nl_on "$@"; }
work=$NL_WORK

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
