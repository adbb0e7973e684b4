#!/bin/sh
# Prints a help2man --include file: one section per subcommand of PROGRAM
# (from its --help's "Subcommands:" list) holding that subcommand's --help,
# so the man page documents `serve`'s options and the rest, not only the
# top-level list.
#   help2man_subcommands.sh PROGRAM > include.h2m
set -eu
prog=$1
subs=$("$prog" --help | awk '/^Subcommands:/ {s = 1; next} /^[^ ]/ {s = 0} s && /^  [a-z]/ {print $1}')
for sub in $subs; do
  printf '[%s COMMAND]\n.nf\n' "$(echo "$sub" | tr a-z A-Z)"
  # Roff: a leading dot or quote would be a request; backslashes escaped.
  "$prog" "$sub" --help | sed 's/\\/\\e/g; s/^\([.'"'"']\)/\\\&\1/'
  printf '.fi\n\n'
done
printf '[SEE ALSO]\nstratoswarm(1), swarmlet(1), stratoswarm-metrics(1), stratoswarm-test(1);\n/usr/share/doc/stratoswarm and docs/ in the StratoSwarm source tree.\n'
