#!/usr/bin/env bash
# The GPU peer cut off (issue 17): four Pis and the GPU peer on a bridge of
# network namespaces, three replicas running on the Pis; the GPU peer's link
# to every Pi is cut both ways for 5 s (blackhole routes in its namespace
# and in theirs) while the
# Pis still hear each other. Nothing may be decided: the GPU peer reports
# itself isolated ("hears 0 of 4 members") and proposes nothing, the Pis'
# votes cannot reach it, and its own vote never counts alone. After the heal
# every Pi is Ready, every replica runs exactly once, where it ran before.
# (Before issue 17 the GPU peer left the Pis it suspected out of the voters
# and decided them Down by its own single vote.)
#   partition_test.sh STRATOSWARM SWARMLET [ROGUE_MEMBER]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/netns_lib.sh"
nl_require
[ -e /sys/fs/cgroup/cgroup.controllers ] || [ -d /sys/fs/cgroup/cpu ] || nl_skip "no cgroups for the workloads"
ss=$1 sw=$2
base=$((20000 + RANDOM % 30000))  # names the nodes (their cgroups) and marks the replicas
mark=part-$base
NL_ID=pt$base
nl_init
cleanup_all() {
  pkill -9 -f -- "$mark" 2>/dev/null
  for d in /sys/fs/cgroup/*/stratoswarm/*-"$base"; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  nl_cleanup
}
trap cleanup_all EXIT INT TERM
w=$NL_WORK
fail() { echo "FAIL: $*"; "$ss" --state-dir "$w/p" node ls; "$ss" --state-dir "$w/p" ps -a; for f in "$w"/*.log; do echo "--- $f"; tail -6 "$f"; done; exit 1; }
ok() { echo "ok: $*"; }
S() { "$ss" --state-dir "$w/p" "$@"; }
wait_for() {
  local n=$(($1 * 10)); shift
  for _ in $(seq $n); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
ready_count() { S node ls | grep -c ' Ready '; }
all_ready() { [ "$(ready_count)" = 5 ]; }
placement() { S ps --format json | python3 -c "import json,sys; print(' '.join(sorted(w['status']+'@'+w['node'] for w in json.load(sys.stdin) if w['name'].startswith('guarded'))))"; }
copies() { pgrep -fc -- "$mark" || true; }

nl_host gpu 10.213.0.1
for i in 1 2 3 4; do nl_host "pi$i" "10.213.0.1$i"; done
nl_on gpu "$ss" --state-dir "$w/p" serve --name "gpu-$base" --listen 10.213.0.1 --no-mdns >"$w/serve.log" 2>&1 &
wait_for 10 S node ls || fail "serve did not come up"
token=$(S cluster create-join-token) || fail "no token"
for i in 1 2 3 4; do
  # nsenter, not `ip netns exec`: that mounts a fresh /sys without the cgroup
  # hierarchy the workloads need.
  nsenter --net="/run/netns/$NL_ID-pi$i" "$sw" join --token "$token" --cluster 10.213.0.1 --name "pi-$i-$base" --state-dir "$w/pi$i" \
    --hw-root "$("$here/../../scripts/make_fake_pi_root.sh" "$w/hw$i")" >"$w/pi$i.log" 2>&1 &
done
wait_for 30 all_ready || fail "not all 4 Pis joined: $(S node ls)"
for i in 1 2 3 4; do
  wait_for 20 grep -q '"phase":"formation","ms":[0-9.]*,"members":5' "$w/pi$i/timing.jsonl" || fail "pi$i: mesh not formed"
done
cat >"$w/guarded.yaml" <<EOF
name: guarded
replicas: 3
placement:
  constraints:
    - node.type == rpi
spec:  # no image: a host command
  command: ["/bin/sh", "-c", "while :; do sleep 1; done", "$mark"]
EOF
out=$(S deploy "$w/guarded.yaml") || fail "deploy: $out"
wait_for 10 test "$(copies)" = 3 || fail "not 3 replicas running: $(copies)"
before=$(placement)
ok "4 Pis joined, mesh formed; 3 replicas: $before"

# Both ways: the Pis' datagrams to their anchor would otherwise still reach it.
cut() {  # cut add|del
  for i in 1 2 3 4; do
    ip -n "$NL_ID-gpu" route "$1" blackhole "10.213.0.1$i/32"
    ip -n "$NL_ID-pi$i" route "$1" blackhole 10.213.0.1/32
  done
}
cut add
isolated=
for _ in $(seq 50); do
  s=$(S cluster status 2>&1)
  case $s in *"isolated: hears 0 of 4 members"*) isolated=$s; break ;; esac
  sleep 0.1
done
[ -n "$isolated" ] || fail "the GPU peer did not say it is isolated: $(S cluster status 2>&1)"
S node ls | grep -q "^WARNING: gpu-$base is isolated: hears 0 of 4 members" || fail "node ls does not say isolated"
sleep 4.5
cut del
ok "cut 5 s: $isolated"

wait_for 15 all_ready || fail "not all Pis Ready after the heal: $(S node ls)"
sleep 3  # late votes or decisions would show up by now
decided=$(grep '"phase":"decided"' "$w/p/timing.jsonl")
[ -z "$decided" ] || fail "a failure was decided during the GPU peer's isolation: $decided"
grep -q "GPU peer gpu-$base is isolated: hears [01] of 4 members" "$w/serve.log" || fail "serve.log does not say isolated"
grep -q "GPU peer gpu-$base hears a majority again" "$w/serve.log" || fail "serve.log does not say the majority came back"
[ "$(copies)" = 3 ] || fail "$(copies) replica processes after the heal (want exactly 3)"
after=$(placement)
[ "$after" = "$before" ] || fail "replicas moved: $before -> $after"
suspects=$(grep -c '"phase":"suspect"' "$w/p/timing.jsonl")
ok "healed: 0 decisions ($suspects suspicions raised while cut off), every Pi Ready, 3 replicas exactly once: $after"
echo "partition test: passed"
