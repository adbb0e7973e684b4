#!/bin/sh
# First-boot hook for Raspberry Pi OS (run once by systemd.run= on the kernel
# command line, as Raspberry Pi Imager's own firstrun.sh is): installs the
# swarmlet from the boot partition, joins with stratoswarm.txt, deletes the
# token file and removes itself from cmdline.txt.
set -eu
boot=/boot/firmware
[ -d "$boot" ] || boot=/boot
log=/var/log/stratoswarm-firstrun.log
{
  "$boot/install.sh" --binary "$boot/swarmlet" --boot-config "$boot/stratoswarm.txt" --no-start
  systemctl enable swarmlet.service
  rm -f "$boot/stratoswarm.txt"
  sed -i 's| systemd.run=[^ ]*||; s| systemd.run_success_action=[^ ]*||; s| systemd.unit=kernel-command-line.target||' \
    "$boot/cmdline.txt"
} >>"$log" 2>&1
exit 0
