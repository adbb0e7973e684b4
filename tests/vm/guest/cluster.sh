# The emulated Pi as a node of the GPU peer on the host (tests/vm/pi_vm_test.sh
# cluster|no_memory_controller): joins with the token from the kernel command
# line (pi_vm.token, pi_vm.peer, pi_vm.name), streams the swarmlet's log to
# the console ("  swarmlet| ..."), prints its timing records ("TIMING {json}"),
# then reports the workloads the GPU peer places here (their cgroup limits,
# from the guest's side) until the host kills the VM.
#   pi_vm.mode=nomem: booted with cgroup_disable=memory; first checks that
#   the memory controller is off and that `swarmlet exec` with no memory
#   limit runs.
. /checks/lib.sh
SW=/bin/swarmlet
token=$(param token) peer=$(param peer) name=$(param name) mode=$(param mode)
state=/var/lib/stratoswarm/node
mkdir -p $state

if [ "$mode" = nomem ]; then
  ctl=$(cat /sys/fs/cgroup/cgroup.controllers)
  case " $ctl " in
    *" memory "*) check memory_controller_off FAIL "cgroup_disable=memory but cgroup.controllers: $ctl" ;;
    *) check memory_controller_off ok "cgroup.controllers: $ctl" ;;
  esac
  out=$($SW selftest 2>&1); echo "$out" | indent selftest
  out=$($SW exec --state-dir /var/lib/stratoswarm/exec --name plain --cpu 0.5 -- echo plain-workload-ran 2>&1); rc=$?
  echo "$out" | indent exec
  if [ $rc = 0 ] && echo "$out" | grep -q plain-workload-ran; then
    check exec_no_memory_limit ok "swarmlet exec --cpu 0.5 (no --memory) ran"
  else
    check exec_no_memory_limit FAIL "rc=$rc: $(echo "$out" | tail -n2 | tr '\n' ' ')"
  fi
fi

# A Pi without a real-time clock (pi_vm.clock_offset=SECONDS): its clock is
# off until NTP answers, and it joins anyway on the GPU peer's clock.
offset=$(param clock_offset)
if [ -n "$offset" ]; then
  date -s "@$(( $(date +%s) + offset ))" >/dev/null && echo "PI_VM: clock set $offset s off: $(date -u)"
fi
echo "PI_VM: join starts at $(uptime_s) s uptime"
: >/tmp/swarmlet.log  # before tail -f below: the background job's redirection may come later
$SW join --token "$token" --cluster "$peer" --name "$name" --state-dir $state >/tmp/swarmlet.log 2>&1 &
swpid=$!
tail -f /tmp/swarmlet.log | indent swarmlet &
i=0
while ! grep -q "Successfully joined" /tmp/swarmlet.log; do
  i=$((i + 1))
  if [ $i -gt 900 ] || ! kill -0 $swpid 2>/dev/null; then
    check joined FAIL "no join after $((i / 10)) s: $(tail -n2 /tmp/swarmlet.log | tr '\n' ' ')"
    break
  fi
  usleep 100000
done
if grep -q "Successfully joined" /tmp/swarmlet.log; then
  echo "PI_VM: joined at $(uptime_s) s uptime"
  check joined ok "$(grep "Successfully joined" /tmp/swarmlet.log | head -n1)"
fi
printed=0
timings() {  # the timing records not printed yet, as "TIMING {json}"
  local n
  n=$(wc -l <$state/timing.jsonl 2>/dev/null || echo 0)
  [ "$n" -gt $printed ] || return 0
  tail -n +$((printed + 1)) $state/timing.jsonl | head -n $((n - printed)) | sed 's/^/TIMING /'
  printed=$n
}
timings

# Report each workload cgroup once it has processes: its limits as the guest
# kernel holds them.
seen=" "
while kill -0 $swpid 2>/dev/null; do
  for d in $(find /sys/fs/cgroup -mindepth 2 -name cgroup.procs 2>/dev/null | grep -v "^/sys/fs/cgroup/[^/]*/cgroup.procs$"); do
    d=${d%/cgroup.procs}
    case "$seen" in *" $d "*) continue ;; esac
    p=$(head -n1 $d/cgroup.procs 2>/dev/null)
    [ -n "$p" ] || continue
    [ "$(cat /proc/$p/comm 2>/dev/null)" = swarmlet ] && continue
    seen="$seen$d "
    echo "WORKLOAD cgroup=${d#/sys/fs/cgroup} cpu.max=$(cat $d/cpu.max 2>/dev/null | tr ' ' /) memory.max=$(cat $d/memory.max 2>/dev/null || echo none) pids=$(cat $d/cgroup.procs | tr '\n' ,) root=$(awk '$5 == "/" {print $9 ":" $10; exit}' /proc/$p/mountinfo) cmd=$(tr '\0' ' ' </proc/$p/cmdline)"
  done
  timings
  sleep 1
done
echo "PI_VM: swarmlet exited: $(tail -n3 /tmp/swarmlet.log | tr '\n' ' ')"
