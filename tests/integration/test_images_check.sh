#!/usr/bin/env bash
# Checks scripts/make_test_images.py against independent tools: skopeo must
# accept every image (OCI layout, oci-archive, docker-archive), umoci must
# unpack them to the rootfs the layers describe (whiteouts, opaque dir,
# hardlink into a lower layer, setuid bit, symlink, owners), and the tampered
# archives must be refused (bad digest, truncated) or contained (../escape).
# No network. Exit 77 (skip) without root, skopeo, umoci or python3.
#   tests/integration/test_images_check.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
skip() { echo "test images check: skipped: $*"; exit 77; }
fail() { echo "test images check: FAILED: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || skip "needs root (umoci unpack keeps owners and setuid bits)"
for t in skopeo umoci python3; do
  command -v "$t" >/dev/null || skip "$t is missing (scripts/bootstrap installs it)"
done
[ -x /bin/busybox ] || skip "/bin/busybox is missing (apt-get install busybox-static)"

work=$(mktemp -d /tmp/stratoswarm-images-check-XXXXXX)
trap 'rm -rf "$work"' EXIT
out=$work/images
gen=("$root/scripts/make_test_images.py" --busybox amd64=/bin/busybox)
arm_bb=$root/.deps/aarch64/busybox-static/bin/busybox
if [ -x "$arm_bb" ]; then
  gen+=(--busybox "arm64=$arm_bb")
  arches="amd64 arm64"
else
  echo "test images check: $arm_bb is missing (scripts/bootstrap); amd64 only"
  arches=amd64
fi
"${gen[@]}" --out "$out" --tamper >/dev/null
"${gen[@]}" --out "$work/again" --tamper >/dev/null
diff -r "$out" "$work/again" >/dev/null || fail "two runs of make_test_images.py differ (not deterministic)"

sk() { skopeo --insecure-policy "$@"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }

# --- the OCI layout: a multi-arch index under ref "latest" -------------------
sk inspect --raw "oci:$out/oci:latest" | json "
assert d['mediaType'] == 'application/vnd.oci.image.index.v1+json', d
got = sorted(m['platform']['architecture'] for m in d['manifests'])
assert got == sorted('$arches'.split()), got
assert all(m['platform']['os'] == 'linux' for m in d['manifests'])" || fail "oci:latest is not a multi-arch index"
sk inspect --config "oci:$out/oci:latest" | json "
c = d['config']
assert c['Cmd'] == ['/bin/sh'] and c['WorkingDir'] == '/home/app' and 'Entrypoint' not in c, c
assert 'IMAGE_VAR=from-image' in c['Env'] and len(d['rootfs']['diff_ids']) == 3, d" ||
  fail "config of oci:latest"
sk inspect --config "oci:$out/oci:apptest" | json "
c = d['config']
assert c['Entrypoint'] == ['/bin/sh', '-c'] and c['Cmd'] == ['id; pwd; env'], c
assert c['User'] == 'app' and c['StopSignal'] == 'SIGINT' and c['WorkingDir'] == '/home/app', c" ||
  fail "config of oci:apptest"

# --- skopeo copies from every form ----------------------------------------------
sk copy -q --all "oci:$out/oci:latest" "oci:$work/x:latest" || fail "skopeo copy --all oci:"
sk copy -q --all "oci-archive:$out/alpine-latest.oci.tar" "oci:$work/z:latest" || fail "skopeo copy --all oci-archive:"
sk copy -q --all "oci-archive:$out/apptest-latest.oci.tar" "oci:$work/z:apptest" || fail "skopeo copy apptest oci-archive:"
[ "$(sk inspect --raw "oci:$work/x:latest" | sha256sum)" = "$(sk inspect --raw "oci:$work/z:latest" | sha256sum)" ] ||
  fail "the layout and the oci-archive hold different indexes"
for arch in $arches; do
  for name in alpine apptest; do
    f=$out/$name-latest-$arch.docker.tar
    sk copy -q "docker-archive:$f" "oci:$work/y-$arch:$name" || fail "skopeo copy docker-archive:$f"
  done
  # docker-archive layers are uncompressed: their digests are the diff_ids.
  want=$(json "print(' '.join(d['images']['alpine']['manifests']['$arch']['diff_ids']))" <"$out/images.json")
  got=$(sk inspect "docker-archive:$out/alpine-latest-$arch.docker.tar" | json "print(' '.join(d['Layers']))")
  [ "$want" = "$got" ] || fail "docker-archive $arch layers $got, want $want"
done

# --- umoci: the merged rootfs ---------------------------------------------------
check_rootfs() {  # check_rootfs ROOTFS ARCH: the merged filesystem the layers describe
  local r=$1 arch=$2 machine
  [ "$(cat "$r/etc/stratoswarm-test-image")" = "arch=$arch" ] || fail "$arch: wrong arch marker"
  machine=$(od -An -tx1 -j18 -N2 "$r/bin/busybox" | tr -d ' ')
  case $arch in amd64) [ "$machine" = 3e00 ] ;; arm64) [ "$machine" = b700 ] ;; esac ||
    fail "$arch: bin/busybox has ELF machine $machine"
  [ ! -e "$r/etc/to-delete" ] || fail "$arch: the whiteout did not delete /etc/to-delete"
  [ "$(ls -A "$r/opaque")" = upper-only ] || fail "$arch: /opaque holds $(ls -A "$r/opaque" | tr '\n' ' ')"
  [ ! -e "$r/opaque/.wh..wh..opq" ] && [ ! -e "$r/etc/.wh.to-delete" ] || fail "$arch: whiteout files left in the rootfs"
  [ "$(stat -c %h "$r/usr/share/test/motd-link")" = 2 ] || fail "$arch: motd-link link count is not 2"
  [ "$(stat -c %i "$r/usr/share/test/motd-link")" = "$(stat -c %i "$r/etc/motd-lower")" ] ||
    fail "$arch: motd-link is not a hardlink of /etc/motd-lower"
  [ "$(stat -c %a "$r/usr/bin/setuid-true")" = 4755 ] || fail "$arch: setuid-true mode $(stat -c %a "$r/usr/bin/setuid-true")"
  [ "$(readlink "$r/usr/share/test/link")" = hello.txt ] || fail "$arch: usr/share/test/link"
  [ "$(cat "$r/usr/share/test/link")" = "hello from layer 2" ] || fail "$arch: link does not reach hello.txt"
  [ "$(readlink "$r/bin/sh")" = busybox ] || fail "$arch: bin/sh"
  [ "$(stat -c %u:%g "$r/home/app")" = 1000:1000 ] || fail "$arch: /home/app owner $(stat -c %u:%g "$r/home/app")"
  [ "$(stat -c %a "$r/tmp")" = 1777 ] || fail "$arch: /tmp mode $(stat -c %a "$r/tmp")"
  [ -f "$r/opaque/upper-only" ] && [ -f "$r/data-lower/file" ] || fail "$arch: files missing"
  grep -qx 'extra:x:2000:app' "$r/etc/group" && grep -q '^app:x:1000:1000::/home/app:/bin/sh$' "$r/etc/passwd" ||
    fail "$arch: /etc/passwd or /etc/group"
}

