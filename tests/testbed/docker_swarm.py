#!/usr/bin/env python3
"""Docker Swarm side by side with the testbed (issue 19).

The same layout as tests/testbed/testbed.py — one manager in the GPU peer's
place (10.214.0.1) and N workers in the Pis' (10.214.0.11...), each in its
own network namespace on one bridge — but every node runs Debian's dockerd
(docker.io) with its own containerd, and the cluster is a Docker Swarm. It
measures what the testbed measures for us:

  join              POST /swarm/join per worker, all at once (wall time of the
                    API call, which returns once the node holds its
                    certificate), and until the manager lists it Ready
  worker RSS        dockerd + containerd (+ shims once a task runs) on a worker
  3 replicas        POST /services/create (3 replicas on workers) → all 3 tasks
                    running (the API does not resolve images: what
                    `docker service create --no-resolve-image` does)
  power-off         SIGKILL every process of a worker with a replica (dockerd,
                    containerd, shims, the task): kill → the manager marks the
                    node Down, kill → a replacement task running elsewhere;
                    once with Swarm's default dispatcher heartbeat (5 s), once
                    tuned (`docker swarm update --dispatcher-heartbeat`)

Isolation: each dockerd runs in its node's network namespace (no default
route: nothing can leave the namespaces) and a private mount namespace with
its own /run and /etc/docker, its own --data-root, --exec-root, pidfile,
unix socket, --config-file, cgroup parent and the containerd it starts
itself; --iptables=false, --bridge=none, no registry mirrors, and
DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 so workers never try to pull. The image
is busybox-static imported with `docker import` on every node. A dockerd the
host may run is left alone. Everything started is killed and removed on every
exit path (Ctrl-C included): daemons, containers, cgroups, namespaces, data.

Results: OUT/compare/swarm.json — rows keyed by the testbed metric they pair
with ("scenario/name"); bench/report shows them side by side with ratios.

    sudo tests/testbed/docker_swarm.py --out build/bench/testbed   # alone
    sudo tests/testbed/testbed.py --compare swarm ...              # after our run

Exit 77 (skipped) with a reason when docker.io is not installed or there is
no root.
"""

import argparse
import datetime
import glob
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from netlib import plug_into_switch

ROOT = Path(__file__).resolve().parents[2]
SUBNET = "10.214.0"
MANAGER_IP = f"{SUBNET}.1"
SKIP = 77
API = "/v1.41"
IMAGE = "stratoswarm-bench/busybox:local"
SERVICE = "critical-service"
# The testbed's critical-service command (testbed.py deploy_critical).
COMMAND = ["sh", "-c", "while true; do echo alive; sleep 1; done"]
TOOLS = ("docker", "dockerd", "containerd", "containerd-shim-runc-v2", "runc", "ip", "nsenter", "unshare")
INSTALL_HINT = "apt-get install docker.io (or scripts/bootstrap --with-docker); only COMPARE=swarm needs it"


class Skip(Exception):
    pass


class SwarmError(Exception):
    pass


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Node:
    def __init__(self, name, ip, ns, work):
        self.name, self.ip, self.ns = name, ip, ns
        self.dir = work / name
        self.sock = self.dir / "docker.sock"
        self.proc = None
        self.node_id = None
        self.dead = False

    def api(self, method, path, body=None, timeout=30, ok=(200, 201, 204)):
        """One Engine API call over this node's socket; the parsed JSON answer (or None)."""
        conn = UnixHTTPConnection(str(self.sock), timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, API + path, body=data,
                         headers={"Content-Type": "application/json"} if data else {})
            r = conn.getresponse()
            text = r.read().decode(errors="replace")
        finally:
            conn.close()
        if r.status not in ok:
            raise SwarmError(f"{self.name}: {method} {path}: HTTP {r.status}: {text.strip()[:300]}")
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text  # /_ping answers "OK"

    def pids(self):
        r = subprocess.run(["ip", "netns", "pids", self.ns], capture_output=True, text=True)
        return [int(p) for p in r.stdout.split() if p.isdigit()]


