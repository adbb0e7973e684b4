#!/usr/bin/env bash
# The packages from already-built trees, as `make packages` makes them from
# the release and aarch64 trees: cpack on BUILD_DIR (stratoswarm + swarmlet)
# and, where given and configured, on AARCH64_DIR (swarmlet arm64), into OUT.
#   build_debs.sh OUT BUILD_DIR [AARCH64_DIR]
set -euo pipefail
out=$1 build=$2 a64=${3:-}
fail() { echo "FAIL: $*"; exit 1; }
command -v cpack >/dev/null || fail "cpack not found"
rm -rf "$out"
mkdir -p "$out"
pack() {  # build dir
  local t0=$(date +%s)
  [ -f "$1/CPackConfig.cmake" ] || fail "$1 has no CPackConfig.cmake (configure it first)"
  cpack --config "$1/CPackConfig.cmake" -B "$out" > "$out/cpack-$(basename "$1").log" 2>&1 ||
    { cat "$out/cpack-$(basename "$1").log"; fail "cpack in $1 failed"; }
  echo "cpack $1: $(( $(date +%s) - t0 )) s"
}
pack "$build"
if [ -n "$a64" ]; then
  if [ -f "$a64/CPackConfig.cmake" ] && [ -x "$a64/swarmlet/swarmlet" ]; then
    pack "$a64"
  else
    echo "note: no built aarch64 tree at $a64: no arm64 package"
  fi
fi
rm -rf "$out/_CPack_Packages"
ls -l "$out"/*.deb