# umoci unpacks one manifest; a multi-arch ref is "ambiguous" to it, so copy
# one platform out first (as skopeo without --all does).
for arch in $arches; do
  sk --override-arch "$arch" copy -q "oci:$out/oci:latest" "oci:$work/one-$arch:latest" || fail "skopeo copy $arch"
  b=$work/bundle-$arch
  umoci unpack --image "$work/one-$arch:latest" "$b" >/dev/null || fail "umoci unpack ($arch)"
  check_rootfs "$b/rootfs" "$arch"
done
if [ "$(uname -m)" = x86_64 ]; then
  [ "$("$work/bundle-amd64/rootfs/bin/busybox" cat "$work/bundle-amd64/rootfs/etc/motd-lower")" = "motd from layer 1" ] ||
    fail "the amd64 busybox does not run"
fi

# --hardlink-same-layer (the docker-loadable form): the same merged rootfs.
"$root/scripts/make_test_images.py" --busybox amd64=/bin/busybox --hardlink-same-layer --out "$work/same" >/dev/null
l2=$(tar -xOf "$work/same/alpine-latest-amd64.docker.tar" manifest.json | json "print(d[0]['Layers'][1])")
tar -xOf "$work/same/alpine-latest-amd64.docker.tar" "$l2" >"$work/l2.tar"
tar -tvf "$work/l2.tar" >"$work/l2.list"
grep -q '^h.* usr/share/test/motd-link link to etc/motd-lower$' "$work/l2.list" ||
  fail "--hardlink-same-layer: layer 2 lacks the in-layer hardlink"
grep -q '^-.* etc/motd-lower$' "$work/l2.list" || fail "--hardlink-same-layer: layer 2 lacks the copied-up etc/motd-lower"
umoci unpack --image "$work/same/oci:latest" "$work/bundle-same" >/dev/null || fail "umoci unpack (--hardlink-same-layer)"
check_rootfs "$work/bundle-same/rootfs" amd64

# --- tampered archives ------------------------------------------------------------
if sk copy -q "oci-archive:$out/alpine-latest-bad-digest.oci.tar" "oci:$work/bad:latest" 2>"$work/bad.err"; then
  fail "skopeo accepted a layer whose bytes do not match its digest"
fi
grep -qi 'digest' "$work/bad.err" || fail "bad-digest refused for another reason: $(cat "$work/bad.err")"
if sk copy -q "docker-archive:$out/alpine-latest-truncated.docker.tar" "oci:$work/trunc:latest" 2>/dev/null; then
  fail "skopeo accepted a truncated docker archive"
fi
sk copy -q "oci-archive:$out/alpine-latest-dotdot.oci.tar" "oci:$work/dd:latest" ||
  fail "skopeo refused the ../escape image (its digests are correct)"
umoci unpack --image "$work/dd:latest" "$work/bundle-dd" >/dev/null 2>&1 || true  # refusing is fine too
[ ! -e "$work/bundle-dd/escape" ] && [ ! -e "$work/escape" ] || fail "umoci wrote ../escape outside the rootfs"

echo "test images check: passed"
