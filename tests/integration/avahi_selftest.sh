#!/usr/bin/env bash
# swarmlet selftest against a real Avahi daemon, proving the static binary's
# Avahi client and libdbus talk to it. The daemons run in fresh mount, network
# and PID namespaces: mDNS stays on the namespace's own loopback, and every
# daemon dies with the namespace when the test ends.
#   avahi_selftest.sh [EMULATOR...] SWARMLET
# Exit 77 (ctest: skipped) when root, unshare or avahi-daemon is missing.
set -euo pipefail

skip() { echo "SKIPPED: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root for namespaces"
command -v unshare >/dev/null || skip "unshare (util-linux) not installed"
command -v avahi-daemon >/dev/null || skip "avahi-daemon not installed"
command -v dbus-daemon >/dev/null || skip "dbus-daemon not installed"
unshare --mount --net --pid --fork true 2>/dev/null || skip "cannot create namespaces here"

exec unshare --mount --net --pid --fork --mount-proc bash -euo pipefail -c '
  mount -t tmpfs tmpfs /run
  mkdir -p /run/dbus /run/avahi-daemon
  ip link set lo up
  conf=$(mktemp)
  printf "[server]\nhost-name=swarmlet-selftest\nuse-ipv4=yes\nuse-ipv6=no\nallow-interfaces=lo\n[publish]\npublish-hinfo=no\npublish-workstation=no\n" >"$conf"
  dbus-daemon --system --fork --nopidfile
  avahi-daemon --no-chroot --no-drop-root --no-rlimits -f "$conf" -D
  for _ in $(seq 50); do avahi-daemon --check 2>/dev/null && break; sleep 0.1; done
  "$@" selftest
' avahi_selftest "$@"
