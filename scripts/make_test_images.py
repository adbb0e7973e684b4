#!/usr/bin/env python3
"""Deterministic multi-layer, multi-arch test images from busybox-static.

    scripts/make_test_images.py --busybox amd64=/bin/busybox \\
        --busybox arm64=.deps/aarch64/busybox-static/bin/busybox \\
        --out DIR [--name alpine] [--tag latest] [--tamper] [--hardlink-same-layer]

Same inputs -> byte-identical outputs (fixed mtimes, sorted entries, numeric
owners, gzip mtime 0, compact JSON). Standard library only.

Images (one per --busybox architecture, all sharing layer 2):
  NAME     Cmd ["/bin/sh"], Env PATH + IMAGE_VAR=from-image,
           WorkingDir /home/app, User "" (root), no Entrypoint
  apptest  same layers; Entrypoint ["/bin/sh","-c"], Cmd ["id; pwd; env"],
           User app, WorkingDir /home/app, StopSignal SIGINT
Layers (gzip'd tars):
  1 base   bin/busybox + applet symlinks, etc/passwd (root, app 1000, nobody),
           etc/group (root, app, nogroup, extra:x:2000:app), tmp (1777),
           home/app (1000:1000), root, proc, dev, sys, etc/to-delete,
           etc/motd-lower, opaque/lower-only, data-lower/file
  2        usr/share/test/hello.txt, usr/share/test/link -> hello.txt,
           usr/share/test/motd-link HARDLINK to etc/motd-lower (a lower
           layer), usr/bin/setuid-true (04755), etc/.wh.to-delete,
           opaque/.wh..wh..opq + opaque/upper-only.
           The OCI spec allows a hardlink to a lower layer's file but says
           extracting it "may fail": umoci and skopeo take it, docker 20.10's
           `docker load` (overlay2) refuses it ("link ... no such file").
           --hardlink-same-layer writes what docker itself would: layer 2
           also carries etc/motd-lower (copied up), the link stays in-layer.
  3        etc/stratoswarm-test-image ("arch=ARCH\\n")
Outputs in --out:
  oci/                       OCI image layout; index.json refs:
                               TAG     -> image index of NAME (all arches)
                               apptest -> image index of apptest
  NAME-TAG.oci.tar           oci-archive, one ref (TAG) -> NAME's index
  apptest-TAG.oci.tar        oci-archive, one ref (TAG) -> apptest's index
  NAME-TAG-ARCH.docker.tar   docker-archive (docker save layout, layers
  apptest-TAG-ARCH.docker.tar  uncompressed), RepoTags ["NAME:TAG"]
  images.json                digests of everything above (for tests)
With --tamper also:
  NAME-TAG-bad-digest.oci.tar  layer 2's blob (shared by every arch) holds
                               different bytes of the same size as its name
  NAME-TAG-dotdot.oci.tar      every manifest has a 4th layer with an entry
                               "../escape"; all digests correct
  NAME-TAG-truncated.docker.tar  the first arch's docker archive cut in half
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

MTIME = 1704067200  # 2024-01-01T00:00:00Z
CREATED = "2024-01-01T00:00:00Z"
APPLETS = ["sh", "ls", "cat", "echo", "sleep", "id", "env", "pwd", "stat", "test",
           "true", "false", "ps", "wc", "touch", "mkdir", "rm", "readlink", "grep",
           "head", "kill", "sync"]
ELF_MACHINE = {"amd64": 0x3E, "arm64": 0xB7}
MOTD = "motd from layer 1\n"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"


def die(msg):
    print("make_test_images: " + msg, file=sys.stderr)
    sys.exit(1)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


# --- tar building -------------------------------------------------------------
class Tar:
    """Collects entries, writes them sorted by name with fixed metadata."""

    def __init__(self):
        self.entries = {}  # name -> (TarInfo, bytes|None)

    def _info(self, name, kind, mode, uid=0, gid=0):
        ti = tarfile.TarInfo(name)
        ti.type = kind
        ti.mode = mode
        ti.uid, ti.gid = uid, gid
        ti.uname = ti.gname = ""
        ti.mtime = MTIME
        return ti

    def dir(self, name, mode=0o755, uid=0, gid=0):
        self.entries[name.rstrip("/")] = (self._info(name.rstrip("/"), tarfile.DIRTYPE, mode, uid, gid), None)

    def file(self, name, data, mode=0o644, uid=0, gid=0):
        if isinstance(data, str):
            data = data.encode()
        ti = self._info(name, tarfile.REGTYPE, mode, uid, gid)
        ti.size = len(data)
        self.entries[name] = (ti, data)

    def symlink(self, name, target):
        ti = self._info(name, tarfile.SYMTYPE, 0o777)
        ti.linkname = target
        self.entries[name] = (ti, None)

    def hardlink(self, name, target):
        ti = self._info(name, tarfile.LNKTYPE, 0o644)
        ti.linkname = target
        self.entries[name] = (ti, None)

    def bytes(self):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
            for name in sorted(self.entries):
                ti, data = self.entries[name]
                tf.addfile(ti, io.BytesIO(data) if data is not None else None)
        return buf.getvalue()


def gz(data):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as f:
        f.write(data)
    return buf.getvalue()


# --- layers -------------------------------------------------------------------
def layer1(busybox):
    t = Tar()
    for d in ["bin", "etc", "home", "opaque", "data-lower", "proc", "dev", "sys"]:
        t.dir(d)
    t.dir("root", 0o700)
    t.dir("tmp", 0o1777)
    t.dir("home/app", 0o755, 1000, 1000)
    t.file("bin/busybox", busybox, 0o755)
    for a in APPLETS:
        t.symlink("bin/" + a, "busybox")
    t.file("etc/passwd",
           "root:x:0:0:root:/root:/bin/sh\n"
           "app:x:1000:1000::/home/app:/bin/sh\n"
           "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    t.file("etc/group", "root:x:0:\napp:x:1000:\nextra:x:2000:app\nnogroup:x:65534:\n")
    t.file("etc/to-delete", "deleted by a whiteout in layer 2\n")
    t.file("etc/motd-lower", MOTD)
    t.file("opaque/lower-only", "hidden by an opaque whiteout in layer 2\n")
    t.file("data-lower/file", "data from layer 1\n")
    return t


def layer2(hello="hello from layer 2\n", copy_up=False):
    t = Tar()
    for d in ["etc", "opaque", "usr", "usr/bin", "usr/share", "usr/share/test"]:
        t.dir(d)
    if copy_up:  # what overlayfs (docker commit/build) writes: the target copied up
        t.file("etc/motd-lower", MOTD)
    t.file("usr/share/test/hello.txt", hello)
    t.symlink("usr/share/test/link", "hello.txt")
    t.hardlink("usr/share/test/motd-link", "etc/motd-lower")
    t.file("usr/bin/setuid-true", "#!/bin/sh\nexit 0\n", 0o4755)
    t.file("etc/.wh.to-delete", b"")
    t.file("opaque/.wh..wh..opq", b"")
    t.file("opaque/upper-only", "from layer 2\n")
    return t


def layer3(arch):
    t = Tar()
    t.dir("etc")
    t.file("etc/stratoswarm-test-image", "arch=%s\n" % arch)
    return t


def layer_dotdot():
    t = Tar()
    t.file("../escape", "this entry points outside the rootfs\n")
    return t


class Layer:
    def __init__(self, tar_bytes, comment):
        self.tar = tar_bytes
        self.diff_id = "sha256:" + sha256(tar_bytes)
        self.blob = gz(tar_bytes)
        self.digest = "sha256:" + sha256(self.blob)
        self.comment = comment


# --- configs, manifests -------------------------------------------------------
def image_config(arch, variant, layers):
    cfg = {"Env": [PATH_ENV, "IMAGE_VAR=from-image"], "WorkingDir": "/home/app"}
    if variant == "apptest":
        cfg.update({"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["id; pwd; env"],
                    "User": "app", "StopSignal": "SIGINT"})
    else:
        cfg.update({"Cmd": ["/bin/sh"], "User": ""})
    return {
        "created": CREATED,
        "architecture": arch,
        "os": "linux",
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": [l.diff_id for l in layers]},
        "history": [{"created": CREATED, "created_by": "make_test_images.py: " + l.comment}
                    for l in layers],
    }


class Image:
    """One architecture of one image variant."""

    def __init__(self, arch, variant, layers):
        self.arch, self.variant, self.layers = arch, variant, layers
        self.config = dumps(image_config(arch, variant, layers))
        self.config_digest = "sha256:" + sha256(self.config)
        self.manifest = dumps({
            "schemaVersion": 2,
            "mediaType": MT_OCI_MANIFEST,
            "config": {"mediaType": MT_OCI_CONFIG, "digest": self.config_digest,
                       "size": len(self.config)},
            "layers": [{"mediaType": MT_OCI_LAYER_GZ, "digest": l.digest, "size": len(l.blob)}
                       for l in layers],
        })
        self.manifest_digest = "sha256:" + sha256(self.manifest)


def image_index(images):
    data = dumps({
        "schemaVersion": 2,
        "mediaType": MT_OCI_INDEX,
        "manifests": [{"mediaType": MT_OCI_MANIFEST, "digest": im.manifest_digest,
                       "size": len(im.manifest),
                       "platform": {"architecture": im.arch, "os": "linux"}} for im in images],
    })
    return data, "sha256:" + sha256(data)


def oci_layout(refs, blob_override=None):
    """refs: [(ref_name, [Image])] -> {path: bytes} of an OCI image layout.
    blob_override: {digest: bytes} written under that digest's name instead."""
    files = {"oci-layout": dumps({"imageLayoutVersion": "1.0.0"})}
    blobs = {}
    top = []
    for ref, images in refs:
        for im in images:
            blobs[im.manifest_digest] = im.manifest
            blobs[im.config_digest] = im.config
            for l in im.layers:
                blobs[l.digest] = l.blob
        idx, idx_digest = image_index(images)
        blobs[idx_digest] = idx
        top.append({"mediaType": MT_OCI_INDEX, "digest": idx_digest, "size": len(idx),
                    "annotations": {REF_NAME: ref}})
    for d, data in (blob_override or {}).items():
        blobs[d] = data
    files["index.json"] = dumps({"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": top})
    for d, data in blobs.items():
        files["blobs/sha256/" + d.split(":", 1)[1]] = data
    return files


