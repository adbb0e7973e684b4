#!/usr/bin/env bash
# `stratoswarm-test bandwidth` on loopback: serve + one joined swarmlet; a
# download and an upload move bytes; `stratoswarm-test stress` gets every
# message acknowledged; serve's loop stays responsive during a
# test and stops promptly in the middle of one; a state dir without an
# identity, a key the GPU peer did not admit, another cluster and a closed
# port each fail with one line and a non-zero exit, within seconds.
#   bandwidth_test.sh STRATOSWARM [EMULATOR...] SWARMLET
set -uo pipefail

ss=$1; shift
swarmlet=("$@")
[ -x "${swarmlet[-1]}" ] || { echo "SKIPPED: ${swarmlet[-1]} is not built"; exit 77; }
. "$(dirname "$0")/loopback_lib.sh"
ll_init bandwidth
mesh=$base join=$((base + 1)) boot=$((base + 2)) bw=$((base + 3))  # bandwidth: mesh port + 3
# The multi-call name, as in the swarmlet image.
ln -s "$(readlink -f "${swarmlet[-1]}")" "$work/stratoswarm-test"
tool=("${swarmlet[@]:0:${#swarmlet[@]}-1}" "$work/stratoswarm-test")

serve() {  # serve DIR MESH_PORT: a GPU peer in the background, its pid in $last
  "$ss" --state-dir "$1" serve --listen 127.0.0.1 --no-mdns --mesh-port "$2" --join-port $(($2 + 1)) \
    --bootstrap-port $(($2 + 2)) >>"$1.log" 2>&1 &
  last=$!
  pids+=($last)
  for _ in $(seq 100); do "$ss" --state-dir "$1" node ls >/dev/null 2>&1 && return; sleep 0.1; done
  fail "serve in $1 did not come up"
}
# refused WHAT PATTERN SECONDS ARGS...: one error line, non-zero exit, within SECONDS.
refused() {
  local what=$1 pattern=$2 limit=$3; shift 3
  local t0=$(date +%s%N) out rc
  out=$("${tool[@]}" bandwidth --duration 1 "$@" 2>&1)
  rc=$?
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  [ $rc -ne 0 ] || fail "$what: succeeded: $out"
  [ "$(echo "$out" | wc -l)" = 1 ] && [[ $out == "stratoswarm-test: bandwidth: "* ]] ||
    fail "$what: not one error line: $out"
  echo "$out" | grep -q "$pattern" || fail "$what: expected '$pattern', got: $out"
  [ $ms -le $((limit * 1000)) ] || fail "$what: took $ms ms"
  echo "ok: $what refused in $ms ms: $out"
}

P=$work/primary
serve "$P" $mesh
serve_pid=$last
grep -q "bandwidth $bw," "$P.log" || fail "serve does not announce the bandwidth port $bw"
token=$("$ss" --state-dir "$P" cluster create-join-token) || fail "create-join-token"
"${swarmlet[@]}" join --cluster 127.0.0.1:$boot --token "$token" --name rpi-1 --state-dir "$work/rpi-1" \
  --mesh-port 0 >>"$work/rpi-1.log" 2>&1 &
pids+=($!)
for _ in $(seq 150); do grep -q "Successfully joined cluster" "$work/rpi-1.log" && break; sleep 0.1; done
grep -q "Successfully joined cluster" "$work/rpi-1.log" || fail "rpi-1 did not join"

# Download (the seed's direction), found through the saved member list.
json=$("${tool[@]}" bandwidth --duration 1 --state-dir "$work/rpi-1" --format json) || fail "download: $json"
python3 - "$json" <<'PY' || fail "download JSON: $json"
import json, sys
lines = sys.argv[1].splitlines()
assert len(lines) == 1, lines
r = json.loads(lines[0])
assert r["direction"] == "download" and r["node"] == "rpi-1", r
assert r["bytes"] > 0 and 0.9 < r["seconds"] < 6 and r["mbit_per_s"] > 0, r
PY
echo "ok: download: $json"
line=$("${tool[@]}" bandwidth --duration 1 --state-dir "$work/rpi-1" --direction upload --cluster 127.0.0.1:$bw) ||
  fail "upload: $line"
[[ $line =~ ^rpi-1\ -\>\ GPU\ peer:\ [0-9.]+\ Mbit/s\ \([0-9.]+\ MB/s\)\ over\ [0-9.]+\ s$ ]] || fail "upload line: $line"
echo "ok: upload: $line"

# The seed's message stress: small messages, every one acknowledged.
json=$("${tool[@]}" stress --messages 3000 --size 1024 --state-dir "$work/rpi-1" --format json) || fail "stress: $json"
python3 -c "import json,sys; r=json.loads(sys.argv[1]); assert r['test']=='stress' and r['messages']==3000 and r['acked']==3000 and r['lost']==0 and r['bytes_each']==1024, r" \
  "$json" || fail "stress JSON: $json"
echo "ok: stress: $json"

# serve's main loop answers during a test, and stops promptly in the middle of one.
"${tool[@]}" bandwidth --duration 30 --state-dir "$work/rpi-1" >"$work/long.out" 2>"$work/long.err" &
long=$!
pids+=($long)
sleep 1
t0=$(date +%s%N)
"$ss" --state-dir "$P" node ls | grep -q "rpi-1 .* Ready" || fail "node ls during a bandwidth test"
echo "ok: node ls during a bandwidth test in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
t0=$(date +%s%N)
kill -TERM $serve_pid
for _ in $(seq 50); do kill -0 $serve_pid 2>/dev/null || break; sleep 0.1; done
kill -0 $serve_pid 2>/dev/null && fail "serve still running 5 s after SIGTERM during a bandwidth test"
echo "ok: serve stopped in $(( ($(date +%s%N) - t0) / 1000000 )) ms during a bandwidth test"
wait $long && fail "the bandwidth test went on without the GPU peer"
grep -q "stopped answering" "$work/long.err" || fail "interrupted test: $(cat "$work/long.err")"
echo "ok: interrupted test: $(cat "$work/long.err")"
serve "$P" $mesh

# Refusals.
refused "no identity" "no node identity in $work/nowhere" 2 --state-dir "$work/nowhere"
# The same cluster key without rpi-1 in its store: ZAP refuses the key.
mkdir -m 700 "$work/clone" && cp "$P/ca.identity" "$work/clone/"
serve "$work/clone" $((base + 10))
refused "a key the GPU peer did not admit" "refused this node's key" 3 --state-dir "$work/rpi-1" \
  --cluster 127.0.0.1:$((base + 13))
# Another cluster: the CURVE server key does not match, nothing answers.
serve "$work/other" $((base + 20))
refused "another cluster" "no answer from the GPU peer's bandwidth endpoint" 8 --state-dir "$work/rpi-1" \
  --cluster 127.0.0.1:$((base + 23))
refused "a closed port" "no answer" 8 --state-dir "$work/rpi-1" --cluster 127.0.0.1:$((base + 29))
refused "a bad --cluster" "not an IPv4 address" 2 --state-dir "$work/rpi-1" --cluster nowhere
echo "bandwidth test: passed"