def comm(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def rss_mb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def loadavg():
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


class SwarmBench:
    def __init__(self, out, workers=5, tuned_heartbeat="500ms", keep=False, netem=""):
        self.out = Path(out).resolve()
        self.n = workers
        self.tuned = tuned_heartbeat
        self.keep = keep
        self.netem = netem
        self.id = f"ssw{os.getpid()}"
        self.work = None
        self.nodes = {}
        self.workers = []
        self.docker_cli = shutil.which("docker", path="/usr/bin") or shutil.which("docker")
        self.rows = []
        self.notes = []
        self.tables = {}
        self.loads = []
        self.errors = []

    # ---- setup and teardown ---------------------------------------------------

    def require(self):
        if os.geteuid() != 0:
            raise Skip("needs root (network namespaces, dockerd)")
        missing = [t for t in TOOLS if shutil.which(t) is None]
        if missing:
            raise Skip(f"Docker Swarm comparison: {', '.join(missing)} not installed: {INSTALL_HINT}")
        if shutil.which("busybox") is None:
            raise Skip("busybox not installed (apt-get install busybox-static)")

    def sh(self, *args, check=True, **kw):
        r = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)
        if check and r.returncode != 0:
            raise SwarmError(f"{' '.join(map(str, args))}: {r.stderr.strip() or r.returncode}")
        return r.stdout

    def add_node(self, name, ip):
        ns = f"{self.id}-{name}"
        self.sh("ip", "netns", "add", ns)
        i = len(self.nodes)
        veth, peer = f"{self.id}{i}", f"{self.id}{i}p"
        plug_into_switch(self.sh, f"{self.id}-sw", ns, veth, peer, f"{ip}/24")
        if self.netem and name != "manager":
            self.sh("tc", "-n", ns, "qdisc", "add", "dev", "eth0", "root", "netem", *self.netem.split())
        node = Node(name, ip, ns, self.work)
        self.nodes[name] = node
        return node

    def start_daemon(self, node):
        d = node.dir
        for sub in ("run", "etc", "data", "exec", "cli"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        conf = {
            "data-root": str(d / "data"), "exec-root": str(d / "exec"), "pidfile": str(d / "docker.pid"),
            "hosts": [f"unix://{node.sock}"], "iptables": False, "ip-forward": False, "ip-masq": False,
            "bridge": "none", "userland-proxy": False, "registry-mirrors": [], "insecure-registries": [],
            "cgroup-parent": f"/{self.id}-{node.name}", "storage-driver": "overlay2",
            "log-driver": "json-file", "log-level": "warn", "live-restore": False,
        }
        (d / "daemon.json").write_text(json.dumps(conf, indent=1) + "\n")
        # Private mount namespace: its own /run (containerd's shim sockets go
        # to /run/containerd/s) and /etc/docker (dockerd writes key.json there),
        # so nothing lands in the host's; its mounts vanish with it.
        script = (f"mount --bind '{d}/run' /run && mount --bind '{d}/etc' /etc/docker && "
                  f"exec dockerd --config-file '{d}/daemon.json'")
        env = dict(os.environ, DOCKER_SERVICE_PREFER_OFFLINE_IMAGE="1")
        node.proc = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{node.ns}", "unshare", "--mount", "--propagation", "private",
             "sh", "-c", script], stdout=open(d / "dockerd.log", "w"), stderr=subprocess.STDOUT, env=env,
            start_new_session=True)

    def wait_daemon(self, node, seconds=60):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if node.proc.poll() is not None:
                raise SwarmError(f"dockerd on {node.name} exited: "
                                 + (node.dir / "dockerd.log").read_text()[-600:])
            try:
                node.api("GET", "/_ping")
                return
            except (OSError, SwarmError, http.client.HTTPException):
                time.sleep(0.1)
        raise SwarmError(f"dockerd on {node.name} did not answer in {seconds} s: "
                         + (node.dir / "dockerd.log").read_text()[-600:])

    def cli(self, node, *args, check=True, **kw):
        env = dict(os.environ, DOCKER_HOST=f"unix://{node.sock}", DOCKER_CONFIG=str(node.dir / "cli"))
        r = subprocess.run([self.docker_cli, *map(str, args)], capture_output=True, text=True, env=env, **kw)
        if check and r.returncode != 0:
            raise SwarmError(f"docker {' '.join(map(str, args))} on {node.name}: {r.stderr.strip()}")
        return r.stdout

    def setup(self):
        self.work = Path(tempfile.mkdtemp(prefix="stratoswarm-swarm-"))
        self.sh("ip", "netns", "add", f"{self.id}-sw")
        self.sh("ip", "-n", f"{self.id}-sw", "link", "add", "br0", "type", "bridge")
        self.sh("ip", "-n", f"{self.id}-sw", "link", "set", "br0", "up")
        manager = self.add_node("manager", MANAGER_IP)
        self.workers = [self.add_node(f"rpi-{i}", f"{SUBNET}.{10 + i}") for i in range(1, self.n + 1)]
        for node in self.nodes.values():
            route = self.sh("ip", "-n", node.ns, "route", "show", "default").strip()
            if route:
                raise SwarmError(f"{node.ns} has a default route ({route}); refusing to start dockerd")
        # One busybox-static rootfs, imported on every node (nothing is pulled).
        rootfs = self.work / "rootfs"
        self.sh(ROOT / "scripts/make_busybox_image.sh", rootfs, shutil.which("busybox"))
        tarball = self.work / "busybox.tar"
        self.sh("tar", "-C", rootfs, "-cf", tarball, ".")
        for node in self.nodes.values():
            self.start_daemon(node)
        for node in self.nodes.values():
            self.wait_daemon(node)
            self.cli(node, "import", tarball, IMAGE)
        version = manager.api("GET", "/version")
        self.version = f"dockerd {version.get('Version')}, API {version.get('ApiVersion')}, " \
                       f"containerd {next((c.get('Version') for c in version.get('Components', []) if c.get('Name') == 'containerd'), '?')}"

    def kill_node(self, node):
        """Power-off: every process of the node's network namespace and cgroup parent."""
        victims = set(node.pids()) | set(self.cgroup_pids(node))
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        node.dead = True

    def cgroup_dirs(self, node=None):
        pattern = f"{self.id}-{node.name}" if node else f"{self.id}-*"
        return sorted(glob.glob(f"/sys/fs/cgroup/*/{pattern}") + glob.glob(f"/sys/fs/cgroup/*/*/{pattern}")
                      + glob.glob(f"/sys/fs/cgroup/unified/{pattern}"), key=len, reverse=True)

    def cgroup_pids(self, node=None):
        pids = set()
        for top in self.cgroup_dirs(node):
            for dirpath, _, files in os.walk(top):
                if "cgroup.procs" in files:
                    try:
                        pids |= {int(p) for p in Path(dirpath, "cgroup.procs").read_text().split()}
                    except OSError:
                        pass
        return pids

    def teardown(self):
        for _ in range(3):
            pids = set(self.cgroup_pids())
            for node in self.nodes.values():
                pids |= set(node.pids())
                if node.proc and node.proc.poll() is None:
                    pids.add(node.proc.pid)
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.5)
        for node in self.nodes.values():
            if node.proc:
                try:
                    node.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        for top in self.cgroup_dirs():
            for dirpath, _, _ in sorted(os.walk(top), key=lambda w: len(w[0]), reverse=True):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass
        listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        for line in listing.splitlines():
            ns = line.split(" ")[0]
            if ns.startswith(self.id + "-"):
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        if self.work:
            # The daemons' mounts lived in their private mount namespaces; if
            # one survived anyway, unmount before removing the tree.
            for line in reversed(Path("/proc/self/mounts").read_text().splitlines()):
                target = line.split()[1]
                if target.startswith(str(self.work)):
                    subprocess.run(["umount", "-l", target], capture_output=True)
            if self.keep:
                print(f"docker_swarm: kept {self.work}", file=sys.stderr)
            else:
                shutil.rmtree(self.work, ignore_errors=True)

    # ---- measurements -----------------------------------------------------------

    def row(self, key, label, value, unit, how):
        self.rows.append({"key": key, "label": label, "value": value, "unit": unit, "how": how})
        shown = "-" if value is None else f"{value:.1f}"
        print(f"  swarm {label}: {shown} {unit}")

    def manager(self):
        return self.nodes["manager"]

    def tasks(self):
        flt = json.dumps({"service": [SERVICE]})
        return self.manager().api("GET", "/tasks?filters=" + urllib.parse.quote(flt))

    def running_tasks(self):
        return [t for t in self.tasks() if t["Status"]["State"] == "running" and t["DesiredState"] == "running"]

    def poll(self, what, predicate, seconds, interval=0.02):
        deadline = time.time() + seconds
        while time.time() < deadline:
            v = predicate()
            if v:
                return v
            time.sleep(interval)
        raise SwarmError(f"timed out after {seconds} s waiting for {what}")

    def measure_join(self):
        m = self.manager()
        m.api("POST", "/swarm/init", {"ListenAddr": f"{MANAGER_IP}:2377", "AdvertiseAddr": MANAGER_IP,
                                      "ForceNewCluster": False,
                                      "Spec": {"Orchestration": {"TaskHistoryRetentionLimit": 5}}})
        swarm = m.api("GET", "/swarm")
        self.default_heartbeat_ns = swarm["Spec"]["Dispatcher"]["HeartbeatPeriod"]
        token = swarm["JoinTokens"]["Worker"]
        times, threads, errors = {}, [], []

        def join(node):
            t0 = time.perf_counter()
            try:
                node.api("POST", "/swarm/join", {"ListenAddr": f"{node.ip}:2377", "AdvertiseAddr": node.ip,
                                                 "RemoteAddrs": [f"{MANAGER_IP}:2377"], "JoinToken": token},
                         timeout=120)
                times[node.name] = (time.perf_counter() - t0) * 1000
            except (SwarmError, OSError) as e:
                errors.append(str(e))

        start = time.perf_counter()
        for node in self.workers:
            threads.append(threading.Thread(target=join, args=(node,)))
            threads[-1].start()
        for t in threads:
            t.join()
        if errors:
            raise SwarmError("; ".join(errors))

        def all_ready():
            nodes = m.api("GET", "/nodes")
            ready = [n for n in nodes if n["Status"]["State"] == "ready"]
            return nodes if len(ready) == self.n + 1 else None
        nodes = self.poll("every worker Ready at the manager", all_ready, 60)
        all_ready_ms = (time.perf_counter() - start) * 1000
        by_ip = {n["Status"].get("Addr"): n["ID"] for n in nodes}
        for node in self.workers:
            node.node_id = by_ip.get(node.ip)
        vals = list(times.values())
        self.tables["join"] = {"columns": ["worker", "POST /swarm/join ms"],
                               "rows": [[k, round(v, 1)] for k, v in sorted(times.items())]}
        how = f"POST /swarm/join, {self.n} workers at once, wall time of the call (certificate issued, node registered)"
        self.row("join/total_p50_x86_ms", "Join p50 (per worker)", pct(vals, 50), "ms", how)
        # No twin: ours' slowest join is an aarch64 swarmlet under qemu-user, Swarm's workers are all x86_64.
        self.row("join/max_x86_ms", "Join, slowest worker (x86_64)", max(vals), "ms",
                 how + "; no testbed twin (our slowest node is an aarch64 swarmlet under qemu)")
        self.row("join/ready_all_ms", "All workers Ready at the manager", all_ready_ms, "ms",
                 "from the first join call to every node Ready in GET /nodes (no testbed twin)")

    def worker_rss(self, node):
        parts = {}
        for pid in node.pids():
            name = comm(pid)
            if name.startswith(("dockerd", "containerd")):
                key = "containerd-shim" if name.startswith("containerd-shim") else name
                parts[key] = parts.get(key, 0.0) + rss_mb(pid)
        return parts

    def measure_rss(self, when):
        sizes = {w.name: self.worker_rss(w) for w in self.workers if not w.dead}
        totals = {k: sum(v.values()) for k, v in sizes.items()}
        biggest = max(totals, key=totals.get)
        self.tables[f"rss_{when}"] = {"columns": ["worker", "dockerd MB", "containerd MB", "shims MB", "total MB"],
                                      "rows": [[k, round(v.get("dockerd", 0), 1), round(v.get("containerd", 0), 1),
                                                round(v.get("containerd-shim", 0), 1), round(totals[k], 1)]
                                               for k, v in sorted(sizes.items())]}
        return biggest, totals[biggest]

    def create_service(self):
        spec = {"Name": SERVICE,
                "TaskTemplate": {"ContainerSpec": {"Image": IMAGE, "Command": COMMAND},
                                 "Placement": {"Constraints": ["node.role==worker"]},
                                 "RestartPolicy": {"Condition": "any", "Delay": 0}},
                "Mode": {"Replicated": {"Replicas": 3}}}
        seen = {}  # (task, state) → ms after the create call: where Swarm spends the time
        nodes = {w.node_id: w.name for w in self.workers}

        def all_running():
            now = (time.perf_counter() - t0) * 1000
            tasks = self.tasks()
            for t in tasks:
                seen.setdefault((t["ID"], t["Status"]["State"]), now)
                if t.get("NodeID"):
                    seen[(t["ID"], "node")] = nodes.get(t["NodeID"], t["NodeID"][:12])
            return sum(1 for t in tasks if t["Status"]["State"] == "running" and t["DesiredState"] == "running") >= 3
        t0 = time.perf_counter()
        self.manager().api("POST", "/services/create", spec)
        self.poll("3 replicas running", all_running, 120)
        ms = (time.perf_counter() - t0) * 1000
        states = ["pending", "assigned", "accepted", "preparing", "starting", "running"]
        ids = sorted({k[0] for k in seen}, key=lambda i: seen.get((i, "running"), 1e9))
        self.tables["replicas_timeline"] = {
            "columns": ["task", "node"] + [f"{s} ms" for s in states],
            "rows": [[i[:12], seen.get((i, "node"))] + [None if (i, s) not in seen else round(seen[(i, s)])
                                                        for s in states] for i in ids]}
        self.row("deploy/critical_all_running_ms", "3 replicas → all running", ms, "ms",
                 "POST /services/create (3 replicas, workers only, image already on every node) → 3 tasks "
                 "running in GET /tasks, polled every 20 ms")

    def kill_and_recover(self, tag, label):
        tasks = self.running_tasks()
        on = {t["NodeID"] for t in tasks}
        victim = next(w for w in reversed(self.workers) if not w.dead and w.node_id in on)
        lost = [t["ID"] for t in tasks if t["NodeID"] == victim.node_id]
        t0 = time.perf_counter()
        self.kill_node(victim)
        down_ms = running_ms = None
        deadline = time.time() + 90
        m = self.manager()
        while time.time() < deadline and (down_ms is None or running_ms is None):
            now = (time.perf_counter() - t0) * 1000
            if down_ms is None and m.api("GET", f"/nodes/{victim.node_id}")["Status"]["State"] == "down":
                down_ms = now
            if running_ms is None:
                live = [t for t in self.running_tasks() if t["NodeID"] != victim.node_id]
                if len(live) >= 3:
                    running_ms = now
            time.sleep(0.02)
        self.tables[f"kill_{tag}"] = {"columns": ["heartbeat", "victim", "replicas lost", "kill → Down ms",
                                                  "kill → replacement running ms"],
                                      "rows": [[label, victim.name, len(lost),
                                                None if down_ms is None else round(down_ms),
                                                None if running_ms is None else round(running_ms)]]}
        return victim, down_ms, running_ms

    def set_heartbeat(self, period_ns):
        m = self.manager()
        swarm = m.api("GET", "/swarm")
        spec = swarm["Spec"]
        old = spec["Dispatcher"]["HeartbeatPeriod"]
        spec["Dispatcher"]["HeartbeatPeriod"] = period_ns
        m.api("POST", f"/swarm/update?version={swarm['Version']['Index']}", spec)
        # Workers learn the new period from their next heartbeat's answer.
        time.sleep(2 * old / 1e9 + 1)

    def run(self):
        self.loads.append(loadavg())
        t_start = time.time()
        self.setup()
        self.measure_join()
        biggest, idle = self.measure_rss("idle")
        self.row("memory/swarmlet_rss_max_mb", "Worker RSS, idle (dockerd + containerd)", idle, "MB",
                 f"sum of VmRSS of dockerd and containerd on the largest worker ({biggest}), joined, no task")
        self.create_service()
        time.sleep(1)
        biggest, busy = self.measure_rss("task")
        self.row("memory/worker_with_task_mb", "Worker RSS with one task (dockerd + containerd + shim)", busy,
                 "MB", f"largest worker ({biggest}) with a replica; no testbed twin")
        default = self.default_heartbeat_ns / 1e9
        victim, down, running = self.kill_and_recover("default", f"{default:g} s (default)")
        how = (f"SIGKILL of every process on {victim.name} (dockerd, containerd, shims, task) → manager's "
               f"GET /nodes/ID says down; dispatcher heartbeat {default:g} s (Swarm's default)")
        self.row("power_off/decided_ms", f"Failure detected (heartbeat {default:g} s, default)", down, "ms", how)
        self.row("power_off/recovery_total_ms", f"Kill → replacement running (heartbeat {default:g} s, default)",
                 running, "ms", how.replace("says down", "lists 3 running tasks off the victim"))
        tuned_ns = parse_duration(self.tuned)
        self.set_heartbeat(tuned_ns)
        victim, down, running = self.kill_and_recover("tuned", f"{self.tuned} (tuned)")
        how = (f"as above after `docker swarm update --dispatcher-heartbeat {self.tuned}`, victim {victim.name}")
        self.row("power_off/decided_ms", f"Failure detected (heartbeat {self.tuned}, tuned)", down, "ms", how)
        self.row("power_off/recovery_total_ms", f"Kill → replacement running (heartbeat {self.tuned}, tuned)",
                 running, "ms", how)
        self.loads.append(loadavg())
        self.duration = time.time() - t_start

    def write(self, error=None):
        doc = {"engine": "Docker Swarm", "version": getattr(self, "version", None),
               "started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "workers": self.n, "tuned_heartbeat": self.tuned,
               "loadavg": self.loads, "duration_s": round(getattr(self, "duration", 0), 1),
               "ok": error is None, "rows": self.rows, "tables": self.tables,
               "notes": [
                   "Same layout as the testbed: manager at the GPU peer's address, workers at the Pis', one network "
                   "namespace each on one bridge; all Swarm workers are x86_64 (no dockerd under qemu), so the "
                   "ratios use our x86_64 figures where the testbed has them.",
                   "Swarm's joins use the manager's address (no discovery); ours in the join scenario include mDNS "
                   "browse+resolve (about 200 ms of our total).",
                   "Swarm's detection and recovery are timed from the kill; ours from the victim's last heard "
                   "message (at most one 100 ms heartbeat earlier than the kill).",
                   "dockerd runs with --iptables=false --bridge=none; services have no network of their own and no "
                   "published ports, so the ingress/overlay data path is not exercised (not needed for these "
                   "figures).",
                   "Timings on a shared 2-core machine; loadavg before and after is recorded here.",
               ] + self.notes}
        if error:
            doc["error"] = error
        (self.out / "compare").mkdir(parents=True, exist_ok=True)
        (self.out / "compare" / "swarm.json").write_text(json.dumps(doc, indent=2) + "\n")


