#!/usr/bin/env bash
# images/pi/install.sh into a scratch root (--root): files, modes, settings,
# the first-boot config file, bad input, and a second run replacing the first.
# The token lives in a 0600 file, never on a command line, and is never printed;
# the unit passes it with --token-file --remove-token-file (the swarmlet deletes
# it after a successful join: tests/integration/node_lifecycle_test.sh) and a
# failed join keeps it.
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
[ "$(stat -c %a "$r/etc/stratoswarm/swarmlet.env")" = 600 ] || fail "env file must be 0600"
[ "$(stat -c %a "$r/var/lib/stratoswarm")" = 700 ] || fail "state dir must be 0700"
[ "$(stat -c %a "$r/etc/stratoswarm/join.token")" = 600 ] || fail "token file must be 0600"
[ "$(cat "$r/etc/stratoswarm/join.token")" = "$token" ] || fail "token file: $(cat "$r/etc/stratoswarm/join.token")"
grep -qx "SWARMLET_ARGS=\"--cluster 10.0.0.1:7946 --name rpi-1\"" \
  "$r/etc/stratoswarm/swarmlet.env" || fail "settings: $(cat "$r/etc/stratoswarm/swarmlet.env")"
grep -rq -- "$token" "$r/etc/stratoswarm/swarmlet.env" "$r/etc/systemd" && fail "the token is outside join.token"
unit=$r/etc/systemd/system/swarmlet.service
grep -q '^ExecStart=.* --token-file /etc/stratoswarm/join.token --remove-token-file ' "$unit" ||
  fail "unit does not pass the token file: $(grep ExecStart "$unit")"
grep -q -- '--token ' "$unit" && fail "unit puts a token on the command line"
grep -qx 'RestartPreventExitStatus=3' "$unit" || fail "unit restarts a removed node"
# The unit's command (paths under the scratch root): a join that fails keeps
# the token file for the next try, and the secret is printed nowhere.
secret=abcdefghijklmnopqrstuvwxyz234567
good=SWMTKN-1-$(printf '%064d' 0)-$secret
printf '%s\n' "$good" > "$r/etc/stratoswarm/join.token"
if out=$("$r/usr/local/bin/swarmlet" join --state-dir "$work/state" --token-file "$r/etc/stratoswarm/join.token" \
    --remove-token-file --cluster 127.0.0.1:1 --hw-root / 2>&1); then fail "join to nowhere succeeded"; fi
[ -e "$r/etc/stratoswarm/join.token" ] || fail "a failed join removed the token file"
echo "$out" | grep -q "$secret" && fail "the token was printed: $out"
echo "$out" | grep -q "WARNING: --token" && fail "warned about --token for a token file: $out"
printf '%s\n' "$token" > "$r/etc/stratoswarm/join.token"
"$r/usr/local/bin/swarmlet" --version | grep -q '^swarmlet ' || fail "installed binary does not run"

# The first-boot file on the boot partition (CRLF line ends from a FAT editor too).
printf 'TOKEN=%s\r\nCLUSTER=10.0.0.2\r\n# comment\r\nNAME=rpi-2\r\nLABELS=zone=a\r\n' $token > "$work/stratoswarm.txt"
"$install" --root "$work/root2" --binary "$swarmlet" --boot-config "$work/stratoswarm.txt" >/dev/null
grep -qx "SWARMLET_ARGS=\"--cluster 10.0.0.2 --name rpi-2 --labels zone=a\"" \
  "$work/root2/etc/stratoswarm/swarmlet.env" || fail "boot config: $(cat "$work/root2/etc/stratoswarm/swarmlet.env")"
[ "$(cat "$work/root2/etc/stratoswarm/join.token")" = "$token" ] || fail "boot config token file"
# --token-file for install.sh itself (its own command line stays clean).
printf '%s\n' "$token" > "$work/t"
"$install" --root "$work/root3" --binary "$swarmlet" --token-file "$work/t" >/dev/null
[ "$(cat "$work/root3/etc/stratoswarm/join.token")" = "$token" ] || fail "install.sh --token-file"

# Bad input: one line, non-zero, nothing installed.
expect_fail "missing token" --root "$work/bad1" --binary "$swarmlet"
[ ! -e "$work/bad1/usr/local/bin/swarmlet" ] || fail "installed despite a missing token"
expect_fail "malformed token" --root "$work/bad2" --binary "$swarmlet" --token hunter2
echo "$out" | grep -q hunter2 && fail "the malformed token was echoed: $out"
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
