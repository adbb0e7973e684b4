#!/bin/sh
# CI's short testbed run (ctest x86_64:testbed:smoke): three Pis, the smoke
# scenarios, then bench/report over the results (no baseline: the smoke run is
# not comparable with `make bench`). Exit 77 = skipped (no root/namespaces).
#   smoke.sh STRATOSWARM SWARMLET [AARCH64_SWARMLET]
here=$(dirname "$0")
out=$(mktemp -d /tmp/stratoswarm-tbsmoke-XXXXXX)
trap 'rm -rf "$out"' EXIT
"$here/testbed.py" --smoke --out "$out" --stratoswarm "$1" --swarmlet "$2" --aarch64-swarmlet "${3:-}"
rc=$?
[ $rc = 0 ] || exit $rc
# Timings are the benchmark's business; the scenarios themselves fail on
# wrong behaviour (a node not Ready, a failure decided during a partition...).
echo '{"metrics": {}}' >"$out/no-baseline.json"
"$here/../../bench/report" "$out" --baseline "$out/no-baseline.json" || { echo "FAIL: bench/report"; exit 1; }
echo "testbed smoke: passed"
