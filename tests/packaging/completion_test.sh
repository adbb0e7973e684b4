#!/usr/bin/env bash
# packaging/bash-completion/stratoswarm against the built programs: it offers
# what their --help lists (subcommands, then a subcommand's options), for the
# GPU peer and the swarmlet alike.
#   completion_test.sh STRATOSWARM SWARMLET
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "FAIL: $*"; exit 1; }
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
ln -s "$1" "$bin/stratoswarm"
ln -s "$2" "$bin/swarmlet"
export PATH=$bin:$PATH
. "$here/../../packaging/bash-completion/stratoswarm"
complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=(); _stratoswarm; echo "${COMPREPLY[*]}"; }
# Expected words come from the programs' own --help, not from this test.
first_sub=$(stratoswarm --help | awk '/^Subcommands:/ {s = 1; next} s && /^  [a-z]/ {print $1; exit}')
[ -n "$first_sub" ] || fail "stratoswarm --help lists no subcommands"
got=$(complete_words stratoswarm "${first_sub:0:2}")
grep -qw -- "$first_sub" <<<"$got" || fail "'stratoswarm ${first_sub:0:2}<TAB>' gave '$got', not $first_sub"
opt=$(stratoswarm serve --help | grep -o -- '--[a-z-]*port' | head -n1)
got=$(complete_words stratoswarm serve "${opt:0:4}")
grep -qw -- "$opt" <<<"$got" || fail "'stratoswarm serve ${opt:0:4}<TAB>' gave '$got', not $opt"
grep -qw -- serve <<<"$got" && fail "options of serve mixed with subcommands: $got"
got=$(complete_words stratoswarm --state-dir /tmp cluster "")
for w in $(stratoswarm cluster --help | awk '/^Subcommands:/ {s = 1; next} /^[^ ]/ {s = 0} s && /^  [a-z]/ {print $1}'); do
  grep -qw -- "$w" <<<"$got" || fail "'stratoswarm cluster <TAB>' lacks $w: $got"
done
got=$(complete_words swarmlet j)
[ "$got" = join ] || fail "'swarmlet j<TAB>' gave '$got'"
echo "completion test: passed"
