#!/bin/sh
# make_busybox_image.sh DIR [BUSYBOX]: a runnable image from Debian's
# busybox-static: DIR/bin/busybox plus one symlink per applet, and empty
# /data, /proc, /tmp for the executor's mounts. Used as `busybox` (and, for
# the seed's example, `alpine`) under /var/lib/stratoswarm/images/.
set -eu
dir=${1:?usage: make_busybox_image.sh DIR [BUSYBOX]}
busybox=${2:-/bin/busybox}
if ! "$busybox" --list >/dev/null 2>&1; then
  echo "make_busybox_image.sh: $busybox is not a busybox binary (apt-get install busybox-static)" >&2
  exit 1
fi
mkdir -p "$dir/bin" "$dir/data" "$dir/proc" "$dir/tmp" "$dir/etc"
cp "$busybox" "$dir/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
done
echo "root:x:0:0:root:/:/bin/sh" > "$dir/etc/passwd"
echo "$dir"
