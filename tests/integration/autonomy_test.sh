#!/usr/bin/env bash
# A Pi without its workstation (issue 16), on loopback: `stratoswarm serve`
# and two swarmlets presenting themselves as Pis.
#   1. an announced restart (SIGTERM to the swarmlet) shows the node
#      Restarting, moves nothing, and the node is Ready again when it is back;
#   2. the GPU peer is stopped, the node "reboots" (swarmlet kill -9, its
#      workloads killed): the swarmlet starts anyway, says once that the GPU
#      peer does not answer, and runs its `always` workload again at once (the
#      `never` one stays down); when serve is back, it reconciles: the
#      workload Running there, one copy only;
#   3. a node that stays away past serve --restart-grace is decided Down and
#      its workload moves;
#   4. `swarmlet leave` moves the node's workloads, removes it from the
#      cluster and forgets its identity.
#   autonomy_test.sh STRATOSWARM SWARMLET
set -uo pipefail

ss=$1 sw=$2
[ "$(id -u)" = 0 ] || { echo "SKIPPED: needs root (cgroups for the workloads)"; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
. "$here/loopback_lib.sh"
ll_cluster_init autonomy
node_status() { S node ls --format json | python3 -c "import json,sys; print(' '.join(x['status'] for x in json.load(sys.stdin) if x['name']==sys.argv[1]) or 'absent')" "$1"; }
node_is() { [ "$(node_status "$1")" = "$2" ]; }
# Processes of this run's workloads, by the marker in their command line.
copies() { pgrep -fc "sleep 60$1$base" || true; }
copies_are() { [ "$(copies "$1")" = "$2" ]; }

# Long enough that the checks of an announced restart (node ls, ps, under the
# load of a parallel ctest) finish well inside it.
grace=8
start_serve() {
  "$ss" --state-dir "$P" serve --name "$(n primary-gpu)" --listen 127.0.0.1 --no-mdns --mesh-port $mesh --join-port $join \
    --bootstrap-port $boot --restart-grace ${grace}s >>"$work/serve.log" 2>&1 &
  pid[serve]=$!
  wait_for 10 S node ls || fail "serve did not come up"
}
fake_pi() { "$here/../../scripts/make_fake_pi_root.sh" "$work/hw-$1"; }
start_pi() {  # start_pi NAME [ARGS...]
  local name=$1; shift
  "$sw" join --cluster 127.0.0.1:$boot --name "$(n "$name")" --state-dir "$work/$name" --mesh-port 0 \
    --hw-root "$(fake_pi "$name")" "$@" >>"$work/$name.log" 2>&1 &
  pid[$name]=$!
}

start_serve
token=$(S cluster create-join-token) || fail "create-join-token"
for pi in rpi-1 rpi-2; do start_pi $pi --token "$token"; done
for pi in rpi-1 rpi-2; do wait_for 20 grep -q "Successfully joined" "$work/$pi.log" || fail "$pi did not join"; done
pin="--constraint node.name==$(n rpi-1)"
S run --name keep --restart always $pin - sh -c "exec sleep 601$base" >/dev/null || fail "run keep"
S run --name once --restart never $pin - sh -c "exec sleep 602$base" >/dev/null || fail "run once"
wait_for 10 running_on keep "$(n rpi-1)" || fail "keep not Running on rpi-1: $(status_of keep)"
wait_for 10 running_on once "$(n rpi-1)" || fail "once not Running on rpi-1: $(status_of once)"
ok "serve + 2 Pis; keep (always) and once (never) run on rpi-1"

# --- 1. an announced restart --------------------------------------------------
kill -TERM "${pid[rpi-1]}"
wait "${pid[rpi-1]}" 2>/dev/null
grep -q "told the GPU peer this node is restarting" "$work/rpi-1.log" || fail "rpi-1 did not announce its restart"
wait_for 5 node_is "$(n rpi-1)" Restarting || fail "rpi-1 not Restarting: $(node_status "$(n rpi-1)")"
sleep 1.5  # well past the failure detector's 300 ms: nothing may move
[ "$(status_of keep)" = "Running@$(n rpi-1)" ] || fail "keep moved during an announced restart: $(status_of keep)"
grep -q "is Down" "$work/serve.log" && fail "a restarting node was decided Down"
[ "$(copies 1)" = 1 ] || fail "keep should still run once on the node: $(copies 1) copies"
start_pi rpi-1
wait_for 15 node_is "$(n rpi-1)" Ready || fail "rpi-1 not Ready after its restart: $(node_status "$(n rpi-1)")"
grep -q "Ready again after its restart" "$work/serve.log" || fail "serve did not log the node's return"
running_on keep "$(n rpi-1)" || fail "keep after the restart: $(status_of keep)"
[ "$(copies 1)" = 1 ] || fail "keep runs $(copies 1) times after the restart"
ok "SIGTERM: rpi-1 shown Restarting, nothing moved, Ready again on its return, keep still once"

# --- 2. no GPU peer at boot -----------------------------------------------------
kill -TERM "${pid[serve]}"
wait "${pid[serve]}" 2>/dev/null
kill -9 "${pid[rpi-1]}"
wait "${pid[rpi-1]}" 2>/dev/null
pkill -9 -f "sleep 60[12]$base"  # the power goes: the workloads end too
wait_for 5 copies_are 1 0 || fail "the workloads did not end"
start_ns=$(date +%s%N)
start_pi rpi-1
wait_for 10 copies_are 1 1 || fail "keep (always) was not restarted without the GPU peer"
up_ms=$((($(date +%s%N) - start_ns) / 1000000))
[ "$(copies 2)" = 0 ] || fail "once (never) was restarted"
wait_for 5 grep -q "does not answer (" "$work/rpi-1.log" || fail "rpi-1 did not say the GPU peer is away"
kill -0 "${pid[rpi-1]}" || fail "rpi-1 exited without its GPU peer"
sleep 11  # the swarmlet used to give up after 10 s
kill -0 "${pid[rpi-1]}" || fail "rpi-1 exited after 10 s without its GPU peer"
[ "$(grep -c "does not answer (" "$work/rpi-1.log")" -le 2 ] || fail "more than two wait notes in 13 s: $(grep "does not answer (" "$work/rpi-1.log")"
ok "GPU peer off: rpi-1 started anyway, keep Running again ${up_ms} ms after the swarmlet started, once stayed down"
start_serve
wait_for 20 running_on keep "$(n rpi-1)" || fail "keep after serve returned: $(status_of keep)"
wait_for 10 grep -c "Successfully joined" "$work/rpi-1.log" || fail "rpi-1 did not reconnect"
sleep 2
[ "$(copies 1)" = 1 ] || fail "keep runs $(copies 1) times after the reconciliation"
[ "$(status_of once)" != "Running@$(n rpi-1)" ] || fail "once should not be Running: $(status_of once)"
ok "serve back: reconciled (keep Running on rpi-1 once, once not running: $(status_of once))"

# --- 3. away past the grace -------------------------------------------------------
S run --name mover --restart always - sh -c "exec sleep 603$base" >/dev/null || fail "run mover"
S migrate mover --to "$(n rpi-1)" >/dev/null 2>&1 || fail "migrate mover to rpi-1: $(S migrate mover --to "$(n rpi-1)" 2>&1)"
wait_for 10 running_on mover "$(n rpi-1)" || fail "mover not on rpi-1: $(status_of mover)"
kill -TERM "${pid[rpi-1]}"
wait "${pid[rpi-1]}" 2>/dev/null
wait_for 5 node_is "$(n rpi-1)" Restarting || fail "rpi-1 not Restarting (grace test)"
wait_for 25 node_is "$(n rpi-1)" Down || fail "rpi-1 not Down after the $grace s grace: $(node_status "$(n rpi-1)")"
grep -q "did not come back within $grace s" "$work/serve.log" || fail "serve did not say the grace ran out"
wait_for 15 sh -c "S() { \"$ss\" --state-dir \"$P\" \"\$@\"; }; S ps -a | grep mover | grep -q Running" ||
  fail "mover did not move: $(status_of mover)"
moved_to=$(status_of mover)
[ "$moved_to" != "Running@$(n rpi-1)" ] || fail "mover still on rpi-1"
ok "away past --restart-grace ${grace}s: rpi-1 decided Down, mover now $moved_to"
pkill -9 -f "sleep 60[13]$base.*" 2>/dev/null  # rpi-1's leftovers (it is not coming back)

# --- 4. swarmlet leave ---------------------------------------------------------------
S run --name leaver - sh -c "exec sleep 604$base" >/dev/null || fail "run leaver"
S migrate leaver --to "$(n rpi-2)" >/dev/null 2>&1 || running_on leaver "$(n rpi-2)" || fail "migrate leaver to rpi-2"
wait_for 10 running_on leaver "$(n rpi-2)" || fail "leaver not on rpi-2: $(status_of leaver)"
out=$("$sw" leave --state-dir "$work/rpi-2" 2>&1) || fail "swarmlet leave: $out"
echo "$out" | grep -q "Left the cluster" || fail "leave said: $out"
[ ! -e "$work/rpi-2/node.identity" ] || fail "rpi-2 kept its identity"
wait_for 5 node_is "$(n rpi-2)" absent || fail "rpi-2 still listed: $(node_status "$(n rpi-2)")"
grep -q "rpi-2-$base is Down" "$work/serve.log" && fail "rpi-2 was decided Down instead of leaving"
grep -q "left the cluster" "$work/serve.log" || fail "serve did not log the leave"
ok "swarmlet leave: rpi-2 removed, identity gone, leaver now $(status_of leaver)"
echo "autonomy test: passed"
