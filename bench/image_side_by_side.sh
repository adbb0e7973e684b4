#!/usr/bin/env bash
# Side-by-side image timings on this machine for the amd64 test image
# (scripts/make_test_images.py), one run, no network:
#   crun    `umoci unpack` of the OCI layout into a bundle (timed), then
#           --runs x `crun run` of /bin/true in it. crun 1.8 refuses hybrid
#           cgroups, so the runs happen in a private mount namespace with the
#           cgroup2 mount (/sys/fs/cgroup/unified) hidden.
#   docker  a private dockerd (own data-root, exec-root, socket, pidfile,
#           config; --bridge=none --iptables=false: it touches no network),
#           `docker load -i` of the docker-archive (timed), then --runs x
#           `docker run --rm --network none alpine:latest /bin/true`; dockerd
#           is stopped and everything it made is removed afterwards.
# Prints a table; --output FILE writes JSON. Needs root, python3, umoci and
# crun for the first part; dockerd for the second (Debian's docker.io,
# installed only with --install-docker; not part of scripts/bootstrap).
#   bench/image_side_by_side.sh [--runs N] [--output FILE] [--install-docker]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=20 output= install_docker=0
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --output) output=$2; shift 2 ;;
    --install-docker) install_docker=1; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "image_side_by_side: unknown argument $1" >&2; exit 2 ;;
  esac
done
say() { echo "image_side_by_side: $*" >&2; }
[ "$(id -u)" = 0 ] || { say "needs root (crun, dockerd, umoci unpack with owners)"; exit 1; }
command -v python3 >/dev/null || { say "python3 is missing"; exit 1; }
[ -x /bin/busybox ] || { say "/bin/busybox is missing: apt-get install busybox-static"; exit 1; }

work=$(mktemp -d /tmp/stratoswarm-image-bench-XXXXXX)
results=$work/results  # key=value lines, turned into JSON at the end
: >"$results"
dockerd_pid=
cgroups_before=$work/cgroups-before
ls -d /sys/fs/cgroup/*/docker 2>/dev/null >"$cgroups_before" || true
cleanup() {
  set +e
  if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
    kill -TERM "$dockerd_pid"
    for _ in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$dockerd_pid" 2>/dev/null && kill -KILL "$dockerd_pid"
    wait "$dockerd_pid" 2>/dev/null
  fi
  # Mounts dockerd/containerd left under the work dir (overlay, shm, netns).
  awk -v w="$work" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
  # Empty cgroup parents that dockerd created during this run.
  for d in /sys/fs/cgroup/*/docker; do
    [ -d "$d" ] && ! grep -qx "$d" "$cgroups_before" && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
put() { echo "$1=$2" >>"$results"; }
now_ms() { python3 -c 'import time; print("%.3f" % (time.monotonic() * 1000))'; }
ms_since() { python3 -c "import time; print('%.3f' % (time.monotonic() * 1000 - $1))"; }

# --- the test image ------------------------------------------------------------
# --hardlink-same-layer: docker load refuses a hardlink into a lower layer
# (see make_test_images.py); both runtimes get the same docker-loadable image.
"$root/scripts/make_test_images.py" --busybox amd64=/bin/busybox --hardlink-same-layer --out "$work/images" >/dev/null ||
  { say "scripts/make_test_images.py failed"; exit 1; }
put image "alpine:latest (amd64, 3 layers, $(stat -c %s "$work/images/alpine-latest-amd64.docker.tar") byte docker-archive)"

# --- (a) umoci unpack + crun run ---------------------------------------------
crun_part() {
  local t bundle=$work/bundle
  command -v umoci >/dev/null || { put crun.error "umoci is missing (scripts/bootstrap installs it)"; return; }
  command -v crun >/dev/null || { put crun.error "crun is missing (apt-get install crun)"; return; }
  put crun.version "$(crun --version | head -n1)"
  t=$(now_ms)
  umoci unpack --image "$work/images/oci:latest" "$bundle" >"$work/umoci.log" 2>&1 ||
    { put crun.error "umoci unpack failed: $(tail -n1 "$work/umoci.log")"; return; }
  put crun.unpack_ms "$(ms_since "$t")"
  python3 - "$bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
json.dump(c, open(p, "w"))
PY
  # Private mount namespace (unshare's default propagation is private): hide
  # the cgroup2 mount so crun picks the v1 hierarchy; the host keeps its own.
  unshare -m env BUNDLE="$bundle" STATE="$work/crun-state" RUNS="$runs" bash -c '
    set -e
    if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi
    for i in $(seq "$RUNS"); do
      s=$EPOCHREALTIME
      crun --root "$STATE" run --bundle "$BUNDLE" "bench-$$-$i" </dev/null >/dev/null
      e=$EPOCHREALTIME
      echo "$s $e"
    done' >"$work/crun-times" 2>"$work/crun.err" ||
    { put crun.error "crun run failed: $(tail -n1 "$work/crun.err")"; return; }
  put crun.samples_ms "$(awk '{printf "%s%.3f", (NR > 1 ? "," : ""), ($2 - $1) * 1000}' "$work/crun-times")"
}

