#!/usr/bin/env bash
# systemd-analyze verify on the units as packaged: each .deb is unpacked into
# a temp dir and its unit checked with ExecStart pointing into that dir (the
# host has neither program installed). Any complaint fails the test, except
# the one systemd < 254 makes about DelegateSubgroup= (it ignores the key;
# images/pi/swarmlet.service says why it is there).
#   units_test.sh DEB...
set -euo pipefail
command -v systemd-analyze >/dev/null || { echo "SKIPPED: systemd-analyze is not installed"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
n=0
for deb in "$@"; do
  [ -f "$deb" ] || fail "$deb does not exist (did packaging:debs run?)"
  d=$work/$(basename "$deb" .deb)
  dpkg-deb -x "$deb" "$d"
  for unit in "$d"/lib/systemd/system/*.service; do
    [ -f "$unit" ] || fail "$(basename "$deb") ships no systemd unit"
    exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
    [ -x "$d$exe" ] || fail "$(basename "$unit"): ExecStart $exe is not in $(basename "$deb")"
    mkdir -p "$d/check"
    sed "s|^ExecStart=$exe|ExecStart=$d$exe|" "$unit" > "$d/check/$(basename "$unit")"
    out=$(systemd-analyze verify --man=no "$d/check/$(basename "$unit")" 2>&1) || true
    echo "== $(basename "$deb"): $(basename "$unit")"
    [ -z "$out" ] || echo "$out"
    rest=$(grep -v "Unknown key 'DelegateSubgroup' in section \[Service\], ignoring" <<<"$out" || true)
    [ -z "$rest" ] || fail "systemd-analyze verify complains about $(basename "$unit") in $(basename "$deb")"
    n=$((n + 1))
  done
done
[ $n -gt 0 ] || fail "no units checked"
echo "units test: passed ($n units)"
