# Sourced by the loopback integration tests (join, concurrent join, metrics,
# bandwidth): a scratch dir and a random port base per run, and whatever the
# test started in the background killed, the scratch removed, on every exit.
#   ll_init NAME   sets $work (/tmp/stratoswarm-NAME-XXXXXX), $base and pids=();
#                  a test adds each background pid to pids
#   LL_KEEP=1      keeps the scratch dir for a look after the run
#   fail MSG...    prints "FAIL: MSG" and the tail of every log in $work; exits 1
#   wait_for SECONDS CMD...  until CMD succeeds (every 0.1 s); 1 if it never does
#   status_of NAME           "Status@node" of each workload called NAME (`S ps -a`;
#                  the test defines S, its stratoswarm with --state-dir)
#   running_on NAME NODE     NAME is Running on NODE
#   ll_cluster_init NAME     for tests running workloads on a serve + swarmlets
#                  cluster: $work, $base, ports $mesh $join $boot, $P (serve's
#                  state dir), pid=() (NAME -> pid of what the test started),
#                  S (stratoswarm on $P), n NAME (NAME-$base: node names carry
#                  the port base so concurrent runs never share cgroups), ok,
#                  a fail that also shows ps and node ls; on exit the pids are
#                  killed, the nodes reaped (ll_reap_nodes) and $work removed
#   ll_reap_nodes BASE DIR   after the nodes are killed: what they still run
#                  (nodes named *-BASE; their cgroups name them) killed and the
#                  cgroups removed, everything mounted under DIR (image mounts,
#                  workload overlays) unmounted, deepest first

ll_cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  if [ -n "${LL_KEEP:-}" ]; then echo "kept $work (LL_KEEP)"; else rm -rf "$work"; fi
}

ll_init() {
  work=$(mktemp -d "/tmp/stratoswarm-$1-XXXXXX")
  base=$((20000 + RANDOM % 30000))
  pids=()
  trap ll_cleanup EXIT INT TERM
}

fail() { echo "FAIL: $*"; for f in "$work"/*.log; do echo "--- $f"; tail -5 "$f"; done; exit 1; }

ll_reap_nodes() {
  for procs in /sys/fs/cgroup/*/stratoswarm/*-"$1"/*/cgroup.procs; do
    [ -e "$procs" ] && xargs -r kill -9 <"$procs" 2>/dev/null
  done
  sleep 0.2
  awk -v w="$2" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  # A process killed a moment ago may still hold its cgroup: a few tries.
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    local left=0
    for d in /sys/fs/cgroup/*/stratoswarm/*-"$1"; do
      [ -d "$d" ] || continue
      find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
      [ -d "$d" ] && left=1
    done
    [ $left = 0 ] && break
    sleep 0.1
  done
  return 0
}

ll_cluster_cleanup() {
  for p in "${pid[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  ll_reap_nodes "$base" "$work"  # node names carry $base
  rm -rf "$work"
}

ll_cluster_init() {
  work=$(mktemp -d "/tmp/stratoswarm-$1-XXXXXX")
  base=$((20000 + RANDOM % 30000))
  mesh=$base join=$((base + 1)) boot=$((base + 2))
  P=$work/primary
  declare -gA pid=()
  trap ll_cluster_cleanup EXIT INT TERM
  fail() { echo "FAIL: $*"; S ps -a 2>&1; S node ls 2>&1; for f in "$work"/*.log; do echo "--- $f"; tail -12 "$f"; done; exit 1; }
  ok() { echo "ok: $*"; }
  S() { "$ss" --state-dir "$P" "$@"; }
  n() { echo "$1-$base"; }
}

wait_for() {
  local n=$(($1 * 10)); shift
  for _ in $(seq $n); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

status_of() { S ps -a --format json | python3 -c "import json,sys; print(' '.join(w['status']+'@'+w['node'] for w in json.load(sys.stdin) if w['name']==sys.argv[1]))" "$1"; }
running_on() { [ "$(status_of "$1")" = "Running@$2" ]; }
