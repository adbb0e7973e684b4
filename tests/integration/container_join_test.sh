#!/usr/bin/env bash
# The swarmlet image joins a cluster the way seed 001 starts it:
#   docker run --network host --privileged -v /var/lib/stratoswarm:/var/lib/stratoswarm \
#     stratoswarm/swarmlet:latest join --token T --cluster IP
# Here crun runs the image's root filesystem (built by images/build.py from
# this build's swarmlet) on a network-namespace host, with the host's network
# (no network namespace of its own) and the state volume bound in; the GPU
# peer runs on another host. A second start of the container rejoins with the
# identity kept in the volume.
#   container_join_test.sh STRATOSWARM SWARMLET
set -euo pipefail
. "$(dirname "$0")/netns_lib.sh"
nl_require
command -v crun >/dev/null || nl_skip "crun not installed"
command -v nsenter >/dev/null || nl_skip "nsenter not installed"
ss=$1 swarmlet=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
nl_init
nl_host gpu 10.213.0.1
nl_host pi 10.213.0.21
w=$NL_WORK
name=swarmlet-test-$$
fail() { echo "FAIL: $*"; for f in "$w"/*.log; do echo "--- $f"; tail -8 "$f"; done; exit 1; }
cleanup_container() { crun kill "$name" KILL 2>/dev/null || true; sleep 0.2; crun delete -f "$name" 2>/dev/null || true; }
trap 'cleanup_container; nl_cleanup' EXIT INT TERM

# The image, as users pull it.
strip -o "$w/swarmlet" "$swarmlet"
python3 "$root/images/build.py" --version 0.0.0-test --revision test --out "$w/img" --binary "amd64=$w/swarmlet" >/dev/null
layer=$(python3 - "$w/img/oci" <<'PY'
import json, sys
d = sys.argv[1]
def blob(dg): return f"{d}/blobs/sha256/{dg.split(':')[1]}"
top = json.load(open(f"{d}/index.json"))
index = json.load(open(blob(top["manifests"][0]["digest"])))
manifest = json.load(open(blob(index["manifests"][0]["digest"])))
print(blob(manifest["layers"][0]["digest"]))
PY
)
mkdir -p "$w/bundle/rootfs" "$w/volume"
tar -xzf "$layer" -C "$w/bundle/rootfs"

nl_on gpu "$ss" --state-dir "$w/p" serve --listen 10.213.0.1 --no-mdns > "$w/serve.log" 2>&1 &
for _ in $(seq 100); do "$ss" --state-dir "$w/p" node ls >/dev/null 2>&1 && break; sleep 0.1; done
token=$("$ss" --state-dir "$w/p" cluster create-join-token) || fail "no token"

# config.json: the image's entrypoint + the seed's arguments, host network,
# privileged-style cgroup access left to crun's defaults, the state volume.
(cd "$w/bundle" && crun spec)
python3 - "$w/bundle/config.json" "$token" "$w/volume" <<'PY'
import json, sys
path, token, volume = sys.argv[1:4]
spec = json.load(open(path))
spec["process"]["args"] = ["/usr/local/bin/swarmlet", "join", "--token", token, "--cluster", "10.213.0.1",
                           "--name", "pi-container"]
spec["process"]["terminal"] = False
spec["process"]["env"].append("STRATOSWARM_STATE_DIR=/var/lib/stratoswarm")
spec["root"] = {"path": "rootfs", "readonly": True}
spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"] if n["type"] != "network"]
spec["mounts"].append({"destination": "/var/lib/stratoswarm", "type": "bind", "source": volume,
                       "options": ["rbind", "rw"]})
json.dump(spec, open(path, "w"))
PY

run_container() {  # run_container LOG: starts it on host "pi" in the background
  nsenter --net=/run/netns/$NL_ID-pi unshare --mount sh -c \
    "umount /sys/fs/cgroup/unified 2>/dev/null; cd '$w/bundle' && exec crun run $name" > "$1" 2>&1 &
}
wait_for() { for _ in $(seq $(($3 * 10))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

t0=$(date +%s%N)
run_container "$w/container1.log"
wait_for "$w/container1.log" "Successfully joined cluster" 20 || fail "the container did not join"
echo "ok: container start -> joined in $(( ($(date +%s%N) - t0) / 1000000 )) ms (crun start included)"
grep -q "Network latency: " "$w/container1.log" || fail "no latency line"
"$ss" --state-dir "$w/p" node ls | grep -q "pi-container .* Ready" || fail "node ls"
[ -f "$w/volume/node.identity" ] || fail "identity not in the volume"
[ "$(stat -c %a "$w/volume/node.identity")" = 600 ] || fail "identity mode"

cleanup_container
sleep 0.5
run_container "$w/container2.log"
wait_for "$w/container2.log" "Successfully joined cluster" 20 || fail "the restarted container did not rejoin"
grep -q "Using the saved identity of pi-container" "$w/container2.log" || fail "did not reuse its identity"
[ "$("$ss" --state-dir "$w/p" node ls | grep -c pi-container)" = 1 ] || fail "a restart made a second node"
echo "ok: restarted container rejoined with the identity from its volume"
echo "container join test: passed"
