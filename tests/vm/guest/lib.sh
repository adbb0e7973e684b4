# Sourced by the guest scripts: check NAME ok|FAIL DETAIL prints the line the
# host collects; param NAME reads a pi_vm.NAME=VALUE from the kernel command line.
check() { local n=$1 r=$2; shift 2; echo "CHECK $n $r $*"; }
param() { tr ' ' '\n' </proc/cmdline | sed -n "s/^pi_vm\.$1=//p" | tail -n1; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
# The cgroup of the calling process, as a path under /sys/fs/cgroup.
own_cgroup() { echo "/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)"; }
indent() { sed "s/^/  $1| /"; }
