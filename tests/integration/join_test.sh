#!/usr/bin/env bash
# End to end on loopback: `stratoswarm serve`, tokens, `swarmlet join` with
# --cluster, the seed's log lines and timing phases, rejoin with a saved
# identity, failure detection after kill -9, serve restart, and every bad
# input of issue 5 (one-line error, non-zero exit, nothing half-written).
#   join_test.sh STRATOSWARM [EMULATOR...] SWARMLET
set -uo pipefail

ss=$1; shift
swarmlet=("$@")
[ -x "${swarmlet[-1]}" ] || { echo "SKIPPED: ${swarmlet[-1]} is not built (make build-aarch64)"; exit 77; }
. "$(dirname "$0")/loopback_lib.sh"
ll_init join
mesh=$base join=$((base + 1)) boot=$((base + 2))
P=$work/primary

start_serve() {
  "$ss" --state-dir "$P" serve --listen 127.0.0.1 --no-mdns --mesh-port $mesh --join-port $join \
    --bootstrap-port $boot >>"$work/serve.log" 2>&1 &
  serve_pid=$!
  pids+=($serve_pid)
  for _ in $(seq 100); do "$ss" --state-dir "$P" node ls >/dev/null 2>&1 && return; sleep 0.1; done
  fail "serve did not come up"
}
# join NAME [ARGS...]: start a swarmlet in the background, its pid in $last.
join() {
  local name=$1; shift
  "${swarmlet[@]}" join --cluster 127.0.0.1:$boot --name "$name" --state-dir "$work/$name" \
    --mesh-port 0 "$@" >>"$work/$name.log" 2>&1 &
  last=$!
  pids+=($last)
}
wait_for() {  # wait_for FILE PATTERN SECONDS
  for _ in $(seq $(($3 * 10))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
# refused WHAT PATTERN ARGS...: a join that must fail fast with one line and leave nothing.
refused() {
  local what=$1 pattern=$2; shift 2
  local dir=$work/refused-$RANDOM
  local t0=$(date +%s%N)
  local out rc
  out=$("${swarmlet[@]}" join --cluster 127.0.0.1:$boot --name "${rname:-bad}" --state-dir "$dir" --mesh-port 0 "$@" 2>&1)
  rc=$?
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  [ $rc -ne 0 ] || fail "$what: joined"
  echo "$out" | grep -q "$pattern" || fail "$what: expected '$pattern', got: $out"
  # --token on the command line adds its one-line warning (issue 17); the error is one line.
  [ "$(echo "$out" | grep '^swarmlet: ' | grep -vc '^swarmlet: WARNING: --token is visible')" = 1 ] ||
    fail "$what: not one error line: $out"
  [ ! -e "$dir/node.identity" ] || fail "$what: left an identity behind"
  echo "ok: $what refused in $ms ms: $(echo "$out" | grep '^swarmlet: ')"
}

start_serve
token=$("$ss" --state-dir "$P" cluster create-join-token) || fail "create-join-token"
[[ $token == SWMTKN-1-* ]] || fail "token: $token"
[ "$(stat -c %a "$P")" = 700 ] || fail "state dir mode"
[ "$(stat -c %a "$P/ca.identity")" = 600 ] || fail "CA identity mode"

join rpi-1 --token "$token"
rpi1=$last
wait_for "$work/rpi-1.log" "Successfully joined cluster" 15 || fail "rpi-1 did not join"
for line in "Hardware profile: " "Network latency: .* ms to primary" "Successfully joined cluster [0-9a-f]\{12\} as rpi-1"; do
  grep -q "$line" "$work/rpi-1.log" || fail "log line '$line' missing"
done
for phase in hw_profile discovery cert_exchange mesh_join total; do
  grep -q "\"event\":\"join\",\"phase\":\"$phase\"" "$work/rpi-1/timing.jsonl" || fail "phase $phase not timed"
done
echo "ok: joined: $(grep -o '"phase":"total","ms":[0-9.]*' "$work/rpi-1/timing.jsonl")"
"$ss" --state-dir "$P" node ls | grep -q "rpi-1 .* Ready .* worker" || fail "node ls: $("$ss" --state-dir "$P" node ls)"
"$ss" --state-dir "$P" cluster nodes --format json | grep -q '"name": "rpi-1"' || fail "nodes json"

# Bad input.
fp=${token:9:64}
secret=${token:74}
other_secret=$(echo "$secret" | tr 'a-z2-7' 'b-z2-7a')
refused "wrong secret" "invalid join token" --token "SWMTKN-1-$fp-$other_secret"
refused "another cluster's token" "refusing to join" --token "SWMTKN-1-$(printf '%064d' 0)-$secret"
refused "malformed token" "expected SWMTKN-1-" --token "SWMTKN-1-nothex"
revoked=$("$ss" --state-dir "$P" cluster create-join-token)
"$ss" --state-dir "$P" cluster revoke-token "$revoked" >/dev/null || fail "revoke"
refused "revoked token" "was revoked" --token "$revoked"
short=$("$ss" --state-dir "$P" cluster create-join-token --ttl 1s)
sleep 1.2
refused "expired token" "expired at" --token "$short"
"$ss" --state-dir "$P" cluster tokens | grep -q "revoked" || fail "tokens list"
rname=rpi-1 refused "name in use" "in use by a Ready node" --token "$token"
out=$("${swarmlet[@]}" join --token "$token" --cluster 127.0.0.1:1 --state-dir "$work/unreach" 2>&1) &&
  fail "unreachable cluster joined"
echo "$out" | grep -q "cannot reach the GPU peer at 127.0.0.1:1" || fail "unreachable: $out"
echo "ok: unreachable --cluster: $out"
mkdir -p "$work/corrupt" && head -c 300 /dev/urandom > "$work/corrupt/node.identity" && chmod 600 "$work/corrupt/node.identity"
out=$("${swarmlet[@]}" join --token "$token" --cluster 127.0.0.1:$boot --state-dir "$work/corrupt" 2>&1) &&
  fail "corrupt identity accepted"
echo "$out" | grep -q "remove it and join again" || fail "corrupt identity: $out"
echo "ok: corrupt identity: $out"

# Rejoin with the saved identity, no token.
kill -TERM $rpi1; wait $rpi1 2>/dev/null
: > "$work/rpi-1.log"
join rpi-1
wait_for "$work/rpi-1.log" "Successfully joined cluster" 15 || fail "rpi-1 did not rejoin without a token"
echo "ok: rejoined with its saved identity"

# kill -9: the primary marks it Down.
join rpi-2 --token "$token"
wait_for "$work/rpi-2.log" "Successfully joined cluster" 15 || fail "rpi-2 did not join"
kill -9 $last
for _ in $(seq 50); do "$ss" --state-dir "$P" node ls | grep -q "rpi-2 .* Down" && break; sleep 0.1; done
"$ss" --state-dir "$P" node ls | grep -q "rpi-2 .* Down" || fail "rpi-2 not Down after kill -9"
echo "ok: kill -9 detected: $(grep -o '"phase":"declared","ms":[0-9.]*' "$P/timing.jsonl" | tail -1)"

# serve restarts with everything it acknowledged.
kill -TERM $serve_pid; wait $serve_pid 2>/dev/null
start_serve
"$ss" --state-dir "$P" node ls | grep -q "rpi-1" || fail "nodes lost across a serve restart"
"$ss" --state-dir "$P" cluster tokens | grep -c active | grep -q 1 || fail "tokens lost across a restart"
echo "join test: passed"