def parse_duration(text):
    """'500ms', '1s', '2.5s' → nanoseconds."""
    text = text.strip()
    for suffix, scale in (("ms", 1e6), ("us", 1e3), ("ns", 1), ("s", 1e9), ("m", 60e9)):
        if text.endswith(suffix):
            return int(float(text[:-len(suffix)]) * scale)
    return int(float(text) * 1e9)


def run(out, workers=5, tuned_heartbeat="500ms", keep=False, netem=""):
    """Runs the comparison; returns 0 ok, 1 failed, 77 skipped. Always cleans up."""
    bench = SwarmBench(out, workers, tuned_heartbeat, keep, netem)
    old = signal.getsignal(signal.SIGTERM)

    def interrupted(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, interrupted)
    print(f"docker_swarm: {workers} workers + 1 manager, tuned heartbeat {tuned_heartbeat}")
    try:
        bench.require()
        bench.run()
        bench.write()
        print(f"docker_swarm: done in {bench.duration:.1f} s; {bench.out / 'compare' / 'swarm.json'}")
        return 0
    except Skip as e:
        print(f"docker_swarm: SKIPPED: {e}")
        return SKIP
    except KeyboardInterrupt:
        print("docker_swarm: interrupted; cleaning up", file=sys.stderr)
        raise
    except (SwarmError, OSError, subprocess.SubprocessError, StopIteration, KeyError, ValueError,
            http.client.HTTPException) as e:
        msg = str(e) or type(e).__name__
        print(f"docker_swarm: FAILED: {msg}", file=sys.stderr)
        bench.write(error=msg)
        return 1
    finally:
        bench.teardown()
        signal.signal(signal.SIGTERM, old)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(ROOT / "build/bench/testbed"))
    p.add_argument("--workers", type=int, default=5)
    p.add_argument("--tuned-heartbeat", default="500ms",
                   help="dispatcher heartbeat for the second power-off (default: %(default)s)")
    p.add_argument("--netem", default="")
    p.add_argument("--keep", action="store_true")
    a = p.parse_args()
    try:
        return run(a.out, a.workers, a.tuned_heartbeat, a.keep, a.netem)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
