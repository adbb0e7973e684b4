#!/usr/bin/env bash
# Idle soak (issue 8): a GPU peer and N swarmlets on loopback left alone for
# --minutes; counts what the failure detector and the votes decided meanwhile
# (an idle cluster must see 0 decided failures). Writes JSON with --output.
#   bench/idle_soak.sh [--minutes M] [--swarmlets N] [--concurrent] [--output FILE]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
minutes=10 n=5 output= concurrent= ss=$root/build/dev/gpu_node/stratoswarm sw=$root/build/dev/swarmlet/swarmlet
while [ $# -gt 0 ]; do
  case $1 in
    --minutes) minutes=$2; shift 2 ;;
    --swarmlets) n=$2; shift 2 ;;
    --output) output=$2; shift 2 ;;
    --concurrent) concurrent=1; shift ;;
    *) echo "idle_soak: unknown argument $1" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d /tmp/stratoswarm-soak-XXXXXX)
base=$((20000 + RANDOM % 30000))
pids=()
trap 'kill -9 "${pids[@]}" 2>/dev/null; wait 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
"$ss" --state-dir "$work/p" serve --listen 127.0.0.1 --no-mdns --mesh-port $base --join-port $((base + 1)) \
  --bootstrap-port $((base + 2)) >"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do "$ss" --state-dir "$work/p" node ls >/dev/null 2>&1 && break; sleep 0.1; done
token=$("$ss" --state-dir "$work/p" cluster create-join-token)
for i in $(seq "$n"); do
  "$sw" join --token "$token" --cluster 127.0.0.1:$((base + 2)) --name "soak-$i" --state-dir "$work/s$i" \
    --mesh-port 0 >"$work/s$i.log" 2>&1 &
  pids+=($!)
  # One after another (as people join Pis); with --concurrent all at once.
  if [ -z "$concurrent" ]; then
    for _ in $(seq 200); do grep -q "Successfully joined" "$work/s$i.log" && break; sleep 0.05; done
  fi
done
sleep 3
start=$(date +%s)
echo "idle_soak: $n swarmlets joined; idle for $minutes min from $(date -u +%H:%M:%S)"
sleep $((minutes * 60))
python3 - "$work" "$n" "$minutes" "$output" "$(uptime)" <<'PY'
import glob, json, sys
work, n, minutes, output, load = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
recs = [json.loads(l) for l in open(f"{work}/p/timing.jsonl")]
fd = [r for r in recs if r["event"] == "failure_detection"]
count = lambda phase: sum(1 for r in fd if r["phase"] == phase)
swarm_suspects = 0
for log in glob.glob(f"{work}/s*.log"):
    swarm_suspects += sum(1 for l in open(log) if l.startswith("[mesh] suspect"))
out = {"swarmlets": n, "minutes": minutes, "machine": "2-core VM, loopback", "load_at_end": load.strip(),
       "primary_suspects": count("suspect"), "decided_failures": count("decided"),
       "refuted_by_quorum": count("refuted_by_quorum"), "swarmlet_suspects": swarm_suspects}
print(json.dumps(out, indent=2))
if output:
    json.dump(out, open(output, "w"), indent=2)
PY
