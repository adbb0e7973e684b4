#!/usr/bin/env bash
# Five swarmlets joining at the same moment (Pis booting together after a
# power cut) all form the full mesh and the idle cluster stays quiet: every
# swarmlet hears from every member, no suspicion, no decided failure.
# Regression test for member-list updates lost while the new members'
# connections were still handshaking.
#   concurrent_join_test.sh STRATOSWARM SWARMLET
set -uo pipefail

ss=$1 sw=$2
n=5
. "$(dirname "$0")/loopback_lib.sh"
ll_init cjoin

"$ss" --state-dir "$work/p" serve --listen 127.0.0.1 --no-mdns --mesh-port $base --join-port $((base + 1)) \
  --bootstrap-port $((base + 2)) >"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do "$ss" --state-dir "$work/p" node ls >/dev/null 2>&1 && break; sleep 0.1; done
token=$("$ss" --state-dir "$work/p" cluster create-join-token) || fail "create-join-token"
for i in $(seq $n); do
  "$sw" join --token "$token" --cluster 127.0.0.1:$((base + 2)) --name "c$i" --state-dir "$work/c$i" \
    --mesh-port 0 >"$work/c$i.log" 2>&1 &
  pids+=($!)
done
# formed_with FILE: the member count of the last mesh.formation record.
formed_with() { grep '"phase":"formation"' "$1" 2>/dev/null | tail -1 | grep -o '"members":[0-9]*' | cut -d: -f2; }
for i in $(seq $n); do
  for _ in $(seq 200); do [ "$(formed_with "$work/c$i/timing.jsonl")" = $((n + 1)) ] && break; sleep 0.1; done
  [ "$(formed_with "$work/c$i/timing.jsonl")" = $((n + 1)) ] ||
    fail "c$i did not hear from all $((n + 1)) members (last formation: $(formed_with "$work/c$i/timing.jsonl"))"
done
echo "ok: all $n swarmlets joined at once and each heard from all $((n + 1)) members"
sleep 3
suspects=$(cat "$work"/c*.log | grep -c '^\[mesh\] suspect')
decided=$(grep -c '"event":"failure_detection","phase":"decided"' "$work/p/timing.jsonl")
[ "$suspects" = 0 ] || fail "$suspects suspicions in an idle cluster"
[ "$decided" = 0 ] || fail "$decided failures decided in an idle cluster"
[ "$("$ss" --state-dir "$work/p" node ls | grep -c ' Ready ')" = $((n + 1)) ] || fail "not all Ready: $("$ss" --state-dir "$work/p" node ls)"
echo "ok: idle for 3 s: 0 suspicions, 0 decided failures, $((n + 1)) nodes Ready"
echo "concurrent join test: passed"
