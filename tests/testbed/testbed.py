#!/usr/bin/env python3
"""Seed 001's scenarios on a cluster of network namespaces on this machine.

One GPU peer and N "Raspberry Pis" (swarmlets; some of them the static
aarch64 binary under qemu-aarch64-static), each in its own network namespace
on one bridge, each with its own dbus-daemon + avahi-daemon so joins go
through real mDNS. Optional `tc netem` per Pi link mimics Ethernet or Wi-Fi.

Every scenario writes OUT/scenarios/<name>.json (metrics with the seed's
target and ours, a detail table, notes); a sampler writes OUT/resources.csv
(CPU %, memory MB, network Mbit/s per node, once a second); OUT/meta.json
describes the run. `bench/report OUT` turns that into report.html and
results.json. Setup is idempotent (a run's namespaces carry a unique prefix)
and teardown runs on every exit path, Ctrl-C included.

    sudo tests/testbed/testbed.py --out build/bench/testbed            # full run
    sudo tests/testbed/testbed.py --smoke --out /tmp/tb                # CI smoke
    sudo tests/testbed/testbed.py --compare swarm --out ...            # + Docker Swarm

--compare swarm (`make bench COMPARE=swarm`, issue 19): after our cluster is
torn down, tests/testbed/docker_swarm.py builds the same layout with one
dockerd per namespace and measures join, worker RSS, 3 replicas, power-off
detection and recovery for Docker Swarm into OUT/compare/swarm.json;
bench/report shows both side by side. Needs docker.io (only then).

Needs root, `ip netns`, avahi-daemon and dbus-daemon; exits 77 with a reason
when any is missing. Traffic stays inside the namespaces it creates.
"""

import argparse
import csv
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from netlib import plug_into_switch

ROOT = Path(__file__).resolve().parents[2]
SUBNET = "10.214.0"
GPU_IP = f"{SUBNET}.1"
SKIP = 77

# Seed 001's targets and ours (issues 4, 5, 7, 8), as the report expects them.
SEED_JOIN = {"op": "<", "value": 30000, "text": "join < 30 s (seed)"}
SEED_MEMORY = {"op": "<", "value": 50, "text": "memory < 50 MB (seed)"}
SEED_COORD = {"op": "<", "value": 10, "text": "coordination < 10 ms (seed)"}
SEED_DETECT = {"op": "<", "value": 10000, "text": "detection < 10 s (seed)"}
SEED_RECOVER = {"op": "<", "value": 30000, "text": "recovery < 30 s (seed)"}
SEED_OVERHEAD = {"op": "<", "value": 5, "text": "network overhead < 5% (seed)"}


class Skip(Exception):
    pass


class ScenarioError(Exception):
    pass


def metric(name, label, value, unit, better=None, seed=None, target=None, must=False):
    """One measured figure. `must`: its target is required behaviour, not a
    speed goal: missing it fails the scenario (and the smoke test)."""
    m = {"name": name, "label": label, "value": value, "unit": unit}
    if must:
        m["must"] = True
    if better:
        m["better"] = better
    if seed:
        m["seed_target"] = seed
    if target:
        m["target"] = target
    return m


def target(op, value, text):
    return {"op": op, "value": value, "text": text}


