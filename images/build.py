#!/usr/bin/env python3
"""Builds the swarmlet container image without a Docker engine.

Writes, byte-for-byte reproducibly (same inputs -> same digests):
  <out>/oci/                          OCI image layout: one multi-arch image index
                                      (linux/amd64 + linux/arm64) tagged <version> and latest
  <out>/swarmlet-<version>-<arch>.docker.tar
                                      `docker load`-able archive per architecture (as `docker save` writes)
  <out>/images.json                   digests and compressed sizes (read by the tests)

The image is FROM scratch: the static swarmlet as /usr/local/bin/swarmlet, the
multi-call links stratoswarm-metrics and stratoswarm-test, an empty
/var/lib/stratoswarm (mount a volume there to keep the node identity) and /tmp.

usage: build.py --version V --revision R --out DIR --binary amd64=PATH --binary arm64=PATH
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

IMAGE = "stratoswarm/swarmlet"
SOURCE = "https://github.com/stratoswarm/stratoswarm"
EPOCH = 0  # every timestamp in the image; `created` uses the same instant
CREATED = "1970-01-01T00:00:00Z"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def layer_tar(binary: bytes) -> bytes:
    """The root filesystem as an uncompressed tar with fixed owners and times."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name, kind, mode, data=b"", target=""):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = kind, mode, EPOCH
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if kind == tarfile.SYMTYPE:
                info.linkname = target
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)

        for d in ("tmp", "usr", "usr/local", "usr/local/bin", "var", "var/lib",
                  "var/lib/stratoswarm"):
            add(d, tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755)
        add("usr/local/bin/swarmlet", tarfile.REGTYPE, 0o755, binary)
        for tool in ("stratoswarm-metrics", "stratoswarm-test"):
            add("usr/local/bin/" + tool, tarfile.SYMTYPE, 0o777, target="swarmlet")
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    # mtime=0 and no file name in the header: the same input gives the same bytes.
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0, filename="") as gz:
        gz.write(data)
    return buf.getvalue()


class Layout:
    """An OCI image layout directory: content-addressed blobs plus index.json."""

    def __init__(self, root):
        self.root = root
        os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)

    def put(self, data: bytes, media_type: str, **extra) -> dict:
        digest = sha256(data)
        path = os.path.join(self.root, "blobs", "sha256", digest.split(":")[1])
        if not os.path.exists(path):
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.replace(path + ".tmp", path)
        return {"mediaType": media_type, "digest": digest, "size": len(data), **extra}


def image_for(layout, arch, binary, version, revision):
    tar = layer_tar(binary)
    layer = gzip_bytes(tar)
    labels = {
        "org.opencontainers.image.title": "swarmlet",
        "org.opencontainers.image.description": "StratoSwarm edge agent (static)",
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.source": SOURCE,
        "org.opencontainers.image.created": CREATED,
    }
    config = {
        "architecture": arch,
        "os": "linux",
        "created": CREATED,
        "config": {
            "Entrypoint": ["/usr/local/bin/swarmlet"],
            "Cmd": ["--help"],
            "Env": ["PATH=/usr/local/bin", "STRATOSWARM_STATE_DIR=/var/lib/stratoswarm"],
            "WorkingDir": "/var/lib/stratoswarm",
            "Volumes": {"/var/lib/stratoswarm": {}},
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": [sha256(tar)]},
        "history": [{"created": CREATED, "created_by": "images/build.py (FROM scratch)"}],
    }
    config_bytes = canonical_json(config)
    config_desc = layout.put(config_bytes, MT_CONFIG)
    layer_desc = layout.put(layer, MT_LAYER)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": config_desc,
        "layers": [layer_desc],
        "annotations": labels,
    }
    manifest_desc = layout.put(canonical_json(manifest), MT_MANIFEST,
                               platform={"architecture": arch, "os": "linux"})
    return {"arch": arch, "manifest": manifest_desc, "config": config_bytes, "tar": tar,
            "layer_gz_size": len(layer)}


def docker_archive(path, image, version):
    """`docker load` format: config, one layer tar, manifest.json, repositories."""
    config_name = sha256(image["config"]).split(":")[1] + ".json"
    layer_id = hashlib.sha256(image["tar"]).hexdigest()
    layer_name = layer_id + "/layer.tar"
    tags = [f"{IMAGE}:{version}", f"{IMAGE}:latest"]
    manifest = [{"Config": config_name, "RepoTags": tags, "Layers": [layer_name]}]
    repositories = {IMAGE: {version: layer_id, "latest": layer_id}}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in ((config_name, image["config"]), (layer_name, image["tar"]),
                           ("manifest.json", canonical_json(manifest)),
                           ("repositories", canonical_json(repositories))):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), EPOCH, 0o644
            tar.addfile(info, io.BytesIO(data))
    with open(path + ".tmp", "wb") as f:
        f.write(buf.getvalue())
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--version", required=True)
    ap.add_argument("--revision", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--binary", action="append", required=True, metavar="ARCH=PATH",
                    help="OCI architecture (amd64, arm64) and its stripped static swarmlet")
    args = ap.parse_args()

    binaries = {}
    for spec in args.binary:
        arch, sep, path = spec.partition("=")
        if not sep or arch not in ("amd64", "arm64"):
            sys.exit(f"build.py: --binary wants amd64=PATH or arm64=PATH, got '{spec}'")
        try:
            with open(path, "rb") as f:
                binaries[arch] = f.read()
        except OSError as e:
            sys.exit(f"build.py: cannot read the {arch} swarmlet: {e}")

    layout = Layout(os.path.join(args.out, "oci"))
    with open(os.path.join(layout.root, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    images = [image_for(layout, arch, binaries[arch], args.version, args.revision)
              for arch in sorted(binaries)]
    index = {"schemaVersion": 2, "mediaType": MT_INDEX,
             "manifests": [img["manifest"] for img in images]}
    index_desc = layout.put(canonical_json(index), MT_INDEX)
    top = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [
        dict(index_desc, annotations={"org.opencontainers.image.ref.name": tag})
        for tag in (args.version, "latest")]}
    with open(os.path.join(layout.root, "index.json"), "wb") as f:
        f.write(canonical_json(top))

    summary = {"image": IMAGE, "version": args.version, "index_digest": index_desc["digest"],
               "architectures": {}}
    for img in images:
        archive = os.path.join(args.out, f"swarmlet-{args.version}-{img['arch']}.docker.tar")
        docker_archive(archive, img, args.version)
        summary["architectures"][img["arch"]] = {
            "manifest_digest": img["manifest"]["digest"],
            "compressed_layer_bytes": img["layer_gz_size"],
            "docker_archive": os.path.basename(archive),
            "docker_archive_bytes": os.path.getsize(archive),
        }
        print(f"{IMAGE}:{args.version} linux/{img['arch']}: manifest {img['manifest']['digest'][:19]}, "
              f"compressed {img['layer_gz_size'] / 1e6:.2f} MB, {archive}")
    with open(os.path.join(args.out, "images.json"), "w") as f:
        json.dump(summary, f, indent=2, sort_keys=True)
    print(f"{IMAGE}:{args.version} + latest: index {index_desc['digest']} in {layout.root}")


if __name__ == "__main__":
    main()
