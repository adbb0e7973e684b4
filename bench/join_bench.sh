#!/usr/bin/env bash
# Join timing over N joins on loopback (bootstrap path, --cluster): starts a
# `stratoswarm serve`, joins N fresh swarmlets one after another, and reports
# each join phase's p50/p90/max from the swarmlets' own timing.jsonl, plus
# the swarmlet's resident memory after joining. Writes JSON with --output.
#   bench/join_bench.sh [--joins N] [--output FILE] [--swarmlet CMD] [--stratoswarm PATH]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=10 output= ss=$root/build/dev/gpu_node/stratoswarm swarmlet=$root/build/dev/swarmlet/swarmlet
while [ $# -gt 0 ]; do
  case $1 in
    --joins) n=$2; shift 2 ;;
    --output) output=$2; shift 2 ;;
    --swarmlet) swarmlet=$2; shift 2 ;;
    --stratoswarm) ss=$2; shift 2 ;;
    *) echo "join_bench: unknown argument $1" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d /tmp/stratoswarm-join-bench-XXXXXX)
base=$((20000 + RANDOM % 30000))
pids=()
trap 'kill -9 "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
"$ss" --state-dir "$work/p" serve --listen 127.0.0.1 --no-mdns --mesh-port $base --join-port $((base + 1)) \
  --bootstrap-port $((base + 2)) > "$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do "$ss" --state-dir "$work/p" node ls >/dev/null 2>&1 && break; sleep 0.1; done
token=$("$ss" --state-dir "$work/p" cluster create-join-token)
rss=()
for i in $(seq "$n"); do
  $swarmlet join --token "$token" --cluster 127.0.0.1:$((base + 2)) --name "bench-$i" --state-dir "$work/s$i" \
    --mesh-port 0 > "$work/s$i.log" 2>&1 &
  pid=$!
  pids+=($pid)
  for _ in $(seq 200); do grep -q "Successfully joined" "$work/s$i.log" && break; sleep 0.05; done
  grep -q "Successfully joined" "$work/s$i.log" || { echo "join_bench: join $i failed" >&2; cat "$work/s$i.log" >&2; exit 1; }
  sleep 0.3
  rss+=($(awk '/VmRSS/ {print $2}' /proc/$pid/status))
done
python3 - "$work" "$n" "$output" "${rss[@]}" <<'PY'
import json, sys, glob
work, n, output, rss = sys.argv[1], int(sys.argv[2]), sys.argv[3], [int(x) for x in sys.argv[4:]]
phases = {}
for i in range(1, n + 1):
    for line in open(f"{work}/s{i}/timing.jsonl"):
        r = json.loads(line)
        if r["event"] == "join":
            phases.setdefault(r["phase"], []).append(r["ms"])
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(round(p / 100 * len(v) + 0.5)) - 1))]
res = {"joins": n, "phases": {}, "rss_kib_after_join": {"p50": pct(rss, 50), "max": max(rss)}}
print(f"{'phase':<14}{'p50 ms':>9}{'p90 ms':>9}{'max ms':>9}")
for ph in ["hw_profile", "discovery", "cert_exchange", "mesh_join", "total"]:
    v = phases.get(ph, [])
    if not v: continue
    res["phases"][ph] = {"p50": pct(v, 50), "p90": pct(v, 90), "max": max(v), "n": len(v)}
    print(f"{ph:<14}{pct(v,50):9.1f}{pct(v,90):9.1f}{max(v):9.1f}")
print(f"swarmlet RSS after join: p50 {pct(rss,50)/1024:.1f} MiB, max {max(rss)/1024:.1f} MiB")
if output:
    json.dump(res, open(output, "w"), indent=2)
PY