def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def read_jsonl(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    except FileNotFoundError:
        pass
    return out


def loadavg():
    """/proc/loadavg's 1, 5 and 15 minute figures (timings on a shared machine need them)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


class Host:
    def __init__(self, name, ip, ns, work, mdns):
        self.name, self.ip, self.ns, self.work, self.mdns = name, ip, ns, work, mdns
        self.proc = None  # the serve / swarmlet process on this host
        self.log = work / f"{name}.log"
        self.state = work / name

    def cmd(self, args):
        # nsenter --net, not `ip netns exec`: that one remounts /sys, which
        # hides /sys/fs/cgroup from the swarmlet (workloads need it).
        env = ["env", f"DBUS_SYSTEM_BUS_ADDRESS=unix:path={self.work}/{self.name}-run/dbus/system_bus_socket"]
        return ["nsenter", f"--net=/run/netns/{self.ns}"] + env + [str(a) for a in args]


class Testbed:
    def __init__(self, args):
        self.args = args
        self.out = Path(args.out).resolve()
        self.id = f"tb{os.getpid()}"
        self.work = Path(tempfile.mkdtemp(prefix="stratoswarm-testbed-"))
        self.ss = Path(args.stratoswarm).resolve()
        self.x86 = Path(args.swarmlet).resolve()
        self.arm = Path(args.aarch64_swarmlet).resolve() if args.aarch64_swarmlet else None
        self.hosts = {}
        self.pis = []  # Host, in join order
        self.scenario = "setup"
        self.samples = []
        self.sampling = threading.Event()
        self.sampler = None
        self.token = None
        self.started = time.time()
        self.failed = 0

    # ---- setup and teardown -------------------------------------------------

    def require(self):
        if os.geteuid() != 0:
            raise Skip("needs root for network namespaces")
        for tool in ("ip", "nsenter", "unshare", "avahi-daemon", "dbus-daemon", "tc"):
            if shutil.which(tool) is None:
                raise Skip(f"{tool} not installed")
        for b in (self.ss, self.x86):
            if not os.access(b, os.X_OK):
                raise Skip(f"{b} is not built (make build)")
        if self.arm and not (os.access(self.arm, os.X_OK) and shutil.which("qemu-aarch64-static")):
            print(f"testbed: no aarch64 swarmlet or qemu-aarch64-static; all Pis run x86_64", file=sys.stderr)
            self.arm = None
        r = subprocess.run(["ip", "netns", "add", f"{self.id}-sw"], capture_output=True, text=True)
        if r.returncode != 0:
            raise Skip(f"cannot create network namespaces here: {r.stderr.strip()}")

    def sh(self, *args, check=True):
        r = subprocess.run([str(a) for a in args], capture_output=True, text=True)
        if check and r.returncode != 0:
            raise ScenarioError(f"{' '.join(map(str, args))}: {r.stderr.strip() or r.returncode}")
        return r.stdout

    def add_host(self, name, ip, mdns=True):
        ns = f"{self.id}-{name}"
        self.sh("ip", "netns", "add", ns)
        veth, peer = f"{self.id}{len(self.hosts)}", f"{self.id}{len(self.hosts)}p"
        plug_into_switch(self.sh, f"{self.id}-sw", ns, veth, peer, f"{ip}/24")
        host = Host(name, ip, ns, self.work, mdns)
        host.port = peer  # its switch-side veth: shaping there limits traffic towards the host
        if mdns:
            run = self.work / f"{name}-run"
            (run / "dbus").mkdir(parents=True)
            (run / "avahi-daemon").mkdir()
            conf = self.work / f"{name}-avahi.conf"
            conf.write_text(f"[server]\nhost-name={name}\nuse-ipv4=yes\nuse-ipv6=no\nallow-interfaces=eth0\n"
                            "[publish]\npublish-hinfo=no\npublish-workstation=no\n")
            self.sh("ip", "netns", "exec", ns, "unshare", "--mount", "sh", "-c",
                    f"mount --bind '{run}' /run && dbus-daemon --system --fork --nopidfile && "
                    f"avahi-daemon --no-chroot --no-drop-root --no-rlimits -f '{conf}' -D")
        if self.args.netem and name != "gpu":
            self.sh("tc", "-n", ns, "qdisc", "add", "dev", "eth0", "root", "netem", *self.args.netem.split())
        self.hosts[name] = host
        return host

    def setup(self):
        self.sh("ip", "-n", f"{self.id}-sw", "link", "add", "br0", "type", "bridge")
        self.sh("ip", "-n", f"{self.id}-sw", "link", "set", "br0", "up")
        gpu = self.add_host("gpu", GPU_IP)
        (self.work / "images").mkdir()
        gpu.proc = subprocess.Popen(
            gpu.cmd([self.ss, "--state-dir", gpu.state, "serve", "--listen", GPU_IP]),
            stdout=open(gpu.log, "w"), stderr=subprocess.STDOUT)
        for _ in range(100):
            if self.cli("node", "ls", check=False) is not None:
                break
            time.sleep(0.1)
        else:
            raise ScenarioError("stratoswarm serve did not come up: " + gpu.log.read_text()[-400:])
        self.token = self.cli("cluster", "create-join-token").strip()
        self.start_sampler()

    def teardown(self):
        self.sampling.set()
        if self.sampler:
            self.sampler.join(timeout=3)
        for host in self.hosts.values():
            if host.proc and host.proc.poll() is None:
                host.proc.kill()
        for ns in self.sh("ip", "netns", "list", check=False).split("\n"):
            ns = ns.split(" ")[0]
            if ns.startswith(self.id + "-"):
                pids = self.sh("ip", "netns", "pids", ns, check=False).split()
                for pid in pids:
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (ProcessLookupError, ValueError):
                        pass
                self.sh("ip", "netns", "del", ns, check=False)
        for host in self.hosts.values():
            if host.proc:
                try:
                    host.proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    pass
        # A node killed by a scenario (power-off) leaves its workloads'
        # cgroups behind; every process is gone now, so remove this run's.
        for host in self.hosts.values():
            root = Path("/sys/fs/cgroup")  # v1: one tree per controller; v2: one tree
            for top in [*root.glob(f"*/stratoswarm/{host.name}"), *root.glob(f"stratoswarm/{host.name}")]:
                for dirpath, _, _ in os.walk(top, topdown=False):
                    try:
                        os.rmdir(dirpath)
                    except OSError:
                        pass
        if self.args.keep:
            print(f"testbed: kept {self.work}", file=sys.stderr)
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    # ---- helpers --------------------------------------------------------------

    def cli(self, *args, check=True, fmt_json=False):
        """Runs `stratoswarm --state-dir <primary> ARGS`; its stdout (parsed with fmt_json)."""
        cmd = [str(self.ss), "--state-dir", str(self.hosts["gpu"].state), *map(str, args)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            if check:
                raise ScenarioError(f"stratoswarm {' '.join(map(str, args))}: {(r.stderr or r.stdout).strip()}")
            return None
        return json.loads(r.stdout) if fmt_json else r.stdout

    def nodes(self):
        return {n["name"]: n for n in self.cli("cluster", "nodes", "--format", "json", fmt_json=True)}

    def wait(self, what, predicate, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if predicate():
                return True
            time.sleep(0.1)
        raise ScenarioError(f"timed out after {seconds} s waiting for {what}")

    def primary_records(self):
        return read_jsonl(self.hosts["gpu"].state / "timing.jsonl")

    def join(self, names, arm_names=(), mdns=True, first_ip=11):
        """Starts swarmlets on new hosts at once; returns when all are Ready.
        The hosts (namespaces, Avahi) are all set up first, so the joins
        really start together and `join_started` is when the first began."""
        hosts = []
        for name in names:
            host = self.add_host(name, f"{SUBNET}.{first_ip + len(self.pis)}", mdns=mdns)
            host.hw = self.work / f"hw-{name}"
            subprocess.run([ROOT / "scripts/make_fake_pi_root.sh", host.hw], check=True, capture_output=True)
            host.arch = "aarch64" if name in arm_names else "x86_64"
            self.pis.append(host)
            hosts.append(host)
        self.join_started = time.time()
        for host in hosts:
            binary = ["qemu-aarch64-static", self.arm] if host.arch == "aarch64" else [self.x86]
            args = [*binary, "join", "--token", self.token, "--name", host.name, "--state-dir", host.state,
                    "--hw-root", host.hw]
            if not mdns:
                args += ["--cluster", GPU_IP]
            host.proc = subprocess.Popen(host.cmd(args), stdout=open(host.log, "w"), stderr=subprocess.STDOUT)
        for host in hosts:
            self.wait(f"{host.name} to join (log: {host.log})",
                      lambda: "Successfully joined" in host.log.read_text(), 60)
        return hosts

    def power_off(self, host):
        """Kills every process of the host's namespace, like pulling the plug."""
        for pid in self.sh("ip", "netns", "pids", host.ns, check=False).split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        if host.proc:
            host.proc.wait(timeout=5)

    @staticmethod
    def met(value, t):
        if value is None:
            return False
        return {"<": value < t["value"], "<=": value <= t["value"], ">": value > t["value"],
                ">=": value >= t["value"]}[t["op"]]

    def emit(self, name, title, metrics, table=None, notes=None, ok=True, error=None):
        broken = [m for m in metrics if m.get("must") and not self.met(m["value"], m["target"])]
        if broken and ok:
            ok = False
            error = "; ".join(f"{m['label']}: {m['value']} (required {m['target']['text']})" for m in broken)
        doc = {"scenario": name, "title": title, "ok": ok, "metrics": metrics}
        if error:
            doc["error"] = error
        if table:
            doc["table"] = table
        if notes:
            doc["notes"] = notes
        (self.out / "scenarios").mkdir(parents=True, exist_ok=True)
        (self.out / "scenarios" / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n")
        status = "ok" if ok else f"FAILED: {error}"
        print(f"testbed: {name}: {status}")
        self.failed += 0 if ok else 1
        for m in metrics:
            v = m["value"]
            print(f"  {m['label']}: {'-' if v is None else round(v, 3)} {m['unit']}")

    # ---- resource sampler -------------------------------------------------------

    def start_sampler(self):
        self.sampler = threading.Thread(target=self.sample_loop, daemon=True)
        self.sampler.start()

    @staticmethod
    def proc_stats(pid):
        """(cpu seconds, RSS MB, bytes rx+tx on the process's eth0) or None."""
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            rss = 0.0
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) / 1024
            net = 0
            for line in Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:]:
                dev, data = line.split(":", 1)
                if dev.strip() == "eth0":
                    d = data.split()
                    net = int(d[0]) + int(d[8])
            return cpu, rss, net
        except (OSError, IndexError, ValueError):
            return None

    def sample_loop(self):
        last = {}
        while not self.sampling.wait(1.0):
            now = time.time()
            for host in list(self.hosts.values()):
                if not host.proc or host.proc.poll() is not None:
                    continue
                # serve, the swarmlet, or qemu running it (nsenter and env exec in place).
                stats = self.proc_stats(host.proc.pid)
                if stats is None:
                    continue
                if host.name in last:
                    t0, (c0, _, n0) = last[host.name]
                    dt = now - t0
                    self.samples.append({
                        "timestamp": round(now - self.started, 2), "node": host.name,
                        "cpu_percent": round(100 * (stats[0] - c0) / dt, 2), "memory_mb": round(stats[1], 2),
                        "network_mbps": round((stats[2] - n0) * 8 / dt / 1e6, 4), "scenario": self.scenario})
                last[host.name] = (now, stats)

    def write_resources(self):
        with open(self.out / "resources.csv", "w", newline="") as f:
            w = csv.DictWriter(f, ["timestamp", "node", "cpu_percent", "memory_mb", "network_mbps", "scenario"])
            w.writeheader()
            w.writerows(self.samples)

    # ---- scenarios --------------------------------------------------------------

    def sc_join(self):
        n = self.args.swarmlets
        names = [f"rpi-{i}" for i in range(1, n + 1)]
        arm = set(names[:self.args.aarch64]) if self.arm else set()
        hosts = self.join(names, arm)
        rows, totals_x86, totals, certs, hws, disc = [], [], [], [], [], []
        for h in hosts:
            rec = {r["phase"]: r for r in read_jsonl(h.state / "timing.jsonl") if r["event"] == "join"}
            get = lambda p: rec.get(p, {}).get("ms")
            rows.append([h.name, h.arch, rec.get("discovery", {}).get("via"), get("hw_profile"),
                         get("discovery"), get("cert_exchange"), get("mesh_join"), get("total")])
            if get("total") is not None:
                totals.append(get("total"))
                (totals_x86 if h.arch == "x86_64" else []).append(get("total"))
                certs.append(get("cert_exchange"))
                hws.append(get("hw_profile"))
                disc.append(get("discovery"))
        ready = sum(1 for node in self.nodes().values() if node["status"] == "Ready")
        self.emit("join", f"Join by mDNS: {n} swarmlets at once ({len(arm)} aarch64 under qemu)", [
            metric("total_max_ms", "Join total, slowest node", max(totals), "ms", "lower", SEED_JOIN),
            metric("total_p50_x86_ms", "Join total p50 (x86_64, incl. mDNS)", pct(totals_x86, 50), "ms", "lower"),
            metric("discovery_p50_ms", "mDNS discovery p50", pct(disc, 50), "ms", "lower"),
            metric("cert_exchange_p50_ms", "Certificate exchange p50", pct(certs, 50), "ms", "lower", None,
                   target("<=", 20, "≤ 20 ms (issue 5)")),
            metric("hw_profile_p50_ms", "Hardware profile p50", pct(hws, 50), "ms", "lower", None,
                   target("<=", 20, "≤ 20 ms (issue 5)")),
            metric("ready_nodes", "Nodes Ready", ready, "nodes", None, None,
                   target(">=", n + 1, f"all {n + 1} Ready"), must=True),
        ], table={"columns": ["node", "arch", "via", "hw_profile ms", "discovery ms", "cert_exchange ms",
                              "mesh_join ms", "total ms"], "rows": rows},
            notes=["Joined concurrently, as Pis booting together would; the issue-5 50 ms target is for "
                   "--cluster joins, these include mDNS browse+resolve.",
                   "aarch64 swarmlets run under qemu-user on this x86 machine: their times include emulation."])

    def formation(self, host):
        recs = [r for r in read_jsonl(host.state / "timing.jsonl") if r["event"] == "mesh"]
        return recs[-1] if recs else None

    def sc_mesh(self):
        members = len(self.nodes())
        self.wait("every swarmlet to hear from every member",
                  lambda: all((f := self.formation(h)) and f.get("members") == members for h in self.pis), 20)
        formed = [self.formation(h)["ms"] for h in self.pis]
        time.sleep(2)  # RTTs are refreshed by each heartbeat
        status = self.cli("cluster", "mesh-status", "--format", "json", fmt_json=True)
        rtts = [s["rtt_ms"] for s in status if s["rtt_ms"] is not None]
        alive = sum(1 for s in status if s["state"] == "alive")
        self.emit("mesh", "Mesh formation and coordination latency", [
            metric("formation_max_ms", "Mesh formed (slowest node, join start → heard from all)", max(formed), "ms",
                   "lower"),
            metric("coordination_p50_ms", "GPU peer ↔ Pi round trip p50", pct(rtts, 50), "ms", "lower", SEED_COORD),
            metric("coordination_max_ms", "GPU peer ↔ Pi round trip max", max(rtts) if rtts else None, "ms",
                   "lower", SEED_COORD),
            metric("links_alive", "Links alive at the GPU peer", alive, "links", None, None,
                   target(">=", len(self.pis), "every Pi"), must=True),
        ], table={"columns": ["from", "to", "state", "rtt ms"],
                  "rows": [[s["from"], s["to"], s["state"], s["rtt_ms"]] for s in status]},
            notes=["Coordination latency is the mesh heartbeat round trip (CURVE, signed envelopes) measured by "
                   "the GPU peer's failure detector; `cluster mesh-status` shows it per member."])

    def sc_memory(self):
        rss = {}
        for h in self.pis:
            if h.arch != "x86_64" or not h.proc:
                continue
            stats = self.proc_stats(h.proc.pid)
            if stats:
                rss[h.name] = stats[1]
        gpu = self.hosts["gpu"].proc.pid
        gpu_stats = self.proc_stats(gpu)
        self.emit("memory", "Memory (RSS) of the idle agents", [
            metric("swarmlet_rss_max_mb", "swarmlet RSS, largest (x86_64)", max(rss.values()) if rss else None, "MB",
                   "lower", SEED_MEMORY, target("<", 10, "< 10 MB")),
            metric("serve_rss_mb", "GPU peer RSS", gpu_stats[1] if gpu_stats else None, "MB", "lower"),
        ], table={"columns": ["node", "RSS MB"], "rows": [[k, round(v, 2)] for k, v in rss.items()]},
            notes=["qemu-user swarmlets are left out: their RSS is the emulator's.",
                   "Docker Swarm's worker RSS: run with --compare swarm (measured in the same run)."])

    def running(self, name_prefix):
        return [w for w in self.cli("ps", "--format", "json", fmt_json=True)
                if w["name"].startswith(name_prefix) and w["status"] == "Running"]

    def deploy_critical(self, name):
        spec = (f"name: {name}\nreplicas: 3\nplacement:\n  constraints:\n    - node.type == rpi\n"
                "spec:\n  command: [\"sh\", \"-c\", \"while true; do echo alive; sleep 1; done\"]\n")
        path = self.work / f"{name}.yaml"
        path.write_text(spec)
        out = self.work / f"{name}.json"
        self.cli("deploy", path, "--measure-scheduling-time", "--output", out)
        return json.loads(out.read_text())

    def sc_deploy(self):
        fixture = ROOT / "tests/fixtures/heterogeneous_workload.yaml"
        out = self.work / "hetero.json"
        r = subprocess.run([str(self.ss), "--state-dir", str(self.hosts["gpu"].state), "deploy", str(fixture),
                            "--measure-scheduling-time", "--output", str(out)], capture_output=True, text=True,
                           timeout=60)
        result = json.loads(out.read_text()) if out.exists() else {}
        critical = self.deploy_critical("critical-service")
        recs = [r for r in self.primary_records() if r["event"] == "deploy"]
        all_running = recs[-1]["ms"] if recs else None
        rows = []
        matched = total = 0
        for w in result.get("workloads", []):
            if w.get("matched") is None:
                continue  # no expectation (e.g. any-capable)
            total += 1
            matched += 1 if w["matched"] else 0
            rows.append([w["name"], ", ".join(w["nodes"]), ", ".join(w["node_types"]), ", ".join(w["expected"]), w["matched"],
                         w["scheduling_time_us"]])
        self.emit("deploy", "Heterogeneous deploy (seed YAML) and 3 replicas of critical-service", [
            metric("hetero_matched", "Seed YAML: workloads placed as expected", matched, "workloads",
                   None, None, target(">=", total, f"all {total}")),
            metric("hetero_scheduling_us", "Seed YAML: scheduling time (all workloads)",
                   result.get("total_scheduling_time_us"), "µs", "lower"),
            metric("critical_all_running_ms", "3 replicas → all Running", all_running, "ms", "lower", None,
                   target("<=", 100, "≤ 100 ms (issue 7)")),
        ], table={"columns": ["workload", "nodes", "node types", "expected", "matched", "scheduling µs"],
                   "rows": rows},
            notes=[f"deploy exit {r.returncode}: {(r.stdout + r.stderr).strip().splitlines()[-1:]}",
                   "gpu-inference needs a GPU node: on a machine without one it stays Pending (not matched).",
                   "With fewer than 5 Pis, edge-sensor-processing's expected rpi-4/rpi-5 do not exist.",
                   "critical-service runs as a host command: qemu-user swarmlets cannot clone into namespaces.",
                   json.dumps({k: v for k, v in critical.items() if k != "workloads"})[:300]])

    def sc_power_off(self):
        victim = next(h for h in reversed(self.pis) if h.proc and h.proc.poll() is None and
                      any(w["node"] == h.name for w in self.running("critical-service")))
        before = len(self.primary_records())
        moved_from = [w["id"] for w in self.running("critical-service") if w["node"] == victim.name]
        self.power_off(victim)
        self.wait(f"{victim.name} Down", lambda: self.nodes()[victim.name]["status"] == "Down", 15)
        self.wait("critical-service back to 3 Running", lambda: len(self.running("critical-service")) >= 3, 15)
        recs = self.primary_records()[before:]
        decided = [r for r in recs if r["event"] == "failure_detection" and r["phase"] == "decided"
                   and r.get("name") == victim.name]
        suspect = [r for r in recs if r["event"] == "failure_detection" and r["phase"] == "suspect"
                   and r.get("name") == victim.name]
        recovery = [r for r in recs if r["event"] == "recovery"]
        total = max((r.get("since_last_heard_ms", 0) for r in recovery), default=None)
        self.emit("power_off", f"Node power-off ({victim.name}: every process of its namespace killed)", [
            metric("suspect_ms", "Last heard → suspect", suspect[0]["ms"] if suspect else None, "ms", "lower"),
            metric("decided_ms", "Last heard → failure decided by votes", decided[0]["ms"] if decided else None,
                   "ms", "lower", SEED_DETECT, target("<=", 500, "≤ 500 ms (issue 8)")),
            metric("recovery_total_ms", "Last heard → its workloads Running elsewhere", total, "ms", "lower",
                   SEED_RECOVER, target("<=", 1500, "≤ 1.5 s (issue 7)")),
        ], table={"columns": ["workload", "from", "to", "decided → running ms", "last heard → running ms"],
                  "rows": [[r.get("workload"), r.get("from"), r.get("to"), r["ms"], r.get("since_last_heard_ms")]
                           for r in recovery]},
            notes=[f"{len(moved_from)} replica(s) were on {victim.name}."])

    def live_x86(self):
        return next(h for h in self.pis if h.arch == "x86_64" and h.proc and h.proc.poll() is None)

    def workload(self, wid):
        return next(w for w in self.cli("ps", "-a", "--format", "json", fmt_json=True) if w["id"] == wid)

    def sc_memory_pressure(self):
        node = self.live_x86()
        # 64 MiB limit, the workload asks for 256 MiB: the kernel's OOM killer
        # ends it inside its cgroup; the swarmlet reports it, the node stays Ready.
        wid = self.cli("run", "--memory", "64M", "--name", "memory-hog", "--constraint", f"node.name=={node.name}",
                       "-", "python3", "-c", "b = bytearray(256 << 20); import time; time.sleep(30)").strip()
        self.wait("the memory hog to end", lambda: self.workload(wid)["status"] not in ("Pending", "Starting",
                                                                                        "Running"), 20)
        w = self.workload(wid)
        time.sleep(1)
        ready = self.nodes()[node.name]["status"] == "Ready"
        self.emit("memory_pressure", f"Memory pressure: a workload beyond its 64 MiB limit on {node.name}", [
            metric("oom_reported", "OOM kill reported", 1 if w.get("oom_killed") else 0, "", None, None,
                   target(">=", 1, "reported as OOM-killed"), must=True),
            metric("node_ready", "Node still Ready", 1 if ready else 0, "", None, None,
                   target(">=", 1, "Ready"), must=True),
        ], table={"columns": ["workload", "status", "detail", "exit code", "signal"],
                  "rows": [[w["name"], w["status"], w["detail"], w.get("exit_code"), w.get("signal")]]})

    def sc_cpu_limit(self):
        node = self.live_x86()
        wid = self.cli("run", "--cpu", "0.5", "--name", "cpu-spinner", "--constraint", f"node.name=={node.name}",
                       "-", "sh", "-c", "while :; do :; done").strip()
        self.wait("the spinner to run", lambda: self.workload(wid)["status"] == "Running", 10)
        seen = []
        for _ in range(8):
            time.sleep(1)
            seen.append(self.workload(wid)["cpu_percent"])
        self.cli("stop", wid)
        used = statistics.median(seen[2:])
        self.emit("cpu_limit", f"CPU limit: a busy loop limited to 0.5 cores on {node.name}", [
            metric("cpu_percent", "CPU used by a 0.5-core busy loop (median)", used, "% of a core", None, None,
                   target("<=", 55, "≤ 55% (limit 50%)"), must=True),
        ], notes=[f"samples (% of one core, from the swarmlet's reports): {seen}"])

    RAW_SERVER = ("import socket,sys,time\n"
                  "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                  "s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); c,_=s.accept()\n"
                  "buf=b'x'*65536; end=time.time()+float(sys.argv[3])\n"
                  "while time.time()<end: c.sendall(buf)\n"
                  "c.close()\n")
    RAW_CLIENT = ("import socket,sys,time\n"
                  "c=socket.create_connection((sys.argv[1], int(sys.argv[2]))); n=0; t=time.time()\n"
                  "while True:\n"
                  "    b=c.recv(1<<20)\n"
                  "    if not b: break\n"
                  "    n+=len(b)\n"
                  "print(n*8/(time.time()-t)/1e6)\n")

    def raw_tcp_mbps(self, pi, seconds):
        """Plain TCP GPU peer -> Pi, the same link and duration: the baseline."""
        self.raw_port = getattr(self, "raw_port", 47000) + 1
        port = self.raw_port
        gpu = self.hosts["gpu"]
        server = subprocess.Popen(gpu.cmd(["python3", "-c", self.RAW_SERVER, GPU_IP, port, seconds]))
        try:
            for _ in range(50):
                r = subprocess.run(pi.cmd(["python3", "-c", self.RAW_CLIENT, GPU_IP, port]), capture_output=True,
                                   text=True, timeout=seconds + 10)
                if r.returncode == 0:
                    return float(r.stdout)
                time.sleep(0.1)  # not listening yet
            raise ScenarioError(f"raw TCP baseline failed: {r.stderr.strip()}")
        finally:
            server.kill()
            server.wait()

    def test_tool(self, pi):
        """`stratoswarm-test` (the swarmlet under that name) for this Pi's architecture."""
        arch_dir = self.work / pi.arch
        arch_dir.mkdir(exist_ok=True)
        tool = arch_dir / "stratoswarm-test"
        if not tool.exists():
            tool.symlink_to(self.arm if pi.arch == "aarch64" else self.x86)
        return ["qemu-aarch64-static", tool] if pi.arch == "aarch64" else [tool]

    def ours_mbps(self, pi, seconds):
        binary = self.test_tool(pi)
        r = subprocess.run(pi.cmd([*binary, "bandwidth", "--duration", seconds, "--state-dir", pi.state,
                                   "--direction", "download", "--format", "json"]),
                           capture_output=True, text=True, timeout=seconds + 20)
        if r.returncode != 0:
            raise ScenarioError(f"stratoswarm-test bandwidth on {pi.name}: {(r.stderr or r.stdout).strip()}")
        return json.loads(r.stdout.splitlines()[0])["mbit_per_s"]

    # Links like a Pi's, shaped on the Pi's switch port (towards the Pi): (key,
    # label, tc qdisc arguments). 100 Mbit/s stays for the recorded baseline.
    LINK_PROFILES = [
        ("1gbit", "Pi 4 Gigabit Ethernet (1 Gbit/s)",
         ["tbf", "rate", "1gbit", "burst", "256kb", "latency", "50ms"]),
        ("300mbit", "Pi 3B+ Ethernet over USB 2 (300 Mbit/s)",
         ["tbf", "rate", "300mbit", "burst", "128kb", "latency", "50ms"]),
        ("100mbit", "Fast Ethernet (100 Mbit/s)",
         ["tbf", "rate", "100mbit", "burst", "64kb", "latency", "50ms"]),
        ("wifi", "Wi-Fi (40 Mbit/s, 4±2 ms, 0.5% loss)",
         ["netem", "rate", "40mbit", "delay", "4ms", "2ms", "loss", "0.5%"]),
    ]

    def sc_bandwidth(self):
        pi = self.live_x86()
        seconds = self.args.bandwidth_seconds
        raw = self.raw_tcp_mbps(pi, seconds)
        ours = self.ours_mbps(pi, seconds)
        overhead = lambda o, r: 100 * (r - o) / r if r else None
        metrics = [
            metric("ours_mbps", "stratoswarm-test bandwidth (CURVE), unlimited veth", ours, "Mbit/s", "higher"),
            metric("raw_mbps", "Plain TCP, unlimited veth", raw, "Mbit/s"),
            metric("overhead_unlimited_pct", "Overhead vs plain TCP, unlimited (CPU-bound)", overhead(ours, raw), "%",
                   None, SEED_OVERHEAD),
        ]
        sw = f"{self.id}-sw"
        notes = []
        for key, label, qdisc in self.LINK_PROFILES:
            try:
                self.sh("tc", "-n", sw, "qdisc", "add", "dev", pi.port, "root", *qdisc)
            except ScenarioError as e:
                if qdisc[0] != "netem":
                    raise
                # A kernel without sch_netem (CONFIG_NET_SCH_NETEM off): the
                # Wi-Fi rate without its delay and loss, and said so.
                label += " — rate only: no netem in this kernel"
                notes.append(f"{key}: {e}; measured at the rate alone (tbf)")
                self.sh("tc", "-n", sw, "qdisc", "add", "dev", pi.port, "root", "tbf", "rate", qdisc[2], "burst",
                        "32kb", "latency", "50ms")
            try:
                raw_limited = self.raw_tcp_mbps(pi, seconds)
                ours_limited = self.ours_mbps(pi, seconds)
            finally:
                self.sh("tc", "-n", sw, "qdisc", "del", "dev", pi.port, "root", check=False)
            metrics += [
                metric(f"ours_{key}_mbps", f"stratoswarm-test bandwidth, {label}", ours_limited, "Mbit/s", "higher"),
                metric(f"raw_{key}_mbps", f"Plain TCP, {label}", raw_limited, "Mbit/s"),
                metric(f"overhead_{key}_pct", f"Overhead vs plain TCP, {label}", overhead(ours_limited, raw_limited),
                       "%", "lower", SEED_OVERHEAD),
            ]
        self.emit("bandwidth", f"Bandwidth GPU peer → {pi.name} (stratoswarm-test bandwidth vs plain TCP)", metrics,
                  notes=[f"{seconds} s per measurement, GPU peer → Pi (the seed's direction). Unlimited, both are "
                         "bound by this 2-core machine's CPU (CURVE encrypts every chunk); on a Pi's link the "
                         "encryption is not the bottleneck, which the shaped cases show (tc on the Pi's switch "
                         "port: tbf for Ethernet, netem rate/delay/loss for Wi-Fi)."] + notes)

    def sc_stress(self):
        """Seed 001's mesh stress: 10,000 messages of 1 KB from every Pi at once, counting loss."""
        live = [h for h in self.pis if h.proc and h.proc.poll() is None]
        total, size = self.args.stress_messages, 1024
        share = [total // len(live) + (1 if i < total % len(live) else 0) for i in range(len(live))]
        t0 = time.time()
        runs = [subprocess.Popen(h.cmd([*self.test_tool(h), "stress", "--messages", n, "--size", size, "--state-dir",
                                        h.state, "--format", "json"]), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for h, n in zip(live, share)]
        results, rows = [], []
        for h, run in zip(live, runs):
            out, err = run.communicate(timeout=120)
            if not out.strip():
                raise ScenarioError(f"stratoswarm-test stress on {h.name}: {err.strip()}")
            r = json.loads(out.splitlines()[0])
            results.append(r)
            rows.append([h.name, h.arch, r["messages"], r["acked"], r["lost"], r["seconds"], r["msg_per_s"]])
        wall = time.time() - t0
        acked = sum(r["acked"] for r in results)
        self.emit("stress", f"Message stress: {total} messages of {size} B from {len(live)} Pis at once", [
            metric("lost", "Messages lost", total - acked, "messages", None, None, target("<=", 0, "0 lost"),
                   must=True),
            metric("throughput_mbyte_s", "Aggregate throughput (all Pis → GPU peer)",
                   acked * size / 1e6 / max(r["seconds"] for r in results), "MB/s", "higher"),
            metric("wall_s", "All acknowledged (incl. process start, qemu)", wall * 1000, "ms", "lower"),
        ], table={"columns": ["node", "arch", "messages", "acknowledged", "lost", "seconds", "msg/s"], "rows": rows},
            notes=["Each message is a CURVE-encrypted ZeroMQ frame to the GPU peer's test endpoint, acknowledged "
                   "one by one with 16 in flight per Pi (stratoswarm-test stress)."])

    def set_partition(self, pis, on):
        verb = "add" if on else "del"
        for h in pis:
            self.sh("ip", "-n", self.hosts["gpu"].ns, "route", verb, "blackhole", f"{h.ip}/32")
            self.sh("ip", "-n", h.ns, "route", verb, "blackhole", f"{GPU_IP}/32")

    def sc_partition(self):
        live = [h for h in self.pis if h.proc and h.proc.poll() is None]
        cut = live[:2]
        before = len(self.primary_records())
        self.set_partition(cut, True)
        try:
            time.sleep(self.args.partition_seconds)
            status = {s["to"]: s for s in self.cli("cluster", "mesh-status", "--format", "json", fmt_json=True)}
            nodes = self.nodes()
        finally:
            self.set_partition(cut, False)
        healed_at = time.time()
        self.wait("direct links to heal",
                  lambda: all((s := {x["to"]: x for x in self.cli("cluster", "mesh-status", "--format", "json",
                                                                    fmt_json=True)}[h.name])["last_heard_ms"]
                              is not None and s["last_heard_ms"] < 500 for h in cut), 15)
        heal_ms = (time.time() - healed_at) * 1000
        recs = self.primary_records()[before:]
        decided = [r for r in recs if r["event"] == "failure_detection" and r["phase"] == "decided"]
        down = [h.name for h in cut if nodes[h.name]["status"] != "Ready"]
        direct_down = [h.name for h in cut if (status[h.name]["last_heard_ms"] or 1e9) > 1000]
        indirect_up = [h.name for h in cut if status[h.name]["state"] == "alive"]
        self.emit("partition", "Network partition: the GPU peer cannot reach two Pis directly", [
            metric("false_failures", "Failures decided during the partition", len(decided), "decisions", None,
                   None, target("<=", 0, "none: the Pis are reachable through the others"), must=True),
            metric("partitioned_not_ready", "Partitioned Pis not Ready", len(down), "nodes", None, None,
                   target("<=", 0, "stay Ready"), must=True),
            metric("direct_links_down", "Direct links seen down by the GPU peer", len(direct_down), "links",
                   None, None, target(">=", len(cut), f"{len(cut)}"), must=True),
            metric("indirect_alive", "Partitioned Pis still alive through indirect probes", len(indirect_up),
                   "nodes", None, None, target(">=", len(cut), f"{len(cut)}"), must=True),
            metric("heal_ms", "Heal → direct links back", heal_ms, "ms", "lower"),
        ], table={"columns": ["node", "state during", "last heard during (ms ago)", "status"],
                  "rows": [[h.name, status[h.name]["state"], status[h.name]["last_heard_ms"], nodes[h.name]["status"]]
                           for h in cut]},
            notes=[f"Blackhole routes both ways between the GPU peer and {', '.join(h.name for h in cut)} "
                   f"for {self.args.partition_seconds} s (the seed drops with iptables on the Pis)."])

    def sc_cascade(self):
        live = [h for h in self.pis if h.proc and h.proc.poll() is None]
        counts = []
        victims = []
        for _ in range(2):
            on = {w["node"] for w in self.running("critical-service")}
            victim = next((h for h in live if h.name in on and h not in victims), None)
            if victim is None:
                break
            victims.append(victim)
            self.power_off(victim)
            self.wait(f"{victim.name} Down", lambda: self.nodes()[victim.name]["status"] == "Down", 15)
            time.sleep(2)
            counts.append(len(self.running("critical-service")))
        self.emit("cascade", "Cascading failure: critical-service (3 replicas), nodes fail one by one", [
            metric("min_running", "Fewest replicas Running after a failure", min(counts) if counts else None,
                   "replicas", None, target(">=", 1, "≥ 1 (seed: service stays available)"),
                   target(">=", 3, "all 3 (rescheduled)"), must=True),
        ], table={"columns": ["failed node", "replicas Running 2 s later"],
                  "rows": [[v.name, c] for v, c in zip(victims, counts)]})

    def sc_scale(self):
        n = self.args.scale
        hosts = self.join([f"edge-{i}" for i in range(1, n + 1)], mdns=False, first_ip=100)
        joined_s = time.time() - self.join_started
        members = len(self.nodes())
        live = [h for h in self.pis if h.proc and h.proc.poll() is None]
        try:
            self.wait(f"all {len(live)} live swarmlets to hear from the {members} members' living ones",
                      lambda: all(self.formation(h) for h in hosts), 30)
        except ScenarioError:
            pass
        formed = [f["ms"] for h in hosts if (f := self.formation(h))]
        before = len(self.primary_records())
        time.sleep(self.args.scale_idle)
        recs = self.primary_records()[before:]
        suspects = sum(1 for r in recs if r["event"] == "failure_detection" and r["phase"] == "suspect")
        decided = sum(1 for r in recs if r["event"] == "failure_detection" and r["phase"] == "decided")
        totals = [r["ms"] for h in hosts for r in read_jsonl(h.state / "timing.jsonl")
                  if r["event"] == "join" and r["phase"] == "total"]
        self.emit("scale", f"Scale: {n} more swarmlets joined at once (--cluster), then idle", [
            metric("join_p50_ms", "Join total p50", pct(totals, 50), "ms", "lower", SEED_JOIN),
            metric("all_joined_s", f"All {n} joined", joined_s * 1000, "ms", "lower", SEED_JOIN),
            metric("formed_nodes", "New swarmlets with a formed mesh", len(formed), "nodes", None, None,
                   target(">=", n, f"all {n}"), must=True),
            metric("formation_max_ms", "Mesh formed (slowest new node)", max(formed) if formed else None, "ms",
                   "lower"),
            metric("idle_suspicions", f"Suspicions in {self.args.scale_idle} s idle", suspects, "events", None, None,
                   target("<=", 0, "none")),
            metric("idle_false_failures", f"Failures decided in {self.args.scale_idle} s idle", decided,
                   "decisions", None, None, target("<=", 0, "none"), must=True),
        ], notes=[f"{members} members in all, including nodes killed by earlier scenarios (declared failed)."] +
           [f"{r['phase']}: {r.get('name')} {r['ms']:.1f} ms after its last message"
            + (f" (yes {r.get('yes')}, no {r.get('no')})" if r["phase"] == "decided" else "")
            for r in recs if r["event"] == "failure_detection" and r["phase"] in ("suspect", "decided")])

    def run(self):
        meta = {"machine": self.args.machine, "cores": os.cpu_count(),
                "started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "revision": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"],
                                           capture_output=True, text=True).stdout.strip() or "unknown",
                "command": " ".join(sys.argv), "swarmlets": self.args.swarmlets,
                "aarch64_swarmlets": self.args.aarch64 if self.arm else 0, "netem": self.args.netem or "none",
                "scenarios": self.args.scenarios.split(","), "loadavg_start": loadavg()}
        if self.args.compare:
            meta["compare"] = self.args.compare
        self.out.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.out / "scenarios", ignore_errors=True)
        shutil.rmtree(self.out / "compare", ignore_errors=True)  # no stale side-by-side figures
        self.setup()
        time.sleep(1.5)  # Avahi probes its new names for about a second
        for name in self.args.scenarios.split(","):
            self.scenario = name
            fn = getattr(self, f"sc_{name}")
            t0 = time.time()
            try:
                fn()
            except (ScenarioError, StopIteration, KeyError, subprocess.TimeoutExpired) as e:
                self.emit(name, name, [], ok=False, error=str(e) or type(e).__name__)
            print(f"testbed: {name} took {time.time() - t0:.1f} s")
            if name == "join" and self.failed:
                break  # nothing else can run without a cluster
        meta["duration_s"] = round(time.time() - self.started, 1)
        meta["loadavg_end"] = loadavg()
        (self.out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        self.write_resources()
        return self.failed


SCENARIOS = "join,mesh,memory,bandwidth,stress,deploy,memory_pressure,cpu_limit,partition,power_off,cascade,scale"
SMOKE = "join,mesh,deploy,partition,power_off"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(ROOT / "build/bench/testbed"), help="results directory (default: %(default)s)")
    p.add_argument("--stratoswarm", default=str(ROOT / "build/dev/gpu_node/stratoswarm"))
    p.add_argument("--swarmlet", default=str(ROOT / "build/dev/swarmlet/swarmlet"))
    p.add_argument("--aarch64-swarmlet", default=str(ROOT / "build/aarch64/swarmlet/swarmlet"),
                   help="static aarch64 swarmlet run under qemu-aarch64-static ('' for none)")
    p.add_argument("--swarmlets", type=int, default=5, help="Pis (default: %(default)s)")
    p.add_argument("--aarch64", type=int, default=2, help="how many of them are aarch64 (default: %(default)s)")
    p.add_argument("--scenarios", default=SCENARIOS, help="comma-separated (default: %(default)s)")
    p.add_argument("--scale", type=int, default=20, help="swarmlets added by the scale scenario")
    p.add_argument("--scale-idle", type=int, default=20, help="idle seconds after the scale join")
    p.add_argument("--partition-seconds", type=float, default=5.0)
    p.add_argument("--bandwidth-seconds", type=int, default=3, help="per bandwidth measurement")
    p.add_argument("--stress-messages", type=int, default=10000, help="stress scenario: messages in all")
    p.add_argument("--netem", default="", help="tc netem arguments for every Pi link, e.g. 'delay 2ms 1ms loss 0.1%%'")
    p.add_argument("--machine", default=f"{os.cpu_count()}-core machine, network namespaces on one bridge")
    p.add_argument("--smoke", action="store_true", help=f"CI smoke: 3 Pis (1 aarch64), scenarios {SMOKE}")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, state dirs)")
    p.add_argument("--compare", choices=["swarm"], default="",
                   help="then run Docker Swarm on the same layout (tests/testbed/docker_swarm.py; needs docker.io)")
    p.add_argument("--swarm-heartbeat", default="500ms",
                   help="--compare swarm: the tuned dispatcher heartbeat for the second power-off (default: "
                        "%(default)s; the first uses Swarm's default)")
    args = p.parse_args()
    if args.smoke:
        args.swarmlets, args.aarch64, args.scenarios, args.partition_seconds = 3, 1, SMOKE, 3.0
    unknown = [s for s in args.scenarios.split(",") if not hasattr(Testbed, f"sc_{s}")]
    if unknown:
        p.error(f"unknown scenario(s): {', '.join(unknown)} (known: {SCENARIOS})")
    if args.swarmlets < 3:
        p.error("--swarmlets must be at least 3 (the power-off and partition scenarios need a quorum)")

    tb = Testbed(args)

    def interrupted(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, interrupted)
    try:
        tb.require()
        failed = tb.run()
    except Skip as e:
        print(f"SKIPPED: {e}")
        return SKIP
    except KeyboardInterrupt:
        print("testbed: interrupted; cleaning up", file=sys.stderr)
        return 130
    except ScenarioError as e:
        print(f"testbed: setup failed: {e}", file=sys.stderr)
        return 1
    finally:
        tb.teardown()
    if args.compare == "swarm":
        # After our teardown: the two clusters never share the machine.
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        sys.dont_write_bytecode = True  # no __pycache__ in the source tree
        import docker_swarm
        try:
            rc = docker_swarm.run(tb.out, args.swarmlets, args.swarm_heartbeat, args.keep, args.netem)
        except KeyboardInterrupt:
            return 130
        failed += 1 if rc not in (0, SKIP) else 0
    print(f"testbed: {failed} scenario(s) failed; results in {tb.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
