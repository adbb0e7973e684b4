#!/usr/bin/env python3
"""The swarmlet image, built from this build's swarmlet, checked as users get it.

  image_test.py ARCH SWARMLET STRIP

ARCH is the OCI name (amd64 / arm64). Checks: two builds give the same digests
(reproducible); the layout's tags, platform, entrypoint, labels and volume; the
compressed layer is <= 2 MB; skopeo reads both the OCI layout and the
docker-load archive (when installed); and, as root, crun runs `swarmlet
selftest` from the image's root filesystem (arm64 through qemu-aarch64-static). Prints "SKIPPED: ..." for
a part that cannot run here, and exits 77 only when nothing could be checked.
"""
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MAX_COMPRESSED = 2_000_000


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def blob(layout, digest):
    with open(os.path.join(layout, "blobs", "sha256", digest.split(":")[1]), "rb") as f:
        return f.read()


def build(out, arch, binary):
    subprocess.run([sys.executable, os.path.join(ROOT, "images", "build.py"), "--version", "0.0.0-test",
                    "--revision", "test", "--out", out, "--binary", f"{arch}={binary}"],
                   check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "images.json")) as f:
        return json.load(f)


def check_layout(layout, arch):
    with open(os.path.join(layout, "index.json")) as f:
        top = json.load(f)
    tags = sorted(m["annotations"]["org.opencontainers.image.ref.name"] for m in top["manifests"])
    if tags != ["0.0.0-test", "latest"]:
        fail(f"tags {tags}")
    index = json.loads(blob(layout, top["manifests"][0]["digest"]))
    platforms = [m["platform"] for m in index["manifests"]]
    if platforms != [{"architecture": arch, "os": "linux"}]:
        fail(f"platforms {platforms}")
    manifest = json.loads(blob(layout, index["manifests"][0]["digest"]))
    config = json.loads(blob(layout, manifest["config"]["digest"]))
    if config["architecture"] != arch or config["os"] != "linux":
        fail("config platform")
    cfg = config["config"]
    if cfg["Entrypoint"] != ["/usr/local/bin/swarmlet"]:
        fail(f"entrypoint {cfg['Entrypoint']}")
    if "/var/lib/stratoswarm" not in cfg["Volumes"]:
        fail("state volume missing")
    for label in ("version", "revision", "source"):
        if not cfg["Labels"].get(f"org.opencontainers.image.{label}"):
            fail(f"label {label} missing")
    layer = manifest["layers"][0]
    if layer["size"] > MAX_COMPRESSED:
        fail(f"compressed layer {layer['size']} bytes > {MAX_COMPRESSED}")
    print(f"ok: layout linux/{arch}, entrypoint, labels, volume; compressed layer {layer['size']} bytes")
    return os.path.join(layout, "blobs", "sha256", layer["digest"].split(":")[1])


def check_skopeo(out, arch, summary):
    if not shutil.which("skopeo"):
        print("SKIPPED: skopeo not installed (format check by a second implementation)")
        return
    archive = os.path.join(out, summary["architectures"][arch]["docker_archive"])
    for ref in (f"oci:{out}/oci:latest", f"docker-archive:{archive}"):
        r = subprocess.run(["skopeo", "inspect", "--override-arch", arch, ref],
                           capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"skopeo inspect {ref}: {r.stderr.strip()}")
        if json.loads(r.stdout)["Architecture"] != arch:
            fail(f"skopeo sees another architecture in {ref}")
    print("ok: skopeo reads the OCI layout and the docker-load archive")


def check_crun(layer_path, work, emulator=None):
    if os.geteuid() != 0:
        print("SKIPPED: crun run needs root")
        return False
    if not shutil.which("crun"):
        print("SKIPPED: crun not installed")
        return False
    bundle = os.path.join(work, "bundle")
    os.makedirs(os.path.join(bundle, "rootfs"))
    with tarfile.open(layer_path) as tar:
        tar.extractall(os.path.join(bundle, "rootfs"))
    subprocess.run(["crun", "spec"], cwd=bundle, check=True)
    with open(os.path.join(bundle, "config.json")) as f:
        spec = json.load(f)
    spec["process"]["args"] = ["/usr/local/bin/swarmlet", "selftest"]
    spec["process"]["terminal"] = False
    spec["root"] = {"path": "rootfs", "readonly": emulator is None}
    if emulator:
        # A foreign-architecture image runs through a static qemu bound into it.
        spec["mounts"].append({"destination": "/qemu", "type": "bind", "source": emulator,
                               "options": ["bind", "ro"]})
        spec["process"]["args"].insert(0, "/qemu")
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(spec, f)
    # crun 1.8 refuses a hybrid layout (v1 controllers + an empty cgroup2 at
    # unified/); hide that mount in a private mount namespace, as NOTES.md says.
    name = f"swarmlet-image-test-{os.getpid()}"
    r = subprocess.run(["unshare", "--mount", "sh", "-c",
                        "umount /sys/fs/cgroup/unified 2>/dev/null; exec crun run -b . " + name],
                       cwd=bundle, capture_output=True, text=True, timeout=60)
    subprocess.run(["crun", "delete", "-f", name], capture_output=True)
    print(r.stdout, end="")
    if r.returncode != 0 or "selftest: ok" not in r.stdout or "static" not in r.stdout:
        fail(f"crun run of the image exited {r.returncode}: {r.stderr.strip()}")
    print("ok: crun runs swarmlet selftest from the image")
    return True


def main():
    arch, swarmlet, strip = sys.argv[1:4]
    with tempfile.TemporaryDirectory() as work:
        stripped = os.path.join(work, "swarmlet")
        subprocess.run([strip, "-o", stripped, swarmlet], check=True)
        a = build(os.path.join(work, "a"), arch, stripped)
        b = build(os.path.join(work, "b"), arch, stripped)
        if a["index_digest"] != b["index_digest"]:
            fail(f"not reproducible: {a['index_digest']} vs {b['index_digest']}")
        archive = a["architectures"][arch]["docker_archive"]
        with open(os.path.join(work, "a", archive), "rb") as fa, \
                open(os.path.join(work, "b", archive), "rb") as fb:
            if fa.read() != fb.read():
                fail("docker archive differs between two builds")
        print(f"ok: reproducible, index {a['index_digest']}")
        layer = check_layout(os.path.join(work, "a", "oci"), arch)
        check_skopeo(os.path.join(work, "a"), arch, a)
        if arch == "amd64":
            check_crun(layer, work)
        elif shutil.which("qemu-aarch64-static"):
            check_crun(layer, work, shutil.which("qemu-aarch64-static"))
        else:
            print("SKIPPED: running the arm64 image needs qemu-aarch64-static here")
    print("image test: passed")


if __name__ == "__main__":
    main()