# --- (b) private dockerd: docker load + docker run -----------------------------
docker_part() {
  local dockerd docker t d=$work/docker
  dockerd=$(command -v dockerd || true)
  if [ -z "$dockerd" ] && [ "$install_docker" = 1 ]; then
    say "installing Debian's docker.io (apt-get)"
    # Keep the package's init script from starting a system-wide dockerd (it
    # would make docker0 and iptables rules): deny service starts meanwhile.
    local policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      policy=/usr/sbin/policy-rc.d
      printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >"$work/apt.log" 2>&1 ||
      { [ -z "$policy" ] || rm -f "$policy"; put docker.error "apt-get install docker.io failed: $(tail -n1 "$work/apt.log")"; return; }
    [ -z "$policy" ] || rm -f "$policy"
    dockerd=$(command -v dockerd || true)
  fi
  [ -n "$dockerd" ] || { put docker.error "dockerd is missing (rerun with --install-docker to apt-get install docker.io)"; return; }
  # The CLI that came with this dockerd, not another one earlier on PATH.
  docker=
  for c in "$(dirname "$dockerd")/docker" /usr/bin/docker "$(command -v docker || true)"; do
    [ -n "$c" ] && [ -x "$c" ] && { docker=$c; break; }
  done
  [ -n "$docker" ] || { put docker.error "the docker CLI is missing"; return; }
  mkdir -p "$d/data" "$d/exec" "$d/cli"
  echo '{}' >"$d/daemon.json"
  export DOCKER_HOST=unix://$d/docker.sock DOCKER_CONFIG=$d/cli
  t=$(now_ms)
  "$dockerd" --config-file "$d/daemon.json" --data-root "$d/data" --exec-root "$d/exec" \
    -H "$DOCKER_HOST" --pidfile "$d/docker.pid" --bridge=none --iptables=false --ip-masq=false \
    --userland-proxy=false --exec-opt native.cgroupdriver=cgroupfs >"$d/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 300); do
    "$docker" version >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! "$docker" version >/dev/null 2>&1; then
    put docker.error "dockerd did not start: $(grep -E 'level=(fatal|error)|failed' "$d/dockerd.log" | tail -n1)"
    cp "$d/dockerd.log" "$work/../stratoswarm-image-bench-dockerd.log" 2>/dev/null || true
    return
  fi
  put docker.start_ms "$(ms_since "$t")"
  put docker.version "$("$docker" version --format 'server {{.Server.Version}}, client {{.Client.Version}}' 2>/dev/null)"
  put docker.storage_driver "$("$docker" info --format '{{.Driver}}' 2>/dev/null)"
  t=$(now_ms)
  "$docker" load -q -i "$work/images/alpine-latest-amd64.docker.tar" >"$d/load.log" 2>&1 ||
    { put docker.error "docker load failed: $(tail -n1 "$d/load.log")"; return; }
  put docker.load_ms "$(ms_since "$t")"
  : >"$d/times"
  for i in $(seq "$runs"); do
    s=$EPOCHREALTIME
    if ! "$docker" run --rm --network none alpine:latest /bin/true >/dev/null 2>"$d/run.err"; then
      put docker.error "docker run failed (run $i): $(tail -n1 "$d/run.err")"
      cp "$d/dockerd.log" /tmp/stratoswarm-image-bench-dockerd.log 2>/dev/null || true
      return
    fi
    e=$EPOCHREALTIME
    echo "$s $e" >>"$d/times"
  done
  put docker.samples_ms "$(awk '{printf "%s%.3f", (NR > 1 ? "," : ""), ($2 - $1) * 1000}' "$d/times")"
  # RSS of the daemons while idle, for scale.
  local rss=0 p
  for p in $dockerd_pid $(pgrep -P "$dockerd_pid" || true); do
    rss=$((rss + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  put docker.daemons_rss_kib "$rss"
}

put host.loadavg_before "$(cut -d' ' -f1-3 /proc/loadavg)"
crun_part
docker_part
put host.loadavg_after "$(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$results" "$runs" "$output" <<'PY'
import json, math, sys
path, runs, output = sys.argv[1], int(sys.argv[2]), sys.argv[3]
kv = {}
for line in open(path):
    k, _, v = line.rstrip("\n").partition("=")
    kv[k] = v

def pct(xs, p):
    s = sorted(xs)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]

out = {"image": kv.get("image"), "runs": runs,
       "host": {"loadavg_before": kv.get("host.loadavg_before"), "loadavg_after": kv.get("host.loadavg_after")}}
for part in ("crun", "docker"):
    d = {}
    for k, v in kv.items():
        if k.startswith(part + "."):
            d[k[len(part) + 1:]] = v
    for k in list(d):
        if k != "samples_ms" and (k.endswith("_ms") or k.endswith("_kib")):
            d[k] = float(d[k])
    if "samples_ms" in d:
        xs = [float(x) for x in d["samples_ms"].split(",") if x]
        d["samples_ms"] = xs
        d["run_p50_ms"], d["run_p95_ms"] = pct(xs, 50), pct(xs, 95)
        d["run_max_ms"] = max(xs)
    d["ok"] = "error" not in d
    out[part] = d

def f(d, k):
    return "%.1f" % d[k] if k in d else "-"

print("image: %s; %d runs each; load average %s -> %s" % (out["image"], runs, out["host"]["loadavg_before"],
      out["host"]["loadavg_after"]))
print("%-8s %12s %10s %10s %10s  %s" % ("runtime", "prepare ms", "run p50", "run p95", "run max", "notes"))
c, d = out["crun"], out["docker"]
print("%-8s %12s %10s %10s %10s  %s" % ("crun", f(c, "unpack_ms"), f(c, "run_p50_ms"), f(c, "run_p95_ms"),
      f(c, "run_max_ms"), c.get("error") or "prepare = umoci unpack; " + c.get("version", "")))
print("%-8s %12s %10s %10s %10s  %s" % ("docker", f(d, "load_ms"), f(d, "run_p50_ms"), f(d, "run_p95_ms"),
      f(d, "run_max_ms"), d.get("error") or "prepare = docker load; %s; %s; daemon start %s ms; daemons %s KiB RSS"
      % (d.get("version", ""), d.get("storage_driver", ""), f(d, "start_ms"), f(d, "daemons_rss_kib"))))
if output:
    with open(output, "w") as fh:
        json.dump(out, fh, indent=2)
        fh.write("\n")
PY
