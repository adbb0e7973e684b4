#!/bin/sh
# make_fake_pi_root.sh DIR: a hardware root (swarmlet join --hw-root DIR) that
# reads as a Raspberry Pi 4 Model B with 4 cores and ~3.8 GB: the device-tree
# model (what makes the GPU peer call the node type `rpi`), the online CPUs
# and /proc/meminfo. Its sys/fs/cgroup is the real one (workloads run in the
# real host's cgroups, so whether memory limits work is the host's answer);
# NO_CGROUP=1 leaves it out, a Pi with the memory controller off. For
# loopback clusters, tests and benchmarks. Prints DIR.
set -eu
root=${1:?usage: make_fake_pi_root.sh DIR}
mkdir -p "$root/proc/device-tree" "$root/sys/devices/system/cpu"
printf 'Raspberry Pi 4 Model B Rev 1.4\0' >"$root/proc/device-tree/model"
echo 0-3 >"$root/sys/devices/system/cpu/online"
echo "MemTotal:        3930000 kB" >"$root/proc/meminfo"
if [ -z "${NO_CGROUP:-}" ] && [ ! -e "$root/sys/fs/cgroup" ]; then
  mkdir -p "$root/sys/fs"
  ln -s /sys/fs/cgroup "$root/sys/fs/cgroup"
fi
echo "$root"
