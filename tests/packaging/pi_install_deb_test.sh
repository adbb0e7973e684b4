#!/usr/bin/env bash
# images/pi/install.sh with the swarmlet package instead of the bare binary,
# into scratch roots (--root: unpacked, nothing started): the package's files
# land in /usr/bin and /lib/systemd/system, nothing in /usr/local or /etc's
# unit dir, the settings and the 0600 token as without a package; a lone
# package next to the script is found on its own; a root that an earlier
# binary install left behind loses its shadowing unit and binary.
#   pi_install_deb_test.sh SWARMLET_DEB
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
install=$here/../../images/pi/install.sh
deb=$1
command -v dpkg-deb >/dev/null || { echo "SKIPPED: dpkg-deb is not installed"; exit 77; }
[ -f "$deb" ] || { echo "FAIL: $deb does not exist (did packaging:debs run?)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
token=SWMTKN-1-0123abcd-s3cr3t

r=$work/root
"$install" --root "$r" --deb "$deb" --token $token --cluster 10.0.0.1 --name rpi-1 >/dev/null
[ -x "$r/usr/bin/swarmlet" ] || fail "package binary not in /usr/bin"
[ "$(readlink "$r/usr/bin/stratoswarm-metrics")" = swarmlet ] || fail "metrics link"
unit=$r/lib/systemd/system/swarmlet.service
[ -f "$unit" ] || fail "package unit missing"
[ ! -e "$r/usr/local/bin/swarmlet" ] && [ ! -e "$r/etc/systemd/system/swarmlet.service" ] ||
  fail "--deb also installed the bare binary or the /etc unit"
# The package's unit is images/pi/swarmlet.service with the binary in /usr/bin.
diff <(sed '1d; s|/usr/local/bin/swarmlet|/usr/bin/swarmlet|' "$here/../../images/pi/swarmlet.service") \
     <(sed '1d' "$unit") || fail "the packaged unit is not images/pi/swarmlet.service"
[ "$(stat -c %a "$r/etc/stratoswarm/join.token")" = 600 ] || fail "token file must be 0600"
[ "$(cat "$r/etc/stratoswarm/join.token")" = "$token" ] || fail "token file content"
[ "$(stat -c %a "$r/var/lib/stratoswarm")" = 700 ] || fail "state dir must be 0700"
grep -qx 'SWARMLET_ARGS="--cluster 10.0.0.1 --name rpi-1"' "$r/etc/stratoswarm/swarmlet.env" || fail "settings"
if [ "$(dpkg-deb -f "$deb" Architecture)" = "$(dpkg --print-architecture)" ]; then
  "$r/usr/bin/swarmlet" --version | grep -q '^swarmlet ' || fail "packaged binary does not run"
fi

# A boot partition with install.sh, the unit and a package for this machine, no binary.
boot=$work/boot
mkdir -p "$boot"
cp "$install" "$here/../../images/pi/swarmlet.service" "$boot/"
case $(uname -m) in aarch64) arch=arm64 ;; x86_64) arch=amd64 ;; *) arch=$(uname -m) ;; esac
cp "$deb" "$boot/swarmlet_0_$arch.deb"
"$boot/install.sh" --root "$work/root2" --token $token >/dev/null
[ -x "$work/root2/usr/bin/swarmlet" ] || fail "the package next to install.sh was not used"

# Switching an earlier binary install to the package.
"$install" --root "$work/root3" --binary "$r/usr/bin/swarmlet" --token $token >/dev/null
[ -f "$work/root3/etc/systemd/system/swarmlet.service" ] || fail "binary install left no /etc unit"
"$install" --root "$work/root3" --deb "$deb" --token $token >/dev/null
[ ! -e "$work/root3/etc/systemd/system/swarmlet.service" ] || fail "the old /etc unit still shadows the package's"
[ ! -e "$work/root3/usr/local/bin/swarmlet" ] || fail "the old /usr/local/bin/swarmlet is still there"

if "$install" --root "$work/bad" --deb "$work/nope.deb" --token $token >/dev/null 2>&1; then fail "missing .deb accepted"; fi
if "$install" --root "$work/bad" --deb "$deb" --binary "$r/usr/bin/swarmlet" --token $token >/dev/null 2>&1; then
  fail "--deb with --binary accepted"
fi
echo "pi install deb test: passed"
