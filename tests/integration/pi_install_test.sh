#!/usr/bin/env bash
# images/pi/install.sh into a scratch root (--root): files, modes, settings,
# the first-boot config file, bad input, and a second run replacing the first.
#   pi_install_test.sh SWARMLET
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
install=$here/../../images/pi/install.sh
swarmlet=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
expect_fail() {  # expect_fail "what" args...
  local what=$1; shift
  if out=$("$install" "$@" 2>&1); then fail "$what: accepted"; fi
  echo "$out" | grep -q "^install.sh: " || fail "$what: no one-line error: $out"
}

r=$work/root
token=SWMTKN-1-0123abcd-s3cr3t
"$install" --root "$r" --binary "$swarmlet" --token $token --cluster 10.0.0.1:7946 --name rpi-1 >/dev/null
[ -x "$r/usr/local/bin/swarmlet" ] || fail "binary not installed"
[ "$(readlink "$r/usr/local/bin/stratoswarm-metrics")" = swarmlet ] || fail "metrics link"
[ "$(readlink "$r/usr/local/bin/stratoswarm-test")" = swarmlet ] || fail "test link"
grep -q '^Delegate=yes' "$r/etc/systemd/system/swarmlet.service" || fail "unit lacks cgroup delegation"
[ "$(stat -c %a "$r/etc/stratoswarm/swarmlet.env")" = 600 ] || fail "env file must be 0600 (holds the token)"
[ "$(stat -c %a "$r/var/lib/stratoswarm")" = 700 ] || fail "state dir must be 0700"
grep -qx "SWARMLET_ARGS=\"--token $token --cluster 10.0.0.1:7946 --name rpi-1\"" \
  "$r/etc/stratoswarm/swarmlet.env" || fail "settings: $(cat "$r/etc/stratoswarm/swarmlet.env")"
"$r/usr/local/bin/swarmlet" --version | grep -q '^swarmlet ' || fail "installed binary does not run"

# The first-boot file on the boot partition (CRLF line ends from a FAT editor too).
printf 'TOKEN=%s\r\nCLUSTER=10.0.0.2\r\n# comment\r\nNAME=rpi-2\r\nLABELS=zone=a\r\n' $token > "$work/stratoswarm.txt"
"$install" --root "$work/root2" --binary "$swarmlet" --boot-config "$work/stratoswarm.txt" >/dev/null
grep -qx "SWARMLET_ARGS=\"--token $token --cluster 10.0.0.2 --name rpi-2 --labels zone=a\"" \
  "$work/root2/etc/stratoswarm/swarmlet.env" || fail "boot config: $(cat "$work/root2/etc/stratoswarm/swarmlet.env")"

# Bad input: one line, non-zero, nothing installed.
expect_fail "missing token" --root "$work/bad1" --binary "$swarmlet"
[ ! -e "$work/bad1/usr/local/bin/swarmlet" ] || fail "installed despite a missing token"
expect_fail "malformed token" --root "$work/bad2" --binary "$swarmlet" --token hunter2
expect_fail "shell characters" --root "$work/bad3" --binary "$swarmlet" --token $token --name 'x;rm'
expect_fail "missing binary" --root "$work/bad4" --binary "$work/nope" --token $token
echo 'PASSWORD=x' > "$work/bad.txt"
expect_fail "unknown boot setting" --root "$work/bad5" --binary "$swarmlet" --boot-config "$work/bad.txt"
if "$install" --root "$work/bad6" --bogus >/dev/null 2>&1; then fail "unknown flag accepted"; fi

# Again, without a token: the node has state, so it rejoins with its identity.
touch "$r/var/lib/stratoswarm/identity"
"$install" --root "$r" --binary "$swarmlet" --cluster 10.0.0.9 >/dev/null
grep -qx 'SWARMLET_ARGS="--cluster 10.0.0.9"' "$r/etc/stratoswarm/swarmlet.env" || fail "reinstall settings"
echo "pi install test: passed"