def docker_archive(image, repo_tag):
    """docker save's layout: manifest.json, <config>.json, <diff_id>/layer.tar."""
    files = {}
    cfg_name = image.config_digest.split(":", 1)[1] + ".json"
    files[cfg_name] = image.config
    layer_names = []
    for l in image.layers:
        d = l.diff_id.split(":", 1)[1]
        files[d + "/VERSION"] = b"1.0"
        files[d + "/layer.tar"] = l.tar
        layer_names.append(d + "/layer.tar")
    files["manifest.json"] = dumps([{"Config": cfg_name, "RepoTags": [repo_tag],
                                     "Layers": layer_names}])
    repo, tag = repo_tag.rsplit(":", 1)
    files["repositories"] = dumps({repo: {tag: image.layers[-1].diff_id.split(":", 1)[1]}})
    return files


def tar_of(files):
    t = Tar()
    dirs = set()
    for path in files:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    for d in dirs:
        t.dir(d)
    for path, data in files.items():
        t.file(path, data)
    return t.bytes()


def write_tree(root, files):
    for path, data in sorted(files.items()):
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)


def write(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def same_size_tamper(layer, copy_up):
    """A valid gzip'd tar with other content but the same size as layer.blob:
    hello.txt with one character changed, the first variant that compresses
    to the same length; so only the digest check can tell."""
    hello = "hello from layer 2\n"
    for pos in range(len(hello) - 1):
        for ch in "abcdefghijklmnopqrstuvwxyz0123456789":
            text = hello[:pos] + ch + hello[pos + 1:]
            if text == hello:
                continue
            blob = gz(layer2(text, copy_up).bytes())
            if len(blob) == len(layer.blob):
                return blob
    # None found (another zlib?): flip one byte in the deflate stream.
    blob = bytearray(layer.blob)
    blob[len(blob) // 2] ^= 0xFF
    return bytes(blob)


# --- main ---------------------------------------------------------------------
def read_busybox(spec):
    if "=" not in spec:
        die("--busybox wants ARCH=PATH, got %r" % spec)
    arch, path = spec.split("=", 1)
    if arch not in ELF_MACHINE:
        die("--busybox: unknown architecture %r (amd64 or arm64)" % arch)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        die("--busybox %s: %s (for arm64 run scripts/bootstrap: .deps/aarch64/busybox-static)" % (spec, e))
    if data[:4] != b"\x7fELF" or int.from_bytes(data[18:20], "little") != ELF_MACHINE[arch]:
        die("--busybox %s: not an ELF executable for %s" % (spec, arch))
    return arch, data


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--busybox", action="append", required=True, metavar="ARCH=PATH")
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", default="alpine")
    ap.add_argument("--tag", default="latest")
    ap.add_argument("--tamper", action="store_true")
    ap.add_argument("--hardlink-same-layer", action="store_true",
                    help="layer 2 also carries etc/motd-lower (copied up, as docker/overlayfs write it), "
                         "so its hardlink stays inside the layer; docker load refuses the default")
    args = ap.parse_args()
    if args.name == "apptest":
        die("--name apptest is taken by the second variant image")

    arches = {}
    for spec in args.busybox:
        arch, data = read_busybox(spec)
        if arch in arches:
            die("--busybox %s given twice" % arch)
        arches[arch] = data
    order = [a for a in ("amd64", "arm64") if a in arches]

    shared = Layer(layer2(copy_up=args.hardlink_same_layer).bytes(), "layer 2: links, setuid, whiteouts")
    per_arch = {a: [Layer(layer1(arches[a]).bytes(), "layer 1: busybox base (%s)" % a),
                    shared,
                    Layer(layer3(a).bytes(), "layer 3: arch marker")] for a in order}
    main_images = [Image(a, "main", per_arch[a]) for a in order]
    app_images = [Image(a, "apptest", per_arch[a]) for a in order]

    out = args.out
    os.makedirs(out, exist_ok=True)
    base = "%s-%s" % (args.name, args.tag)
    summary = {"name": args.name, "tag": args.tag, "files": {}, "images": {}}

    layout_dir = os.path.join(out, "oci")
    if os.path.isdir(layout_dir):
        for dirpath, dirnames, filenames in os.walk(layout_dir, topdown=False):
            for f in filenames:
                os.unlink(os.path.join(dirpath, f))
            for d in dirnames:
                os.rmdir(os.path.join(dirpath, d))
    write_tree(layout_dir, oci_layout([(args.tag, main_images), ("apptest", app_images)]))

    outputs = {
        base + ".oci.tar": tar_of(oci_layout([(args.tag, main_images)])),
        "apptest-%s.oci.tar" % args.tag: tar_of(oci_layout([(args.tag, app_images)])),
    }
    for im in main_images:
        outputs["%s-%s.docker.tar" % (base, im.arch)] = tar_of(
            docker_archive(im, "%s:%s" % (args.name, args.tag)))
    for im in app_images:
        outputs["apptest-%s-%s.docker.tar" % (args.tag, im.arch)] = tar_of(
            docker_archive(im, "apptest:%s" % args.tag))

    if args.tamper:
        bad = same_size_tamper(shared, args.hardlink_same_layer)
        outputs[base + "-bad-digest.oci.tar"] = tar_of(
            oci_layout([(args.tag, main_images)], {shared.digest: bad}))
        evil = Layer(layer_dotdot().bytes(), "layer 4: ../escape")
        dd_images = [Image(a, "main", per_arch[a] + [evil]) for a in order]
        outputs[base + "-dotdot.oci.tar"] = tar_of(oci_layout([(args.tag, dd_images)]))
        full = outputs["%s-%s.docker.tar" % (base, order[0])]
        outputs[base + "-truncated.docker.tar"] = full[:len(full) // 2]

    for name, data in sorted(outputs.items()):
        write(os.path.join(out, name), data)
        summary["files"][name] = {"sha256": sha256(data), "size": len(data)}

    for variant, images in (("main", main_images), ("apptest", app_images)):
        idx, idx_digest = image_index(images)
        summary["images"][args.name if variant == "main" else "apptest"] = {
            "index": idx_digest,
            "manifests": {im.arch: {"manifest": im.manifest_digest, "config": im.config_digest,
                                    "layers": [l.digest for l in im.layers],
                                    "diff_ids": [l.diff_id for l in im.layers]}
                          for im in images},
        }
    write(os.path.join(out, "images.json"), json.dumps(summary, indent=2, sort_keys=True).encode() + b"\n")
    print("make_test_images: wrote %s (%s; %d files)" % (out, ", ".join(order), len(outputs) + 2))


if __name__ == "__main__":
    main()
