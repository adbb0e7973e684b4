# Sourced by scripts/bootstrap and tests/packaging: which Debian mirror this
# machine uses, read from its own apt configuration, so nothing here names a
# mirror of its own.
#
#   debian_main_sources APT_DIR CODENAME
#     One line per (URI, suite) of the enabled `deb` entries in
#     APT_DIR/sources.list and APT_DIR/sources.list.d/*.list (one-line format)
#     and APT_DIR/sources.list.d/*.sources (deb822) whose suite is CODENAME,
#     CODENAME-updates or CODENAME-security and whose components hold main:
#       URI SUITE SIGNED_BY
#     SIGNED_BY is the entry's Signed-By / signed-by= keyring path, or "-".
#     Backports and third-party suites are left out (apt-get source would pick
#     their newer versions). Prints nothing when no entry matches.
#
#   debian_deb_src_stanzas APT_DIR CODENAME
#     The deb822 text of matching `deb-src` entries (Components: main), one
#     stanza per line above; empty when there is none.

debian_main_sources() {
  local apt_dir=$1 codename=$2 f
  {
    for f in "$apt_dir/sources.list" "$apt_dir"/sources.list.d/*.list; do
      [ -f "$f" ] || continue
      # deb [opt=val ...] URI SUITE COMPONENT...
      awk '
        { sub(/#.*/, "") }
        $1 != "deb" { next }
        {
          signed = "-"; i = 2
          if ($2 ~ /^\[/) {
            line = $0; sub(/^[ \t]*deb[ \t]+\[/, "", line); opts = line; sub(/\].*/, "", opts)
            n = split(opts, o, /[ \t]+/)
            for (k = 1; k <= n; k++) if (o[k] ~ /^signed-by=/) { signed = o[k]; sub(/^signed-by=/, "", signed) }
            sub(/^[^\]]*\][ \t]*/, "", line); $0 = "deb " line; i = 2
          }
          uri = $i; suite = $(i + 1); main = 0
          for (k = i + 2; k <= NF; k++) if ($k == "main") main = 1
          if (main) print uri, suite, signed
        }' "$f"
    done
    for f in "$apt_dir"/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      # Stanzas separated by blank lines; continuation lines (leading space)
      # belong to the field before them (an inline Signed-By key, say).
      awk '
        function flush(   nu, ns, u, s, k, main, nc, c, t, nt, deb) {
          if (enabled != "no") {
            nt = split(types, t, /[ \t]+/); deb = 0
            for (k = 1; k <= nt; k++) if (t[k] == "deb") deb = 1
            nc = split(comps, c, /[ \t]+/); main = 0
            for (k = 1; k <= nc; k++) if (c[k] == "main") main = 1
            if (deb && main) {
              nu = split(uris, u, /[ \t]+/); ns = split(suites, s, /[ \t]+/)
              for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++)
                if (u[i] != "" && s[j] != "") print u[i], s[j], (signed ~ /^\// ? signed : "-")
            }
          }
          types = uris = suites = comps = signed = enabled = field = ""
        }
        /^[ \t]*#/ { next }
        /^[ \t]*$/ { flush(); next }
        /^[ \t]/ { next }  # continuation of a multi-line field
        {
          field = tolower($0); sub(/:.*/, "", field)
          value = $0; sub(/^[^:]*:[ \t]*/, "", value); sub(/[ \t]+$/, "", value)
          if (field == "types") types = value
          else if (field == "uris") uris = value
          else if (field == "suites") suites = value
          else if (field == "components") comps = value
          else if (field == "signed-by") signed = value
          else if (field == "enabled") enabled = tolower(value)
        }
        END { flush() }' "$f"
    done
  } | awk -v c="$codename" '$2 == c || $2 == c "-updates" || $2 == c "-security"' | awk '!seen[$0]++'
}

debian_deb_src_stanzas() {
  local uri suite signed first=yes
  while read -r uri suite signed; do
    [ $first = yes ] || echo
    first=no
    printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\n' "$uri" "$suite"
    [ "$signed" = - ] || printf 'Signed-By: %s\n' "$signed"
  done < <(debian_main_sources "$1" "$2")
}
