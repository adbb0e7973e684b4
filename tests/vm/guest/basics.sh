# The emulated Pi's basics on a real aarch64 kernel with cgroup v2 only:
# selftest, `swarmlet exec` limits (cpu.max, memory.max, pids.max written and
# holding), OOM from memory.events, an image workload in namespaces with
# pivot_root, and the limits again from inside a new cgroup namespace (as
# Docker starts the swarmlet container on a cgroup v2 host).
. /checks/lib.sh
SW=/bin/swarmlet
EX="$SW exec --state-dir /var/lib/stratoswarm/exec --images-dir /var/lib/stratoswarm/images"

out=$($SW selftest 2>&1)
echo "$out" | indent selftest
line=$(echo "$out" | grep '^ *cgroup:')
case $line in
  *"mode v2"*) check selftest_v2 ok "$line" ;;
  *) check selftest_v2 FAIL "selftest cgroup line: '$line'" ;;
esac
echo "PI_VM: root cgroup.controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"

# --- limits: written, and a busy loop (two, on two vCPUs) stays near half a core
limits_script='
cg=/sys/fs/cgroup$(sed -n "s/^0:://p" /proc/self/cgroup)
echo "cgroup=$cg"
for f in cpu.max memory.max memory.swap.max pids.max; do echo "$f=$(cat $cg/$f 2>&1)"; done
u() { sed -n "s/^usage_usec //p" $cg/cpu.stat; }
t() { cut -d" " -f1 /proc/uptime; }
a=$(u); t0=$(t)
( while :; do :; done ) & b1=$!
( while :; do :; done ) & b2=$!
sleep 2
b=$(u); t1=$(t); kill $b1 $b2; wait 2>/dev/null
echo "busy_usec=$((b - a))"; echo "t0=$t0"; echo "t1=$t1"
# 40 forks against pids.max 32; once at the limit only shell builtins work.
(for i in $(seq 40); do sleep 5 & done) 2>/dev/null
read pc <$cg/pids.current; read k pm <$cg/pids.events
echo "pids.current=$pc $k $pm"
while read p; do [ "$p" = $$ ] || kill $p; done <$cg/cgroup.procs
'
out=$($EX --name limits --cpu 0.5 --memory 64M --pids 32 -- sh -c "$limits_script" 2>&1); rc=$?
echo "$out" | indent limits
v() { echo "$out" | sed -n "s/^$1=//p" | head -n1; }
if [ "$(v cpu.max)" = "50000 100000" ] && [ "$(v memory.max)" = 67108864 ] && [ "$(v pids.max)" = 32 ]; then
  check limits_written ok "cpu.max=$(v cpu.max) memory.max=$(v memory.max) memory.swap.max=$(v memory.swap.max) pids.max=$(v pids.max)"
else
  check limits_written FAIL "rc=$rc cpu.max='$(v cpu.max)' memory.max='$(v memory.max)' pids.max='$(v pids.max)': $(echo "$out" | tail -n2 | tr '\n' ' ')"
fi
busy=$(v busy_usec); wall=$(echo "$(v t0) $(v t1)" | awk '{printf "%.2f", $2 - $1}')
cores=$(echo "$busy $wall" | awk '{if ($2 > 0 && $1 != "") printf "%.2f", $1 / 1e6 / $2; else print "?"}')
if [ "$cores" != "?" ] && awk -v c="$cores" 'BEGIN { exit !(c >= 0.2 && c <= 0.65) }'; then
  check cpu_half_core ok "two busy loops used $cores cores ($busy us in $wall s) under cpu.max 0.5"
else
  check cpu_half_core FAIL "two busy loops used $cores cores (busy_usec=$busy wall=$wall); expected 0.2..0.65"
fi
pc=$(echo "$out" | sed -n 's/^pids.current=\([0-9]*\).*/\1/p'); pmax=$(echo "$out" | sed -n 's/.*pids.current=.* max \([0-9]*\).*/\1/p')
if [ -n "$pc" ] && [ "$pc" -le 32 ] && [ "${pmax:-0}" -gt 0 ]; then
  check pids_max_holds ok "40 forks: pids.current=$pc, pids.events max=$pmax"
else
  check pids_max_holds FAIL "40 forks: pids.current='$pc' pids.events max='$pmax'"
fi

# --- a memory hog under 64M is reported OOM-killed (from memory.events)
out=$($EX --name hog --memory 64M -- dd if=/dev/zero of=/dev/null bs=256M count=1 2>&1); rc=$?
echo "$out" | indent hog
if [ $rc = 137 ] && echo "$out" | grep -qi 'oom\|out of memory'; then
  check oom_reported ok "rc=$rc: $(echo "$out" | tail -n1)"
