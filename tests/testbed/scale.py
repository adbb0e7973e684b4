#!/usr/bin/env python3
"""Membership scale (issue 20): what one idle swarmlet costs as the cluster grows.

For each size in --sizes (default 5,20,50,100) a fresh cluster: the GPU peer
and N x86_64 swarmlets, each in its own network namespace on one bridge
(--mode netns, needs root), or all on 127.0.0.1 (--mode loopback: no root,
no per-node byte counts). Joins go straight to the GPU peer's address (no
mDNS). After everyone joined and --settle seconds passed, every swarmlet is
sampled over --idle seconds:

  cpu_pct      CPU time of all its threads / wall time, % of one core
  wakeups_s    voluntary + involuntary context switches of all its threads
               per second (/proc/PID/task/*/status): each is a wake-up
  bytes_s      bytes sent + received on its namespace's eth0 per second
               (/proc/PID/net/dev; netns mode only)
  rss_kb, fds, threads   at the end of the window

With --stress the seed's message stress (`stratoswarm-test stress`, 1 KB
messages, --stress-messages in all, shared by the swarmlets) runs during a
second window, sampled the same way. The GPU peer's decided failures until
then are counted (an idle cluster must decide none). With --kills K, K
swarmlets are then killed (SIGKILL) one after another, each once the previous
one is decided, and the GPU peer's "decided" record gives the time from the
last message heard from it to the decision. Writes
OUT/scale.json and prints a table; the targets of issue 20 are checked
(per-swarmlet idle CPU and bytes/s at the largest size <= 1.3x the smallest).
OUT/scale.partial.json holds the sizes done so far (measured or failed) while
it runs and after an interrupted run. A size whose cluster could not be set
up is recorded with its "error" and the next size still runs; the exit status
is then 1. `make bench` runs it into build/bench/testbed/scale/ and
bench/report shows it ("Membership scale").

    sudo tests/testbed/scale.py --out build/bench/scale            # netns, 5/20/50/100
    tests/testbed/scale.py --mode loopback --sizes 1,6 --idle 30  # no root

Exits 77 with a reason when netns mode lacks root or `ip`/`nsenter`.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from netlib import plug_into_switch

ROOT = Path(__file__).resolve().parents[2]
# Every swarmlet connects to every member, so N namespaces hold ~N² ARP
# entries, and the kernel's neighbour table limits are global to all
# namespaces (gc_thresh3 1024 by default: the 33rd swarmlet could not reach
# the GPU peer, "neighbor table overflow"). Raised for the run, then restored.
NEIGH = Path("/proc/sys/net/ipv4/neigh/default")
NEIGH_WANTED = {"gc_thresh1": 4096, "gc_thresh2": 16384, "gc_thresh3": 32768}
SKIP = 77
TICKS = os.sysconf("SC_CLK_TCK")


def proc_sample(pid):
    """(cpu seconds, context switches, rss kB, fds, threads, eth0 bytes or None, anonymous kB) of a live
    process. Anonymous memory is what the process itself allocated (heap, thread arenas, stacks); RSS also
    counts the binary's pages it touched, which grow with the code paths a run exercises, not with members."""
    cpu = switches = 0
    threads = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            cpu += (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
            for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    switches += int(line.split()[1])
            threads += 1
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that ended meanwhile
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    eth = None
    for line in Path(f"/proc/{pid}/net/dev").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name.strip() == "eth0":
            cols = rest.split()
            eth = int(cols[0]) + int(cols[8])
    anon = None
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Anonymous:"):
            anon = int(line.split()[1])
    return cpu, switches, rss, fds, threads, eth, anon


def median(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


class Cluster:
    def __init__(self, args, size):
        self.args, self.size = args, size
        self.id = f"sc{os.getpid()}"
        self.work = Path(tempfile.mkdtemp(prefix="stratoswarm-scale-"))
        self.procs = []  # (name, Popen)
        self.namespaces = []
        self.netns = args.mode == "netns"
        base = 20000 + random.randrange(30000)
        self.ports = (base, base + 1, base + 2)  # mesh, join, bootstrap
        self.gpu_ip = "10.215.0.1" if self.netns else "127.0.0.1"
        self.join_retries = 0

    def sh(self, *args):
        r = subprocess.run([str(a) for a in args], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, args))}: {r.stderr.strip()}")
        return r.stdout

    def wrap(self, ns, args):
        args = [str(a) for a in args]
        return ["nsenter", f"--net=/run/netns/{ns}"] + args if ns else args

    def add_ns(self, index, ip):
        ns = f"{self.id}-{index}"
        self.sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        veth, peer = f"{self.id}v{index}", f"{self.id}p{index}"
        plug_into_switch(self.sh, f"{self.id}-sw", ns, veth, peer, f"{ip}/16")
        return ns

    def cli(self, *args):
        return self.sh(self.args.stratoswarm, "--state-dir", self.work / "gpu", *args)

    def start(self):
        gpu_ns = None
        if self.netns:
            self.sh("ip", "netns", "add", f"{self.id}-sw")
            self.namespaces.append(f"{self.id}-sw")
            self.sh("ip", "-n", f"{self.id}-sw", "link", "add", "br0", "type", "bridge")
            self.sh("ip", "-n", f"{self.id}-sw", "link", "set", "br0", "up")
            gpu_ns = self.add_ns(0, self.gpu_ip)
        mesh, join, boot = self.ports
        serve = [self.args.stratoswarm, "--state-dir", self.work / "gpu", "serve", "--listen", self.gpu_ip,
                 "--no-mdns", "--mesh-port", mesh, "--join-port", join, "--bootstrap-port", boot]
        self.procs.append(("gpu", subprocess.Popen(self.wrap(gpu_ns, serve), stdout=open(self.work / "gpu.log", "w"),
                                                   stderr=subprocess.STDOUT)))
        for _ in range(200):
            try:
                self.cli("node", "ls")
                break
            except RuntimeError:
                time.sleep(0.1)
        token = self.cli("cluster", "create-join-token").strip()
        for i in range(1, self.size + 1):
            ns = None
            if self.netns:
                ns = self.add_ns(i, f"10.215.{i // 250}.{i % 250 + 2}")
            name = f"s{i}"
            args = [self.args.swarmlet, "join", "--token", token, "--cluster", f"{self.gpu_ip}:{boot}", "--name", name,
                    "--state-dir", self.work / name, "--membership", self.args.membership]
            if not self.netns:
                args += ["--mesh-port", 0]
            # A join that gives up (the GPU peer busy admitting the previous
            # ones on this loaded machine) is started again, up to 3 times;
            # retries are counted in the output.
            for attempt in range(3):
                log = self.work / f"{name}.{attempt}.log"
                proc = subprocess.Popen(self.wrap(ns, args), stdout=open(log, "w"), stderr=subprocess.STDOUT)
                deadline = time.time() + 60
                while "Successfully joined" not in log.read_text() and proc.poll() is None and time.time() < deadline:
                    time.sleep(0.05)
                if "Successfully joined" in log.read_text():
                    break
                proc.kill()
                proc.wait()
                self.join_retries += 1
            else:
                raise RuntimeError(f"{name} did not join in 3 tries: {log.read_text()[-300:]}")
            self.procs.append((name, proc))
        time.sleep(self.args.settle)

    def swarmlet_pids(self):
        # nsenter execs in place: the Popen pid is the swarmlet's.
        return {name: p.pid for name, p in self.procs if name != "gpu" and p.poll() is None}

    def window(self, seconds):
        pids = self.swarmlet_pids()
        before = {n: proc_sample(pid) for n, pid in pids.items()}
        t0 = time.time()
        time.sleep(seconds)
        wall = time.time() - t0
        rows = {}
        for n, pid in pids.items():
            try:
                after = proc_sample(pid)
            except FileNotFoundError:
                continue
            b = before[n]
            rows[n] = {
                "cpu_pct": 100.0 * (after[0] - b[0]) / wall,
                "wakeups_s": (after[1] - b[1]) / wall,
                "bytes_s": (after[5] - b[5]) / wall if self.netns else None,
                "rss_kb": after[2], "fds": after[3], "threads": after[4], "anon_kb": after[6],
            }
        return rows

    def stress(self):
        """The seed's mesh stress, shared by all swarmlets, while a window is sampled."""
        tool_dir = self.work / "tool"
        tool_dir.mkdir(exist_ok=True)
        tool = tool_dir / "stratoswarm-test"
        tool.symlink_to(Path(self.args.swarmlet).resolve())
        names = sorted(self.swarmlet_pids(), key=lambda n: int(n[1:]))
        total = self.args.stress_messages
        share = [total // len(names) + (1 if i < total % len(names) else 0) for i in range(len(names))]
        runs = []
        for i, (name, n) in enumerate(zip(names, share)):
            ns = f"{self.id}-{int(name[1:])}" if self.netns else None
            runs.append(subprocess.Popen(self.wrap(ns, [tool, "stress", "--messages", n, "--size", 1024, "--state-dir",
                                                        self.work / name, "--format", "json"]),
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        rows = self.window(self.args.stress_window)
        lost = 0
        for run, n in zip(runs, share):
            out, _ = run.communicate(timeout=300)
            try:
                lost += json.loads(out.splitlines()[0])["lost"]
            except (IndexError, ValueError, KeyError):
                lost += n
        return rows, lost

    def decided(self):
        """The GPU peer's "decided" records: (node name, ms from last heard to decision)."""
        path = self.work / "gpu" / "timing.jsonl"
        out = []
        for line in path.read_text().splitlines() if path.exists() else []:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if r.get("event") == "failure_detection" and r.get("phase") == "decided":
                out.append((r.get("name"), r.get("ms")))
        return out

    def decided_failures(self):
        return len(self.decided())

    def kill_and_time(self, kills):
        """Kills swarmlets one by one; the decision time of each (None if not decided in 15 s)."""
        times = []
        victims = [(n, p) for n, p in self.procs if n != "gpu" and p.poll() is None][-kills:]
        for name, proc in victims:
            before = len(self.decided())
            proc.kill()
            proc.wait()
            deadline = time.time() + 15
            value = None
            while time.time() < deadline and value is None:
                new = self.decided()[before:]
                value = new[0][1] if new else None
                time.sleep(0.05)
            times.append(value)
        return times

    def stop(self):
        for _, p in self.procs:
            if p.poll() is None:
                p.kill()
        for _, p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for ns in self.namespaces:
            for pid in subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            print(f"scale: kept {self.work}", file=sys.stderr)


def summarize(rows):
    keys = ("cpu_pct", "wakeups_s", "bytes_s", "rss_kb", "anon_kb", "fds", "threads")
    return {k: median([r[k] for r in rows.values()]) for k in keys} | {"swarmlets_sampled": len(rows)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mode", choices=("netns", "loopback"), default="netns")
    p.add_argument("--membership", choices=("swim", "all"), default="swim",
                   help="swarmlet join --membership (default swim; all: the old all-to-all heartbeats)")
    p.add_argument("--sizes", default="5,20,50,100")
    p.add_argument("--settle", type=float, default=10.0, help="seconds after the last join before sampling")
    p.add_argument("--idle", type=float, default=30.0, help="idle sampling window, seconds")
    p.add_argument("--stress", action="store_true", help="also sample during the seed's message stress")
    p.add_argument("--stress-messages", type=int, default=10000)
    p.add_argument("--stress-window", type=float, default=10.0)
    p.add_argument("--kills", type=int, default=0, help="swarmlets killed at the end, one by one, to time decisions")
    p.add_argument("--stratoswarm", default=str(ROOT / "build/dev/gpu_node/stratoswarm"))
    p.add_argument("--swarmlet", default=str(ROOT / "build/dev/swarmlet/swarmlet"))
    p.add_argument("--out", default=str(ROOT / "build/bench/scale"))
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    for stale in ("scale.json", "scale.partial.json"):  # bench/report must not show an older run's figures
        (Path(args.out) / stale).unlink(missing_ok=True)
    if args.mode == "netns" and (os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("nsenter")):
        print("scale: SKIP: netns mode needs root, ip and nsenter (or use --mode loopback)", file=sys.stderr)
        return SKIP
    sizes = [int(s) for s in args.sizes.split(",")]
    neigh_saved = {}
    if args.mode == "netns":
        for name, value in NEIGH_WANTED.items():
            neigh_saved[name] = (NEIGH / name).read_text().strip()
            if int(neigh_saved[name]) < value:
                (NEIGH / name).write_text(str(value))
    results = []
    cluster = None

    def interrupted(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        for size in sizes:
            cluster = Cluster(args, size)
            t0 = time.time()
            try:
                cluster.start()
            except RuntimeError as e:  # recorded, and the next size still runs
                print(f"scale: {size:4d} swarmlets: setup failed: {e}", flush=True)
                results.append({"swarmlets": size, "error": str(e)[-400:], "load_after": os.getloadavg()})
                cluster.stop()
                cluster = None
                (out / "scale.partial.json").write_text(json.dumps(results, indent=2))
                continue
            joined_s = time.time() - t0
            idle = cluster.window(args.idle)
            entry = {"swarmlets": size, "join_all_s": round(joined_s, 1), "join_retries": cluster.join_retries,
                     "idle": summarize(idle),
                     "idle_per_swarmlet": idle}
            if args.stress:
                rows, lost = cluster.stress()
                entry["stress"] = summarize(rows) | {"messages": args.stress_messages, "lost": lost}
            entry["decided_failures"] = cluster.decided_failures()
            if args.kills:
                entry["kill_decided_ms"] = cluster.kill_and_time(args.kills)
            entry["load_after"] = os.getloadavg()
            cluster.stop()
            cluster = None
            results.append(entry)
            i = entry["idle"]
            print(f"scale: {size:4d} swarmlets: cpu {i['cpu_pct']:.2f}% wakeups {i['wakeups_s']:.0f}/s "
                  f"bytes {i['bytes_s'] if i['bytes_s'] is None else round(i['bytes_s'])}/s rss {i['rss_kb']} kB "
                  f"anon {i['anon_kb']} kB "
                  f"fds {i['fds']} threads {i['threads']} decided failures {entry['decided_failures']}"
                  + (f" kills decided after {entry['kill_decided_ms']} ms" if args.kills else "")
                  + (f"; under stress: cpu {entry['stress']['cpu_pct']:.2f}% wakeups {entry['stress']['wakeups_s']:.0f}/s"
                     f" lost {entry['stress']['lost']}" if args.stress else ""), flush=True)
            (out / "scale.partial.json").write_text(json.dumps(results, indent=2))
    except KeyboardInterrupt:
        print("scale: interrupted", file=sys.stderr)
        return 130
    finally:
        if cluster:
            cluster.stop()
        for name, value in neigh_saved.items():
            (NEIGH / name).write_text(value)
    measured = [r for r in results if "idle" in r]
    if not measured:
        print("scale: no size could be measured", file=sys.stderr)
        return 1
    first, last = measured[0]["idle"], measured[-1]["idle"]
    ratio = lambda k: (last[k] / first[k]) if first.get(k) else None
    span = measured[-1]["swarmlets"] - measured[0]["swarmlets"]
    slope = lambda k: ((last[k] - first[k]) / span) if span and first.get(k) is not None \
        and last.get(k) is not None else None
    summary = {"mode": args.mode, "sizes": sizes, "smallest_and_largest_measured": [measured[0]["swarmlets"],
                                                                                   measured[-1]["swarmlets"]], "idle_s": args.idle, "machine": f"{os.cpu_count()} cores",
               "load_at_start_and_end": [results[0]["load_after"], results[-1]["load_after"]],
               "cpu_ratio_largest_to_smallest": ratio("cpu_pct"),
               "bytes_ratio_largest_to_smallest": ratio("bytes_s"),
               "wakeups_ratio_largest_to_smallest": ratio("wakeups_s"),
               # Issue 20's "memory per known member" (target <= 2 kB): the slope between the sizes.
               "rss_kb_per_member": slope("rss_kb"), "anon_kb_per_member": slope("anon_kb"),
               "fds_per_member": slope("fds"),
               "decided_failures": sum(r["decided_failures"] for r in measured), "runs": results}
    (out / "scale.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=2))
    print(f"scale: wrote {out / 'scale.json'}")
    failed = [r["swarmlets"] for r in results if "idle" not in r]
    if failed:
        print(f"scale: FAILED: no figures for {', '.join(map(str, failed))} swarmlets", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
