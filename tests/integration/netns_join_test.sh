#!/usr/bin/env bash
# Join across network-namespace hosts with real mDNS (issue 5): the GPU peer
# on one host announces the cluster through its own Avahi; swarmlets on other
# hosts join by mDNS (x86_64, and the static aarch64 build under qemu when
# built) and with --cluster; every member then hears every other.
#   netns_join_test.sh STRATOSWARM SWARMLET [AARCH64_SWARMLET]
set -euo pipefail
. "$(dirname "$0")/netns_lib.sh"
nl_require
ss=$1 swarmlet=$2 arm=${3:-}
nl_init
nl_host gpu 10.213.0.1
nl_host rpi1 10.213.0.11
nl_host rpi2 10.213.0.12
nl_host rpi3 10.213.0.13
w=$NL_WORK
fail() { echo "FAIL: $*"; for f in "$w"/*.log; do echo "--- $f"; tail -5 "$f"; done; exit 1; }
wait_for() { for _ in $(seq $(($3 * 10))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

nl_on gpu "$ss" --state-dir "$w/p" serve --listen 10.213.0.1 > "$w/serve.log" 2>&1 &
for _ in $(seq 100); do "$ss" --state-dir "$w/p" node ls >/dev/null 2>&1 && break; sleep 0.1; done
token=$("$ss" --state-dir "$w/p" cluster create-join-token) || fail "no token"
# Avahi probes a new name for ~1 s before others see it: let it settle, as a
# user's primary would have been up long before a Pi joins.
sleep 1.5

nl_on rpi1 "$swarmlet" join --token "$token" --name rpi-1 --state-dir "$w/rpi1" > "$w/rpi1.log" 2>&1 &
wait_for "$w/rpi1.log" "Successfully joined cluster" 20 || fail "rpi-1 did not join by mDNS"
grep -q '"phase":"discovery".*"via":"mdns"' "$w/rpi1/timing.jsonl" || fail "rpi-1 did not use mDNS"
echo "ok: rpi-1 (x86_64) joined by mDNS: $(grep -o '"phase":"\(discovery\|total\)","ms":[0-9.]*' "$w/rpi1/timing.jsonl" | tr '\n' ' ')"

if [ -n "$arm" ] && [ -x "$arm" ]; then
  nl_on rpi2 qemu-aarch64-static "$arm" join --token "$token" --name rpi-2 --state-dir "$w/rpi2" > "$w/rpi2.log" 2>&1 &
  wait_for "$w/rpi2.log" "Successfully joined cluster" 30 || fail "rpi-2 (aarch64) did not join by mDNS"
  "$ss" --state-dir "$w/p" node ls | grep -q "rpi-2 .* aarch64 .* rpi .* Ready" || fail "rpi-2 not listed as an aarch64 rpi"
  echo "ok: rpi-2 (aarch64 under qemu) joined by mDNS: $(grep -o '"phase":"total","ms":[0-9.]*' "$w/rpi2/timing.jsonl")"
else
  echo "SKIPPED (part): no aarch64 swarmlet built; rpi-2 not joined"
fi

nl_on rpi3 "$swarmlet" join --token "$token" --cluster 10.213.0.1 --name rpi-3 --state-dir "$w/rpi3" > "$w/rpi3.log" 2>&1 &
wait_for "$w/rpi3.log" "Successfully joined cluster" 20 || fail "rpi-3 did not join with --cluster"
grep -q "Network latency: " "$w/rpi3.log" || fail "no latency line"

# Mesh formation: every member has heard from every other.
members=$("$ss" --state-dir "$w/p" node ls | tail -n +2 | wc -l)
for h in rpi1 rpi3; do
  for _ in $(seq 50); do grep -q "\"phase\":\"formation\".*\"members\":$members" "$w/$h/timing.jsonl" && break; sleep 0.1; done
  grep -q "\"phase\":\"formation\".*\"members\":$members" "$w/$h/timing.jsonl" || fail "$h never heard from all $members members"
done
"$ss" --state-dir "$w/p" cluster mesh-status | grep -c alive | grep -q "$((members - 1))" || fail "mesh-status: $("$ss" --state-dir "$w/p" cluster mesh-status)"
echo "ok: mesh formed with $members members"

# Partition (seed 001): the GPU peer loses its direct link to rpi-1, the other
# members still reach it. rpi-1 must stay Ready: indirect probes answer for
# it, and a node_failed proposal would be voted down by those who hear it.
if [ -n "$arm" ] && [ -x "$arm" ]; then
  ip -n "$NL_ID-gpu" route add blackhole 10.213.0.11/32
  sleep 3
  "$ss" --state-dir "$w/p" node ls | grep -q "rpi-1 .* Ready" || fail "rpi-1 declared failed during a partition: $("$ss" --state-dir "$w/p" node ls)"
  ! grep -q '"phase":"decided".*"name":"rpi-1"' "$w/p/timing.jsonl" || fail "a failure of rpi-1 was decided"
  echo "ok: partition: rpi-1 stays Ready ($(grep -c '"name":"rpi-1"' "$w/p/timing.jsonl") detection records, none decided)"
  ip -n "$NL_ID-gpu" route del blackhole 10.213.0.11/32
fi

# A swarmlet killed: its failure is decided by signed votes.
pkill -9 -f -- "--state-dir $w/rpi3" || fail "rpi-3 not running"
for _ in $(seq 50); do "$ss" --state-dir "$w/p" node ls | grep -q "rpi-3 .* Down" && break; sleep 0.1; done
"$ss" --state-dir "$w/p" node ls | grep -q "rpi-3 .* Down" || fail "rpi-3 not Down after kill -9"
grep -q '"phase":"decided".*"name":"rpi-3"' "$w/p/timing.jsonl" || fail "rpi-3's failure was not decided by votes"
echo "ok: kill -9 decided: $(grep -o '"phase":"decided","ms":[0-9.]*,"name":"rpi-3","yes":[0-9]*' "$w/p/timing.jsonl")"

# A wrong cluster's token finds nothing on mDNS: a clear timeout, nothing saved.
bad="SWMTKN-1-$(printf '%064d' 0)-${token:74}"
if out=$(nl_on rpi3 "$swarmlet" join --token "$bad" --name x --state-dir "$w/bad" --discovery-timeout 1.5 2>&1); then
  fail "joined with another cluster's token"
fi
echo "$out" | grep -q "no StratoSwarm cluster matching the token answered on mDNS" || fail "timeout message: $out"
[ ! -e "$w/bad/node.identity" ] || fail "identity left behind"
echo "ok: $(echo "$out" | grep '^swarmlet:')"
echo "netns join test: passed"
