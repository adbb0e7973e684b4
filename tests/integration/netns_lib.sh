# Sourced by the network-namespace tests: hosts made of namespaces on one
# bridge, each with its own dbus-daemon and avahi-daemon (own /run), as
# shared/NOTES.md describes. Traffic stays inside these namespaces.
#   nl_require                 skip (exit 77) without root, namespaces or avahi
#   nl_init                    a switch namespace with a bridge; cleanup on exit
#   nl_host NAME IP            a host on the bridge (10.213.0.0/24), dbus + avahi up
#   nl_on NAME CMD...          run CMD on host NAME with its system bus
# Uses $NL_ID (unique per run) and $NL_WORK (scratch dir).

nl_skip() { echo "SKIPPED: $*"; exit 77; }

nl_require() {
  [ "$(id -u)" = 0 ] || nl_skip "needs root for network namespaces"
  for t in ip unshare avahi-daemon dbus-daemon; do
    command -v $t >/dev/null || nl_skip "$t not installed"
  done
}

nl_cleanup() {
  for ns in $(ip netns list | awk '{print $1}' | grep "^$NL_ID-"); do
    ip netns pids "$ns" | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$NL_WORK"
}

nl_init() {
  NL_ID=${NL_ID:-ss$$}
  NL_WORK=$(mktemp -d /tmp/stratoswarm-netns-XXXXXX)
  trap nl_cleanup EXIT INT TERM
  ip netns add "$NL_ID-sw" 2>/dev/null || nl_skip "cannot create network namespaces here"
  ip -n "$NL_ID-sw" link add br0 type bridge
  ip -n "$NL_ID-sw" link set br0 up
}

nl_host() {
  local h=$1 ip=$2 run=$NL_WORK/$1/run
  local ns=$NL_ID-$h ifc=eth0
  ip netns add "$ns"
  ip link add "$NL_ID-$h" type veth peer name "$NL_ID-$h-p"
  ip link set "$NL_ID-$h" netns "$ns"
  ip link set "$NL_ID-$h-p" netns "$NL_ID-sw"
  ip -n "$ns" link set "$NL_ID-$h" name $ifc
  ip -n "$NL_ID-sw" link set "$NL_ID-$h-p" master br0 up
  ip -n "$ns" addr add "$ip/24" dev $ifc
  ip -n "$ns" link set $ifc up
  ip -n "$ns" link set lo up
  mkdir -p "$run/dbus" "$run/avahi-daemon"
  printf '[server]\nhost-name=%s\nuse-ipv4=yes\nuse-ipv6=no\nallow-interfaces=%s\n[publish]\npublish-hinfo=no\npublish-workstation=no\n' \
    "$h" $ifc > "$NL_WORK/$h/avahi.conf"
  ip netns exec "$ns" unshare --mount sh -c "
    mount --bind '$run' /run
    dbus-daemon --system --fork --nopidfile
    avahi-daemon --no-chroot --no-drop-root --no-rlimits -f '$NL_WORK/$h/avahi.conf' -D"
}

nl_on() {
  local h=$1; shift
  ip netns exec "$NL_ID-$h" env DBUS_SYSTEM_BUS_ADDRESS="unix:path=$NL_WORK/$h/run/dbus/system_bus_socket" "$@"
}
