#!/usr/bin/env bash
# Container images end to end through the cluster, on loopback: `stratoswarm
# serve` (the GPU peer, itself a node) and swarmlets that fetch the images'
# squashfs from it.
#   1. image load of each format: oci-archive (multi-arch, --name), docker-
#      archive (names itself), OCI layout dir (one ref; one with two refs is
#      refused) -> listed with their platforms
#   2. bad input (bad digest, '..' entry, truncated, missing file, run of an
#      unknown image): non-zero exit, one error line, store unchanged, no
#      leftovers in images/tmp
#   3. a workload on a node that never had the image sees the merged layers
#      (whiteout, opaque dir, hardlink across layers, setuid, symlink, Env,
#      WorkingDir); User/Entrypoint/Cmd of the apptest image, CLI command
#      replaces Cmd
#   4. a second workload of the same image fetches nothing; `image ls` NODES
#   5. kill -9 of a node in the middle of a fetch (40 MB image), restart:
#      the fetch resumes/finishes, the workload runs, no .partial left
#   5b. kill -9 of serve in the middle of a fetch, restart: the node asks
#      again from where it was, the workload runs
#   6. a squashfs tampered on the GPU peer: the node refuses it ("failed
#      verification"), keeps nothing of it, stays Ready
#   7. with an aarch64 swarmlet (run under qemu-user): an amd64-only image
#      pinned to it stays Pending with the reason; alpine pinned to it makes
#      it fetch and verify the linux/arm64 squashfs (qemu-user cannot clone
#      into namespaces, so whether it then runs is not checked here)
#   cluster_image_test.sh STRATOSWARM SWARMLET [AARCH64_SWARMLET]
set -uo pipefail

