#!/usr/bin/env bash
# A member that hears no one (its inbound traffic cut, a stall, a restart)
# suspects everyone at once, and its suspicions travel as rumors. No live
# node may be voted Down on its word: every member votes from what it hears
# itself (consensus::FailureWitness). Regression test for live nodes decided
# failed 20 ms after their last heartbeat when a restarted swarmlet's rumors
# reached the voters.
#   1. c1's inbound mesh traffic is dropped for 2 s (nftables, in a network
#      namespace of the test's own): c1 accuses every member, everyone still
#      hears c1 — nothing may be decided failed, not even c1;
#   2. c1 stalled (SIGSTOP 1.5 s) and restarted (kill -9) in turns: only c1
#      may be decided failed.
# Needs root for the namespace (skips otherwise).
#   false_accusation_test.sh STRATOSWARM SWARMLET
set -uo pipefail

ss=$1 sw=$2
n=4
rounds=${FALSE_ACCUSATION_ROUNDS:-6}
if [ -z "${ACCUSE_IN_NETNS:-}" ]; then
  [ "$(id -u)" = 0 ] || { echo "SKIP: needs root for a private network namespace"; exit 77; }
  command -v nft >/dev/null || { echo "SKIP: needs nft (nftables)"; exit 77; }
  ACCUSE_IN_NETNS=1 exec unshare --net -- "$0" "$@"
fi
ip link set lo up
. "$(dirname "$0")/loopback_lib.sh"
ll_init accuse
c1_port=$((base + 10))

"$ss" --state-dir "$work/p" serve --listen 127.0.0.1 --no-mdns --mesh-port $base --join-port $((base + 1)) \
  --bootstrap-port $((base + 2)) >"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do "$ss" --state-dir "$work/p" node ls >/dev/null 2>&1 && break; sleep 0.1; done
token=$("$ss" --state-dir "$work/p" cluster create-join-token) || fail "create-join-token"
declare -A pid
start() {  # start NAME PORT [--token T]
  "$sw" join "${@:3}" --cluster 127.0.0.1:$((base + 2)) --name "$1" --state-dir "$work/$1" \
    --mesh-port "$2" >>"$work/$1.log" 2>&1 &
  pid[$1]=$!
  pids+=($!)
}
ready() { "$ss" --state-dir "$work/p" node ls | grep -c ' Ready '; }
wait_ready() {  # wait_ready WHY: every node Ready again within 10 s
  for _ in $(seq 100); do [ "$(ready)" = $((n + 1)) ] && return; sleep 0.1; done
  fail "$1: not all $((n + 1)) nodes Ready: $("$ss" --state-dir "$work/p" node ls)"
}
start c1 $c1_port --token "$token"
for i in $(seq 2 $n); do start "c$i" 0 --token "$token"; done
wait_ready "after the joins"
echo "ok: $n swarmlets joined"
decisions() { grep '"phase":"decided"' "$work/p/timing.jsonl"; }

nft add table inet accuse && nft add chain inet accuse input '{ type filter hook input priority 0; }' &&
  nft add rule inet accuse input meta l4proto '{ tcp, udp }' th dport $c1_port drop || fail "nft could not cut c1's inbound traffic"
sleep 2
nft delete table inet accuse
accused=$(grep -c '^\[mesh\] suspect' "$work/c1.log")
[ "$accused" -gt 0 ] || fail "c1 heard no one for 2 s but suspected no one: the cut did not work"
wait_ready "after c1's inbound traffic came back"
sleep 1
[ -z "$(decisions)" ] || fail "c1 heard no one and accused $accused members; decided: $(decisions)"
echo "ok: c1 heard no one for 2 s and raised $accused suspicions; every member still heard c1; 0 decided failures"

for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then
    kill -STOP "${pid[c1]}"; sleep 1.5; kill -CONT "${pid[c1]}"
    what="stalled 1.5 s"
  else
    kill -9 "${pid[c1]}"; wait "${pid[c1]}" 2>/dev/null; sleep 0.5; start c1 0
    what="restarted on a new port"
  fi
  wait_ready "round $r (c1 $what)"
  sleep 1
  wrong=$(decisions | grep -v '"name":"c1"')
  [ -z "$wrong" ] || fail "round $r (c1 $what): a live node was decided failed: $wrong"
  echo "ok: round $r: c1 $what; no other node decided failed"
done
refused=$(grep -c '"phase":"refuted_by_quorum"' "$work/p/timing.jsonl")
echo "ok: $(decisions | wc -l) decided failures, all of c1; $refused proposals voted down"
echo "false accusation test: passed"
