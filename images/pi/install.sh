#!/bin/sh
# Installs the static swarmlet on a Raspberry Pi (or any systemd Linux) and
# starts it, joining the cluster:
#
#   sudo ./install.sh --token-file F | --token SWMTKN-1-... [--cluster IP[:PORT]]
#                     [--name N] [--labels k=v,...] [--binary ./swarmlet] [--no-start]
#                     [--deb ./swarmlet_<ver>_<arch>.deb]
#   sudo ./install.sh --boot-config /boot/firmware/stratoswarm.txt   (first boot)
#
# --deb installs the swarmlet package (make packages; /usr/bin, its unit in
# /lib/systemd/system) instead of copying the bare binary to /usr/local/bin;
# without --binary or --deb, a lone swarmlet_*_<this arch>.deb next to this
# script is used when there is no ./swarmlet binary here.
#
# --root DIR installs into DIR instead of / (image building, tests); it implies
# --no-start. Safe to run again: it replaces the binary and the settings.
# The token goes to /etc/stratoswarm/join.token (0600), never onto a command
# line; the swarmlet deletes that file once it has joined (docs/pi.md).
set -eu

die() { echo "install.sh: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -eu$/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

here=$(cd "$(dirname "$0")" && pwd)
root=/ token= token_file= cluster= name= labels= binary= deb= start=yes boot_config=
while [ $# -gt 0 ]; do
  case $1 in
    --token) token=${2:?}; shift 2 ;;
    --token-file) token_file=${2:?}; shift 2 ;;
    --cluster) cluster=${2:?}; shift 2 ;;
    --name) name=${2:?}; shift 2 ;;
    --labels) labels=${2:?}; shift 2 ;;
    --binary) binary=${2:?}; shift 2 ;;
    --deb) deb=${2:?}; shift 2 ;;
    --root) root=${2:?}; start=no; shift 2 ;;
    --no-start) start=no; shift ;;
    --boot-config) boot_config=${2:?}; shift 2 ;;
    -h|--help) usage ;;
    *) echo "install.sh: unknown argument '$1'" >&2; usage ;;
  esac
done

if [ -n "$boot_config" ]; then
  # KEY=VALUE lines: TOKEN, CLUSTER, NAME, LABELS. Read, never sourced.
  [ -r "$boot_config" ] || die "cannot read $boot_config"
  while IFS='=' read -r key value; do
    value=$(printf '%s' "$value" | tr -d '\r"')
    case $key in
      TOKEN) token=$value ;; CLUSTER) cluster=$value ;;
      NAME) name=$value ;; LABELS) labels=$value ;;
      ''|\#*) ;;
      *) die "$boot_config: unknown setting '$key'" ;;
    esac
  done < "$boot_config"
fi

if [ -n "$token_file" ]; then
  [ -r "$token_file" ] || die "cannot read $token_file"
  token=$(tr -d ' \t\r\n' < "$token_file")
fi

[ "$root" != / ] || [ "$(id -u)" = 0 ] || die "must run as root (try: sudo $0 ...)"
[ -z "$binary" ] || [ -z "$deb" ] || die "--binary and --deb exclude each other"
if [ -z "$binary" ] && [ -z "$deb" ] && [ ! -f "$here/swarmlet" ]; then
  case $(uname -m) in aarch64|arm64) arch=arm64 ;; x86_64) arch=amd64 ;; *) arch=$(uname -m) ;; esac
  set -- "$here"/swarmlet_*_"$arch".deb
  [ $# = 1 ] && [ -f "$1" ] && deb=$1
fi
if [ -n "$deb" ]; then
  [ -f "$deb" ] || die "no swarmlet package at $deb"
  command -v dpkg-deb >/dev/null || die "--deb needs dpkg (a Debian-based system)"
  [ "$(dpkg-deb -f "$deb" Package 2>/dev/null)" = swarmlet ] || die "$deb is not the swarmlet package"
else
  [ -n "$binary" ] || binary=$here/swarmlet
  [ -f "$binary" ] || die "no swarmlet binary at $binary (pass --binary PATH)"
fi
case $token in
  SWMTKN-1-*-*) ;;
  # A node that joined before rejoins with its saved identity, no token needed.
  "") [ -n "$(ls -A "$root/var/lib/stratoswarm" 2>/dev/null)" ] ||
        die "--token-file or --token is required for the first join (stratoswarm cluster create-join-token)" ;;
  # Never echo the value: it may be a real token, mistyped.
  *) die "the token given is not a join token (SWMTKN-1-<fingerprint>-<secret>)" ;;
esac
for value in "$cluster" "$name" "$labels"; do
  case $value in *[!A-Za-z0-9.:=,_-]*) die "'$value' contains characters not allowed here" ;; esac
done

install -d -m 0700 "$root/etc/stratoswarm" "$root/var/lib/stratoswarm"
if [ -n "$deb" ]; then
  if [ "$root" = / ]; then
    dpkg -i "$deb" >/dev/null || die "dpkg -i $deb failed"
  else
    dpkg-deb -x "$deb" "$root" || die "dpkg-deb -x $deb failed"
  fi
  # A unit and binary an earlier run of this script put in /etc and
  # /usr/local would shadow the package's.
  if head -n1 "$root/etc/systemd/system/swarmlet.service" 2>/dev/null | grep -q 'Installed by images/pi/install.sh'; then
    rm -f "$root/etc/systemd/system/swarmlet.service" "$root/usr/local/bin/swarmlet" \
          "$root/usr/local/bin/stratoswarm-metrics" "$root/usr/local/bin/stratoswarm-test"
  fi
else
  install -d -m 0755 "$root/usr/local/bin" "$root/etc/systemd/system"
  install -m 0755 "$binary" "$root/usr/local/bin/swarmlet.new"
  mv -f "$root/usr/local/bin/swarmlet.new" "$root/usr/local/bin/swarmlet"
  ln -sf swarmlet "$root/usr/local/bin/stratoswarm-metrics"
  ln -sf swarmlet "$root/usr/local/bin/stratoswarm-test"
  install -m 0644 "$here/swarmlet.service" "$root/etc/systemd/system/swarmlet.service"
fi

umask 077
if [ -n "$token" ]; then
  printf '%s\n' "$token" > "$root/etc/stratoswarm/join.token.new"
  mv -f "$root/etc/stratoswarm/join.token.new" "$root/etc/stratoswarm/join.token"
fi
args=
[ -n "$cluster" ] && args="$args --cluster $cluster"
[ -n "$name" ] && args="$args --name $name"
[ -n "$labels" ] && args="$args --labels $labels"
printf 'SWARMLET_ARGS="%s"\n' "${args# }" > "$root/etc/stratoswarm/swarmlet.env.new"
mv -f "$root/etc/stratoswarm/swarmlet.env.new" "$root/etc/stratoswarm/swarmlet.env"

# Memory limits need the memory controller; Raspberry Pi OS ships it disabled.
if [ "$root" = / ] && awk '$1 == "memory" && $4 == 0 { found = 1 } END { exit !found }' /proc/cgroups; then
  echo "install.sh: WARNING: the cgroup memory controller is disabled; add" \
       "'cgroup_enable=memory cgroup_memory=1' to /boot/firmware/cmdline.txt and reboot" >&2
fi

if [ "$start" = yes ]; then
  systemctl daemon-reload
  systemctl enable --now swarmlet.service
  echo "install.sh: swarmlet started; follow it with: journalctl -fu swarmlet"
else
  echo "install.sh: installed into $root (not started)"
fi