ss=$1 sw=$2 arm=${3:-}
[ "$(id -u)" = 0 ] || { echo "SKIPPED: needs root (mounts, cgroups for the workloads)"; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$here/loopback_lib.sh"  # ll_reap_nodes
busybox=/bin/busybox
armbusybox=$repo/.deps/aarch64/busybox-static/bin/busybox
"$busybox" --list >/dev/null 2>&1 || { echo "SKIPPED: no busybox at $busybox (apt-get install busybox-static)"; exit 77; }
# Image workloads loop-mount a squashfs and put an overlay on it.
modprobe -q squashfs 2>/dev/null; modprobe -q overlay 2>/dev/null
[ -w /dev/loop-control ] || { echo "SKIPPED: image workloads need /dev/loop-control"; exit 77; }
for fs in squashfs overlay; do
  grep -qw "$fs" /proc/filesystems || { echo "SKIPPED: image workloads need the $fs filesystem"; exit 77; }
done
[ -f "$armbusybox" ] || { echo "SKIPPED: no arm64 busybox at $armbusybox"; exit 77; }
for t in skopeo tar2sqfs python3; do
  command -v $t >/dev/null || { echo "SKIPPED: no $t"; exit 77; }
done

work=$(mktemp -d /tmp/stratoswarm-image-XXXXXX)
base=$((20000 + RANDOM % 30000))
mesh=$base join=$((base + 1)) boot=$((base + 2))
P=$work/primary
img=$work/img
declare -A pid
cleanup() {
  for p in "${pid[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  ll_reap_nodes "$base" "$work"  # node names carry $base
  if [ -n "${LL_KEEP:-}" ]; then echo "kept $work (LL_KEEP)"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap "exit 1" INT TERM
fail() { echo "FAIL: $*"; S ps -a; S image ls; for f in "$work"/*.log; do echo "--- $f"; tail -8 "$f"; done; exit 1; }
ok() { echo "ok: $*"; }
S() { "$ss" --state-dir "$P" "$@"; }
n() { echo "$1-$base"; }
wait_for() {  # wait_for SECONDS CMD...: until CMD succeeds
  local end=$((SECONDS + $1)); shift
  # A deadline, not a count: each CLI call may itself take a while on a busy box.
  while [ $SECONDS -lt $end ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  "$@" >/dev/null 2>&1
}
ps_field() {  # ps_field ID FIELD
  S ps -a --format json | python3 -c "
import json,sys
for w in json.load(sys.stdin):
    if w['id']==sys.argv[1]: print(w.get(sys.argv[2],''))" "$1" "$2"
}
status_is() { [ "$(ps_field "$1" status)" = "$2" ]; }
wait_status() {  # wait_status SECONDS ID STATUS
  wait_for "$1" status_is "$2" "$3" || fail "workload $2: expected $3, is '$(ps_field "$2" status_text)'"
}
images_json() { S image ls --format json; }
image_field() {  # image_field NAME EXPR(i): python expression over the image dict i
  images_json | python3 -c "
import json,sys
for i in json.load(sys.stdin):
    if i['name']==sys.argv[1]: print($2)" "$1"
}
image_list() { S image ls --format json | python3 -c "
import json,sys
print(' '.join(sorted(i['ref']+'='+i['digest'] for i in json.load(sys.stdin))))"; }
start_serve() {
  "$ss" --state-dir "$P" serve --name "$(n pg)" --listen 127.0.0.1 --no-mdns --mesh-port $mesh --join-port $join \
    --bootstrap-port $boot >>"$work/serve.log" 2>&1 &
  pid[serve]=$!
  wait_for 10 S node ls || fail "serve did not come up"
}
start_node() {  # start_node NAME [ARGS...]
  local name=$1; shift
  "$sw" join --cluster 127.0.0.1:$boot --name "$(n "$name")" --state-dir "$work/$name" --mesh-port 0 "$@" \
    >>"$work/$name.log" 2>&1 &
  pid[$name]=$!
}
node_ready() { S node ls | grep -q " $(n "$1") .* Ready "; }
# A one-layer docker-archive: busybox + DATA_MB of random bytes in /opt/random
# (random: squashfs can't shrink it, so its size is what goes over the wire).
make_image() {  # make_image OUT REPO:TAG DATA_MB
  python3 - "$1" "$2" "$3" "$busybox" <<'EOF' || fail "make_image $2"
import hashlib, io, json, os, sys, tarfile
out, ref, mb, bb = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def add(t, name, data=None, kind=tarfile.REGTYPE, mode=0o644, link=""):
    ti = tarfile.TarInfo(name); ti.type = kind; ti.mode = mode; ti.mtime = 1704067200
    ti.linkname = link
    if data is not None: ti.size = len(data)
    t.addfile(ti, io.BytesIO(data) if data is not None else None)
lb = io.BytesIO()
with tarfile.open(fileobj=lb, mode="w", format=tarfile.PAX_FORMAT) as t:
    for d in ["bin", "etc", "opt", "proc", "dev", "sys", "tmp"]:
        add(t, d, kind=tarfile.DIRTYPE, mode=0o755)
    add(t, "bin/busybox", open(bb, "rb").read(), mode=0o755)
    for a in ["sh", "sleep", "cat", "wc", "true", "ls"]:
        add(t, "bin/" + a, kind=tarfile.SYMTYPE, mode=0o777, link="busybox")
    add(t, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    add(t, "etc/group", b"root:x:0:\n")
    add(t, "opt/random", os.urandom(mb << 20))
layer = lb.getvalue()
cfg = json.dumps({"architecture": "amd64", "os": "linux",
    "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()
with tarfile.open(out, "w") as t:
    add(t, "layer.tar", layer)
    add(t, "config.json", cfg)
    add(t, "manifest.json", json.dumps([{"Config": "config.json", "RepoTags": [ref], "Layers": ["layer.tar"]}]).encode())
EOF
}

t0=$(date +%s)
python3 "$repo/scripts/make_test_images.py" --busybox amd64="$busybox" --busybox arm64="$armbusybox" \
  --out "$img" --tamper >/dev/null || fail "make_test_images.py"
make_image "$work/tamp.docker.tar" tamp:1 1
make_image "$work/big.docker.tar" big:1 40
make_image "$work/big2.docker.tar" big2:1 40
start_serve

# --- 1. each format -------------------------------------------------------
out=$(S image load --name alpine "$img/alpine-latest.oci.tar" 2>&1) || fail "load oci-archive: $out"
echo "$out" | grep -q "Loaded alpine:latest .*linux/amd64,linux/arm64" || fail "load oci-archive said: $out"
out=$(S image load "$img/apptest-latest-amd64.docker.tar" 2>&1) || fail "load docker-archive: $out"
echo "$out" | grep -q "Loaded apptest:latest" || fail "load docker-archive said: $out"
# The docker-archive names itself alpine:latest: --name keeps it off the multi-arch one.
out=$(S image load --name alpine-amd64 "$img/alpine-latest-amd64.docker.tar" 2>&1) || fail "load docker-archive --name: $out"
if out=$(S image load --name layout2 "$img/oci" 2>&1); then
  layout_note="two-ref layout accepted"
else
  echo "$out" | grep -q "holds 2 images" || fail "two-ref layout refused with: $out"
  layout_note="two-ref layout refused"
fi
skopeo copy -q --all "oci:$img/oci:latest" "oci:$work/layout:latest" >/dev/null 2>&1 || fail "skopeo copy to a one-ref layout"
out=$(S image load --name layout "$work/layout" 2>&1) || fail "load OCI layout: $out"
[ "$(image_field alpine "i['platforms'] and ','.join(p['platform'] for p in i['platforms'])")" = "linux/amd64,linux/arm64" ] \
  || fail "alpine platforms: $(S image ls)"
[ "$(image_field layout "','.join(p['platform'] for p in i['platforms'])")" = "linux/amd64,linux/arm64" ] \
  || fail "layout platforms: $(S image ls)"
[ "$(image_field layout "i['digest']")" = "$(image_field alpine "i['digest']")" ] || fail "layout and oci-archive differ in digest"
[ "$(image_field apptest "','.join(p['platform'] for p in i['platforms'])")" = linux/amd64 ] || fail "apptest platforms"
[ "$(image_field alpine-amd64 "','.join(p['platform'] for p in i['platforms'])")" = linux/amd64 ] || fail "alpine-amd64 platforms"
ok "load: oci-archive (linux/amd64,linux/arm64), docker-archive x2, OCI layout (one ref; $layout_note)"
out=$(S image load "$work/tamp.docker.tar" 2>&1) || fail "load tamp: $out"
out=$(S image load "$work/big.docker.tar" 2>&1) || fail "load big: $out"

# --- 2. bad input ---------------------------------------------------------
before=$(image_list)
bad() {  # bad WHAT PATTERN CMD...: fails, one error line (besides the "Loading ..." progress line), store unchanged
  local what=$1 pat=$2; shift 2
  local err rc
  err=$("$@" 2>&1 >/dev/null); rc=$?
  [ $rc != 0 ] || fail "$what: exit 0"
  local lines
  lines=$(echo "$err" | grep -v '^Loading ' | grep -c .)
  [ "$lines" = 1 ] || fail "$what: $lines error lines: $err"
  echo "$err" | grep -v '^Loading ' | grep -qi -- "$pat" || fail "$what: message lacks '$pat': $err"
  [ "$(image_list)" = "$before" ] || fail "$what: image ls changed: $(S image ls)"
  [ -z "$(ls -A "$P/images/tmp" 2>/dev/null)" ] || fail "$what: leftovers in images/tmp: $(ls -A "$P/images/tmp")"
}
bad "bad digest" "digest" S image load --name bad "$img/alpine-latest-bad-digest.oci.tar"
bad "dotdot" "'\.\./escape'.*\.\." S image load --name bad "$img/alpine-latest-dotdot.oci.tar"
bad "truncated" "truncated" S image load "$img/alpine-latest-truncated.docker.tar"
bad "missing file" "no such file" S image load "$work/nosuch.tar"
s=$(date +%s%N)
bad "run unknown image" "nosuch:1.*not found" S run nosuch:1 true
ms=$(( ($(date +%s%N) - s) / 1000000 ))
[ $ms -lt 3000 ] || fail "run of an unknown image took $ms ms"
ok "bad input refused, one line each, store and images/tmp unchanged (bad digest, '..', truncated, missing, run nosuch:1 in $ms ms)"

# --- 3. merged image on a node that never had it --------------------------
token=$(S cluster create-join-token) || fail "create-join-token"
start_node pi1 --token "$token"
wait_for 20 grep -q "Successfully joined" "$work/pi1.log" || fail "pi1 did not join"
[ -z "$(ls -A "$work/pi1/image-cache" 2>/dev/null)" ] || fail "pi1 had images before"
script='cat /etc/stratoswarm-test-image; test -e /etc/to-delete && echo to-delete-present; echo opaque: $(ls -A /opaque);
echo links: $(stat -c %h /usr/share/test/motd-link); echo mode: $(stat -c %a /usr/bin/setuid-true);
echo symlink: $(readlink /usr/share/test/link); echo var: $IMAGE_VAR; echo cwd: $(pwd)'
id=$(S run --constraint node.name==$(n pi1) --name merged alpine sh -c "$script") || fail "run alpine: $id"
wait_status 30 "$id" Exited
[ "$(ps_field "$id" exit_code)" = 0 ] || fail "merged: $(ps_field "$id" status_text)"
logs=$(S logs "$id")
expect() { echo "$logs" | grep -qx -- "$1" || fail "$2: expected line '$1' in: $logs"; }
expect "arch=amd64" "layer 3"
echo "$logs" | grep -q to-delete-present && fail "whiteout: /etc/to-delete present"
expect "opaque: upper-only" "opaque dir"
expect "links: 2" "hardlink across layers"
expect "mode: 4755" "setuid"
expect "symlink: hello.txt" "symlink"
expect "var: from-image" "Env"
expect "cwd: /home/app" "WorkingDir"
ok "pi1 runs alpine: arch=amd64, whiteout, opaque dir, hardlink (2), setuid 4755, symlink, Env, WorkingDir"

id=$(S run --constraint node.name==$(n pi1) --name app apptest) || fail "run apptest: $id"
wait_status 20 "$id" Exited
logs=$(S logs "$id")
echo "$logs" | grep -q "^uid=1000(app) gid=1000(app) groups=.*2000" || fail "apptest User: $logs"
expect "/home/app" "apptest WorkingDir"
expect "IMAGE_VAR=from-image" "apptest Env"
id=$(S run --constraint node.name==$(n pi1) --name replaced apptest 'echo replaced') || fail "run apptest CMD: $id"
wait_status 20 "$id" Exited
[ "$(S logs "$id")" = replaced ] || fail "CLI command did not replace Cmd: $(S logs "$id")"
ok "apptest: uid=1000(app) gid=1000(app) groups 2000, /home/app; CLI command replaces Cmd under Entrypoint sh -c"

# Issue 17: confined by default; --user overrides the image's User; --privileged opts out.
status_probe='grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status'
id=$(S run --constraint node.name==$(n pi1) --name confined alpine sh -c "$status_probe") || fail "run confined: $id"
wait_status 20 "$id" Exited
logs=$(S logs "$id")
[ "$(echo $logs)" = "CapEff: 00000000a80405fb NoNewPrivs: 1 Seccomp: 2" ] || fail "confined: $logs"
id=$(S run --constraint node.name==$(n pi1) --name asuser --user 1234:1235 apptest 'id -u; id -g') || fail "run --user: $id"
wait_status 20 "$id" Exited
logs=$(S logs "$id")
[ "$(echo $logs)" = "1234 1235" ] || fail "--user 1234:1235 over the image's User: $logs"
id=$(S run --constraint node.name==$(n pi1) --name priv --privileged alpine sh -c "$status_probe") || fail "run --privileged: $id"
wait_status 20 "$id" Exited
logs=$(S logs "$id")
echo "$logs" | grep -q "NoNewPrivs:.0" && echo "$logs" | grep -q "Seccomp:.0" &&
  ! echo "$logs" | grep -q a80405fb || fail "--privileged: $logs"
bad "run --user bob" "--user \"bob\": expected UID" S run --user bob alpine true
ok "contained: default caps a80405fb + no_new_privs + seccomp; --user 1234:1235 wins over the image's User; --privileged keeps full caps"

# --- 4. no second fetch ---------------------------------------------------
sq=$(image_field alpine "[p['squashfs'] for p in i['platforms'] if p['platform']=='linux/amd64'][0].split(':')[1]")
f=$work/pi1/image-cache/$sq.sqfs
[ -f "$f" ] || fail "no $f: $(ls "$work/pi1/image-cache")"
[ "$(ls "$work/pi1/image-cache" | grep -c '\.sqfs$')" = 1 ] || fail "one squashfs expected (every amd64 image shares it): $(ls "$work/pi1/image-cache")"
st=$(stat -c %i.%s "$f")  # mtime moves on each use (LRU of the cache); a fetch makes a new file
id=$(S run --constraint node.name==$(n pi1) --name again alpine cat /etc/stratoswarm-test-image) || fail "run again: $id"
wait_status 20 "$id" Exited
[ "$(S logs "$id")" = arch=amd64 ] || fail "again: $(S logs "$id")"
[ "$(stat -c %i.%s "$f")" = "$st" ] || fail "squashfs fetched again: inode.size $st -> $(stat -c %i.%s "$f"); $(ls -la --time-style=full-iso "$work/pi1/image-cache")"
[ "$(ls -A "$work/pi1/image-cache" | wc -l)" = 1 ] || fail "image-cache: $(ls -A "$work/pi1/image-cache")"
nodes_have() { [ "$(image_field "$1" "'$(n pi1)' in i['nodes']")" = True ]; }
wait_for 12 nodes_have alpine || fail "image ls NODES lacks pi1: $(S image ls)"
nodes_have apptest || fail "apptest NODES lacks pi1: $(S image ls)"
ok "second workload: no fetch (one .sqfs, unchanged); image ls NODES has pi1"

# --- 5. kill -9 in the middle of a fetch, resume ---------------------------
token=$(S cluster create-join-token) || fail "create-join-token"
start_node pi2 --token "$token"
wait_for 20 grep -q "Successfully joined" "$work/pi2.log" || fail "pi2 did not join"
bsq=$(image_field big "i['platforms'][0]['squashfs'].split(':')[1]")
part=$work/pi2/image-cache/$bsq.sqfs.partial
s=$(date +%s%N)
# `run` itself waits a while on the pull: in the background, so the poll sees the fetch.
S run --constraint node.name==$(n pi2) --name big big:1 sh -c 'wc -c </opt/random; sleep 600' >"$work/big.id" 2>>"$work/cli.log" &
pid[runbig]=$!
caught=
for _ in $(seq 3000); do
  if [ -s "$part" ]; then kill -9 "${pid[pi2]}"; caught=$(stat -c %s "$part" 2>/dev/null); break; fi
  [ -f "$work/pi2/image-cache/$bsq.sqfs" ] && break
  sleep 0.005
done
ms=$(( ($(date +%s%N) - s) / 1000000 ))
wait "${pid[runbig]}"  # may exit non-zero when its node dies under it; the ID is printed first
id=$(cat "$work/big.id")
[[ $id =~ ^[0-9a-f]{12}$ ]] || fail "run big: '$id' $(tail -2 "$work/cli.log")"
if [ -n "$caught" ]; then
  wait "${pid[pi2]}" 2>/dev/null
  sleep 0.5
  total=$(image_field big "i['platforms'][0]['squashfs_bytes']")
  start_node pi2
  wait_status 40 "$id" Running
  ok "resume: pi2 killed with $caught of $total bytes fetched ($ms ms), restarted, workload Running"
else
  [ -f "$work/pi2/image-cache/$bsq.sqfs" ] || fail "big: neither .partial nor .sqfs in $ms ms: $(ls -l "$work/pi2/image-cache")"
  ok "resume: transfer finished before the kill ($ms ms)"
  wait_status 40 "$id" Running
fi
[ -f "$work/pi2/image-cache/$bsq.sqfs" ] || fail "no finished .sqfs: $(ls -l "$work/pi2/image-cache")"
wait_for 10 sh -c "S() { :; }; ! ls '$work/pi2/image-cache' | grep -q partial" || fail ".partial left: $(ls -l "$work/pi2/image-cache")"
[ "$(stat -c %s "$work/pi2/image-cache/$bsq.sqfs")" = "$(image_field big "i['platforms'][0]['squashfs_bytes']")" ] || fail "big .sqfs size"
wait_for 10 sh -c "'$ss' --state-dir '$P' logs $id | grep -qx $((40 << 20))" || fail "big logs: $(S logs "$id")"
node_ready pi2 || fail "pi2 not Ready after the restart: $(S node ls)"
ok "big image on pi2: finished .sqfs, no .partial, workload Running and reads its 40 MB"
S stop "$id" >/dev/null || fail "stop big"

# --- 5b. kill -9 of serve in the middle of a fetch ---------------------------
out=$(S image load "$work/big2.docker.tar" 2>&1) || fail "load big2: $out"
b2sq=$(image_field big2 "i['platforms'][0]['squashfs'].split(':')[1]")
part=$work/pi2/image-cache/$b2sq.sqfs.partial
S run --constraint node.name==$(n pi2) --name big2 big2:1 sleep 600 >"$work/big2.id" 2>>"$work/cli.log" &
pid[runbig2]=$!
caught=
for _ in $(seq 3000); do
  if [ -s "$part" ]; then kill -9 "${pid[serve]}"; caught=$(stat -c %s "$part" 2>/dev/null); break; fi
  [ -f "$work/pi2/image-cache/$b2sq.sqfs" ] && break
  sleep 0.005
done
wait "${pid[runbig2]}"  # its answer may die with serve: the ID comes from ps then
if [ -n "$caught" ]; then
  wait "${pid[serve]}" 2>/dev/null
  sleep 0.5
  start_serve
  id=$(S ps -a --format json | python3 -c "import json,sys; print(*[w['id'] for w in json.load(sys.stdin) if w['name']=='big2'])")
  [[ $id =~ ^[0-9a-f]{12}$ ]] || fail "big2 not recorded by the restarted serve: '$id'"
  wait_status 60 "$id" Running
  ok "serve killed with $caught bytes of big2 on pi2, restarted: the fetch went on, workload Running"
else
  id=$(cat "$work/big2.id")
  wait_status 40 "$id" Running
  ok "serve kill: transfer finished before the kill"
fi
[ -f "$work/pi2/image-cache/$b2sq.sqfs" ] || fail "no finished big2 .sqfs: $(ls -l "$work/pi2/image-cache")"
ls "$work/pi2/image-cache" | grep -q partial && fail ".partial left after the serve restart"
S stop "$id" >/dev/null || fail "stop big2"

# --- 6. squashfs tampered on the GPU peer (last: a node that loops on it keeps fetching) ---------------------------------
tsq=$(image_field tamp "i['platforms'][0]['squashfs'].split(':')[1]")
src=$P/images/squashfs/$tsq.sqfs
[ -f "$src" ] || fail "no $src"
python3 - "$src" <<'EOF' || fail "flip a byte"
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR); off = os.fstat(fd).st_size // 2
b = os.pread(fd, 1, off); os.pwrite(fd, bytes([b[0] ^ 0xff]), off); os.close(fd)
EOF
# `run` prints the ID, then exits 1 because the start failed (the point here).
id=$(S run --constraint node.name==$(n pi2) --name tamp tamp:1 sleep 600 2>>"$work/cli.log" | head -n1)
[ -n "$id" ] || fail "run tamp printed no ID: $(tail -2 "$work/cli.log")"
wait_status 30 "$id" Failed
ps_field "$id" status_text | grep -q "failed verification" || fail "tamp: $(ps_field "$id" status_text)"
ls "$work/pi2/image-cache" 2>/dev/null | grep -q "$tsq" && fail "pi2 kept the tampered image: $(ls -l "$work/pi2/image-cache")"
grep -q " $work/pi2/image-mounts/$tsq" /proc/self/mountinfo && fail "the tampered image is mounted on pi2"
node_ready pi2 || fail "pi2 not Ready: $(S node ls)"
ok "tampered squashfs: $(ps_field "$id" status_text); nothing kept or mounted on pi2, still Ready"

# --- 7. the aarch64 swarmlet under qemu-user: platform choice and transfer ---------------------------------
if [ -n "$arm" ] && [ -x "$arm" ] && command -v qemu-aarch64-static >/dev/null; then
  "$ss" --state-dir "$P" cluster create-join-token >"$work/arm.token" || fail "token for arm1"
  qemu-aarch64-static "$arm" join --cluster 127.0.0.1:$boot --name "$(n arm1)" --state-dir "$work/arm1" \
    --mesh-port 0 --token "$(cat "$work/arm.token")" >>"$work/arm1.log" 2>&1 &
  pid[arm1]=$!
  wait_for 60 grep -q "Successfully joined" "$work/arm1.log" || fail "arm1 (aarch64 under qemu) did not join"
  wait_for 20 node_ready arm1 || fail "arm1 not Ready: $(S node ls)"
  id=$(S run --constraint node.name==$(n arm1) --name noarm apptest true 2>>"$work/cli.log" | head -n1)
  [ -n "$id" ] || fail "run noarm printed no ID"
  wait_status 20 "$id" Pending
  ps_field "$id" status_text | grep -q "image apptest:latest (linux/amd64)" ||
    fail "noarm: $(ps_field "$id" status_text)"
  pending=$(ps_field "$id" status_text)
  S stop "$id" >/dev/null 2>&1
  asq=$(image_field alpine "[p['squashfs'] for p in i['platforms'] if p['platform']=='linux/arm64'][0].split(':')[1]")
  [ -n "$asq" ] || fail "alpine has no linux/arm64 squashfs"
  id=$(S run --constraint node.name==$(n arm1) --name armalpine alpine true 2>>"$work/cli.log" | head -n1)
  [ -n "$id" ] || fail "run armalpine printed no ID"
  wait_for 90 test -f "$work/arm1/image-cache/$asq.sqfs" ||
    fail "arm1 did not fetch the linux/arm64 squashfs: $(ls -l "$work/arm1/image-cache" 2>&1)"
  ls "$work/arm1/image-cache" | grep -q partial && fail "arm1 left a .partial"
  ok "aarch64 under qemu: amd64-only image $pending; alpine -> linux/arm64 squashfs ${asq:0:12} fetched and verified ($(grep -o '"event":"image","phase":"fetch","ms":[0-9.]*' "$work/arm1/timing.jsonl" | head -1 | grep -o '[0-9.]*$') ms)"
  S stop "$id" >/dev/null 2>&1
else
  ok "aarch64: not checked (no aarch64 swarmlet or qemu-aarch64-static)"
fi

echo "cluster image test: passed ($(( $(date +%s) - t0 )) s)"
