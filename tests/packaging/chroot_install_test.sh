#!/usr/bin/env bash
# The packages in a clean Debian 12 root: apt-get installs each .deb with its
# dependencies from Debian's archive, the programs run there (--version gives
# the project's version, selftest passes), the units and the files they name
# are in place, and purge leaves the state directory. No unit is started: the
# root has no systemd running and a policy-rc.d that refuses every start.
#
#   chroot_install_test.sh VERSION CACHE_DIR STRATOSWARM_DEB SWARMLET_DEB
#
# CACHE_DIR keeps a debootstrap'ed bookworm minbase root and apt's downloaded
# .debs between runs; each run works on an overlay of it (or a copy) and
# removes everything it mounted and wrote.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$1 cache=$2 server_deb=$3 node_deb=$4
skip() { echo "SKIPPED: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, chroot, mounts)"
for tool in debootstrap chroot mount umount; do
  command -v $tool >/dev/null || skip "$tool is not installed (scripts/bootstrap installs debootstrap)"
done
for deb in "$server_deb" "$node_deb"; do
  [ -f "$deb" ] || fail "$deb does not exist (did packaging:debs run?)"
done
. /etc/os-release
codename=${VERSION_CODENAME:-bookworm}
. "$here/../../scripts/debian_sources.sh"
sources=$(debian_main_sources /etc/apt "$codename")
mirror=$(awk -v c="$codename" '$2 == c {print $1; exit}' <<<"$sources")
[ -n "$mirror" ] || skip "no apt 'deb' entry for Debian $codename main on this machine to take a mirror from"

# --- the cached clean root ----------------------------------------------------
base=$cache/$codename-minbase
mkdir -p "$cache/apt-archives/partial"
exec 9>"$cache/lock"
flock 9
if [ ! -f "$base/.stamp" ]; then
  echo "debootstrap $codename (minbase) from $mirror into $base (once; cached)"
  rm -rf "$base"
  t0=$(date +%s)
  debootstrap --variant=minbase "$codename" "$base" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
    { tail -n 20 "$cache/debootstrap.log"; rm -rf "$base"; fail "debootstrap failed (log: $cache/debootstrap.log)"; }
  # The same Debian suites the host uses (updates and security too).
  while read -r uri suite _; do echo "deb $uri $suite main"; done <<<"$sources" > "$base/etc/apt/sources.list"
  printf '#!/bin/sh\n# Never start services in this test root.\nexit 101\n' > "$base/usr/sbin/policy-rc.d"
  chmod 0755 "$base/usr/sbin/policy-rc.d"
  rm -f "$base"/var/cache/apt/archives/*.deb
  touch "$base/.stamp"
  echo "debootstrap took $(( $(date +%s) - t0 )) s"
fi

# --- this run's root: an overlay on the cached one ------------------------------
work=$(mktemp -d "$cache/run.XXXXXX")
root=$work/root
mounted=()
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$root" "$work/upper" "$work/work"
if mount -t overlay overlay -o "lowerdir=$base,upperdir=$work/upper,workdir=$work/work" "$root" 2>/dev/null; then
  mounted+=("$root")
else
  echo "(no overlayfs here: copying the cached root)"
  cp -a "$base/." "$root/"
fi
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
mount --bind /dev "$root/dev" && mounted+=("$root/dev")
mount --bind "$cache/apt-archives" "$root/var/cache/apt/archives" && mounted+=("$root/var/cache/apt/archives")
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }
cp "$server_deb" "$node_deb" "$root/tmp/"
server=/tmp/$(basename "$server_deb") node=/tmp/$(basename "$node_deb")

t0=$(date +%s)
in_root apt-get update -qq || fail "apt-get update in the root failed"
echo "apt-get update: $(( $(date +%s) - t0 )) s"

check_installed() {  # package programs...
  local pkg=$1 prog out; shift
  for prog in "$@"; do
    out=$(in_root "$prog" --version 2>&1) || fail "$pkg: $prog --version failed: $out"
    echo "$out"
    [ "$(awk '{print $2; exit}' <<<"$out")" = "$version" ] ||
      fail "$pkg: $prog --version says '$out', the project's version is $version"
  done
  unit=/lib/systemd/system/$pkg.service
  [ -f "$root$unit" ] || fail "$pkg: $unit missing"
  exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$root$unit")
  [ -x "$root$exe" ] || fail "$pkg: the unit's ExecStart $exe is not an installed program"
  for f in /usr/share/doc/$pkg/copyright /usr/share/doc/$pkg/changelog.gz \
           /usr/share/man/man1/swarmlet.1.gz /usr/share/bash-completion/completions/swarmlet; do
    [ -f "$root$f" ] || fail "$pkg: $f missing"
  done
}

# --- stratoswarm: install, run, purge -------------------------------------------
t0=$(date +%s)
in_root apt-get install -y -q --no-install-recommends "$server" > "$work/apt.log" 2>&1 ||
  { tail -n 30 "$work/apt.log"; fail "apt-get install $(basename "$server_deb") failed"; }
echo "install stratoswarm with its dependencies: $(( $(date +%s) - t0 )) s"
check_installed stratoswarm stratoswarm swarmlet
for f in /usr/share/man/man1/stratoswarm.1.gz /usr/share/bash-completion/completions/stratoswarm; do
  [ -f "$root$f" ] || fail "stratoswarm: $f missing"
done
for dep in skopeo tar2sqfs; do
  in_root sh -c "command -v $dep" >/dev/null || fail "stratoswarm: $dep (a Depends) is not installed"
done
out=$(in_root stratoswarm selftest 2>&1) || fail "stratoswarm selftest in the clean root: $out"
echo "$out"
out=$(in_root swarmlet selftest 2>&1) || fail "swarmlet selftest (stratoswarm package): $out"
if [ -x "$root/usr/bin/deb-systemd-helper" ]; then
  [ -L "$root/etc/systemd/system/multi-user.target.wants/stratoswarm.service" ] ||
    fail "stratoswarm.service is not enabled after install"
fi
# State as serve leaves it (0700, a key); purge must keep it.
install -d -m 0700 "$root/var/lib/stratoswarm"
echo "not a real key" > "$root/var/lib/stratoswarm/ca.key"
in_root apt-get purge -y -q stratoswarm > "$work/apt.log" 2>&1 || { cat "$work/apt.log"; fail "purge stratoswarm failed"; }
[ ! -e "$root/usr/bin/stratoswarm" ] || fail "purge left /usr/bin/stratoswarm"
[ -f "$root/var/lib/stratoswarm/ca.key" ] || fail "purge removed the state directory"
[ ! -e "$root/etc/systemd/system/multi-user.target.wants/stratoswarm.service" ] || fail "purge left the unit enabled"

# --- swarmlet: install, run, purge ------------------------------------------------
in_root apt-get install -y -q --no-install-recommends "$node" > "$work/apt.log" 2>&1 ||
  { tail -n 30 "$work/apt.log"; fail "apt-get install $(basename "$node_deb") failed"; }
check_installed swarmlet swarmlet stratoswarm-metrics stratoswarm-test
out=$(in_root swarmlet selftest 2>&1) || fail "swarmlet selftest in the clean root: $out"
echo "$out"
[ ! -e "$root/etc/systemd/system/multi-user.target.wants/swarmlet.service" ] ||
  fail "swarmlet.service was enabled without a join token"
grep -q '^ExecStart=/usr/bin/swarmlet join .*--token-file /etc/stratoswarm/join.token' "$root/lib/systemd/system/swarmlet.service" ||
  fail "the packaged swarmlet unit differs from images/pi/swarmlet.service beyond the binary's path"
in_root apt-get purge -y -q swarmlet > "$work/apt.log" 2>&1 || { cat "$work/apt.log"; fail "purge swarmlet failed"; }
[ ! -e "$root/usr/bin/swarmlet" ] || fail "purge left /usr/bin/swarmlet"
[ -f "$root/var/lib/stratoswarm/ca.key" ] || fail "purge of swarmlet removed the state directory"
echo "chroot install test: passed"
