#!/usr/bin/env bash
# Issue 15's image targets on a loopback cluster (serve + one x86_64
# swarmlet), in one run:
#   - the mesh's bulk throughput GPU peer -> node (stratoswarm-test bandwidth)
#   - first start of an image the node lacks (`run` until it answers Running:
#     fetch + verify + mount + overlay + spawn), and the node's own timing of
#     the fetch (timing.jsonl: image fetch, bytes, MB/s)
#   - a second start of the same image (0 bytes sent)
# for RUNS images of SIZE_MB random bytes each (incompressible: squashfs size
# ~ SIZE_MB), and writes JSON.
#   bench/image_bench.sh [--runs 5] [--size-mb 5] [--output FILE] [STRATOSWARM SWARMLET]
# Needs root (mounts, cgroups). Traffic stays on loopback.
set -uo pipefail

runs=5 size_mb=5 output=""
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --size-mb) size_mb=$2; shift 2 ;;
    --output) output=$2; shift 2 ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/tests/integration/loopback_lib.sh"  # ll_reap_nodes
ss=${args[0]:-$repo/build/dev/gpu_node/stratoswarm}
sw=${args[1]:-$repo/build/dev/swarmlet/swarmlet}
[ "$(id -u)" = 0 ] || { echo "image_bench: needs root (mounts, cgroups)" >&2; exit 1; }
for b in "$ss" "$sw"; do [ -x "$b" ] || { echo "image_bench: no $b (make build)" >&2; exit 1; }; done

work=$(mktemp -d /tmp/stratoswarm-image-bench-XXXXXX)
base=$((20000 + RANDOM % 30000))
P=$work/primary
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  ll_reap_nodes "$base" "$work"
  rm -rf "$work"
}
trap cleanup EXIT
die() { echo "image_bench: $*" >&2; tail -5 "$work"/*.log >&2; exit 1; }
S() { "$ss" --state-dir "$P" "$@"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

"$ss" --state-dir "$P" serve --name "pg-$base" --listen 127.0.0.1 --no-mdns --mesh-port $base \
  --join-port $((base + 1)) --bootstrap-port $((base + 2)) >"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do S node ls >/dev/null 2>&1 && break; sleep 0.1; done
"$sw" join --cluster 127.0.0.1:$((base + 2)) --name "pi1-$base" --state-dir "$work/pi1" --mesh-port 0 \
  --token "$(S cluster create-join-token)" >"$work/pi1.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "Successfully joined" "$work/pi1.log" && break; sleep 0.1; done
grep -q "Successfully joined" "$work/pi1.log" || die "the swarmlet did not join"

echo "building and loading $runs images of $size_mb MB ..."
for i in $(seq "$runs"); do
  python3 - "$work/img$i.tar" "img$i:1" "$size_mb" <<'PY' || die "image $i"
import hashlib, io, json, os, sys, tarfile
out, ref, mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
def add(t, name, data=None, kind=tarfile.REGTYPE, mode=0o644, link=""):
    ti = tarfile.TarInfo(name); ti.type = kind; ti.mode = mode; ti.linkname = link
    if data is not None: ti.size = len(data)
    t.addfile(ti, io.BytesIO(data) if data is not None else None)
lb = io.BytesIO()
with tarfile.open(fileobj=lb, mode="w", format=tarfile.PAX_FORMAT) as t:
    add(t, "bin", kind=tarfile.DIRTYPE, mode=0o755)
    add(t, "bin/busybox", open("/bin/busybox", "rb").read(), mode=0o755)
    for a in ["sh", "sleep"]:
        add(t, "bin/" + a, kind=tarfile.SYMTYPE, mode=0o777, link="busybox")
    add(t, "opt/random", os.urandom(mb * 1000 * 1000 - 1100 * 1000))  # + busybox: ~mb MB
layer = lb.getvalue()
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sleep", "60"]},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()
with tarfile.open(out, "w") as t:
    add(t, "layer.tar", layer); add(t, "config.json", cfg)
    add(t, "manifest.json", json.dumps([{"Config": "config.json", "RepoTags": [ref], "Layers": ["layer.tar"]}]).encode())
PY
  S image load "$work/img$i.tar" >/dev/null 2>&1 || die "image load $i"
done

echo "bulk throughput GPU peer -> node (stratoswarm-test bandwidth, 3 s) ..."
ln -sf "$sw" "$work/stratoswarm-test"
bw=$("$work/stratoswarm-test" bandwidth --duration 3 --state-dir "$work/pi1" 2>&1 | grep -o '([0-9.]* MB/s)' | tr -dc '0-9.')
[ -n "$bw" ] || die "bandwidth test gave no figure"

first=() second=() fetch=() bytes=()
for i in $(seq "$runs"); do
  t=$(now_ms); a=$(S run --constraint node.name==pi1-$base --name "first$i" "img$i:1" 2>/dev/null) ||
    die "first run of img$i: $(S ps -a | grep first$i)"
  first+=($(( $(now_ms) - t )))
  t=$(now_ms); b=$(S run --constraint node.name==pi1-$base --name "second$i" "img$i:1" 2>/dev/null) ||
    die "second run of img$i"
  second+=($(( $(now_ms) - t )))
  S stop "$a" >/dev/null; S stop "$b" >/dev/null
done
sleep 0.3
while read -r ms by; do fetch+=("$ms"); bytes+=("$by"); done < <(python3 -c "
import json,sys
for l in open(sys.argv[1]):
    r=json.loads(l)
    if r.get('event')=='image' and r.get('phase')=='fetch': print(r['ms'], r.get('bytes',0))" "$work/pi1/timing.jsonl")
[ ${#fetch[@]} = "$runs" ] || die "expected $runs image fetch records, got ${#fetch[@]}"

python3 - "$bw" "$output" "$runs" "$size_mb" "${first[*]}" "${second[*]}" "${fetch[*]}" "${bytes[*]}" <<'PY'
import json, statistics, sys
bw, output, runs, size_mb = float(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
first, second, fetch, nbytes = ([float(x) for x in a.split()] for a in sys.argv[5:9])
med = statistics.median
size = med(nbytes)
ideal = size / 1e6 / bw * 1000  # ms at bulk throughput
rate = [b / 1e6 / (ms / 1000) for b, ms in zip(nbytes, fetch)]
res = {
  "machine": "2-core x86_64 VM, loopback", "runs": runs, "image_bytes": size,
  "bulk_mb_per_s": bw, "fetch_ms": fetch, "fetch_mb_per_s": rate,
  "fetch_share_of_bulk_p50": med(rate) / bw,
  "first_start_ms": first, "cached_start_ms": second,
  "first_start_p50_ms": med(first), "cached_start_p50_ms": med(second),
  "target_first_start_ms": ideal + 150,
}
print(f"image {size/1e6:.1f} MB, bulk {bw:.1f} MB/s -> {ideal:.0f} ms at bulk throughput")
print(f"fetch (node's timing): p50 {med(fetch):.0f} ms, {med(rate):.1f} MB/s = {100*med(rate)/bw:.0f}% of bulk (target >= 70%)")
print(f"first start (run -> Running): p50 {med(first):.0f} ms (target <= {ideal+150:.0f} ms); all {first}")
print(f"second start, image cached (0 bytes): p50 {med(second):.0f} ms; all {second}")
if output:
    with open(output, "w") as f: json.dump(res, f, indent=2)
PY