else
  check oom_reported FAIL "rc=$rc: $(echo "$out" | tail -n2 | tr '\n' ' ')"
fi

# --- an image workload (a local rootfs dir) in namespaces with pivot_root
img=/var/lib/stratoswarm/images/pvroot
mkdir -p $img/bin $img/proc $img/dev $img/sys $img/tmp $img/etc
cp /bin/busybox $img/bin/busybox
for a in sh cat ls hostname readlink echo sed mount; do ln -sf busybox $img/bin/$a; done
echo "root:x:0:0:root:/:/bin/sh" >$img/etc/passwd
echo image-marker >$img/IMAGE_MARKER
host_pidns=$(readlink /proc/self/ns/pid); host_mntns=$(readlink /proc/self/ns/mnt)
out=$($EX --name img --image $img --cpu 0.5 --memory 64M -- sh -c 'echo "pid=$$"; echo "root=$(ls / | tr "\n" " ")"; echo "pidns=$(readlink /proc/self/ns/pid)"; echo "mntns=$(readlink /proc/self/ns/mnt)"; echo "marker=$(cat /IMAGE_MARKER)"; for k in CapEff NoNewPrivs Seccomp; do echo "$k=$(sed -n "s/^$k:[[:space:]]*//p" /proc/self/status)"; done; echo w >/probe && echo wrote=yes; mount -t tmpfs none /tmp 2>/dev/null && echo mount=ok || echo mount=refused' 2>&1); rc=$?
echo "$out" | indent image
if [ $rc = 0 ] && [ "$(v marker)" = image-marker ] && ! echo "$(v root)" | grep -qw init &&
   [ -n "$(v pidns)" ] && [ "$(v pidns)" != "$host_pidns" ] && [ "$(v mntns)" != "$host_mntns" ]; then
  check image_pivot_root ok "pid=$(v pid) pidns=$(v pidns) (host $host_pidns) root: $(v root)"
else
  check image_pivot_root FAIL "rc=$rc: $(echo "$out" | tail -n3 | tr '\n' ' ')"
fi
# Issue 17: confined by default (docs/security.md), writes in the run's own layer.
if [ "$(v CapEff)" = 00000000a80405fb ] && [ "$(v NoNewPrivs)" = 1 ] && [ "$(v Seccomp)" = 2 ] &&
   [ "$(v mount)" = refused ] && [ "$(v wrote)" = yes ] && [ ! -e $img/probe ]; then
  check image_confined ok "CapEff=$(v CapEff) NoNewPrivs=$(v NoNewPrivs) Seccomp=$(v Seccomp) mount refused, /probe not in the image"
else
  check image_confined FAIL "CapEff=$(v CapEff) NoNewPrivs=$(v NoNewPrivs) Seccomp=$(v Seccomp) mount=$(v mount) wrote=$(v wrote) image probe: $(ls $img/probe 2>&1)"
fi

# --- the swarmlet inside a new cgroup namespace (Docker on cgroup v2 gives
# the container one, the swarmlet in its root) still gives workloads limits.
mkdir -p /sys/fs/cgroup/ctr
echo "+cpu +memory +pids" >/sys/fs/cgroup/cgroup.subtree_control
cat >/tmp/inns.sh <<INNS
umount /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup || exit 9
echo "inside=\$(cat /proc/self/cgroup)"
exec $EX --name inns --cpu 0.5 --memory 64M --pids 32 -- sh -c 'cg=/sys/fs/cgroup\$(sed -n "s/^0:://p" /proc/self/cgroup); echo cgroup=\$cg; for f in cpu.max memory.max pids.max; do echo \$f=\$(cat \$cg/\$f 2>&1); done'
INNS
out=$(sh -c 'echo $$ >/sys/fs/cgroup/ctr/cgroup.procs && exec /usr/bin/unshare -C -m sh /tmp/inns.sh' 2>&1); rc=$?
echo "$out" | indent cgroupns
if [ $rc = 0 ] && [ "$(v cpu.max)" = "50000 100000" ] && [ "$(v memory.max)" = 67108864 ] && [ "$(v pids.max)" = 32 ]; then
  check cgroupns_limits ok "$(v inside): cpu.max=$(v cpu.max) memory.max=$(v memory.max) pids.max=$(v pids.max)"
else
  check cgroupns_limits FAIL "rc=$rc: $(echo "$out" | tail -n3 | tr '\n' ' ')"
fi
true
