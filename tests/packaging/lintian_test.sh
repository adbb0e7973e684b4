#!/usr/bin/env bash
# lintian on each .deb: no errors (E:). Warnings and info are printed, and
# docs/packaging.md lists the ones left and why.
#   lintian_test.sh DEB...
set -euo pipefail
command -v lintian >/dev/null || { echo "SKIPPED: lintian is not installed (scripts/bootstrap installs it)"; exit 77; }
[ $# -gt 0 ] || { echo "FAIL: no packages given"; exit 1; }
rc=0
for deb in "$@"; do
  [ -f "$deb" ] || { echo "FAIL: $deb does not exist (did packaging:debs run?)"; rc=1; continue; }
  # Lintian's Debian profile; --tag-display-limit 0 shows every instance.
  out=$(lintian --tag-display-limit 0 --info "$deb" 2>&1) || true
  echo "== $(basename "$deb")"
  echo "$out"
  if grep -q '^E: ' <<<"$out"; then
    echo "FAIL: lintian reports errors for $(basename "$deb")"
    rc=1
  fi
done
[ $rc = 0 ] && echo "lintian test: passed"
exit $rc
