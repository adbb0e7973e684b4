#!/usr/bin/env bash
# Node health on loopback (issue 16, docs/node_health.md): a swarmlet joined
# with --hw-root on a fake Pi tree that is hot, under-voltage and throttled,
# with no cgroup memory controller (NO_CGROUP=1), shows its conditions in
# `node ls` and `node ls --format json` and its gauges in /metrics; when the
# fake firmware stops throttling, the timing log has throttle start and end
# and the condition goes away within a health message.
#   node_health_test.sh STRATOSWARM SWARMLET
set -uo pipefail

ss=$1 sw=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/loopback_lib.sh"
ll_init health
mesh=$base join=$((base + 1)) boot=$((base + 2)) node_metrics=$((base + 5))
P=$work/primary
# Node names carry the port base: the cleanup removes their cgroups (kill -9
# leaves them) without touching another run's.
pi=pi-2-$base
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null
      ll_reap_nodes "$base" "$work"; rm -rf "$work"' EXIT INT TERM
S() { "$ss" --state-dir "$P" "$@"; }
ok() { echo "ok: $*"; }

hw=$(NO_CGROUP=1 "$here/../../scripts/make_fake_pi_root.sh" "$work/hw-pi") || fail "make_fake_pi_root.sh"
[ ! -e "$hw/sys/fs/cgroup" ] || fail "NO_CGROUP=1 still linked a cgroupfs"
mkdir -p "$hw/sys/class/thermal/thermal_zone0" "$hw/sys/devices/platform/soc/soc:firmware"
echo 82400 >"$hw/sys/class/thermal/thermal_zone0/temp"
echo 0x50005 >"$hw/sys/devices/platform/soc/soc:firmware/get_throttled"

# The binary itself, not the S function: `S ... &` would background a
# subshell, and the cleanup's kill would leave serve running.
"$ss" --state-dir "$P" serve --name "primary-gpu-$base" --listen 127.0.0.1 --no-mdns --mesh-port $mesh --join-port $join \
  --bootstrap-port $boot >>"$work/serve.log" 2>&1 &
pids+=($!)
wait_for 10 S node ls || fail "serve did not come up"
token=$(S cluster create-join-token) || fail "create-join-token"
"$sw" join --cluster 127.0.0.1:$boot --token "$token" --name "$pi" --state-dir "$work/pi-2" --mesh-port 0 \
  --hw-root "$hw" --metrics-port $node_metrics >>"$work/pi-2.log" 2>&1 &
pids+=($!)
wait_for 20 grep -q "Successfully joined" "$work/pi-2.log" || fail "pi-2 did not join"

json_of_pi() { S node ls --format json | python3 -c '
import json, sys
print(json.dumps([n for n in json.load(sys.stdin) if n["name"] == sys.argv[1]][0]))' "$pi"; }
reported() { [ "$(json_of_pi | python3 -c 'import json,sys; print(json.load(sys.stdin)["health_updated"] != "")')" = True ]; }
wait_for 10 reported || fail "no health report from pi-2: $(json_of_pi)"

table=$(S node ls) || fail "node ls"
echo "$table"
echo "$table" | head -1 | grep -q "CONDITIONS" || fail "no CONDITIONS column"
line=$(echo "$table" | grep " $pi ")
for want in "memory limits unavailable: add cgroup_enable=memory cgroup_memory=1 to cmdline.txt" \
            "throttled (under-voltage, cpu throttled)" "hot 82°C"; do
  [[ $line == *"$want"* ]] || fail "node ls lacks '$want': $line"
done
ok "node ls shows pi-2's conditions"

json_of_pi | python3 -c '
import json, sys
n = json.load(sys.stdin)
assert n["memory_controller"] is False, n
assert n["temperature_c"] == 82.4, n
assert n["throttled"] == 0x50005, n
assert n["throttle_reasons"] == ["under_voltage", "throttled"], n
assert isinstance(n["clock_skew_ms"], (int, float)) and abs(n["clock_skew_ms"]) < 2000, n
assert len(n["conditions"]) == 3, n
' || fail "node ls --format json: $(json_of_pi)"
ok "node ls --format json has the raw fields, clock_skew_ms and conditions"

prom=$(curl -sS --max-time 5 "http://127.0.0.1:$node_metrics/metrics") || fail "GET /metrics"
grep -q '^stratoswarm_node_temperature_celsius 82.4$' <<<"$prom" || fail "no temperature gauge"
grep -q '^stratoswarm_node_throttled{reason="under_voltage"} 1$' <<<"$prom" || fail "no throttled gauge"
ok "/metrics has the temperature and throttling gauges"

# A memory-limited workload is not placed there; the reason names the node.
# `run` exits non-zero for a Pending workload and says why.
out=$(S run --memory 64M --constraint "node.name==$pi" - /bin/true 2>&1) && fail "run succeeded: $out"
grep -q "is Pending: memory limits unavailable on $pi (cgroup memory controller off)" <<<"$out" ||
  fail "memory-limited workload not refused with the reason: $out"
S ps -a --format json | grep -q "memory limits unavailable on $pi" || fail "ps lacks the Pending reason"
# Without a memory limit the same node is fine.
out=$(S run --constraint "node.name==$pi" - /bin/true 2>&1)
grep -q "memory limits unavailable" <<<"$out" && fail "a workload without a memory limit was refused: $out"
ok "a workload with --memory stays Pending: memory limits unavailable on pi-2"

# The firmware stops throttling: the end is logged and the condition clears.
echo 0x50000 >"$hw/sys/devices/platform/soc/soc:firmware/get_throttled"
echo 61000 >"$hw/sys/class/thermal/thermal_zone0/temp"
cleared() { [ "$(json_of_pi | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["conditions"]))')" = 1 ]; }
wait_for 5 cleared || fail "conditions did not clear within 5 s: $(json_of_pi)"
grep -q '"event":"throttle","phase":"start"' "$work/pi-2/timing.jsonl" || fail "no throttle start in timing.jsonl"
grep -q '"event":"throttle","phase":"end"' "$work/pi-2/timing.jsonl" || fail "no throttle end in timing.jsonl"
ok "throttle start and end in pi-2's timing log; only the memory condition remains"

echo "node health test: passed"
