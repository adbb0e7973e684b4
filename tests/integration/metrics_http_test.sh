#!/usr/bin/env bash
# HTTP /metrics from both binaries on loopback (issue 9): `stratoswarm serve
# --metrics-port` and `swarmlet join --metrics-port` serve the Prometheus text
# format (checked by a strict parser, and by promtool where installed), with
# the join histograms, cluster gauges and workload counts; a metrics port in
# use is one error line and a non-zero exit.
#   metrics_http_test.sh STRATOSWARM [EMULATOR...] SWARMLET
set -uo pipefail

ss=$1; shift
swarmlet=("$@")
[ -x "${swarmlet[-1]}" ] || { echo "SKIPPED: ${swarmlet[-1]} is not built"; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
. "$(dirname "$0")/loopback_lib.sh"
ll_init metrics
mesh=$base join=$((base + 1)) boot=$((base + 2)) ss_metrics=$((base + 4)) node_metrics=$((base + 5))
P=$work/primary

fetch() {  # fetch PORT FILE: GET /metrics, the body in FILE
  curl -sS --max-time 5 -o "$2" -w '%{http_code} %{content_type}' "http://127.0.0.1:$1/metrics"
}
check() {  # check FILE ARGS...: the strict parser, then promtool's lint where installed
  python3 "$here/prometheus_text.py" "$@" || fail "$1 is not valid: $(head -c 300 "$1")"
  if command -v promtool >/dev/null; then
    out=$(promtool check metrics <"$1" 2>&1) || fail "promtool on $1: $out"
    echo "ok: promtool check metrics accepts $(basename "$1")"
  fi
}

"$ss" --state-dir "$P" serve --listen 127.0.0.1 --no-mdns --mesh-port $mesh --join-port $join \
  --bootstrap-port $boot --metrics-port $ss_metrics >>"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do "$ss" --state-dir "$P" node ls >/dev/null 2>&1 && break; sleep 0.1; done
grep -q "Serving metrics on http://127.0.0.1:$ss_metrics/metrics" "$work/serve.log" || fail "serve: no metrics line"
token=$("$ss" --state-dir "$P" cluster create-join-token) || fail "create-join-token"

"${swarmlet[@]}" join --cluster 127.0.0.1:$boot --token "$token" --name rpi-1 --state-dir "$work/rpi-1" \
  --mesh-port 0 --metrics-port $node_metrics >>"$work/rpi-1.log" 2>&1 &
pids+=($!)
for _ in $(seq 150); do grep -q "Successfully joined cluster" "$work/rpi-1.log" && break; sleep 0.1; done
grep -q "Successfully joined cluster" "$work/rpi-1.log" || fail "rpi-1 did not join"
grep -q "Serving metrics on http://127.0.0.1:$node_metrics/metrics" "$work/rpi-1.log" || fail "swarmlet: no metrics line"

# The swarmlet: node + process metrics, workload counts, join histograms.
# Mesh formation is timed when every member has been heard: wait for it.
for _ in $(seq 50); do
  grep -q '"event":"mesh","phase":"formation"' "$work/rpi-1/timing.jsonl" 2>/dev/null && break; sleep 0.1
done
head=$(fetch $node_metrics "$work/swarmlet.prom") || fail "GET swarmlet /metrics: $head"
[ "$head" = "200 text/plain; version=0.0.4; charset=utf-8" ] || fail "swarmlet /metrics answered '$head'"
check "$work/swarmlet.prom" \
  --min 'stratoswarm_join_duration_seconds_bucket{phase="total",le="+Inf"}' 1 \
  --min 'stratoswarm_join_duration_seconds_count{phase="total"}' 1 \
  --min 'stratoswarm_join_duration_seconds_count{phase="cert_exchange"}' 1 \
  --min 'stratoswarm_join_duration_seconds_count{phase="mesh_join"}' 1 \
  --min 'stratoswarm_mesh_duration_seconds_count{phase="formation"}' 1 \
  --min 'stratoswarm_swarmlet_workloads{state="running"}' 0 \
  --min 'stratoswarm_swarmlet_resident_memory_bytes' 1 \
  --min 'stratoswarm_node_cpu_cores' 1 \
  --family stratoswarm_swarmlet_build_info

# serve: cluster gauges, its own process, the admit histogram.
head=$(fetch $ss_metrics "$work/serve.prom") || fail "GET serve /metrics: $head"
[ "$head" = "200 text/plain; version=0.0.4; charset=utf-8" ] || fail "serve /metrics answered '$head'"
check "$work/serve.prom" \
  --min 'stratoswarm_cluster_nodes{status="Ready"}' 2 \
  --min 'stratoswarm_cluster_nodes{status="Down"}' 0 \
  --min 'stratoswarm_workloads{phase="Running"}' 0 \
  --min 'stratoswarm_join_duration_seconds_count{phase="admit"}' 1 \
  --min 'stratoswarm_serve_resident_memory_bytes' 1 \
  --min 'stratoswarm_gpu_path_calls_total{op="verify",path="cpu"}' 0 \
  --min 'stratoswarm_gpu_path_calls_total{op="place",path="cuda"}' 0 \
  --min 'stratoswarm_gpu_path_fallbacks_total{op="place"}' 0 \
  --min 'stratoswarm_gpu_device{op="verify",mode="auto"}' 0 \
  --min 'stratoswarm_gpu_crossover{op="place"}' 1 \
  --family stratoswarm_serve_build_info
grep -q '^GPU: auto' "$work/serve.log" || fail "serve: no 'GPU: auto' startup line"
echo "ok: serve says its GPU path: $(grep '^GPU: ' "$work/serve.log")"
grep -q '^stratoswarm_swarmlet_' "$work/serve.prom" && fail "serve reports itself as a swarmlet"
code=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ss_metrics/other")
[ "$code" = 404 ] || fail "GET /other answered $code"
echo "ok: GET /other is 404"

# A metrics port in use: one line, non-zero, promptly.
# (The token from the environment: --token would add its warning line.)
out=$(STRATOSWARM_JOIN_TOKEN=$token "${swarmlet[@]}" join --cluster 127.0.0.1:$boot --name rpi-2 --state-dir "$work/rpi-2" \
  --mesh-port 0 --metrics-port $node_metrics 2>&1) && fail "swarmlet started on a metrics port in use"
[ "$(echo "$out" | grep -c '^swarmlet: ')" = 1 ] || fail "swarmlet port in use: not one error line: $out"
echo "$out" | grep -q "metrics http bind 127.0.0.1:$node_metrics" || fail "swarmlet port in use: $out"
echo "ok: swarmlet, metrics port in use: $out"
out=$(timeout 20 "$ss" --state-dir "$work/other" serve --listen 127.0.0.1 --no-mdns --mesh-port $((base + 6)) \
  --join-port $((base + 7)) --bootstrap-port $((base + 8)) --metrics-port $ss_metrics 2>&1) &&
  fail "serve started on a metrics port in use"
echo "$out" | grep -q "^stratoswarm: cannot serve: metrics http bind 127.0.0.1:$ss_metrics" ||
  fail "serve port in use: $out"
echo "ok: serve, metrics port in use: $(echo "$out" | grep '^stratoswarm: ')"
# --gpu on without a device (issue 18): one line, exit 1, before any port.
if ! nvidia-smi -L >/dev/null 2>&1; then
  out=$(timeout 20 "$ss" --state-dir "$work/nogpu" serve --gpu on --listen 127.0.0.1 --no-mdns \
    --mesh-port $((base + 6)) --join-port $((base + 7)) --bootstrap-port $((base + 8)) 2>&1) &&
    fail "serve --gpu on started without a GPU"
  [ "$(echo "$out" | grep -c '^stratoswarm: ')" = 1 ] || fail "serve --gpu on: not one error line: $out"
  echo "$out" | grep -q "^stratoswarm: cannot serve: --gpu on: no usable CUDA device" || fail "serve --gpu on: $out"
  echo "ok: serve --gpu on without a GPU: $(echo "$out" | grep '^stratoswarm: ')"
fi
echo "metrics http test: passed"
