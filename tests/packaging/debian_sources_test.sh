#!/usr/bin/env bash
# scripts/debian_sources.sh (scripts/bootstrap's deb-src entry) on sample apt
# directories in a temp dir: the entry names the machine's own mirror, from
# either source format, and leaves out what is not Debian main. /etc/apt is
# never read.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/debian_sources.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
mirror=http://mirror.example.org/debian
sec=http://security.example.org/debian-security

# deb822 (Debian 12's default layout).
a=$work/deb822
mkdir -p "$a/sources.list.d"
cat > "$a/sources.list.d/debian.sources" <<SRC
# a comment
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $sec
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://disabled.example.org/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb
URIs: http://backports.example.org/debian
Suites: bookworm-backports
Components: main
SRC
cat > "$a/sources.list.d/vendor.sources" <<'SRC'
Types: deb
URIs: https://vendor.example.com/apt
Suites: nodistro
Components: main
SRC
out=$(debian_deb_src_stanzas "$a" bookworm)
echo "$out"
grep -qx "URIs: $mirror" <<<"$out" || fail "deb822: the configured mirror is not named"
grep -qx "URIs: $sec" <<<"$out" || fail "deb822: the security mirror is not named"
[ "$(grep -c '^Types: deb-src$' <<<"$out")" = 3 ] || fail "deb822: expected 3 stanzas (bookworm, -updates, -security)"
grep -qx 'Suites: bookworm-updates' <<<"$out" || fail "deb822: bookworm-updates missing"
grep -qx 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' <<<"$out" || fail "deb822: keyring not kept"
grep -q 'deb.debian.org\|disabled.example\|backports\|vendor.example' <<<"$out" && fail "deb822: names a mirror it should not"
grep -qv '^\(Types\|URIs\|Suites\|Components\|Signed-By\): \|^$' <<<"$out" && fail "deb822: stray lines"

# One-line format, with options and commented-out entries.
b=$work/oneline
mkdir -p "$b/sources.list.d"
cat > "$b/sources.list" <<SRC
# deb http://commented.example.org/debian bookworm main
deb [arch=amd64 signed-by=/etc/apt/keyrings/mirror.gpg] $mirror bookworm main non-free-firmware
deb-src http://src-only.example.org/debian bookworm main
deb $mirror bookworm-updates main   # trailing comment
deb http://contrib-only.example.org/debian bookworm contrib
deb $mirror bookworm-backports main
SRC
echo "deb https://vendor.example.com/apt stable main" > "$b/sources.list.d/vendor.list"
out=$(debian_deb_src_stanzas "$b" bookworm)
echo "$out"
[ "$(grep -c "^URIs: $mirror\$" <<<"$out")" = 2 ] || fail "one-line: the mirror should appear for bookworm and -updates"
grep -qx 'Signed-By: /etc/apt/keyrings/mirror.gpg' <<<"$out" || fail "one-line: signed-by not kept"
grep -q 'commented\|src-only\|contrib-only\|backports\|vendor' <<<"$out" && fail "one-line: names a mirror it should not"

# Another release's codename picks its own suites only.
[ -z "$(debian_deb_src_stanzas "$b" trixie)" ] || fail "trixie matched bookworm entries"
# No sources at all: nothing (bootstrap then stops with a message).
mkdir -p "$work/empty"
[ -z "$(debian_deb_src_stanzas "$work/empty" bookworm)" ] || fail "empty apt dir gave entries"
echo "debian sources test: passed"
